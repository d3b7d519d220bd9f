"""Quality checks on one recorded take (float32 mono, 16 kHz), with reasons a person can act on.

The analysis works on 10 ms frame energies: the noise floor is a low percentile of the
frames that carry any signal (digital zeros, e.g. padding or a stream that has not
started yet, say nothing about the room), speech is the frames well above both the
noise floor and the loudest frame minus 35 dB, and the speech region runs from the
first to the last run of speech frames. SNR compares the region's level with the
frames outside it; with too little audio outside the region (a tightly cut file) the
SNR is not measured rather than guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 16000
FRAME_MS = 10
DIGITAL_SILENCE_DB = -100.0  # frames below this are exact zeros, not a quiet room
ABS_FLOOR_DB = -70.0  # nothing quieter than this counts as sound
CLIP_LEVEL = 0.999


@dataclass(frozen=True)
class QualityLimits:
    """Thresholds for accepting a take; defaults suit a short wake word."""

    min_speech_s: float = 0.3
    max_speech_s: float = 2.5
    min_peak_db: float = -30.0
    min_speech_rms_db: float = -45.0
    max_clipping: float = 0.001  # fraction of speech samples at full scale
    min_snr_db: float = 12.0
    max_dc: float = 0.05
    max_pause_s: float = 0.8  # longest silence inside the phrase
    min_sample_rate: int = 16000  # source files recorded below this are refused


@dataclass(frozen=True)
class Verdict:
    """The result of :func:`check_take`: ``ok``, human ``reasons`` and JSON-able ``measures``."""

    ok: bool
    reasons: list[str] = field(default_factory=list)
    measures: dict[str, float | None] = field(default_factory=dict)
    speech_start: int | None = None  # sample index (16 kHz) of the speech region
    speech_end: int | None = None

    @property
    def summary(self) -> str:
        """One line: 'ok (0.82 s speech, peak -1.0 dBFS, SNR 38 dB)' or the reasons."""
        if not self.ok:
            return "; ".join(self.reasons)
        m = self.measures
        snr = m.get("snr_db")
        snr_text = f", SNR {snr:.0f} dB" if snr is not None else ""
        return f"ok ({m.get('speech_seconds', 0.0):.2f} s speech, peak {m.get('peak_db', 0.0):.1f} dBFS{snr_text})"


def db(value: float) -> float:
    """Amplitude -> dBFS, floored at -120."""
    return float(20 * math.log10(max(float(value), 1e-6)))


def frame_db(x: np.ndarray, sr: int = SAMPLE_RATE, frame_ms: int = FRAME_MS) -> np.ndarray:
    """RMS level in dBFS of consecutive ``frame_ms`` frames (the tail shorter than a frame is dropped)."""
    n = max(1, int(sr * frame_ms / 1000))
    frames = len(x) // n
    if frames == 0:
        return np.array([db(float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))) if len(x) else -120.0])
    f = np.asarray(x[: frames * n], dtype=np.float64).reshape(frames, n)
    return 20 * np.log10(np.maximum(np.sqrt(np.mean(f * f, axis=1)), 1e-6))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of the True runs in ``mask``."""
    if not mask.any():
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _power_db(levels_db: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(10 ** (levels_db / 10)))) if len(levels_db) else -120.0


def live_frames(x: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Frames that carry any signal; measure before removing DC (which lifts exact zeros)."""
    return frame_db(x, sr) > DIGITAL_SILENCE_DB


def speech_region(
    x: np.ndarray, sr: int = SAMPLE_RATE, min_run_ms: int = 30, bridge_ms: int = 250,
    live: np.ndarray | None = None,
) -> tuple[int, int, float, list[tuple[int, int]]] | None:
    """Find the speech: (start_sample, end_sample, threshold_db, runs in frames), or None.

    Runs shorter than ``min_run_ms`` (clicks) are ignored; runs closer than ``bridge_ms``
    are joined (the gaps inside a word). ``live``: frames with signal (default: non-zero).
    """
    levels = frame_db(x, sr)
    if live is None:
        live = levels > DIGITAL_SILENCE_DB
    if not live.any():
        return None
    floor = float(np.percentile(levels[live], 10))
    loud = float(np.percentile(levels[live], 99))
    threshold = max(floor + 6.0, loud - 35.0, ABS_FLOOR_DB)
    runs = _runs(levels >= threshold)
    min_frames = max(1, min_run_ms // FRAME_MS)
    runs = [r for r in runs if r[1] - r[0] >= min_frames]
    if not runs:
        return None
    merged = [runs[0]]
    for a, b in runs[1:]:
        if a - merged[-1][1] <= bridge_ms // FRAME_MS:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    n = int(sr * FRAME_MS / 1000)
    return merged[0][0] * n, min(len(x), merged[-1][1] * n), threshold, merged


def check_take(
    x: np.ndarray,
    sr: int = SAMPLE_RATE,
    limits: QualityLimits | None = None,
    *,
    clipping: float | None = None,
    source_rate: int | None = None,
    require_margins: bool = False,
) -> Verdict:
    """Judge a take.

    ``clipping``: the fraction of speech samples at full scale measured on the raw
    capture (resampling blurs clipped peaks); measured on ``x`` when None.
    ``source_rate``: the rate the audio was recorded at (files below
    ``limits.min_sample_rate`` are refused). ``require_margins``: a live take whose
    speech touches either end of the recording was cut off.
    """
    lim = limits or QualityLimits()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError("check_take expects mono audio (samples,)")
    reasons: list[str] = []
    duration = len(x) / sr
    if len(x) == 0:
        return Verdict(False, ["empty: the take holds no audio."], {"duration": 0.0})
    dc = float(np.mean(x, dtype=np.float64))
    centred = x - np.float32(dc)
    peak_db = db(float(np.max(np.abs(x))))
    measures: dict[str, float | None] = {
        "duration": round(duration, 3),
        "speech_seconds": 0.0,
        "peak_db": round(peak_db, 2),
        "rms_db": None,
        "snr_db": None,
        "clipping": 0.0,
        "dc": round(dc, 5),
        "pause_seconds": 0.0,
    }
    if source_rate is not None and source_rate < lim.min_sample_rate:
        reasons.append(
            f"recorded at {source_rate} Hz: too low (no sound above {source_rate // 2} Hz); "
            f"wake-word models need {lim.min_sample_rate} Hz or more. Record it again at 16 kHz or higher."
        )
    if abs(dc) > lim.max_dc:
        reasons.append(
            f"DC offset {dc:+.3f}: the microphone adds a constant voltage. Try another input or "
            "microphone (or fix its driver settings)."
        )
    live = live_frames(x, sr)
    region = speech_region(centred, sr, live=live)
    if region is None or peak_db < ABS_FLOOR_DB + 10:
        reasons.insert(
            0,
            f"no speech heard: the take is silent (peak {peak_db:.0f} dBFS). Check the microphone is "
            "connected, selected (--device) and not muted, then say the phrase after the countdown.",
        )
        return Verdict(False, reasons, measures)
    start, end, _threshold, runs = region
    speech = centred[start:end]
    speech_s = (end - start) / sr
    speech_rms = db(float(np.sqrt(np.mean(np.square(speech, dtype=np.float64)))))
    speech_peak = db(float(np.max(np.abs(x[start:end]))))
    measures["speech_seconds"] = round(speech_s, 3)
    measures["rms_db"] = round(speech_rms, 2)
    pauses = [(b[0] - a[1]) * FRAME_MS / 1000 for a, b in zip(runs, runs[1:], strict=False)]
    measures["pause_seconds"] = round(max(pauses), 3) if pauses else 0.0

    # Noise: live frames outside the region (10 ms each); at least 0.1 s of them.
    levels = frame_db(centred, sr)
    n = int(sr * FRAME_MS / 1000)
    outside = np.ones(len(levels), dtype=bool)
    outside[start // n : (end + n - 1) // n] = False
    noise = levels[outside & live]
    quiet_outside = int(np.sum(outside & ~live))
    if len(noise) >= 10:
        snr = _power_db(levels[start // n : end // n]) - _power_db(noise)
        measures["snr_db"] = round(snr, 2)
    elif quiet_outside >= 10:
        measures["snr_db"] = round(speech_rms - DIGITAL_SILENCE_DB, 2)  # clean digital silence around it

    clip = clipping if clipping is not None else float(np.mean(np.abs(x[start:end]) >= CLIP_LEVEL))
    measures["clipping"] = round(float(clip), 5)

    if speech_peak < lim.min_peak_db or speech_rms < lim.min_speech_rms_db:
        reasons.append(
            f"too quiet: peak {speech_peak:.0f} dBFS, speech {speech_rms:.0f} dBFS (needs a peak above "
            f"{lim.min_peak_db:.0f} dBFS). Speak louder, move closer to the microphone or raise its input gain."
        )
    if clip > lim.max_clipping:
        reasons.append(
            f"clipping: {clip * 100:.1f}% of the speech is at full scale (distorted). Speak a little softer, "
            "move back from the microphone or lower its input gain."
        )
    snr = measures["snr_db"]
    if snr is not None and snr < lim.min_snr_db:
        reasons.append(
            f"noisy: speech is only {snr:.0f} dB above the background noise (needs {lim.min_snr_db:.0f} dB). "
            "Record in a quieter room, away from fans and traffic, or closer to the microphone."
        )
    if speech_s < lim.min_speech_s:
        reasons.append(
            f"too short: {speech_s:.2f} s of sound (needs at least {lim.min_speech_s:.1f} s). "
            "Say the whole phrase clearly; a click or a breath is not enough."
        )
    elif speech_s > lim.max_speech_s:
        reasons.append(
            f"too long: {speech_s:.1f} s of sound (at most {lim.max_speech_s:.1f} s). Say only the phrase, "
            "at a natural pace, and stay quiet before and after it."
        )
    if pauses and max(pauses) > lim.max_pause_s:
        reasons.append(
            f"too much silence inside the take: a {max(pauses):.1f} s pause between sounds. Say the phrase "
            "in one go, with no other sounds before or after it."
        )
    if require_margins:
        if start <= int(0.05 * sr):
            reasons.append("cut off at the start: you spoke before the recording began. Wait for 'speak now'.")
        if end >= len(x) - int(0.1 * sr):
            reasons.append(
                "cut off at the end: the recording stopped while you were still speaking. Speak right after "
                "'speak now', or allow a longer take (--duration)."
            )
    return Verdict(not reasons, reasons, measures, start, end)
