"""AudioAugmenter: seeded, right length and range, measured SNR, cached room bank, resumable folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio.dsp import time_stretch
from core.audio.files import SAMPLE_RATE, load_clip, write_wav
from core.events import LogLine, PhaseFinished
from core.pipeline.p2_augmentation.augment import HARD_COPY_MIN, AudioAugmenter, copy_probs
from core.pipeline.p2_augmentation.phase import run_augmentation_phase
from core.pipeline.p2_augmentation.rooms import load_rir_bank
from core.project.config import TrainingConfig
from core.project.workspace import Workspace

OFF = dict(rir_prob=0.0, noise_prob=0.0, pitch_prob=0.0, stretch_prob=0.0, gain_prob=0.0, mic_prob=0.0)


def _speechlike(seed: int = 0, peak: float = 0.3) -> np.ndarray:
    """Harmonic bursts with pauses (deterministic), 1 s at 16 kHz."""
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    rng = np.random.default_rng(seed)
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for f0 in (140 + 20 * rng.random(),) for k in range(1, 8))
    env = ((t > 0.2) & (t < 0.45)) | ((t > 0.55) & (t < 0.85))
    x = x * env
    return (x / np.max(np.abs(x)) * peak).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.fixture(scope="module")
def bank_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cache") / "simulated_rirs.npy"
    AudioAugmenter(seed=0, rir_bank_path=path, n_rooms=5)
    return path


@pytest.fixture(scope="module")
def aug(bank_path: Path) -> AudioAugmenter:
    return AudioAugmenter(seed=7, rir_bank_path=bank_path)


def test_rir_bank_built_once_and_cached(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "rirs.npy"
    events: list = []
    a = AudioAugmenter(seed=1, rir_bank_path=path, n_rooms=4, report=events.append)
    assert path.is_file() and "new" in a.rir_source
    assert any(isinstance(e, LogLine) and "simulating" in e.message.lower() for e in events)
    bank = np.load(path, allow_pickle=False)
    assert bank.shape[0] == 4 and bank.dtype == np.float32
    # Realistic rooms: direct path first, energy decaying over tens/hundreds of ms.
    for r in bank:
        assert np.argmax(np.abs(r)) < 40
        tail = np.sum(r[int(0.05 * SAMPLE_RATE):] ** 2) / np.sum(r**2)
        assert 0.001 < tail < 0.9
    mtime = path.stat().st_mtime_ns
    b = AudioAugmenter(seed=1, rir_bank_path=path, n_rooms=4)
    assert path.stat().st_mtime_ns == mtime and "cached" in b.rir_source
    # A damaged cache is rebuilt, not trusted.
    path.write_bytes(b"not numpy")
    c = AudioAugmenter(seed=1, rir_bank_path=path, n_rooms=3)
    assert "new" in c.rir_source and load_rir_bank(path) is not None


def test_simulated_rooms_are_the_same_for_the_same_seed(tmp_path: Path) -> None:
    """Two fresh projects with one seed simulate the same rooms (pyroomacoustics' ray tracer is seeded), so their
    augmented clips match too; another seed gives other rooms."""
    x = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1
    wet = []
    for name in ("one", "two"):
        aug = AudioAugmenter(seed=1, rir_bank_path=tmp_path / name / "rirs.npy", n_rooms=3)
        wet.append(aug.augment(x, rng=np.random.default_rng(5), **{**OFF, "rir_prob": 1.0}))
    assert np.array_equal(np.load(tmp_path / "one" / "rirs.npy"), np.load(tmp_path / "two" / "rirs.npy"))
    assert np.array_equal(wet[0], wet[1])
    other = AudioAugmenter(seed=2, rir_bank_path=tmp_path / "three" / "rirs.npy", n_rooms=3)
    assert not np.array_equal(np.load(tmp_path / "three" / "rirs.npy"), np.load(tmp_path / "one" / "rirs.npy"))
    assert "new" in other.rir_source


def test_deterministic_with_seed(bank_path: Path) -> None:
    x = _speechlike()
    a = AudioAugmenter(seed=3, rir_bank_path=bank_path)
    b = AudioAugmenter(seed=3, rir_bank_path=bank_path)
    c = AudioAugmenter(seed=4, rir_bank_path=bank_path)
    ya = [a.augment(x, 1, 1, 1, 1, 1) for _ in range(3)]
    yb = [b.augment(x, 1, 1, 1, 1, 1) for _ in range(3)]
    yc = [c.augment(x, 1, 1, 1, 1, 1) for _ in range(3)]
    assert all(np.array_equal(p, q) for p, q in zip(ya, yb, strict=True))
    assert not all(np.array_equal(p, q) for p, q in zip(ya, yc, strict=True))
    r1 = a.augment(x, rng=np.random.default_rng(11))
    r2 = b.augment(x, rng=np.random.default_rng(11))
    assert np.array_equal(r1, r2)


def test_length_range_and_change(aug: AudioAugmenter) -> None:
    x = _speechlike(peak=0.99)
    for i in range(30):
        y = aug.augment(x, 0.5, 0.5, 0.5, 0.5, 1.0, rng=np.random.default_rng(i))
        assert y.dtype == np.float32 and len(y) == len(x)
        assert np.all(np.abs(y) <= 1.0) and np.all(np.isfinite(y))
        assert not np.allclose(y, x, atol=1e-4)
    # Nothing drawn -> still augmented (noise), never an identical copy.
    y = aug.augment(x, rng=np.random.default_rng(0), **OFF)
    assert len(y) == len(x) and not np.allclose(y, x)


def test_noise_snr_is_within_5_to_20_db(aug: AudioAugmenter) -> None:
    x = _speechlike(peak=0.3)
    snrs = []
    for i in range(40):
        y = aug.augment(x, rng=np.random.default_rng(i), **{**OFF, "noise_prob": 1.0})
        snrs.append(20 * np.log10(rms(x) / rms(y - x)))
    assert min(snrs) >= 5 - 0.05 and max(snrs) <= 20 + 0.05
    assert max(snrs) - min(snrs) > 8  # spread over the range


def test_gain_pitch_stretch_rir(aug: AudioAugmenter) -> None:
    x = _speechlike(peak=0.3)
    gains = [20 * np.log10(rms(aug.augment(x, rng=np.random.default_rng(i), **{**OFF, "gain_prob": 1.0})) / rms(x))
             for i in range(40)]
    assert -6.01 <= min(gains) and max(gains) <= 6.01 and max(gains) - min(gains) > 6
    # Pitch: +2 semitones moves a 400 Hz tone to ~449 Hz, same duration.
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * 400 * t)).astype(np.float32)
    up = aug.change_pitch_tempo(tone, 2.0, 1.0)
    assert abs(len(up) - len(tone)) < 200
    f = np.fft.rfftfreq(len(up), 1 / SAMPLE_RATE)[np.argmax(np.abs(np.fft.rfft(up)))]
    assert abs(f - 400 * 2 ** (2 / 12)) < 6
    # Tempo: 1.1x longer, pitch kept.
    slow = aug.change_pitch_tempo(tone, 0.0, 1.1)
    assert abs(len(slow) - 1.1 * len(tone)) < 200
    f2 = np.fft.rfftfreq(len(slow), 1 / SAMPLE_RATE)[np.argmax(np.abs(np.fft.rfft(slow)))]
    assert abs(f2 - 400) < 5
    assert len(time_stretch(tone, 1 / 0.9)) == round(len(tone) * 0.9)
    # Room: adds a reverberant tail after the speech stops.
    wet = aug.augment(x, rng=np.random.default_rng(2), **{**OFF, "rir_prob": 1.0})
    gap = slice(int(0.46 * SAMPLE_RATE), int(0.54 * SAMPLE_RATE))
    assert rms(x[gap]) < 1e-6 and rms(wet[gap]) > 1e-4


def test_real_rir_and_noise_folders(tmp_path: Path) -> None:
    rir_dir, noise_dir = tmp_path / "rir", tmp_path / "noise"
    rir_dir.mkdir()
    noise_dir.mkdir()
    rng = np.random.default_rng(0)
    n = int(0.3 * 16000)
    rir = rng.standard_normal(n) * np.exp(-np.arange(n) / 1500)
    rir[0] = 3.0
    sf.write(rir_dir / "room.wav", rir / np.max(np.abs(rir)), 16000)
    sf.write(noise_dir / "cafe.flac", rng.standard_normal(48000 * 3) * 0.1, 48000)
    (noise_dir / "bad.wav").write_bytes(b"xx")
    events: list = []
    a = AudioAugmenter(rir_dir, noise_dir, seed=0, rir_bank_path=tmp_path / "never.npy", report=events.append)
    assert "1 impulse responses" in a.rir_source and "1 noise files" in a.noise_source
    assert not (tmp_path / "never.npy").exists()
    assert any("bad.wav" in e.message for e in events if isinstance(e, LogLine))


def test_augment_clips_resumable(tmp_path: Path, aug: AudioAugmenter) -> None:
    src = tmp_path / "in"
    for i in range(3):
        write_wav(src / f"synth_{i:05d}.wav", _speechlike(i, 0.8))
    inputs = sorted(src.glob("*.wav"))
    out = tmp_path / "out"
    res = aug.augment_clips(inputs, out, 2)
    assert res["created"] == 6 and res["total"] == 6
    for p in out.glob("*.wav"):
        info = sf.info(str(p))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", 16000)
    first = (out / "synth_00001_a1.wav").read_bytes()
    mt = {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")}
    (out / "synth_00001_a1.wav").unlink()
    (out / ".synth_00002_a0.xyz.tmp.wav").write_bytes(b"partial")
    res = aug.augment_clips(inputs, out, 2)
    assert res["created"] == 1 and res["kept"] == 5
    assert (out / "synth_00001_a1.wav").read_bytes() == first  # same clip, same seed -> same audio
    assert all(p.stat().st_mtime_ns == mt[p.name] for p in out.glob("*.wav") if p.name != "synth_00001_a1.wav")
    assert not list(out.glob(".*"))
    res = aug.augment_clips(inputs[:2], out, 1)  # fewer sources and copies: extras removed
    assert res["total"] == 2
    # Two worker processes write exactly what one process writes.
    pooled = aug.augment_clips(inputs, tmp_path / "pooled", 2, workers=2)
    assert pooled["created"] == 6
    assert (tmp_path / "pooled" / "synth_00001_a1.wav").read_bytes() == first


def test_augmentation_phase(tmp_path: Path, bank_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    cfg = TrainingConfig(wake_word="hey jarvis", project_name="p1", augmentations_per_clip=2, seed=3)
    project = ws.create_project(cfg)
    ws.rir_bank_path.parent.mkdir(parents=True, exist_ok=True)
    ws.rir_bank_path.write_bytes(bank_path.read_bytes())
    for i in range(3):
        write_wav(project.positive_clips_dir(cfg) / f"synth_{i:05d}.wav", _speechlike(i, 0.9))
    for i in range(4):
        write_wav(project.negative_clips_dir(cfg) / f"adv_{i:05d}.wav", _speechlike(10 + i, 0.9))
    speech_dir = project.clips_dir(cfg) / "negative_speech"
    passage = np.concatenate([_speechlike(20 + i, 0.9) for i in range(8)])
    for k in range(5):
        write_wav(speech_dir / f"speech_{k:05d}.wav", passage)
    from core.pipeline.p1_clips.generator import UNSEEN_DIR, passage_is_augmented

    unseen = project.clips_dir(cfg) / UNSEEN_DIR
    cal = next(f"cal_{k:05d}.wav" for k in range(100) if passage_is_augmented(f"cal_{k:05d}.wav"))
    write_wav(unseen / "negative" / cal, passage)
    for i in range(8):
        write_wav(unseen / "positive" / f"unseen_{i:05d}.wav", _speechlike(30 + i, 0.5))
    ws.noise_dir.mkdir(parents=True, exist_ok=True)  # a steady background noise (babble has pauses)
    write_wav(ws.noise_dir / "hum.wav", 0.05 * np.random.default_rng(0).standard_normal(5 * SAMPLE_RATE))
    events: list = []
    s = run_augmentation_phase(project, cfg, events.append)
    assert s["positive_augmented"] == 6 and s["negative_augmented"] == 8 and "cached" in s["rirs"]
    # long passages get one augmented copy each, whatever augmentations_per_clip says
    assert s["negative_speech_augmented"] == 5
    from core.pipeline.p3_features.plan import list_streams

    assert len(list_streams(project.clips_dir(cfg))) == 10  # clean and augmented are both trained on
    copy = load_clip(project.clips_dir(cfg) / "negative_speech_augmented" / "speech_00000_a0.wav")
    assert len(copy) == len(passage) and not np.allclose(copy, passage, atol=1e-3)
    assert len(list(project.augmented_clips_dir(cfg).glob("*.wav"))) == 6
    assert len(list((project.clips_dir(cfg) / "negative_augmented").glob("*.wav"))) == 8
    assert isinstance(events[-1], PhaseFinished) and events[-1].ok and events[-1].phase == "augmentation"
    # The unseen-voice set measures the model: its copies are padded 1 s each side before room and noise, the
    # calibration passages too (no quiet-to-noisy jump where the passage starts, which no home microphone hears).
    for rel, src in ((f"negative_augmented/{cal[:-4]}_a0.wav", passage), ("positive_augmented/unseen_00000_a0.wav",
                                                                            _speechlike(30, 0.5))):
        assert len(load_clip(unseen / rel)) == len(src) + 2 * SAMPLE_RATE
    # The unseen-voice wake words are heard as in a home: every copy over background noise (it fills the padding
    # before the word), not only the share training's speech odds would give.
    leads = [rms(load_clip(unseen / "positive_augmented" / f"unseen_{i:05d}_a0.wav")[: SAMPLE_RATE // 2])
             for i in range(8)]
    assert min(leads) > 1e-4, leads
    s2 = run_augmentation_phase(project, cfg, events.append)
    assert s2["created"] == 0 and s2["kept"] == 19 and s2["negative_speech_augmented"] == 5

    cfg.use_augmentation = False
    events.clear()
    assert run_augmentation_phase(project, cfg, events.append) == {"skipped": True}
    assert any(isinstance(e, LogLine) and "skipping" in e.message for e in events)
    assert isinstance(events[-1], PhaseFinished) and events[-1].ok


def test_later_copies_get_rooms_and_noise_more_often() -> None:
    probs = {"rir_prob": 0.5, "noise_prob": 0.5, "pitch_prob": 0.3, "gain_prob": 0.8}
    assert copy_probs(probs, 0) == probs
    hard = copy_probs(probs, 1)
    assert hard["rir_prob"] == HARD_COPY_MIN["rir_prob"] > 0.5 and hard["noise_prob"] == HARD_COPY_MIN["noise_prob"]
    assert hard["pitch_prob"] == 0.3 and hard["gain_prob"] == 0.8 and probs["rir_prob"] == 0.5  # input untouched
    assert copy_probs({"rir_prob": 0.95, "noise_prob": 0.0}, 2) == {"rir_prob": 0.95, "noise_prob": 0.0}  # off stays off


def test_padded_copies_have_the_room_and_the_noise_around_the_clip(aug: AudioAugmenter) -> None:
    """The unseen-voice wake words that measure a model are padded before their room and noise: noise before the
    word as a microphone hears it, the echo ringing on after it, and the 5-20 dB measured against the word."""
    x = _speechlike(peak=0.3)
    pad = SAMPLE_RATE
    wet = aug.augment(x, rng=np.random.default_rng(5), pad_s=1.0, **{**OFF, "rir_prob": 1.0})
    assert len(wet) == len(x) + 2 * pad
    assert rms(wet[: pad // 2]) < 1e-6 and rms(wet[pad + len(x) + 200 : pad + len(x) + 1200]) > 1e-4
    snrs = []
    for i in range(30):
        noisy = aug.augment(x, rng=np.random.default_rng(i), pad_s=1.0, **{**OFF, "noise_prob": 1.0})
        assert len(noisy) == len(x) + 2 * pad and np.max(np.abs(noisy)) <= 1.0
        assert rms(noisy[: pad // 2]) > 1e-4  # noise before the word, not only during it
        noise = noisy.copy()
        noise[pad : pad + len(x)] -= x
        snrs.append(20 * np.log10(rms(x) / rms(noise)))
    assert min(snrs) >= 5 - 0.05 and max(snrs) <= 20 + 0.05 and max(snrs) - min(snrs) > 8


def test_microphone_colouring_cuts_the_lows_and_reshapes_the_spectrum(aug: AudioAugmenter) -> None:
    """A random microphone: same length and loudness, a low cut (a 40 Hz hum mostly gone), a spectrum reshaped
    differently from one draw to the next, deterministic for a seed; augment() applies it over the whole copy."""
    from core.audio.dsp import colour_like_a_microphone

    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    voice = _speechlike()
    hum = 0.2 * np.sin(2 * np.pi * 40 * t).astype(np.float32)
    x = voice + hum

    def band_db(y: np.ndarray, lo: float, hi: float) -> float:
        spec = np.abs(np.fft.rfft(y)) ** 2
        f = np.fft.rfftfreq(len(y), 1 / SAMPLE_RATE)
        return 10 * np.log10(spec[(f >= lo) & (f < hi)].sum())

    shapes = []
    for i in range(8):
        y = colour_like_a_microphone(x, np.random.default_rng(i))
        assert y.dtype == np.float32 and len(y) == len(x) and abs(rms(y) - rms(x)) < 1e-3 * rms(x)
        assert band_db(y, 30, 50) < band_db(x, 30, 50) - 6
        g = [band_db(y, lo, hi) - band_db(x, lo, hi) for lo, hi in ((100, 500), (500, 2000), (2000, 8000))]
        shapes.append([g[1] - g[0], g[2] - g[1]])  # tilt between neighbouring bands
        np.testing.assert_array_equal(y, colour_like_a_microphone(x, np.random.default_rng(i)))
    assert np.ptp(np.array(shapes), axis=0).min() > 3  # the balance of the bands differs by > 3 dB

    # Training copies get no microphone unless asked (the unseen-voice set asks for one half the time).
    plain = {k: v for k, v in OFF.items() if k != "mic_prob"}
    assert np.array_equal(aug.augment(voice, rng=np.random.default_rng(1), **plain),
                          aug.augment(voice, rng=np.random.default_rng(1), **OFF))
    coloured = [aug.augment(voice, rng=np.random.default_rng(i), **{**OFF, "mic_prob": 1.0}) for i in range(3)]
    assert all(len(c) == len(voice) and not np.allclose(c, voice, atol=1e-3) for c in coloured)
    assert np.array_equal(aug.augment(voice, rng=np.random.default_rng(0), **{**OFF, "mic_prob": 1.0}), coloured[0])
