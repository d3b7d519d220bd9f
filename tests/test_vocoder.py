"""The source-filter vocoder (core/audio/vocoder.py) and the other-sex pseudo-speakers clip planning gives to Piper."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace

import numpy as np
from scipy.signal import lfilter

from core.audio.tts import VoiceInfo
from core.audio.vocoder import SexSwap, VoiceShift, median_f0, swap_sex, vocode
from core.pipeline.p1_clips import tts_jobs
from core.pipeline.p1_clips.generator import ClipGenerator

SR = 16000
JOE = VoiceInfo("en_US-joe-medium", None, None, "en_US", "medium", 1, 22050)
LIBRI = VoiceInfo("en_US-libritts_r-medium", None, None, "en_US", "medium", 904, 22050)
ESPEAK = VoiceInfo("espeak:en-us", None, None, "en-us", "espeak", 97, 22050, "espeak")


def _vowel(f0: float, seconds: float = 1.0, formants: tuple[float, float] = (700.0, 1200.0)) -> np.ndarray:
    """A pulse train at ``f0`` through two formant resonators."""
    x = np.zeros(int(SR * seconds))
    x[:: int(SR / f0)] = 1.0
    for freq, bw in zip(formants, (90.0, 110.0), strict=True):
        r = np.exp(-np.pi * bw / SR)
        x = lfilter([1.0], [1.0, -2 * r * np.cos(2 * np.pi * freq / SR), r * r], x)
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), 4 * SR))
    smooth = np.convolve(spec, np.ones(801) / 801, mode="same")  # +-50 Hz: the envelope, not the harmonics
    return float(np.argmax(smooth) * SR / (4 * SR))


def test_vocoder_moves_pitch_and_formants_and_keeps_length_and_level() -> None:
    x = _vowel(120.0)
    rng = np.random.default_rng(0)
    same = vocode(x, VoiceShift(breath=0.0), rng)
    higher = vocode(x, VoiceShift(pitch=1.3, breath=0.0), rng)
    assert len(same) == len(higher) == len(x) and same.dtype == np.float32
    assert np.all(np.isfinite(higher)) and np.max(np.abs(higher)) < 1.0
    assert abs(np.sqrt(np.mean(higher**2)) / np.sqrt(np.mean(x**2)) - 1) < 0.02
    assert abs(median_f0(same) - 120.0) < 6
    assert abs(median_f0(higher) - 156.0) < 8
    low_peak = _peak_hz(vocode(x, VoiceShift(breath=0.0), rng))
    up_peak = _peak_hz(vocode(x, VoiceShift(formant=1.15, breath=0.0), rng))
    assert 600 < low_peak < 800 and 1.07 < up_peak / low_peak < 1.25, (low_peak, up_peak)


def test_vocoder_is_seeded_and_passes_silence_through() -> None:
    x = _vowel(150.0)
    shift = VoiceShift(pitch=1.2, contour=0.8, formant=1.1, breath=0.2)
    a = vocode(x, shift, np.random.default_rng(7))
    assert np.array_equal(a, vocode(x, shift, np.random.default_rng(7)))
    silent = np.zeros(8000, np.float32)
    assert np.array_equal(vocode(silent, shift, np.random.default_rng(7)), silent)
    assert median_f0(silent) is None
    assert np.array_equal(swap_sex(silent, SexSwap(1.8, 1.0, 1.15, 0.1), np.random.default_rng(7)), silent)


def test_swap_sex_moves_a_male_voice_into_the_female_range_and_back() -> None:
    male, female = _vowel(100.0), _vowel(210.0, formants=(850.0, 1450.0))
    for pitch in (1.55, 2.0):
        swap = SexSwap(pitch, 1.0, 1.15, 0.0)
        up = swap_sex(male, swap, np.random.default_rng(1))
        down = swap_sex(female, swap, np.random.default_rng(1))
        assert abs(median_f0(up) / (100.0 * pitch) - 1) < 0.07, (pitch, median_f0(up))
        assert abs(median_f0(down) / (210.0 / pitch) - 1) < 0.07, (pitch, median_f0(down))
        assert _peak_hz(up) > _peak_hz(male) * 1.05 and _peak_hz(down) < _peak_hz(female) * 0.95
    draws = [SexSwap.draw(np.random.default_rng(i)) for i in range(200)]
    assert min(d.pitch for d in draws) >= 1.55 and max(d.pitch for d in draws) <= 2.05
    assert min(d.formant for d in draws) >= 1.10 and max(d.formant for d in draws) <= 1.24


def test_a_share_of_piper_training_clips_gets_an_other_sex_speaker_and_the_rest_keep_their_digests(tmp_path) -> None:
    gen = ClipGenerator(tmp_path / "rec", tmp_path / "clips", seed=11, workers=1)
    for jobs in (gen.plan_synthetic_clips("hey jarvis", [JOE, ESPEAK], 400),
                 gen.plan_adversarial_clips("hey jarvis", [JOE, ESPEAK], 400),
                 gen.plan_speech_passages("hey jarvis", [JOE, ESPEAK], 400)):
        piper = [j for j in jobs if j.voice == JOE.name]
        assert not any(j.swap for j in jobs if j.voice != JOE.name)  # espeak-ng has female variants of its own
        assert 0.35 < sum(j.swap is not None for j in piper) / len(piper) < 0.65
    jobs = gen.plan_synthetic_clips("hey jarvis", [JOE, ESPEAK], 400)
    assert jobs == gen.plan_synthetic_clips("hey jarvis", [JOE, ESPEAK], 400)
    # the held-out voices the model card reports on stay as they are
    unseen = gen.plan_synthetic_clips("hey jarvis", [JOE, LIBRI, ESPEAK], 100, pool="unseen", prefix="unseen",
                                      kind=23)
    assert any(j.voice == LIBRI.name for j in unseen) and not any(j.swap for j in unseen)
    plain = next(j for j in jobs if j.swap is None)
    # a clip without one keeps the digest it had before: an existing project does not make it again
    old = {k: v for k, v in asdict(plain).items() if k not in ("out_path", "swap", "shift")}
    assert tts_jobs._job_digest(plain) == hashlib.sha1(json.dumps(old, sort_keys=True).encode()).hexdigest()[:16]
    swapped = next(j for j in jobs if j.swap is not None)
    assert tts_jobs._job_digest(swapped) != tts_jobs._job_digest(replace(swapped, swap=None))
