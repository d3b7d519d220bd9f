"""Running TTS jobs into a folder of clips: only the missing ones, in a process pool when it pays, with a plan stamp so a changed setting remakes exactly the clips it changes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from threading import Event
from typing import Any

from core.audio.tts import PiperTTS, VoiceInfo
from core.errors import EasyOWWError
from core.events import Progress, Reporter, check_cancel, warn
from core.fsutil import atomic_write_text
from core.pipeline.p1_clips.tts_jobs import (
    POOL_MIN_JOBS,
    TTSJob,
    _existing,
    _init_worker,
    _job_digest,
    _read_stamp,
    _worker_batch,
    run_tts_job,
)
from core.pool import cpu_count, run_chunks


class Synthesiser:
    """Synthesises planned clips into folders (needs self.workers and self.phase)."""

    # ----------------------------------------------------------------- shared
    def _voices(self, piper: PiperTTS, voice_models: Sequence[VoiceInfo | str]) -> list[VoiceInfo]:
        names = [v if isinstance(v, str) else v.name for v in voice_models]
        return piper.resolve(names)

    def _drop_extra(self, existing: dict[int, Path], count: int) -> None:
        """Remove clips beyond ``count`` (the config asks for fewer now)."""
        for i in [i for i in existing if i >= count]:
            existing.pop(i).unlink(missing_ok=True)

    def _pool_size(self, n_jobs: int, long: bool = False) -> int:
        if self.workers is not None:
            return max(1, int(self.workers))
        cpus = cpu_count()
        # A passage takes ~25x as long as a 1 s clip: a pool pays off for far fewer of them.
        return min(2, cpus) if n_jobs * (25 if long else 1) >= POOL_MIN_JOBS else 1

    def _synthesise_missing(
        self, folder: Path, prefix: str, count: int, plan: Callable[[int], list[TTSJob]], piper: PiperTTS | None,
        report: Reporter, cancel: Event | None, message: str, total: int | None = None,
    ) -> dict[str, Any]:
        """Synthesise ``<prefix>_NNNNN`` files i < ``count`` that are missing (``plan(count)`` says what each
        is); files from i >= ``count`` are removed. ``_run_jobs``' result plus ``kept``."""
        existing = _existing(folder, prefix)
        self._drop_extra(existing, count)
        planned = plan(count)
        digests = {j.index: _job_digest(j) for j in planned}
        stamp = folder.parent / f"{folder.name}.{prefix}.plan.json"  # beside the folder: it holds audio only
        made = _read_stamp(stamp)
        for i in [i for i in existing if made.get(i) != digests.get(i)]:
            # made for another text, voice or setting (or by a version that kept no stamp): make it again
            existing.pop(i).unlink(missing_ok=True)
        # Stamped before synthesis: every file that exists from now on follows this plan (even after a kill).
        atomic_write_text(stamp, json.dumps({str(i): d for i, d in digests.items()}))
        jobs = [j for j in planned if j.index not in existing]
        res = self._run_jobs(jobs, piper, report, cancel, message, count - len(jobs), total or count)
        res["kept"] = count - len(jobs)
        return res

    def _run_jobs(
        self, jobs: list[TTSJob], piper: PiperTTS | None, report: Reporter, cancel: Event | None,
        message: str, done0: int, total: int,
    ) -> dict[str, Any]:
        problems: list[str] = []
        created = 0
        if not jobs:
            return {"created": 0, "failed": 0, "problems": []}
        assert piper is not None
        workers = self._pool_size(len(jobs), long=jobs[0].clip_samples <= 0)
        done = done0
        report(Progress(self.phase, done, total, message))

        def note(results: list[tuple[int, str | None]]) -> None:
            nonlocal created, done
            for _, err in results:
                done += 1
                if err:
                    problems.append(err)
                else:
                    created += 1
            report(Progress(self.phase, done, total, message))

        if workers <= 1:
            for j in jobs:
                check_cancel(cancel)
                note([(j.index, run_tts_job(piper, j))])
        else:
            self._run_pool(jobs, piper, workers, cancel, note)
        if problems:
            warn(report, f"{len(problems)} clip(s) could not be synthesised, e.g. {problems[0]}", self.phase)
        if jobs and created == 0:
            raise EasyOWWError(f"Text-to-speech produced no usable audio ({problems[0] if problems else '?'}).")
        return {"created": created, "failed": len(problems), "problems": problems[:20]}

    def _run_pool(self, jobs: list[TTSJob], piper: PiperTTS, workers: int, cancel: Event | None, note: Any) -> None:
        for v in {j.voice for j in jobs}:  # fail fast (clear message) before starting workers
            if piper.get_voice(v).engine == "piper":
                piper.load(v)
        batch = 12 if jobs[0].clip_samples > 0 else 1
        chunks = [jobs[k : k + batch] for k in range(0, len(jobs), batch)]
        args = (str(piper.voices_dir) if piper.voices_dir else None, piper.include_bundled,
                piper.include_espeak, piper.espeak_languages)
        run_chunks(_worker_batch, chunks, note, workers, cancel, _init_worker, args)
