"""Generated noise negatives: white, pink and brown noise and near-silence (they work offline, with no audio at all)."""

from __future__ import annotations

import numpy as np

from core.audio.dsp import colored_noise

# ------------------------------------------------------------------------- noise


def noise_clip(index: int, seed: int, n: int) -> np.ndarray:
    """Negative clip ``index`` of the offline fallback: coloured noise or near-silence."""
    rng = np.random.default_rng([seed, index, 31])
    kind = ("white", "pink", "brown", "silence")[int(rng.choice(4, p=[0.25, 0.3, 0.25, 0.2]))]
    if kind == "silence":
        rms_db = rng.uniform(-80, -55)
        kind = ("white", "pink")[int(rng.integers(2))]
    else:
        rms_db = rng.uniform(-45, -12)
    x = colored_noise(n, kind, rng) * 10 ** (rms_db / 20)
    return np.clip(x, -1, 1).astype(np.float32)
