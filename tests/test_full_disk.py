"""A full disk: generating clips into a small real filesystem fails with a clear message, removes the
partial file, and keeps earlier results (recordings, config, finished clips) intact."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.project.config import TrainingConfig
from tests.pipeline_fixtures import make_project, run_cli, tiny_config

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip() or 'not root'})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_generate_on_a_full_disk_fails_cleanly(small_fs: Path):
    ws = small_fs / "ws"
    project = make_project(ws, tiny_config(synthetic_samples=200, target_samples=200, negative_samples=400))
    rec = project / "recordings"
    t = np.arange(16000) / 16000
    for i in range(2):
        sf.write(rec / f"sample_{i:04d}.wav", (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16000)
    before = {p.name: p.read_bytes() for p in rec.iterdir()}
    cfg_text = (project / "config.yaml").read_text()

    out = run_cli("generate", "hey_jarvis", workspace=ws)
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    assert "disk is full" in out.stderr and "Traceback" not in out.stderr

    # no partial or temp files; every clip written is complete and readable
    leftovers = [p for p in project.rglob("*") if p.is_file() and (".tmp" in p.name or p.suffix == ".part")]
    assert leftovers == []
    for wav in (project / "clips").rglob("*.wav"):
        assert sf.info(str(wav)).frames == 16000
    assert {p.name: p.read_bytes() for p in rec.iterdir()} == before
    assert (project / "config.yaml").read_text() == cfg_text
    TrainingConfig.load(project / "config.yaml")
