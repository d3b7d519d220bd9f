"""Workspace and project layout, names, and the create/list CLI."""

import subprocess
import sys

import pytest

from core.errors import ProjectError
from core.project.config import TrainingConfig
from core.project.workspace import Workspace, resolve_workspace

SEED_LAYOUT = [
    "config.yaml", "recordings", "recordings_negative", "clips/positive", "clips/positive_augmented",
    "clips/negative", "features", "models", "checkpoints",
]


def test_create_makes_seed_layout(tmp_path):
    ws = Workspace(tmp_path)
    project = ws.create_project(TrainingConfig.create_default("hey_jarvis", "hey jarvis"))
    for rel in SEED_LAYOUT:
        assert (project.path / rel).exists(), rel
    assert project.path == tmp_path / "projects" / "hey_jarvis"
    assert ws.list_projects() == ["hey_jarvis"]
    with pytest.raises(ProjectError, match="exists already"):
        ws.create_project(TrainingConfig.create_default("hey_jarvis", "hey jarvis"))


def test_unknown_and_unsafe_projects(tmp_path):
    ws = Workspace(tmp_path)
    with pytest.raises(ProjectError, match="No project named 'nope'"):
        ws.project("nope")
    with pytest.raises(ProjectError, match="use only letters"):
        ws.project("../../etc")


def test_workspace_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("EASY_OWW_HOME", str(tmp_path / "ws"))
    assert resolve_workspace(None).root == tmp_path / "ws"
    assert resolve_workspace(tmp_path / "other").root == tmp_path / "other"


def _cli(*args, ws):
    return subprocess.run([sys.executable, "-m", "easy_oww_tui.cli", *args, "--workspace", str(ws)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


def test_cli_create_and_list(tmp_path):
    out = _cli("create", "hey_jarvis", "--wake-word", "hey jarvis", "--samples", "300", "--steps", "500", ws=tmp_path)
    assert out.returncode == 0, out.stderr
    cfg = TrainingConfig.load(tmp_path / "projects" / "hey_jarvis" / "config.yaml")
    assert (cfg.wake_word, cfg.target_samples, cfg.max_steps) == ("hey jarvis", 300, 500)
    listed = _cli("list", ws=tmp_path)
    assert "hey_jarvis" in listed.stdout and "hey jarvis" in listed.stdout


@pytest.mark.parametrize("bad", ["../x", "a b", ""])
def test_cli_refuses_unsafe_names_without_traceback(tmp_path, bad):
    out = _cli("create", bad, "--wake-word", "x", ws=tmp_path)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and "Error:" in out.stderr
    assert not (tmp_path / "projects").exists() or not any((tmp_path / "projects").iterdir())


def test_cli_without_tty_points_at_commands(tmp_path):
    out = subprocess.run([sys.executable, "-m", "easy_oww_tui.cli", "--workspace", str(tmp_path)],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert out.returncode == 2 and "interactive terminal" in out.stderr


def test_force_reset_clears_the_configured_folders_and_never_recordings(tmp_path):
    from core.pipeline.orchestrator import ProjectState, force_reset

    ws = Workspace(tmp_path)
    cfg = TrainingConfig.quick("p", "hey jarvis")
    cfg.clips_dir, cfg.features_dir = "gen/clips", "gen/features"
    project = ws.create_project(cfg)
    for folder in (project.clips_dir(cfg) / "positive", project.features_dir(cfg), project.checkpoints_dir,
                   project.recordings_dir(cfg)):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "x.wav").write_bytes(b"x")
    assert force_reset(project, ProjectState(project.state_path), cfg) == []
    assert not (project.clips_dir(cfg) / "positive" / "x.wav").exists()
    assert not (project.features_dir(cfg) / "x.wav").exists() and not (project.checkpoints_dir / "x.wav").exists()
    assert (project.recordings_dir(cfg) / "x.wav").exists()
    # A clips folder that holds the recordings (or the project itself) is left alone, and said so.
    cfg.clips_dir = "."
    (project.recordings_dir(cfg) / "y.wav").write_bytes(b"y")
    assert force_reset(project, ProjectState(project.state_path), cfg) == [project.clips_dir(cfg)]
    assert (project.recordings_dir(cfg) / "y.wav").exists() and project.config_path.exists()
