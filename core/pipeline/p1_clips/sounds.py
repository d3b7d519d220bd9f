"""Everyday non-speech sounds, synthesised: chimes, beeps, alarms, rings, clicks, knocks, whistles, water,
clatter and bits of music. Short sounds like these are where wake-word models false-accept most when they
have only heard speech and steady noise; a few minutes of them among the negatives teach the model that a
"ding" is not a wake word. Everything is generated from a seed (no files, works offline).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SR = 16000


def _env(n: int, attack: float, decay: float) -> np.ndarray:
    t = np.arange(n) / SR
    a = np.minimum(1.0, t / max(attack, 1e-4))
    return (a * np.exp(-t / max(decay, 1e-3))).astype(np.float32)


def _tone(freq: float, seconds: float, rng: np.random.Generator, partials: int = 1, shape: str = "sine") -> np.ndarray:
    n = max(1, int(seconds * SR))
    t = np.arange(n) / SR
    x = np.zeros(n, np.float32)
    for k in range(1, partials + 1):
        ratio = k if shape != "bell" else k * float(rng.uniform(0.98, 1.35)) + (k - 1) * 0.4
        if freq * ratio >= SR / 2 - 200:
            break
        phase = float(rng.uniform(0, 2 * np.pi))
        x += (np.sin(2 * np.pi * freq * ratio * t + phase) / k ** float(rng.uniform(0.7, 1.6))).astype(np.float32)
    if shape == "square":
        x = np.sign(x) * 0.6
    return x


def chime(rng: np.random.Generator) -> np.ndarray:
    notes = int(rng.integers(1, 4))
    out = []
    for _ in range(notes):
        dur = float(rng.uniform(0.3, 1.6))
        f = float(rng.uniform(400, 2200))
        out.append(_tone(f, dur, rng, int(rng.integers(2, 6)), "bell") * _env(int(dur * SR), 0.003, dur / 3))
    return np.concatenate(out)


def beeps(rng: np.random.Generator) -> np.ndarray:
    f = float(rng.uniform(500, 3500))
    shape = "square" if rng.random() < 0.4 else "sine"
    on, off = float(rng.uniform(0.04, 0.35)), float(rng.uniform(0.04, 0.3))
    out = []
    for _ in range(int(rng.integers(1, 6))):
        x = _tone(f * float(rng.choice([1.0, 1.0, 1.25, 1.5])), on, rng, 1 + int(shape == "square"), shape)
        out += [x * _env(len(x), 0.004, on * 4), np.zeros(int(off * SR), np.float32)]
    return np.concatenate(out)


def alarm(rng: np.random.Generator) -> np.ndarray:
    f1, f2 = float(rng.uniform(600, 1800)), float(rng.uniform(600, 1800))
    seg = float(rng.uniform(0.1, 0.5))
    out = [_tone(f1 if k % 2 == 0 else f2, seg, rng, 3, "sine") for k in range(int(rng.integers(4, 12)))]
    return np.concatenate(out) * 0.7


def ring(rng: np.random.Generator) -> np.ndarray:
    dur = float(rng.uniform(0.8, 2.0))
    n = int(dur * SR)
    t = np.arange(n) / SR
    base = _tone(float(rng.uniform(350, 500)), dur, rng) + _tone(float(rng.uniform(420, 650)), dur, rng)
    trem = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * float(rng.uniform(15, 25)) * t))
    x = base * trem
    return np.concatenate([x, np.zeros(int(rng.uniform(0.2, 1.0) * SR), np.float32), x])[: int(4 * SR)]


def clicks(rng: np.random.Generator) -> np.ndarray:
    out = []
    for _ in range(int(rng.integers(1, 8))):
        n = int(rng.uniform(0.005, 0.06) * SR)
        burst = rng.standard_normal(n).astype(np.float32) * _env(n, 0.0005, n / SR / 4)
        if rng.random() < 0.6:  # a resonance: knock on wood, a switch, a cup
            burst = np.convolve(burst, _tone(float(rng.uniform(150, 2500)), 0.08, rng) * _env(int(0.08 * SR),
                                0.0005, 0.015))[: n * 4]
        out += [burst, np.zeros(int(rng.uniform(0.05, 0.6) * SR), np.float32)]
    return np.concatenate(out)


def whistle(rng: np.random.Generator) -> np.ndarray:
    dur = float(rng.uniform(0.2, 1.2))
    n = int(dur * SR)
    f0, f1 = float(rng.uniform(500, 2500)), float(rng.uniform(500, 3500))
    f = np.linspace(f0, f1, n) + 30 * np.sin(2 * np.pi * float(rng.uniform(3, 8)) * np.arange(n) / SR)
    x = np.sin(2 * np.pi * np.cumsum(f) / SR).astype(np.float32)
    return x * _env(n, 0.02, dur)


def water(rng: np.random.Generator) -> np.ndarray:
    n = int(rng.uniform(1.0, 4.0) * SR)
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    lo, hi = float(rng.uniform(200, 1500)), float(rng.uniform(2500, 7000))
    spec *= ((freqs > lo) & (freqs < hi)).astype(float)
    x = np.fft.irfft(spec, n).astype(np.float32)
    mod = 0.6 + 0.4 * np.abs(np.sin(2 * np.pi * rng.uniform(0.5, 4) * np.arange(n) / SR))
    return x / (np.max(np.abs(x)) + 1e-9) * mod.astype(np.float32)


def clatter(rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(int(rng.uniform(0.5, 2.0) * SR), np.float32)
    for _ in range(int(rng.integers(3, 12))):
        hit = _tone(float(rng.uniform(800, 5000)), 0.25, rng, 4, "bell") * _env(int(0.25 * SR), 0.001, 0.04)
        at = int(rng.integers(0, max(1, len(out) - len(hit))))
        out[at : at + len(hit)] += hit[: len(out) - at] * float(rng.uniform(0.2, 1.0))
    return out


def music(rng: np.random.Generator) -> np.ndarray:
    """A few bars: chords, a bass line, a melody, sometimes drums."""
    bpm = float(rng.uniform(70, 160))
    beat = 60.0 / bpm
    root = float(rng.uniform(110, 220))
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    bars = int(rng.integers(2, 6))
    n = int(bars * 4 * beat * SR)
    out = np.zeros(n + SR, np.float32)
    for b in range(bars * 4):
        at = int(b * beat * SR)
        if b % 2 == 0:
            deg = int(rng.choice([0, 3, 4, 5]))
            for d in (0, 2, 4):
                f = root * 2 ** (scale[(deg + d) % 8] / 12)
                x = _tone(f, beat * 2, rng, 4) * _env(int(beat * 2 * SR), 0.01, beat) * 0.25
                out[at : at + len(x)] += x[: len(out) - at]
        f = root * 2 * 2 ** (scale[int(rng.integers(0, 8))] / 12)
        x = _tone(f, beat, rng, 3) * _env(int(beat * SR), 0.005, beat / 2) * 0.4
        out[at : at + len(x)] += x[: len(out) - at]
        if rng.random() < 0.6:
            k = rng.standard_normal(int(0.08 * SR)).astype(np.float32) * _env(int(0.08 * SR), 0.0005, 0.02)
            out[at : at + len(k)] += k[: len(out) - at] * 0.5
    return out[:n]


KINDS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "chime": chime, "beeps": beeps, "alarm": alarm, "ring": ring, "clicks": clicks, "whistle": whistle,
    "water": water, "clatter": clatter, "music": music,
}


def sound_passage(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """``seconds`` of everyday sounds at varied levels, separated by quiet (float32, peak <= 1)."""
    n = int(seconds * SR)
    out = (rng.standard_normal(n) * 10 ** (float(rng.uniform(-75, -55)) / 20)).astype(np.float32)
    pos = int(rng.uniform(0.0, 1.0) * SR)
    names = list(KINDS)
    while pos < n:
        x = KINDS[names[int(rng.integers(len(names)))]](rng)
        peak = float(np.max(np.abs(x))) if len(x) else 0.0
        if peak > 0:
            x = x / peak * 10 ** (float(rng.uniform(-30, -2)) / 20)
        end = min(n, pos + len(x))
        out[pos:end] += x[: end - pos]
        pos = end + int(rng.uniform(0.1, 3.0) * SR)
    peak = float(np.max(np.abs(out)))
    return (out / peak * 0.99 if peak > 0.99 else out).astype(np.float32)
