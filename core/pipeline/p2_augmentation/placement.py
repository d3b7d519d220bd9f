"""Where a clip sits in a training window: one rule for the augmentation phase (which makes augmented copies
already placed, so their room and noise fill the whole window) and the features phase (which places the clips
that are not).

A training window is what the features phase embeds into 16 frames: 480 samples of melspectrogram history and
2 s of audio. A wake word is placed so that its sound ends 0-200 ms before the window's end (as a live stream
scores it just after it is said); other clips anywhere in it.
"""

from __future__ import annotations

import numpy as np

SR = 16000
WINDOW_TOTAL = 480 + 32000  # the features phase's MEL_CONTEXT + WINDOW_SAMPLES (a test checks they agree)
END_JITTER_S = 0.2


def speech_end(x: np.ndarray) -> int:
    """Sample index where a float clip's sound ends (its length if it is all sound or all silence)."""
    from core.audio.files import speech_bounds

    b = speech_bounds(np.asarray(x, dtype=np.float32), SR)
    return len(x) if b is None else int(b[1])


def layout(n: int, end: int, rng: np.random.Generator, align: str, total: int = WINDOW_TOTAL) -> tuple[int, int, int]:
    """``(start, skip, length)``: samples ``skip .. skip + length`` of an ``n``-sample clip whose sound ends at
    ``end`` go to window samples ``start .. start + length``.

    ``end``: the sound ends 0-200 ms before the window's end (a clip longer than the window keeps its end).
    ``random``: anywhere in the window (a random crop if the clip is longer).
    """
    if align == "end":
        jitter = int(rng.integers(0, int(END_JITTER_S * SR) + 1))
        start = total - jitter - end
        skip = 0
        if start < 0:
            skip, start = -start, 0
        return start, skip, max(0, min(n - skip, total - start))
    skip = 0
    if n > total:
        skip = int(rng.integers(0, n - total + 1))
        n = skip + total
    start = int(rng.integers(0, total - (n - skip) + 1))
    return start, skip, n - skip


def place(x: np.ndarray, rng: np.random.Generator, align: str, total: int = WINDOW_TOTAL) -> tuple[np.ndarray, slice]:
    """``x`` (float) placed in a window of zeros by :func:`layout`; the window and the clip's span in it."""
    x = np.asarray(x, dtype=np.float32)
    end = speech_end(x) if align == "end" else len(x)
    start, skip, length = layout(len(x), end, rng, align, total)
    out = np.zeros(total, np.float32)
    out[start : start + length] = x[skip : skip + length]
    return out, slice(start, start + length)
