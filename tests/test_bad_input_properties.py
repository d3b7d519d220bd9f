"""Property-based bad input: every config, audio file and name is handled or refused with a message."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.audio import files as audio
from core.errors import AudioError, ConfigError, ProjectError
from core.project.config import TrainingConfig, name_problem
from core.project.workspace import Workspace

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
)
yaml_values = st.recursive(yaml_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c,
                                                                                           max_size=3), max_leaves=6)
config_keys = st.sampled_from([f for f in TrainingConfig.__dataclass_fields__] + ["bogus", "", "max steps"])


@SETTINGS
@given(st.dictionaries(config_keys, yaml_values, max_size=8))
def test_any_config_mapping_loads_or_names_the_problem(tmp_path, data):
    data.setdefault("wake_word", "hey jarvis")
    data.setdefault("project_name", "p")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    try:
        cfg = TrainingConfig.load(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
        return
    assert cfg.validate()[0]


@SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes_as_config(tmp_path, blob):
    path = tmp_path / "config.yaml"
    path.write_bytes(blob)
    try:
        TrainingConfig.load(path)
    except ConfigError as exc:
        assert str(path) in str(exc)


@SETTINGS
@given(st.text(max_size=120))
def test_any_project_name_is_safe_or_refused(tmp_path, name):
    ws = Workspace(tmp_path)
    problem = name_problem(name)
    if problem is None:
        project = ws.create_project(TrainingConfig.create_default(name, "hey"), exist_ok=True)
        assert project.path.resolve().parent == (tmp_path / "projects").resolve()
    else:
        with pytest.raises((ProjectError, ConfigError)):
            ws.create_project(TrainingConfig.create_default(name, "hey"))


def _wav_bytes(x: np.ndarray, sr: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


@SETTINGS
@given(
    n=st.integers(min_value=0, max_value=40000),
    channels=st.integers(min_value=1, max_value=8),
    sr=st.sampled_from([1, 100, 4000, 8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000, 384000]),
    amp=st.sampled_from([0.0, 1e-5, 0.01, 0.5, 1.0, 4.0]),
    subtype=st.sampled_from(["PCM_16", "PCM_24", "FLOAT"]),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=200)),
    poison=st.sampled_from([None, np.nan, np.inf]),
)
def test_any_audio_file_is_processed_or_refused(tmp_path, n, channels, sr, amp, subtype, cut, poison):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((n, channels)) * amp).astype(np.float32)
    if poison is not None and n and subtype == "FLOAT":
        x[n // 2, 0] = poison
    blob = _wav_bytes(x, max(sr, 1), subtype)
    if cut is not None:
        blob = blob[:cut]  # truncated header / data
    src = tmp_path / "in.wav"
    src.write_bytes(blob)
    out = tmp_path / "out.wav"
    out.unlink(missing_ok=True)  # tmp_path is shared by every example
    try:
        audio.process_file(src, out, clip_duration_ms=1000)
    except AudioError as exc:
        assert str(src) in str(exc)
        assert not out.exists()
        return
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.frames) == (16000, 1, 16000)


def test_hours_long_file_is_refused_quickly(tmp_path):
    path = tmp_path / "long.wav"
    # A header that claims 3 hours at 16 kHz (data not actually written: refused from the header alone).
    n = 16000 * 3600 * 3
    header = b"RIFF" + struct.pack("<I", 36 + n * 2) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000,
                                                                                    32000, 2, 16)
    header += b"data" + struct.pack("<I", n * 2)
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + n * 2)  # sparse file: no disk used
    with pytest.raises(AudioError, match="long"):
        audio.process_file(path, tmp_path / "out.wav")
    os.remove(path)


def test_symlink_outside_project_is_not_followed_for_names(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    ws = Workspace(tmp_path / "ws").ensure()
    (ws.projects_dir / "evil").symlink_to(outside, target_is_directory=True)
    # A symlinked project folder without a config is not a project; creating over it is refused.
    with pytest.raises(ProjectError):
        ws.project("evil")
    assert not any(Path(outside).iterdir())
