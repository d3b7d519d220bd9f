"""core.audio.take_checks on arrays: real Piper speech made good, quiet, clipped, noisy, short, long..."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.audio.take_checks import QualityLimits, Verdict, check_take
from tests.audio_device import db_gain, pad, synth_hey_jarvis

SR = 16000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return synth_hey_jarvis()


def noise(n: int, dbfs: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 10 ** (dbfs / 20), n).astype(np.float32)


def only_reason(v: Verdict, prefix: str) -> None:
    assert not v.ok
    assert any(r.startswith(prefix) for r in v.reasons), v.reasons


def test_clean_take_passes_with_measures(speech):
    v = check_take(pad(speech))
    assert v.ok, v.reasons
    m = v.measures
    assert set(m) >= {"duration", "speech_seconds", "peak_db", "rms_db", "snr_db", "clipping", "dc"}
    assert 0.5 < m["speech_seconds"] < 1.0
    assert m["peak_db"] == pytest.approx(-6.0, abs=0.1)
    assert m["snr_db"] > 30 and m["clipping"] == 0.0
    json.dumps(m)
    assert v.speech_start is not None and 0.4 * SR < v.speech_start < 0.7 * SR
    assert "ok (" in v.summary


def test_tightly_cut_and_room_noise_pass(speech):
    assert check_take(speech).ok
    room = pad(speech) + noise(len(pad(speech)), -65)
    v = check_take(room)
    assert v.ok, v.reasons
    assert 30 < v.measures["snr_db"] < 50


def test_quiet(speech):
    v = check_take(pad(db_gain(speech, -45)))
    only_reason(v, "too quiet")
    assert "dBFS" in v.reasons[0] and "closer" in v.reasons[0]


def test_clipped(speech):
    v = check_take(pad(np.clip(speech * 8, -1, 1)))
    only_reason(v, "clipping")
    assert v.measures["clipping"] > 0.01


def test_noisy_room_even_with_digital_silence_around(speech):
    noisy = pad(speech) + noise(len(pad(speech)), -28)
    only_reason(check_take(noisy), "noisy")
    v = check_take(pad(noisy, 0.3, 0.3))  # a stream that started before the noise
    only_reason(v, "noisy")
    assert v.measures["snr_db"] < 12


@pytest.mark.parametrize("what", ["zeros", "low noise", "mic hiss"])
def test_no_speech(what):
    x = {"zeros": np.zeros(2 * SR, np.float32), "low noise": noise(2 * SR, -70),
         "mic hiss": noise(2 * SR, -55)}[what]
    v = check_take(x)
    assert not v.ok
    assert v.reasons[0].startswith("no speech heard")


def test_empty():
    v = check_take(np.zeros(0, np.float32))
    assert not v.ok and "empty" in v.reasons[0]


def test_short_long_and_pause(speech):
    only_reason(check_take(pad(speech[: int(0.12 * SR)])), "too short")
    only_reason(check_take(pad(np.concatenate([speech] * 4))), "too long")
    half = len(speech) // 2
    gap = np.concatenate([speech[:half], np.zeros(SR, np.float32), speech[half:]])
    only_reason(check_take(pad(gap)), "too much silence")
    # the limits are configurable
    assert check_take(pad(np.concatenate([speech] * 4)), limits=QualityLimits(max_speech_s=5.0)).ok


def test_dc_offset(speech):
    v = check_take(pad(speech) + 0.1)
    only_reason(v, "DC offset")
    assert v.measures["dc"] == pytest.approx(0.1, abs=0.01)
    assert check_take(pad(speech) + 0.01).ok  # small offsets are removed, not refused


def test_cut_off_only_matters_for_live_takes(speech):
    cut = np.concatenate([np.zeros(SR // 2, np.float32), speech[: -int(0.2 * SR)]])
    assert check_take(cut).ok
    only_reason(check_take(cut, require_margins=True), "cut off at the end")
    early = np.concatenate([speech[int(0.25 * SR) :], np.zeros(SR // 2, np.float32)])
    only_reason(check_take(early, require_margins=True), "cut off at the start")


def test_low_source_rate_refused(speech):
    only_reason(check_take(pad(speech), source_rate=8000), "recorded at 8000 Hz")
    assert check_take(pad(speech), source_rate=44100).ok


def test_clipping_measured_elsewhere_is_used(speech):
    v = check_take(pad(speech), clipping=0.05)
    only_reason(v, "clipping")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1.0, 1.0, width=32), min_size=0, max_size=3000))
def test_never_raises_and_measures_are_json(values):
    v = check_take(np.asarray(values, dtype=np.float32))
    json.dumps(v.measures)
    assert v.ok in (True, False)
    assert v.ok or v.reasons
