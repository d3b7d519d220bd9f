"""Helpers for end-to-end tests: tiny real projects and running `easy-oww` as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.project.config import TrainingConfig
from core.project.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent


def tiny_config(name: str = "hey_jarvis", wake_word: str = "hey jarvis", **overrides) -> TrainingConfig:
    """A very small but real project: every phase runs, in seconds."""
    cfg = TrainingConfig.quick(name, wake_word)
    cfg.target_samples = 24
    cfg.synthetic_samples = 24
    cfg.negative_samples = 48
    cfg.max_steps = 120
    cfg.batch_size = 64
    cfg.checkpoint_every = 30
    for k, v in overrides.items():
        setattr(cfg, k, v)
    cfg.check()
    return cfg


def make_project(root: Path, cfg: TrainingConfig) -> Path:
    return Workspace(root).create_project(cfg).path


def cli_env(workspace: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["EASY_OWW_HOME"] = str(workspace)
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


def run_cli(*args: str, workspace: Path, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "easy_oww_tui.cli", *args],
        capture_output=True, text=True, env={**cli_env(workspace), **(env or {})}, cwd=REPO, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


GENERATED_ROOTS = ("clips", "features", "models", "checkpoints")


def generated_files(project: Path) -> set[str]:
    """Relative paths of everything the pipeline generated (temp files included, to catch leftovers)."""
    out: set[str] = set()
    for root in GENERATED_ROOTS:
        base = project / root
        if base.is_dir():
            out.update(str(p.relative_to(project)) for p in base.rglob("*") if p.is_file())
    return out


def check_outputs_valid(project: Path) -> None:
    """Every WAV readable, every .npy loadable without pickle, the model loads in the openWakeWord streaming pipeline."""
    import numpy as np
    import soundfile as sf

    for wav in project.rglob("*.wav"):
        info = sf.info(str(wav))
        assert info.frames > 0 and info.samplerate == 16000, wav
    for npy in project.rglob("*.npy"):
        np.load(npy, allow_pickle=False, mmap_mode="r")
    model = project / "models" / f"{project.name}.onnx"
    assert model.is_file()
    from core.assets.feature_models import locate_feature_models
    from core.audio.streaming import StreamingDetector

    StreamingDetector(model, locate_feature_models(None)).predict(np.zeros(1280, np.int16))
