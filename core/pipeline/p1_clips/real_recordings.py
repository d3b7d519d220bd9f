"""The user's own recordings as training clips: resampled, trimmed, normalised and padded, with a map from each clip to its source file so unchanged recordings are not processed again."""

from __future__ import annotations

import json
from pathlib import Path
from threading import Event
from typing import Any

from core.audio.files import (
    SAMPLE_RATE,
    audio_files,
    clipping_fraction,
    prepare_clip,
    read_audio,
    resample,
    speech_bounds,
    to_mono,
    write_wav,
)
from core.errors import AudioError
from core.events import Progress, Reporter, check_cancel, null_report, warn
from core.fsutil import atomic_write_text
from core.pipeline.p1_clips.tts_jobs import (
    _NAME_RE,
    _existing,
)

MANIFEST = "real_sources.json"  # clip name -> source recording and its digest


class RealRecordings:
    """Turns self.recordings_dir into positive/real_NNNN.wav (needs the ClipGenerator's folders and clip length)."""

    # ------------------------------------------------------------- real ones
    def process_real_recordings(self, report: Reporter = null_report, cancel: Event | None = None) -> dict[str, Any]:
        """Turn every recording into ``positive/real_NNNN.wav``; bad files are warned about and skipped.

        Returns ``{"total", "processed", "kept", "failed", "problems"}`` (total = real clips now present).
        """
        manifest_path = self.clips_dir / MANIFEST
        manifest = self._load_manifest(manifest_path)
        files = audio_files([self.recordings_dir], limit=20000)
        rels = {p.relative_to(self.recordings_dir).as_posix(): p for p in files}
        existing = _existing(self.positive_dir, "real")
        # Forget clips whose recording is gone, and clip files not in the map (killed run).
        known = {e["clip"] for e in manifest.values()}
        for rel in [r for r in manifest if r not in rels]:
            (self.positive_dir / manifest.pop(rel)["clip"]).unlink(missing_ok=True)
        for p in existing.values():
            if p.name not in known:
                p.unlink(missing_ok=True)
        for rel, entry in list(manifest.items()):
            if not (self.positive_dir / entry["clip"]).is_file():
                manifest.pop(rel)
        next_no = 1 + max((int(_NAME_RE.match(e["clip"]).group(2)) for e in manifest.values()), default=0)
        problems: list[str] = []
        processed = kept = 0
        report(Progress(self.phase, 0, len(rels), "Processing real recordings"))
        for done, (rel, path) in enumerate(sorted(rels.items()), 1):
            check_cancel(cancel)
            st = path.stat()
            entry = manifest.get(rel)
            if entry and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
                kept += 1
                continue
            clip_name = entry["clip"] if entry else f"real_{next_no:04d}.wav"
            try:
                note = self._process_one(path, self.positive_dir / clip_name)
            except AudioError as exc:
                problems.append(str(exc))
                warn(report, f"Skipped recording: {exc}", self.phase)
                if entry:
                    (self.positive_dir / manifest.pop(rel)["clip"]).unlink(missing_ok=True)
                continue
            if note:
                warn(report, note, self.phase)
            if not entry:
                next_no += 1
            manifest[rel] = {"clip": clip_name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
            processed += 1
            if processed % 50 == 0:
                self._save_manifest(manifest_path, manifest)
            report(Progress(self.phase, done, len(rels), f"Recording {path.name}"))
        self._save_manifest(manifest_path, manifest)
        return {"total": len(manifest), "processed": processed, "kept": kept, "failed": len(problems),
                "problems": problems}

    def _process_one(self, src: Path, dst: Path) -> str | None:
        """Same as core.audio.files.process_file, plus warnings for clipping and over-long speech."""
        data, sr = read_audio(src)
        mono = resample(to_mono(data), sr, SAMPLE_RATE)
        clip = prepare_clip(mono, SAMPLE_RATE, self.clip_samples, source=str(src))
        write_wav(dst, clip)
        notes = []
        frac = clipping_fraction(mono)
        if frac > 0.001:
            notes.append(
                f"{src}: {frac:.1%} of the samples are clipped (at full scale); it was used, but record it "
                "again with lower input gain or further from the microphone for a better model."
            )
        bounds = speech_bounds(mono, SAMPLE_RATE)
        if bounds and bounds[1] - bounds[0] > self.clip_samples * 1.05:
            notes.append(
                f"{src}: the sound lasts {(bounds[1] - bounds[0]) / SAMPLE_RATE:.1f} s, longer than the "
                f"{self.target_duration_ms / 1000:.1f} s clip; only the loudest part was kept. Say just the wake "
                "word in each take (or raise clip_duration_ms)."
            )
        return " ".join(notes) or None

    def _load_manifest(self, path: Path) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            sources = data["sources"]
            return {str(k): v for k, v in sources.items()
                    if isinstance(v, dict) and _NAME_RE.match(str(v.get("clip", "")))}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def _save_manifest(self, path: Path, manifest: dict[str, dict[str, Any]]) -> None:
        atomic_write_text(path, json.dumps({"version": 1, "sources": manifest}, indent=1, sort_keys=True))
