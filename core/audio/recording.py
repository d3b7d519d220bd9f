"""Record real samples from a microphone (PortAudio via sounddevice), check them, save them.

A :class:`RecordingSession` is driven by method calls (``record_take``, ``rerecord_last``,
``delete_last``, ``play_last``, ``stop_take``) so a CLI and a Textual screen can share it.
While it records it reports, through ``report``:

* countdown: ``PhaseStarted(COUNTDOWN_PHASE, total=n)``, one ``Progress(COUNTDOWN_PHASE,
  done=i, total=n, message="3")`` per second, ``PhaseFinished(COUNTDOWN_PHASE)``;
* the take: ``PhaseStarted(TAKE_PHASE, description="Speak now")``, ``Level`` events about 20
  per second (also during the countdown, so a meter shows the microphone works),
  ``PhaseFinished(TAKE_PHASE, ok=verdict.ok, message=verdict.summary, seconds=...)``;
* ``LogLine`` for a saved file.

``record_take`` blocks (run it in a worker thread in a UI); ``stop_take`` ends the take
early and keeps it; setting ``cancel`` discards it (raises :class:`Cancelled`).
sounddevice is imported lazily, so this module imports without PortAudio.
"""

from __future__ import annotations

import math
import queue
import re
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.audio.devices import DeviceError, _open_input, _sounddevice, play_audio, resolve_input_device
from core.audio.files import SAMPLE_RATE, normalize, read_audio, resample, to_mono, write_wav
from core.audio.take_checks import CLIP_LEVEL, QualityLimits, Verdict, check_take, db
from core.errors import AudioError, EasyOWWError
from core.events import (
    Level,
    PhaseFinished,
    PhaseStarted,
    Progress,
    Reporter,
    check_cancel,
    log,
    null_report,
    warn,
)

COUNTDOWN_PHASE = "countdown"
TAKE_PHASE = "recording"
IMPORT_PHASE = "import"
LEVELS_PER_SECOND = 20
SAMPLE_RE = re.compile(r"^sample_(\d+)\.wav$")





# --------------------------------------------------------------------------- devices


















# --------------------------------------------------------------------------- samples on disk


def existing_numbers(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := SAMPLE_RE.match(p.name)))


def next_sample_path(folder: Path) -> Path:
    """``sample_NNNN.wav`` numbered after the highest existing one."""
    nums = existing_numbers(folder)
    return folder / f"sample_{(nums[-1] + 1) if nums else 1:04d}.wav"


def count_samples(folder: Path) -> int:
    return len(existing_numbers(folder))


def prepare_sample(x: np.ndarray, verdict: Verdict, sr: int = SAMPLE_RATE, pad_s: float = 0.1) -> np.ndarray:
    """The saved form of an accepted take: DC removed, speech + ``pad_s`` each side, peak -1 dBFS."""
    x = np.asarray(x, dtype=np.float32)
    x = x - np.float32(np.mean(x, dtype=np.float64))
    start = verdict.speech_start or 0
    end = verdict.speech_end if verdict.speech_end is not None else len(x)
    pad = int(pad_s * sr)
    out = x[max(0, start - pad) : min(len(x), end + pad)].copy()
    fade = min(len(out) // 4, int(0.005 * sr))
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        out[:fade] *= ramp
        out[-fade:] *= ramp[::-1]
    return normalize(out, -1.0)


def _raw_clipping(raw: np.ndarray, raw_sr: int, verdict: Verdict, sr: int = SAMPLE_RATE) -> float | None:
    """Clipping measured on the capture itself, over the speech region."""
    if verdict.speech_start is None or verdict.speech_end is None:
        return None
    a = int(verdict.speech_start * raw_sr / sr)
    b = max(a + 1, int(verdict.speech_end * raw_sr / sr))
    seg = raw[a:b]
    return float(np.mean(np.abs(seg) >= CLIP_LEVEL)) if len(seg) else None


def judge(x16: np.ndarray, limits: QualityLimits, raw: np.ndarray | None = None, raw_sr: int = SAMPLE_RATE,
          require_margins: bool = False, source_rate: int | None = None) -> Verdict:
    """check_take with clipping measured on the raw capture when it was resampled."""
    verdict = check_take(x16, SAMPLE_RATE, limits, require_margins=require_margins, source_rate=source_rate)
    if raw is not None and raw_sr != SAMPLE_RATE:
        clip = _raw_clipping(raw, raw_sr, verdict)
        if clip is not None:
            verdict = check_take(x16, SAMPLE_RATE, limits, clipping=clip, require_margins=require_margins,
                                 source_rate=source_rate)
    return verdict


def limits_for(negative: bool, limits: QualityLimits | None, max_seconds: float | None = None) -> QualityLimits:
    """Negative phrases may be longer than a wake word."""
    lim = limits or QualityLimits()
    if negative:
        longest = max(lim.max_speech_s, max_seconds or 0.0, 6.0)
        lim = replace(lim, max_speech_s=longest)
    return lim


# --------------------------------------------------------------------------- a session


@dataclass
class Take:
    """One take: its verdict, its audio (the saved sample when accepted), and where it went."""

    number: int
    verdict: Verdict
    audio: np.ndarray
    path: Path | None = None
    stopped_by: str = ""  # "silence" | "max_length" | "user"
    device_rate: int = SAMPLE_RATE
    seconds: float = 0.0  # length of the recording (pre-roll included, before trimming)

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    @property
    def reasons(self) -> list[str]:
        return self.verdict.reasons


@dataclass
class _Meter:
    """Per-50 ms block analysis for Level events and the end-of-speech detector."""

    block_db: list[float] = field(default_factory=list)
    loud_s: float = 0.0
    quiet_run_s: float = 0.0

    def floor(self) -> float:
        live = [v for v in self.block_db if v > -100.0]
        return float(np.percentile(live, 10)) if len(live) >= 3 else -100.0

    def feed(self, rms_db: float, seconds: float) -> None:
        self.block_db.append(rms_db)
        if rms_db > max(self.floor() + 10.0, -60.0):
            self.loud_s += seconds
            self.quiet_run_s = 0.0
        else:
            self.quiet_run_s += seconds


class RecordingSession:
    """Record takes for one project, keep the good ones as ``sample_NNNN.wav``.

    ``device``: index, (part of) a name, or None for the default input; it is resolved at
    construction, so a missing PortAudio / microphone fails early with a :class:`DeviceError`.
    ``negative``: save into ``project.negative_recordings_dir`` (longer phrases allowed).
    ``max_seconds``: longest take; a take ends earlier ``silence_after_s`` after speech.
    ``countdown``: seconds counted down (as Progress events) before each take; the last
    ``preroll_s`` of it is kept so an early start is not lost. ``limits``: quality thresholds.
    ``rates``: sample rates to try, in order (default: 16 kHz, the device's own, 48/44.1/32/22.05 kHz;
    other rates are resampled to 16 kHz). ``report`` is called from the thread that runs
    ``record_take`` (a Textual app should hop to its own thread with ``call_from_thread``).
    ``stop_take`` during the countdown ends the take at once.
    """

    def __init__(
        self,
        project: Any,
        negative: bool = False,
        device: int | str | None = None,
        max_seconds: float = 3.0,
        countdown: int = 3,
        report: Reporter = null_report,
        cancel: threading.Event | None = None,
        limits: QualityLimits | None = None,
        silence_after_s: float = 0.6,
        preroll_s: float = 0.3,
        rates: Sequence[int] | None = None,
    ) -> None:
        if not 0.5 <= max_seconds <= 30:
            raise EasyOWWError(f"Take length {max_seconds} s is out of range: use 0.5 to 30 seconds.")
        self.project = project
        self.negative = negative
        self.max_seconds = float(max_seconds)
        self.countdown = max(0, int(countdown))
        self.report = report
        self.cancel = cancel
        self.limits = limits_for(negative, limits, max_seconds)
        self.silence_after_s = silence_after_s
        self.preroll_s = preroll_s
        self.rates = list(rates) if rates else None  # sample rates to try, in order (default: 16 kHz first)
        self.out_dir = _output_dir(project, negative)
        self.device = resolve_input_device(device)
        self.accepted: list[Take] = []
        self.takes: list[Take] = []
        self._stop = threading.Event()
        self._busy = threading.Lock()

    # -- queries
    @property
    def last(self) -> Take | None:
        """The last accepted take (what r / p / d act on)."""
        return self.accepted[-1] if self.accepted else None

    @property
    def saved_total(self) -> int:
        """Samples in the output folder (this session's and earlier ones)."""
        return count_samples(self.out_dir)

    # -- actions
    def stop_take(self) -> None:
        """End the take in progress now and judge what was recorded."""
        self._stop.set()

    def record_take(self) -> Take:
        """Count down, record one take, check it; save it at once if it passes."""
        return self._record(replace_path=None)

    def rerecord_last(self) -> Take:
        """Record the last accepted take again; the old file is replaced only if the new take passes."""
        if not self.takes or not self.takes[-1].ok or self.last is None:
            return self.record_take()
        old = self.accepted[-1]
        take = self._record(replace_path=old.path)
        if take.ok:
            self.accepted[-1] = take
        return take

    def delete_last(self) -> Path:
        """Delete the last accepted sample; returns its path."""
        if not self.accepted:
            raise EasyOWWError("Nothing to delete: no sample was saved in this session.")
        take = self.accepted.pop()
        assert take.path is not None
        take.path.unlink(missing_ok=True)
        log(self.report, f"Deleted {take.path.name}", TAKE_PHASE)
        return take.path

    def play_last(self) -> float:
        """Play the last accepted sample (or the last take when none was accepted)."""
        take = self.last or (self.takes[-1] if self.takes else None)
        if take is None:
            raise EasyOWWError("Nothing to play yet: record a take first.")
        what = str(take.path) if take.path else "the take"
        return play_audio(take.audio, SAMPLE_RATE, self.cancel, what=what)

    # -- internals
    def _record(self, replace_path: Path | None) -> Take:
        if not self._busy.acquire(blocking=False):
            raise EasyOWWError("A take is already being recorded.")
        try:
            check_cancel(self.cancel)
            self._stop.clear()
            raw, rate, stopped_by = self._capture()
            x16 = resample(raw, rate, SAMPLE_RATE)
            verdict = judge(x16, self.limits, raw, rate, require_margins=True)
            number = len(self.takes) + 1
            take = Take(number, verdict, x16, None, stopped_by, rate, len(raw) / rate)
            if verdict.ok:
                take.audio = prepare_sample(x16, verdict)
                take.path = write_wav(replace_path or next_sample_path(self.out_dir), take.audio)
                if replace_path is None:
                    self.accepted.append(take)
            self.takes.append(take)
            self.report(PhaseFinished(TAKE_PHASE, ok=verdict.ok, message=verdict.summary, seconds=take.seconds))
            if take.path is not None:
                log(self.report, f"Saved {take.path.name} ({verdict.summary})", TAKE_PHASE)
            return take
        finally:
            self._busy.release()

    def _capture(self) -> tuple[np.ndarray, int, str]:
        sd = _sounddevice()
        blocks: queue.Queue[np.ndarray] = queue.Queue()

        def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            blocks.put(indata.mean(axis=1) if indata.shape[1] > 1 else indata[:, 0].copy())

        stream, rate, _channels = _open_input(sd, self.device, callback, self.rates)
        step = rate // LEVELS_PER_SECOND
        meter = _Meter()
        pending = np.zeros(0, dtype=np.float32)
        take_levels = 0

        def chunks() -> Iterable[np.ndarray]:
            """50 ms chunks of input as they arrive; Level for each; obeys cancel."""
            nonlocal pending
            while True:
                check_cancel(self.cancel)
                try:
                    block = blocks.get(timeout=6.0)
                except queue.Empty:
                    raise DeviceError(
                        f"The input device {self.device.name!r} stopped delivering audio. Check it is "
                        "still connected, or pick another with --device."
                    ) from None
                pending = np.concatenate([pending, block.astype(np.float32, copy=False)])
                while len(pending) >= step:
                    chunk, pending = pending[:step], pending[step:]
                    peak = float(np.max(np.abs(chunk)))
                    rms_db = db(float(np.sqrt(np.mean(np.square(chunk, dtype=np.float64)))))
                    self.report(Level(rms_db=rms_db, peak_db=db(peak), clipped=peak >= CLIP_LEVEL))
                    meter.feed(rms_db, step / rate)
                    yield chunk

        try:
            preroll: deque[np.ndarray] = deque(maxlen=max(0, int(round(self.preroll_s * LEVELS_PER_SECOND))))
            gen = iter(chunks())
            preroll.append(next(gen))  # audio flows (PulseAudio can take ~2 s to start a stream)
            if self.countdown:
                self.report(PhaseStarted(COUNTDOWN_PHASE, total=self.countdown, description="Get ready"))
                for i in range(self.countdown):
                    self.report(Progress(COUNTDOWN_PHASE, done=i, total=self.countdown,
                                         message=str(self.countdown - i)))
                    for _ in range(LEVELS_PER_SECOND):
                        preroll.append(next(gen))
                self.report(Progress(COUNTDOWN_PHASE, done=self.countdown, total=self.countdown, message="0"))
                self.report(PhaseFinished(COUNTDOWN_PHASE))
            if self.negative:
                description = "Speak now: say a phrase that is NOT the wake word"
            else:
                description = "Speak now: say the wake word"
            self.report(PhaseStarted(TAKE_PHASE, description=description))
            meter.loud_s = 0.0
            meter.quiet_run_s = 0.0
            recorded: list[np.ndarray] = list(preroll)
            max_chunks = int(math.ceil(self.max_seconds * LEVELS_PER_SECOND))
            stopped_by = "max_length"
            for chunk in gen:
                recorded.append(chunk)
                take_levels += 1
                if self._stop.is_set():
                    stopped_by = "user"
                    break
                if meter.loud_s >= 0.15 and meter.quiet_run_s >= self.silence_after_s:
                    stopped_by = "silence"
                    break
                if take_levels >= max_chunks:
                    break
        finally:
            try:
                stream.abort()
                stream.close()
            except Exception:  # noqa: BLE001 - closing a dead stream must not hide the real error
                pass
        return np.concatenate(recorded), rate, stopped_by


def _output_dir(project: Any, negative: bool) -> Path:
    if negative:
        return Path(project.negative_recordings_dir)
    try:
        cfg = project.load_config()
    except EasyOWWError:
        cfg = None
    return Path(project.recordings_dir(cfg))


# --------------------------------------------------------------------------- import


@dataclass
class ImportResult:
    imported: list[Path] = field(default_factory=list)
    rejected: list[tuple[Path, str]] = field(default_factory=list)  # (file, message naming it)

    @property
    def messages(self) -> list[str]:
        return [msg for _, msg in self.rejected]


def import_files(
    project: Any,
    files: Sequence[str | Path],
    negative: bool = False,
    report: Reporter = null_report,
    cancel: threading.Event | None = None,
    limits: QualityLimits | None = None,
) -> ImportResult:
    """Import WAVs (any format soundfile reads) made elsewhere, with the same checks as a take.

    A file that cannot be read or fails a check is reported by name and skipped; the
    good ones are saved as the next ``sample_NNNN.wav``.
    """
    lim = limits_for(negative, limits)
    out_dir = _output_dir(project, negative)
    result = ImportResult()
    paths = [Path(f) for f in files]
    report(PhaseStarted(IMPORT_PHASE, total=len(paths), description="Importing recordings"))
    for i, path in enumerate(paths):
        check_cancel(cancel)
        try:
            data, sr = read_audio(path, max_seconds=60.0)
            raw = to_mono(data)
            x16 = resample(raw, sr, SAMPLE_RATE)
            verdict = judge(x16, lim, raw, sr, require_margins=False, source_rate=sr)
            if not verdict.ok:
                raise AudioError(f"{path}: rejected: {'; '.join(verdict.reasons)}")
            saved = write_wav(next_sample_path(out_dir), prepare_sample(x16, verdict))
            result.imported.append(saved)
            log(report, f"{path.name} -> {saved.name} ({verdict.summary})", IMPORT_PHASE)
        except AudioError as exc:
            result.rejected.append((path, str(exc)))
            warn(report, str(exc), IMPORT_PHASE)
        report(Progress(IMPORT_PHASE, done=i + 1, total=len(paths), message=path.name))
    report(PhaseFinished(IMPORT_PHASE, ok=not result.rejected or bool(result.imported),
                         message=f"{len(result.imported)} imported, {len(result.rejected)} rejected"))
    return result
