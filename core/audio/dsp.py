"""Signal helpers shared by the pipeline: coloured noise, RMS, and a phase-vocoder time stretch in plain numpy."""

from __future__ import annotations

import numpy as np

from core.audio.files import (
    SAMPLE_RATE,
    resample,
)


def _hann(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic


def _stft(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred STFT (bins, frames), zero padded; same layout as librosa.stft."""
    yp = np.pad(y, n_fft // 2)
    n_frames = 1 + (len(yp) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(yp, n_fft)[::hop][:n_frames] * _hann(n_fft)
    return np.fft.rfft(frames, axis=1).T


def _istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Weighted overlap-add inverse of :func:`_stft`, trimmed to ``length``."""
    win = _hann(n_fft)
    frames = np.fft.irfft(spec.T, n=n_fft, axis=1).astype(np.float32) * win
    n = n_fft + hop * (len(frames) - 1)
    y = np.zeros(n, dtype=np.float32)
    norm = np.zeros(n, dtype=np.float32)
    w2 = win**2
    for i, fr in enumerate(frames):
        y[i * hop : i * hop + n_fft] += fr
        norm[i * hop : i * hop + n_fft] += w2
    y /= np.where(norm > 1e-6, norm, 1.0)
    out = y[n_fft // 2 : n_fft // 2 + length]
    return np.pad(out, (0, length - len(out))) if len(out) < length else out


def time_stretch(y: np.ndarray, rate: float, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Phase-vocoder time stretch (rate > 1: shorter), vectorised over frames.

    The algorithm of ``librosa.effects.time_stretch`` in plain numpy (no per-frame
    Python loop for the phases, no numba warm-up).
    """
    y = np.asarray(y, dtype=np.float32)
    if len(y) < n_fft:
        return resample(y, int(round(SAMPLE_RATE * rate)), SAMPLE_RATE)
    d = _stft(y, n_fft, hop)
    n_bins, n_frames = d.shape
    steps = np.arange(0, n_frames, rate)
    d = np.pad(d, [(0, 0), (0, 2)])
    mags, angles = np.abs(d).astype(np.float32), np.angle(d).astype(np.float32)
    idx = steps.astype(int)
    alpha = (steps - idx).astype(np.float32)[None, :]
    mag = (1.0 - alpha) * mags[:, idx] + alpha * mags[:, idx + 1]
    advance = np.linspace(0, np.pi * hop, n_bins, dtype=np.float32)[:, None]
    dphase = angles[:, idx + 1] - angles[:, idx] - advance
    dphase -= np.float32(2.0 * np.pi) * np.round(dphase / np.float32(2.0 * np.pi))
    dphase += advance
    phase = np.empty_like(dphase)
    phase[:, 0] = angles[:, 0]
    np.cumsum(dphase[:, :-1], axis=1, out=phase[:, 1:])
    phase[:, 1:] += angles[:, :1]
    spec = mag * (np.cos(phase) + 1j * np.sin(phase))
    return _istft(spec, n_fft, hop, int(round(len(y) / rate)))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0

def colored_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise with unit RMS."""
    white = rng.standard_normal(n)
    if kind == "white":
        x = white
    else:
        spec = np.fft.rfft(white)
        f = np.fft.rfftfreq(n)
        f[0] = f[1] if n > 1 else 1.0
        spec /= f ** (0.5 if kind == "pink" else 1.0)
        x = np.fft.irfft(spec, n)
    x = x - x.mean()
    return (x / (np.sqrt(np.mean(x**2)) + 1e-12)).astype(np.float32)


def colour_like_a_microphone(x: np.ndarray, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """``x`` heard through a random cheap microphone and its electronics: a low cut (60-400 Hz), often a high cut
    (3.4-7.5 kHz), one to three resonances or dips (+-9 dB, 150 Hz-6 kHz) and sometimes soft clipping. Same RMS as
    ``x``. Everything in ``x`` (voice, room, noise) is coloured alike, as a microphone colours all it hears."""
    from scipy import signal

    y = np.asarray(x, dtype=np.float64)
    nyq = sample_rate / 2
    sos = [signal.butter(2, rng.uniform(60.0, 400.0) / nyq, "highpass", output="sos")]
    if rng.random() < 0.5:
        sos.append(signal.butter(int(rng.integers(2, 5)), min(rng.uniform(3400.0, 7500.0), nyq * 0.95) / nyq,
                                 "lowpass", output="sos"))
    for _ in range(int(rng.integers(1, 4))):
        f0, q, gain_db = float(np.exp(rng.uniform(np.log(150.0), np.log(6000.0)))), rng.uniform(0.7, 4.0), \
            rng.uniform(-9.0, 9.0)
        sos.append(_peaking_sos(f0, q, gain_db, sample_rate))
    y = signal.sosfilt(np.concatenate(sos), y)
    if rng.random() < 0.2:  # an overdriven preamp
        drive = rng.uniform(1.5, 4.0)
        peak = float(np.max(np.abs(y))) or 1.0
        y = np.tanh(drive * y / peak) * peak / np.tanh(drive)
    before, after = rms(x), rms(y)
    return (y * (before / after) if after > 1e-12 else y).astype(np.float32)


def _peaking_sos(f0: float, q: float, gain_db: float, sample_rate: int) -> np.ndarray:
    """One peaking-EQ biquad (RBJ cookbook) as a (1, 6) second-order section."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / sample_rate
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]
