"""A small source-filter vocoder: the same words in another voice, and pseudo-speakers of the other sex.

Offline, a README install has one neural voice (Piper's joe, a low male voice) and espeak-ng's formant voices,
which are male-sounding for the most part; models trained on them missed most wake words said by female voices
(on the development benchmark's two held-out female voices 0.07 and 0.19, against 0.45-0.74 for the male ones).
:func:`vocode` re-makes speech: it keeps the spectral envelope of each 5 ms frame (cepstral smoothing), moves the
formants (``formant``), replaces the source by a pulse train at a new pitch (``pitch``, with the contour scaled
by ``contour``) plus breath noise (``breath``), and plays unvoiced frames on noise. :func:`swap_sex` uses it to
turn a male voice into a female-sounding one (pitch into the female range, formants up by 10-24 %, as a shorter
vocal tract moves them) and a female voice into a male-sounding one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.audio.dsp import rms

N_FFT = 512
WIN = 400  # 25 ms at 16 kHz
HOP = 80  # 5 ms
LIFTER = 30  # cepstral coefficients kept for the envelope (below the quefrency of a 530 Hz voice)
F0_MIN, F0_MAX = 60.0, 400.0
VOICING = 0.45  # normalised autocorrelation peak that counts as voiced
WINDOW = np.hanning(WIN + 2)[1:-1]
WINDOW_SQ = WINDOW * WINDOW  # what each frame adds to the overlap-add normaliser


@dataclass(frozen=True)
class VoiceShift:
    """How :func:`vocode` changes a voice."""

    pitch: float = 1.0  # mean pitch ratio
    contour: float = 1.0  # 0: monotone, 1: the original intonation, >1: livelier
    formant: float = 1.0  # > 1: formants move up (a shorter vocal tract)
    breath: float = 0.1  # breath noise mixed into voiced frames (0..1)


def _frames(x: np.ndarray) -> np.ndarray:
    pad = np.pad(x, (WIN // 2, WIN // 2 + HOP))
    n = 1 + (len(pad) - WIN) // HOP
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]
    return pad[idx]


def _log_envelope(frames: np.ndarray) -> np.ndarray:
    """Cepstrally smoothed log magnitude per frame, (frames, N_FFT // 2 + 1)."""
    spec = np.abs(np.fft.rfft(frames * WINDOW, N_FFT))
    logmag = np.log(np.maximum(spec, 1e-7))
    cep = np.fft.irfft(logmag, N_FFT)
    cep[:, LIFTER:N_FFT - LIFTER + 1] = 0.0
    return np.fft.rfft(cep, N_FFT).real


def _pitch(frames: np.ndarray, sr: int) -> np.ndarray:
    """Per-frame f0 in Hz (0 where unvoiced), from the normalised autocorrelation."""
    w = frames * WINDOW
    energy = np.sum(w * w, axis=1)
    spec = np.fft.rfft(w, 2 * N_FFT)
    ac = np.fft.irfft(np.abs(spec) ** 2, 2 * N_FFT)[:, :WIN]
    lo, hi = int(sr / F0_MAX), min(WIN - 1, int(sr / F0_MIN))
    # normalise by the window's own autocorrelation so long lags are not penalised
    wac = np.correlate(WINDOW, WINDOW, "full")[WIN - 1:]
    norm = ac[:, lo:hi] / np.maximum(ac[:, :1], 1e-12) / np.maximum(wac[lo:hi] / wac[0], 1e-3)
    peak = np.max(norm, axis=1)
    # the shortest lag close to the best one: multiples of the period score as high (octave errors)
    lag = lo + np.argmax(norm >= 0.9 * peak[:, None], axis=1)
    loud = energy > np.max(energy, initial=0.0) * 1e-4
    f0 = np.where((peak > VOICING) & loud, sr / lag, 0.0)
    # a 5-frame median removes single-frame octave jumps and voicing blips
    padded = np.pad(f0, 2, mode="edge")
    return np.median(np.stack([padded[i:i + len(f0)] for i in range(5)]), axis=0)


def _excitation(f0_frames: np.ndarray, n: int, shift: VoiceShift, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Pulse train at the shifted pitch where voiced, noise elsewhere, breath noise mixed in."""
    t_frames = np.arange(len(f0_frames)) * HOP
    voiced = f0_frames > 0
    if voiced.any():
        logf = np.log(f0_frames[voiced])
        mean = float(np.mean(logf))
        shifted = np.exp(mean + np.log(shift.pitch) + (np.log(np.maximum(f0_frames, 1e-3)) - mean) * shift.contour)
        f0 = np.where(voiced, np.clip(shifted, F0_MIN * 0.8, F0_MAX * 1.2), 0.0)
        # fill unvoiced gaps with the neighbouring pitch so the pulse phase runs on smoothly
        f0_filled = np.interp(t_frames, t_frames[voiced], f0[voiced])
    else:
        f0_filled = np.full(len(f0_frames), 120.0)
    t = np.arange(n)
    f0_s = np.interp(t, t_frames, f0_filled)
    v_s = np.interp(t, t_frames, voiced.astype(np.float64))
    phase = np.cumsum(f0_s / sr)
    pulses = np.zeros(n)
    pulses[1:][np.diff(np.floor(phase)) > 0] = 1.0
    pulses *= np.sqrt(sr / np.maximum(f0_s, 1.0))  # unit power whatever the pitch
    noise = rng.standard_normal(n)
    voiced_part = np.sqrt(1.0 - shift.breath) * pulses + np.sqrt(shift.breath) * noise
    return v_s * voiced_part + (1.0 - v_s) * noise


def vocode(audio: np.ndarray, shift: VoiceShift, rng: np.random.Generator, sr: int = 16000) -> np.ndarray:
    """``audio`` re-made by the source-filter vocoder with ``shift``; same length and loudness."""
    x = np.asarray(audio, dtype=np.float64)
    if len(x) < WIN or rms(x) <= 0:
        return np.asarray(audio, dtype=np.float32)
    frames = _frames(x)
    return _resynthesise(x, frames, _pitch(frames, sr), shift, rng, sr)


def _resynthesise(x: np.ndarray, frames: np.ndarray, f0: np.ndarray, shift: VoiceShift, rng: np.random.Generator,
                  sr: int) -> np.ndarray:
    """:func:`vocode` once ``x`` is cut into ``frames`` and its pitch ``f0`` is tracked."""
    n = len(x)
    env = _log_envelope(frames)
    if shift.formant != 1.0:
        bins = np.arange(env.shape[1], dtype=np.float64)
        src = np.clip(bins / shift.formant, 0, env.shape[1] - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, env.shape[1] - 1)
        frac = src - lo
        env = env[:, lo] * (1 - frac) + env[:, hi] * frac
    exc_frames = _frames(_excitation(f0, n, shift, sr, rng))
    exc = np.fft.rfft(exc_frames * WINDOW, N_FFT)
    exc /= np.sqrt(np.mean(np.abs(exc) ** 2, axis=1, keepdims=True) + 1e-12)
    seg = np.fft.irfft(exc * np.exp(env), N_FFT)[:, :WIN] * WINDOW
    out = np.zeros(HOP * (len(seg) - 1) + WIN)
    wsum = np.zeros_like(out)
    for i, s in enumerate(seg):
        out[i * HOP:i * HOP + WIN] += s
        wsum[i * HOP:i * HOP + WIN] += WINDOW_SQ
    out = (out / np.maximum(wsum, 1e-3))[WIN // 2:WIN // 2 + n]
    level = rms(out)
    if level > 0:
        out *= rms(x) / level
    peak = float(np.max(np.abs(out)))
    if peak > 0.999:
        out *= 0.999 / peak
    return out.astype(np.float32)


FEMALE_SOURCE_F0 = 150.0  # a median pitch at or above this counts as a female source voice
PITCH_RATIO = (1.55, 2.05)  # the new voice's pitch: this many times higher (male source) or lower (female)
FORMANT_RATIO = (1.10, 1.24)  # formants up by this factor (male -> female) or down by it (female -> male)


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


@dataclass(frozen=True)
class SexSwap:
    """A pseudo-speaker of the other sex: how far pitch and formants move (ratios >= 1, applied upwards from a
    male voice and downwards from a female one), how lively its intonation is and how breathy it sounds."""

    pitch: float
    contour: float
    formant: float
    breath: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> SexSwap:
        return cls(log_uniform(rng, *PITCH_RATIO), float(rng.uniform(0.7, 1.5)), log_uniform(rng, *FORMANT_RATIO),
                   float(rng.uniform(0.03, 0.3)))


def _median_voiced(f0: np.ndarray) -> float | None:
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if len(voiced) >= 5 else None


def median_f0(audio: np.ndarray, sr: int = 16000) -> float | None:
    """Median pitch of the voiced frames in Hz, or None when too little of ``audio`` is voiced."""
    x = np.asarray(audio, dtype=np.float64)
    return None if len(x) < WIN else _median_voiced(_pitch(_frames(x), sr))


def swap_sex(audio: np.ndarray, swap: SexSwap, rng: np.random.Generator, sr: int = 16000) -> np.ndarray:
    """``audio`` spoken by a pseudo-speaker of the other sex (decided by its median pitch); unchanged when
    too little of it is voiced to tell. The pitch is tracked once, for the decision and the new voice."""
    x = np.asarray(audio, dtype=np.float64)
    if len(x) < WIN:
        return np.asarray(audio, dtype=np.float32)
    frames = _frames(x)
    f0 = _pitch(frames, sr)
    median = _median_voiced(f0)
    if median is None:  # silent audio has no voiced frame either
        return np.asarray(audio, dtype=np.float32)
    up = median < FEMALE_SOURCE_F0
    shift = VoiceShift(pitch=swap.pitch if up else 1.0 / swap.pitch, contour=swap.contour,
                       formant=swap.formant if up else 1.0 / swap.formant, breath=swap.breath)
    return _resynthesise(x, frames, f0, shift, rng, sr)
