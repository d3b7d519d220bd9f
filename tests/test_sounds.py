"""Everyday-sound negatives: seeded, the asked length, within full scale, varied."""

from __future__ import annotations

import numpy as np

from core.pipeline.p1_clips import sounds


def test_sound_passages_are_seeded_bounded_and_varied() -> None:
    a = sounds.sound_passage(np.random.default_rng([1, 2]), 20.0)
    b = sounds.sound_passage(np.random.default_rng([1, 2]), 20.0)
    c = sounds.sound_passage(np.random.default_rng([1, 3]), 20.0)
    assert a.dtype == np.float32 and len(a) == 20 * sounds.SR
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.all(np.isfinite(a)) and float(np.max(np.abs(a))) <= 1.0
    frames = a[: len(a) // 1600 * 1600].reshape(-1, 1600)
    rms_db = 20 * np.log10(np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) + 1e-12)
    assert rms_db.max() - np.percentile(rms_db, 10) > 20  # sounds stand out of quiet gaps


def test_every_kind_makes_audible_sound() -> None:
    rng = np.random.default_rng(7)
    for name, make in sounds.KINDS.items():
        x = make(rng)
        assert len(x) > 0.02 * sounds.SR and np.all(np.isfinite(x)), name
        assert float(np.max(np.abs(x))) > 0.01, name
