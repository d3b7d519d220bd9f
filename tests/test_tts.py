"""PiperTTS: voice discovery, real Piper synthesis at the right rate, espeak-ng voices, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core.audio import espeak_lib
from core.audio.files import SAMPLE_RATE, speech_bounds
from core.audio.tts import PiperTTS, VoiceInfo, bundled_voice, random_prosody
from core.errors import EasyOWWError
from core.pipeline.p1_clips.tts_jobs import ESPEAK_SHARE, is_unseen, voice_for_index

JOE = "en_US-joe-medium"
HAS_ESPEAK = espeak_lib.available()


@pytest.fixture(scope="module")
def tts() -> PiperTTS:
    return PiperTTS(include_espeak=False, threads=2)


def _rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(max(np.sqrt(np.mean(np.square(x, dtype=np.float64))), 1e-9)))


def test_bundled_joe_is_listed(tts: PiperTTS) -> None:
    voices = {v.name: v for v in tts.list_voices()}
    joe = voices[JOE]
    assert joe.engine == "piper" and joe.sample_rate == 22050 and joe.num_speakers == 1
    assert joe.language == "en_US" and joe.quality == "medium"
    assert joe.path is not None and joe.path.is_file() and joe.config_path is not None


def test_synthesis_is_16k_float_speech_resampled_from_the_real_rate(tts: PiperTTS) -> None:
    from piper.config import SynthesisConfig

    # noise 0 makes Piper deterministic, so the native-rate output can be compared.
    audio = tts.synthesize("hey jarvis", JOE, length_scale=1.0, noise_scale=0.0, noise_w=0.0)
    assert audio.dtype == np.float32 and audio.ndim == 1
    native = np.concatenate([c.audio_float_array for c in tts.load(JOE).synthesize(
        "hey jarvis", SynthesisConfig(length_scale=1.0, noise_scale=0.0, noise_w_scale=0.0))])
    assert abs(len(audio) - len(native) * SAMPLE_RATE / 22050) <= 2  # 22050 -> 16000, not 8000
    assert 0.5 < len(audio) / SAMPLE_RATE < 2.0
    assert speech_bounds(audio, SAMPLE_RATE) is not None and _rms_db(audio) > -30
    # Most speech energy below 4 kHz; a wrong ratio would shift it.
    spec = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)
    centroid = float(np.sum(freqs * spec) / np.sum(spec))
    assert 300 < centroid < 3500


def test_voice_loaded_once_and_length_scale_changes_duration(tts: PiperTTS) -> None:
    assert tts.load(JOE) is tts.load(JOE)
    fast = tts.synthesize("hey jarvis", JOE, length_scale=0.75, noise_scale=0.0, noise_w=0.0)
    slow = tts.synthesize("hey jarvis", JOE, length_scale=1.35, noise_scale=0.0, noise_w=0.0)
    assert len(slow) > len(fast) * 1.4


def test_random_prosody_ranges_and_seeded() -> None:
    a = [random_prosody(np.random.default_rng([3, i])) for i in range(200)]
    b = [random_prosody(np.random.default_rng([3, i])) for i in range(200)]
    assert a == b
    assert all(0.75 <= p.length_scale <= 1.35 and 0.4 <= p.noise_scale <= 0.9 and 0.5 <= p.noise_w <= 1.1
               for p in a)
    assert len({round(p.length_scale, 3) for p in a}) > 100


def test_voices_dir_discovery_and_bad_voices(tmp_path) -> None:
    model, config = bundled_voice()
    vd = tmp_path / "voices"
    (vd / "en" / "en_US" / "test").mkdir(parents=True)
    # A second voice in the workspace folder (nested like the HF layout).
    (vd / "en" / "en_US" / "test" / "en_US-test-medium.onnx").symlink_to(model)
    shutil.copy(config, vd / "en" / "en_US" / "test" / "en_US-test-medium.onnx.json")
    # A model without its config, and a damaged model.
    (vd / "en_US-noconfig-low.onnx").write_bytes(b"x")
    (vd / "en_US-broken-medium.onnx").write_bytes(b"this is not onnx")
    shutil.copy(config, vd / "en_US-broken-medium.onnx.json")
    # A config that is not JSON.
    (vd / "en_US-badjson-medium.onnx").write_bytes(b"x")
    (vd / "en_US-badjson-medium.onnx.json").write_text("{nope")

    t = PiperTTS(vd, include_espeak=False, threads=1)
    names = t.voice_names()
    assert JOE in names and "en_US-test-medium" in names and "en_US-broken-medium" in names
    assert "en_US-noconfig-low" not in names and "en_US-badjson-medium" not in names
    assert t.get_voice("en_US-test-medium").sample_rate == json.loads(config.read_text())["audio"]["sample_rate"]
    audio = t.synthesize("hello", "en_US-test-medium")
    assert len(audio) > 0.2 * SAMPLE_RATE

    with pytest.raises(EasyOWWError, match="en_US-noconfig-low.onnx.json"):
        t.get_voice("en_US-noconfig-low")
    with pytest.raises(EasyOWWError, match="badjson"):
        t.get_voice("en_US-badjson-medium")
    with pytest.raises(EasyOWWError, match="en_US-broken-medium.onnx") as err:
        t.synthesize("hello", "en_US-broken-medium")
    assert "download" in str(err.value).lower()


def test_unknown_voice_lists_installed(tts: PiperTTS) -> None:
    with pytest.raises(EasyOWWError) as err:
        tts.resolve([JOE, "en_US-nobody-high"])
    msg = str(err.value)
    assert "en_US-nobody-high" in msg and JOE in msg
    with pytest.raises(EasyOWWError, match="empty"):
        tts.synthesize("  ", JOE)


def test_voice_schedule_cycles_every_speaker() -> None:
    multi = VoiceInfo("multi", None, None, "en_US", "medium", 5, 22050)
    single = VoiceInfo("single", None, None, "en_US", "medium", 1, 22050)
    esp = VoiceInfo("espeak:en-us", None, None, "en-us", "espeak", 3, 22050, "espeak")
    picks = [voice_for_index([multi, single], i, seed=1) for i in range(10)]
    assert {s for v, s in picks if v == "multi"} == {s for s in range(5) if not is_unseen(multi, s)}
    assert all(s is None for v, s in picks if v == "single")
    assert picks == [voice_for_index([multi, single], i, seed=1) for i in range(10)]
    mixed = [voice_for_index([multi, esp], i, seed=1)[0] for i in range(100)]
    assert mixed.count("espeak:en-us") == 10 * ESPEAK_SHARE


@pytest.mark.skipif(not HAS_ESPEAK, reason="espeakng-loader is not installed (pip install espeakng-loader)")
def test_espeak_voices() -> None:
    t = PiperTTS(include_bundled=False, include_espeak=True)
    voices = {v.name: v for v in t.list_voices()}
    assert "espeak:en-us" in voices and voices["espeak:en-us"].num_speakers > 20
    a = t.synthesize("hey jarvis", "espeak:en-us", speaker_id=3, length_scale=1.0)
    b = t.synthesize("hey jarvis", "espeak:en+m3", length_scale=0.8)
    for x in (a, b):
        assert x.dtype == np.float32 and 0.3 < len(x) / SAMPLE_RATE < 3 and _rms_db(x) > -30
    with pytest.raises(EasyOWWError, match="espeak:xx-nowhere"):
        t.get_voice("espeak:xx-nowhere")


def test_espeak_from_the_pip_package_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """espeak-ng voices come from the espeakng-loader wheel: no espeak-ng program on PATH is needed."""
    monkeypatch.setenv("PATH", "/nonexistent")
    t = PiperTTS(include_bundled=False, include_espeak=True)
    voices = {v.name: v for v in t.list_voices()}
    assert len(voices) >= 6 and all(v.num_speakers >= 80 for v in voices.values())  # accents x variants
    a = t.synthesize("hey jarvis", "espeak:en-us", speaker_id=0)
    b = t.synthesize("hey jarvis", "espeak:en-us", speaker_id=1)
    assert 0.3 < len(a) / SAMPLE_RATE < 3 and _rms_db(a) > -30
    assert len(a) != len(b) or not np.allclose(a, b)  # another variant sounds different
    again = t.synthesize("hey jarvis", "espeak:en-us", speaker_id=0)
    assert np.array_equal(again, a)


@pytest.mark.skipif(not HAS_ESPEAK, reason="espeakng-loader is not installed (pip install espeakng-loader)")
def test_espeak_synthesis_does_not_depend_on_what_was_said_before() -> None:
    """espeak-ng keeps state between utterances (pitch flutter, echo, the Klatt voices' rand()): the same call
    must still give the same audio after other speech, as clip generation's worker processes interleave jobs."""
    t = PiperTTS(include_bundled=False, include_espeak=True)
    for voice in ("espeak:en-us+m7", "espeak:en+f2", "espeak:en-gb-scotland+Reed"):
        first = t.synthesize("hey jarvis", voice, length_scale=1.1, noise_scale=0.7, seed=4)
        t.synthesize("the kettle is on, shall I pour you a cup", "espeak:en-029+robosoft", length_scale=0.8,
                     noise_scale=0.5, seed=9)
        assert np.array_equal(t.synthesize("hey jarvis", voice, length_scale=1.1, noise_scale=0.7, seed=4), first)


def _speak_in_worker(_: int) -> int:
    import os

    from core.audio import espeak_lib as lib

    lib.speak("hey jarvis", "en-us", seed=1)
    return os.getpid()


@pytest.mark.skipif(not HAS_ESPEAK, reason="espeakng-loader is not installed (pip install espeakng-loader)")
def test_espeak_private_copies_are_removed_by_worker_processes(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clip generation's spawn workers each copy the library to a temp folder; atexit never runs in them, so
    the copies piled up in /tmp (two per training run). They must be gone once the pool has shut down, and a
    copy left by a killed process is swept by the next one."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    monkeypatch.setenv("TMPDIR", str(tmp_path))  # inherited by the spawned workers
    dead = tmp_path / "easy-oww-espeak-999999999-abc"  # no such pid
    dead.mkdir()
    (dead / "libespeak-ng.so").write_bytes(b"x")
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
        pids = set(ex.map(_speak_in_worker, range(4)))
    assert pids and os.getpid() not in pids
    assert not dead.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_piper_synthesis_is_deterministic_for_a_seed(tts: PiperTTS) -> None:
    """Piper's sampling noise follows the seed: same seed, same audio; another seed, other audio."""
    a = tts.synthesize("hey jarvis", JOE, None, 1.0, 0.8, 0.9, seed=11)
    b = tts.synthesize("hey jarvis", JOE, None, 1.0, 0.8, 0.9, seed=11)
    c = tts.synthesize("hey jarvis", JOE, None, 1.0, 0.8, 0.9, seed=12)
    assert np.array_equal(a, b)
    assert len(a) != len(c) or not np.allclose(a, c)
    assert _rms_db(a) > -30 and 0.3 < len(a) / SAMPLE_RATE < 2


def test_unseen_voices_never_enter_the_training_pool() -> None:
    multi = VoiceInfo("espeak:en-us", None, None, "en-us", "espeak", 97, 22050, "espeak")
    single = VoiceInfo(JOE, None, None, "en_US", "medium", 1, 22050)
    unseen = {s for s in range(97) if is_unseen(multi, s)}
    assert 8 <= len(unseen) <= 30 and not any(is_unseen(single, s) for s in (None, 0))
    train = [voice_for_index([single, multi], i, seed=3) for i in range(2000)]
    held = [voice_for_index([single, multi], i, seed=3, pool="unseen") for i in range(200)]
    assert not any(v == multi.name and s in unseen for v, s in train)
    assert {s for v, s in train if v == multi.name} == set(range(97)) - unseen
    assert all(v == multi.name and s in unseen for v, s in held)
