"""Live wake-word test from the microphone: 80 ms frames -> openWakeWord features -> the head.

The head (``.onnx``, or the ``.tflite`` Home Assistant loads, so users can test the exact file they
deploy) runs in openWakeWord's streaming pipeline (:mod:`core.audio.streaming`, with the verified feature
models from :mod:`core.assets.feature_models`). ``LiveDetector.run`` reports
:class:`~core.events.Level` and :class:`Score` for every 80 ms frame and a
:class:`Detection` per utterance (a refractory period stops one phrase from counting twice).
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import Cancelled, EasyOWWError
from core.events import Level, Reporter, null_report

SAMPLE_RATE = 16000
FRAME = 1280  # 80 ms at 16 kHz: what openWakeWord consumes per step
FRAME_S = FRAME / SAMPLE_RATE
RING_SECONDS = 12.0  # the last this many seconds of audio are kept, for corrections (core.audio.corrections)
TRIGGER_BEFORE_S, TRIGGER_AFTER_S = 1.6, 0.4  # a detection's audio: this long before and after it
MISSED_SECONDS = 2.5  # "I said it and nothing happened": the last this many seconds


class AudioRing:
    """The last ``seconds`` of 16 kHz int16 audio, addressed by absolute sample position."""

    def __init__(self, seconds: float = RING_SECONDS) -> None:
        self.buf = np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)
        self.total = 0  # samples appended so far

    def append(self, frame: np.ndarray) -> None:
        n, size = len(frame), len(self.buf)
        at = self.total % size
        first = min(n, size - at)
        self.buf[at:at + first] = frame[:first]
        self.buf[:n - first] = frame[first:]
        self.total += n

    def window(self, start: int, end: int) -> np.ndarray:
        """Samples [start, end) clipped to what is still held (empty when none is)."""
        start, end = max(start, self.total - len(self.buf), 0), min(end, self.total)
        if end <= start:
            return np.zeros(0, dtype=np.int16)
        idx = np.arange(start, end) % len(self.buf)
        return self.buf[idx].copy()


class MicrophoneError(EasyOWWError):
    """The microphone (PortAudio / input device) cannot be used."""


@dataclass(frozen=True)
class Detection:
    """The wake word was heard ``time_s`` seconds of audio after the test started."""

    time_s: float
    score: float
    index: int = 0


@dataclass(frozen=True)
class Score:
    """The model's score for one 80 ms frame (for a live meter)."""

    time_s: float
    score: float


@dataclass
class LiveSummary:
    detections: list[Detection] = field(default_factory=list)
    false_triggers: list[int] = field(default_factory=list)  # indices into detections
    max_score: float = 0.0
    duration_s: float = 0.0
    threshold: float = 0.5
    model: str = ""
    device: str = ""
    sample_rate: int = SAMPLE_RATE
    overflows: int = 0

    @property
    def true_detections(self) -> int:
        return len(self.detections) - len(self.false_triggers)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["true_detections"] = self.true_detections
        return d


# -- scorers ------------------------------------------------------------------------------------------

def load_scorer(model_path: str | Path, feature_models_dir: Path | None = None) -> Any:
    """A callable ``frame(int16[1280]) -> score`` for an ``.onnx`` or ``.tflite`` head."""
    from core.assets.feature_models import locate_feature_models
    from core.audio.streaming import StreamingDetector

    return StreamingDetector(model_path, locate_feature_models(feature_models_dir)).predict


# -- audio input --------------------------------------------------------------------------------------

def import_sounddevice() -> Any:
    """``sounddevice``, or a clear error when the PortAudio library is missing."""
    try:
        import sounddevice as sd
    except OSError as exc:
        raise MicrophoneError(
            f"The PortAudio library is not installed ({exc}). Install it: Debian/Ubuntu "
            "`sudo apt install libportaudio2`, Fedora `sudo dnf install portaudio`, macOS `brew install portaudio`."
        ) from None
    return sd


def _device_arg(device: str | int | None) -> str | int | None:
    if isinstance(device, str) and device.strip().isdigit():
        return int(device.strip())
    return device or None


def _input_devices_text(sd: Any) -> str:
    try:
        names = [f"{i}: {d['name']}" for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]
    except Exception:
        return ""
    return (" Input devices: " + "; ".join(names) + ".") if names else ""


def resolve_input_device(sd: Any, device: str | int | None) -> tuple[str | int | None, dict[str, Any]]:
    """The device to open and its info; a clear error when there is none or the name is unknown."""
    dev = _device_arg(device)
    try:
        info = sd.query_devices(dev, kind="input")
    except (ValueError, sd.PortAudioError) as exc:
        if dev is None:
            raise MicrophoneError(
                f"No microphone found ({exc}). Plug one in, check that your user may record audio "
                "(e.g. the 'audio' group or PulseAudio/PipeWire running), or pick one with --device."
                + _input_devices_text(sd)
            ) from None
        raise MicrophoneError(f"No input device {dev!r} ({exc})." + _input_devices_text(sd)) from None
    if int(info.get("max_input_channels", 0)) < 1:
        raise MicrophoneError(f"The device {info.get('name')!r} cannot record." + _input_devices_text(sd))
    return dev, dict(info)


def _open_rate(sd: Any, dev: str | int | None, info: dict[str, Any]) -> int:
    try:
        sd.check_input_settings(device=dev, channels=1, dtype="int16", samplerate=SAMPLE_RATE)
        return SAMPLE_RATE
    except Exception:
        return int(info.get("default_samplerate") or 48000)


def level_of(frame: np.ndarray) -> Level:
    """RMS and peak level (dBFS) of an int16 frame."""
    x = frame.astype(np.float32) / 32768.0
    rms = float(np.sqrt(np.mean(x * x))) if len(x) else 0.0
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return Level(rms_db=20 * math.log10(max(rms, 1e-7)), peak_db=20 * math.log10(max(peak, 1e-7)),
                 clipped=peak >= 0.999)


# -- the detector -------------------------------------------------------------------------------------

class LiveDetector:
    """Listen to a microphone and report wake-word detections.

    ``report`` receives :class:`~core.events.Level` and :class:`Score` for every 80 ms frame
    (12.5/s) and a :class:`Detection` when the score reaches ``threshold`` (at most one per
    ``refractory_s``). ``mark_false()`` (safe from any thread) marks the last detection as a
    false trigger. ``cancel`` stops :meth:`run` early; it still returns the summary.
    """

    def __init__(
        self,
        model_path: str | Path,
        threshold: float = 0.5,
        device: str | int | None = None,
        report: Reporter | None = None,
        cancel: threading.Event | None = None,
        refractory_s: float = 2.0,
        feature_models_dir: Path | None = None,
    ) -> None:
        if not 0.0 < float(threshold) < 1.0:
            raise EasyOWWError(f"The threshold must be between 0 and 1 (got {threshold}).")
        self.model_path = Path(model_path)
        self.threshold = float(threshold)
        self.device = device
        self.report: Any = report or null_report
        self.cancel = cancel or threading.Event()
        self.refractory_s = float(refractory_s)
        self.scorer = load_scorer(self.model_path, feature_models_dir)
        self._lock = threading.Lock()
        self.ring = AudioRing()
        self._frames = 0
        self._last_detection_t: float | None = None
        self._summary = LiveSummary(threshold=self.threshold, model=str(self.model_path))

    # ----------------------------------------------------------------- frame processing
    @property
    def time_s(self) -> float:
        return self._frames * FRAME_S

    def process_frame(self, frame: np.ndarray) -> float:
        """Score one 80 ms int16 frame at 16 kHz; report Level, Score and maybe a Detection."""
        frame = np.asarray(frame, dtype=np.int16).reshape(-1)
        if len(frame) != FRAME:
            raise ValueError(f"process_frame takes {FRAME} samples (80 ms at 16 kHz), got {len(frame)}")
        score = self.scorer(frame)
        with self._lock:
            self.ring.append(frame)
        self._frames += 1
        t = self.time_s
        self.report(level_of(frame))
        self.report(Score(time_s=round(t, 3), score=score))
        with self._lock:
            self._summary.max_score = max(self._summary.max_score, score)
            self._summary.duration_s = t
            fire = score >= self.threshold and (
                self._last_detection_t is None or t - self._last_detection_t >= self.refractory_s
            )
            if fire:
                det = Detection(time_s=round(t, 3), score=score, index=len(self._summary.detections))
                self._summary.detections.append(det)
            if fire or (score >= self.threshold and self._last_detection_t is not None):
                # A score that stays high extends the refractory period: one utterance, one detection.
                self._last_detection_t = t
        if fire:
            self.report(det)
        return score

    def process_audio(self, audio: np.ndarray) -> list[Detection]:
        """Feed a 16 kHz recording (int16 or float in [-1, 1]) frame by frame; return new detections."""
        x = np.asarray(audio)
        if x.dtype != np.int16:
            x = np.clip(np.round(x.astype(np.float32) * 32767.0), -32768, 32767).astype(np.int16)
        before = len(self._summary.detections)
        for i in range(0, len(x) - FRAME + 1, FRAME):
            self.process_frame(x[i:i + FRAME])
        return self._summary.detections[before:]

    def mark_false(self) -> Detection | None:
        """Mark the most recent detection as a false trigger (once); return it, or None."""
        with self._lock:
            if not self._summary.detections:
                return None
            last = self._summary.detections[-1]
            if last.index not in self._summary.false_triggers:
                self._summary.false_triggers.append(last.index)
            return last

    def detection_audio(self, det: Detection) -> np.ndarray:
        """The audio that made ``det`` fire: ~1.6 s before it and what there is of 0.4 s after (int16)."""
        at = int(round(det.time_s * SAMPLE_RATE))
        with self._lock:
            return self.ring.window(at - int(TRIGGER_BEFORE_S * SAMPLE_RATE), at + int(TRIGGER_AFTER_S * SAMPLE_RATE))

    def audio_pending_s(self, det: Detection) -> float:
        """Seconds until ``det``'s last 0.4 s of audio has been heard (0 when it has)."""
        return max(0.0, det.time_s + TRIGGER_AFTER_S - self.time_s)

    def recent_audio(self, seconds: float = MISSED_SECONDS) -> np.ndarray:
        """The last ``seconds`` of audio heard (int16)."""
        with self._lock:
            return self.ring.window(self.ring.total - int(seconds * SAMPLE_RATE), self.ring.total)

    def summary(self) -> LiveSummary:
        with self._lock:
            s = self._summary
            return LiveSummary(detections=list(s.detections), false_triggers=list(s.false_triggers),
                               max_score=s.max_score, duration_s=s.duration_s, threshold=s.threshold,
                               model=s.model, device=s.device, sample_rate=s.sample_rate, overflows=s.overflows)

    # ----------------------------------------------------------------- microphone
    def run(self, duration_s: float | None = 60.0) -> LiveSummary:
        """Listen for ``duration_s`` seconds of audio (None or 0: until ``cancel`` is set)."""
        sd = import_sounddevice()
        dev, info = resolve_input_device(sd, self.device)
        rate = _open_rate(sd, dev, info)
        self._summary.device = str(info.get("name", dev))
        self._summary.sample_rate = rate
        blocksize = FRAME if rate == SAMPLE_RATE else max(1, round(rate * FRAME_S))
        chunks: queue.Queue[np.ndarray] = queue.Queue()

        def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            if status and status.input_overflow:
                self._summary.overflows += 1
            chunks.put(indata[:, 0].copy())

        def open_error(exc: BaseException) -> MicrophoneError:
            return MicrophoneError(
                f"Cannot open the microphone {self._summary.device!r} at {rate} Hz ({exc}). It may be busy "
                "(close other programs that record) or unsupported; pick another with --device."
                + _input_devices_text(sd)
            )

        try:
            stream = sd.InputStream(device=dev, channels=1, samplerate=rate, dtype="int16",
                                    blocksize=blocksize, callback=callback)
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise open_error(exc) from None
        resampler = None
        if rate != SAMPLE_RATE:
            import soxr

            resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
        pending = np.zeros(0, dtype=np.int16)
        limit = float(duration_s) if duration_s else math.inf
        last_audio = time.monotonic()
        try:
            while self.time_s < limit and not self.cancel.is_set():
                try:
                    block = chunks.get(timeout=0.1)
                except queue.Empty:
                    if time.monotonic() - last_audio > 5.0:
                        raise MicrophoneError(
                            f"The microphone {self._summary.device!r} delivers no audio. Check that it is "
                            "not muted or used by another program, or pick another with --device."
                        ) from None
                    continue
                last_audio = time.monotonic()
                if resampler is not None:
                    y = resampler.resample_chunk(block.astype(np.float32) / 32768.0)
                    block = np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)
                pending = np.concatenate([pending, block])
                while len(pending) >= FRAME and self.time_s < limit:
                    self.process_frame(pending[:FRAME])
                    pending = pending[FRAME:]
        except sd.PortAudioError as exc:
            raise MicrophoneError(
                f"The microphone {self._summary.device!r} stopped working ({exc}). Check the device and "
                "run the test again."
            ) from None
        except Cancelled:
            pass
        finally:
            with contextlib.suppress(Exception):
                stream.abort(ignore_errors=True)
            with contextlib.suppress(Exception):
                stream.close(ignore_errors=True)
        return self.summary()
