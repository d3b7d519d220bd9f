"""core.audio.files: reading, shaping and writing clips; bad input gets clear messages."""

import numpy as np
import pytest
import soundfile as sf

from core.audio import files as audio
from core.errors import AudioError


def _tone(sr, seconds, amp=0.5, freq=440.0, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def test_8k_stereo_becomes_16k_mono_clip(tmp_path):
    src = tmp_path / "in.wav"
    x = np.concatenate([np.zeros(4000), _tone(8000, 0.5, channels=1), np.zeros(4000)]).astype(np.float32)
    sf.write(src, np.stack([x, x], axis=1), 8000)
    out = audio.process_file(src, tmp_path / "out.wav", clip_duration_ms=1000)
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 16000, "PCM_16")
    y, _ = sf.read(out)
    # the tone is kept (centred), resampled correctly: dominant frequency 440 Hz
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * 16000 / len(y) - 440) < 5
    assert np.max(np.abs(y)) == pytest.approx(10 ** (-1 / 20), abs=0.01)


def test_long_recording_keeps_the_speech(tmp_path):
    sr = 16000
    x = np.concatenate([np.random.default_rng(0).normal(0, 0.001, sr * 3), _tone(sr, 0.6),
                        np.zeros(sr * 2)]).astype(np.float32)
    clip = audio.prepare_clip(x, sr, sr)
    assert len(clip) == sr
    assert np.sum(np.abs(clip) > 0.3) > 0.5 * 0.6 * sr


@pytest.mark.parametrize(
    "kind, needle",
    [
        ("corrupt", "not a readable audio file"),
        ("zero_bytes", "not a readable audio file"),
        ("zero_frames", "holds no audio"),
        ("silent", "silent"),
        ("nan", "NaN"),
        ("missing", "file not found"),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path, kind, needle):
    p = tmp_path / f"{kind}.wav"
    if kind == "corrupt":
        p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" * 3)
    elif kind == "zero_bytes":
        p.write_bytes(b"")
    elif kind == "zero_frames":
        sf.write(p, np.zeros(0, dtype=np.float32), 16000)
    elif kind == "silent":
        sf.write(p, np.zeros(16000, dtype=np.float32), 16000)
    elif kind == "nan":
        x = _tone(16000, 1.0)
        x[100] = np.nan
        sf.write(p, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError) as err:
        audio.process_file(p, tmp_path / "out.wav")
    assert needle in str(err.value) and str(p) in str(err.value)
    assert not (tmp_path / "out.wav").exists()


def test_clipped_input_is_processed(tmp_path):
    p = tmp_path / "clipped.wav"
    sf.write(p, np.clip(_tone(16000, 0.8, amp=3.0), -1, 1), 16000)
    out = audio.process_file(p, tmp_path / "out.wav")
    assert sf.info(out).frames == 16000


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "clip.wav"
    audio.write_wav(target, _tone(16000, 1.0))
    before = target.read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audio.sf, "write", boom)
    with pytest.raises(Exception, match="disk is full"):
        audio.write_wav(target, _tone(16000, 1.0, amp=0.1))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["clip.wav"]


def test_fit_length_modes():
    x = np.ones(10, dtype=np.float32)
    assert audio.fit_length(x, 20, "end")[-10:].sum() == 10
    assert audio.fit_length(x, 20, "center")[5:15].sum() == 10
    assert len(audio.fit_length(np.arange(50, dtype=np.float32), 20)) == 20


def test_speech_overflowing_only_by_its_silence_pads_fits_the_clip():
    from core.pipeline.p1_clips.tts_jobs import _shape_speech

    sr = 16000
    rng = np.random.default_rng(1)
    speech = (rng.standard_normal(int(0.97 * sr)) * 0.3).astype(np.float32)  # + 2 x 50 ms pads = 1.07 s
    said = np.concatenate([np.zeros(4000, np.float32), speech, np.zeros(4000, np.float32)])
    clip, length = _shape_speech(said, sr, "test")
    assert len(clip) == sr and length <= sr  # kept as is: no faster re-synthesis needed
    assert np.sum(clip**2) == pytest.approx(np.sum(audio.normalize(speech) ** 2), rel=0.01)  # all speech kept
    _, too_long = _shape_speech(np.concatenate([speech, speech[: int(0.1 * sr)]]), sr, "test")
    assert too_long > sr  # longer speech still counts as too long (and is said faster)
