"""Snapshot tests of every screen at 80x24 and 120x40 (pytest-textual-snapshot).

Deterministic: a workspace with fixed content made in the test, ``deterministic=True`` (no ETA,
no times, no clock, animations off), paths shown relative to the workspace. Update with
``python -m pytest tests/test_app_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core import events as ev
from core.audio.files import write_wav
from core.project.config import TrainingConfig
from core.project.workspace import Workspace
from easy_oww_tui.app import EasyOWWApp
from easy_oww_tui.jobs import JobState, make_reporter
from easy_oww_tui.messages import JobDone
from easy_oww_tui.screens.dialogs import ErrorScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def _tone(seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """hey_jarvis (new, 3 recordings), ok_computer (trained), broken (bad config.yaml)."""
    root = tmp_path / "ws"
    ws = Workspace(root)
    new = ws.create_project(TrainingConfig.create_default("hey_jarvis", "hey jarvis"))
    for i in range(3):
        write_wav(new.recordings_dir() / f"sample_{i:04d}.wav", _tone(freq=300 + 50 * i))
    cfg = TrainingConfig.quick("ok_computer", "ok computer")
    done = ws.create_project(cfg)
    for i in range(5):
        write_wav(done.positive_clips_dir(cfg) / f"synth_{i:05d}.wav", _tone(freq=500 + 10 * i))
    for i in range(7):
        write_wav(done.negative_clips_dir(cfg) / f"adv_{i:05d}.wav", _tone(freq=900 + 10 * i))
    done.model_path(cfg).write_bytes(b"onnx model bytes for the snapshot fixture")
    card = {"threshold": 0.42, "metrics": {"recall": 0.83, "false_accepts_per_hour": 0.4,
                                           "recall_at_0_5": 0.79}}
    done.model_path(cfg, ".json").write_text(json.dumps(card), encoding="utf-8")
    from core.pipeline.orchestrator import ProjectState, phase_fingerprint
    from core.pipeline.phases import PHASES

    state = ProjectState(done.state_path)
    for phase in PHASES:
        state.mark_done(phase, phase_fingerprint(cfg, phase), 1.0, {})
    broken = ws.create_project(TrainingConfig.quick("broken", "broken"))
    broken.config_path.write_text("wake_word: [unclosed\n", encoding="utf-8")
    return root


def app_for(root: Path) -> EasyOWWApp:
    return EasyOWWApp(workspace=root, deterministic=True)


def feed(app: EasyOWWApp, name: str, events: list[object], running: bool = True) -> None:
    job = JobState.fresh(name)
    job.running = running
    app.jobs[name] = job
    report = make_reporter(app.post_message, name)
    for event in events:
        report(event)


TRAINING_EVENTS: list[object] = [
    ev.LogLine("No room impulse responses downloaded: using simulated rooms.", "warning", ""),
    ev.PhaseStarted("clips", None, "Making clips for 'hey jarvis'"),
    ev.LogLine("3 real + 997 synthetic positives; voices: en_US-joe-medium", "info", "clips"),
    ev.PhaseFinished("clips", True, "1000 positives, 2000 negatives", 300.0),
    ev.PhaseFinished("augmentation", True, "skipped (already done)", 0.0, "skipped"),
    ev.PhaseStarted("features", 3000, "Computing features"),
    ev.Progress("features", 3000, 3000, "3000 clips"),
    ev.PhaseFinished("features", True, "", 200.0),
    ev.PhaseStarted("training", 10000, "Training the model"),
    *[ev.Metric("training", "loss", 0.7 * 0.8**i, i * 500) for i in range(12)],
    *[ev.Metric("training", "val_loss", 0.75 * 0.85**i, i * 500) for i in range(12)],
    *[ev.Metric("training", "recall", min(0.95, 0.3 + 0.06 * i), i * 500) for i in range(12)],
    *[ev.Metric("training", "false_accept_rate", 0.2 * 0.7**i, i * 500) for i in range(12)],
    ev.Progress("training", 6000, 10000, "step 6000/10000"),
    ev.LogLine("checkpoint saved at step 6000", "info", "training"),
]


# ---------------------------------------------------------------- projects


@pytest.mark.parametrize("size", SIZES)
def test_projects(snap_compare, workspace, size):
    assert snap_compare(app_for(workspace), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_projects_empty(snap_compare, tmp_path, size):
    assert snap_compare(app_for(tmp_path / "empty"), terminal_size=size)


async def _type_wake_word(pilot, keys: list[str]) -> None:
    """Open the create dialog, type ``keys`` and wait for the wake-word check to show."""
    await pilot.press("n", *keys)
    for _ in range(200):
        await pilot.pause(0.05)
        if pilot.app.screen.query("#word-check.checked"):
            break
    else:
        raise AssertionError("the wake-word check never showed")
    from textual.widgets import Input

    for field in pilot.app.screen.query(Input):  # the wait spans blinks: a steady cursor, the same image each run
        field.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_create_dialog_with_error(snap_compare, workspace, size):
    async def run_before(pilot):
        await _type_wake_word(pilot, [*"hey jarvis"])
        await pilot.press("ctrl+s")

    assert snap_compare(app_for(workspace), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_create_dialog_word_check(snap_compare, workspace, size):
    """An everyday word: the check warns before anything is trained."""
    async def run_before(pilot):
        await _type_wake_word(pilot, [*"computer"])

    assert snap_compare(app_for(workspace), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_confirm_delete(snap_compare, workspace, size):
    assert snap_compare(app_for(workspace), press=["d"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, workspace, size):
    assert snap_compare(app_for(workspace), press=["f1"], terminal_size=size)


# ---------------------------------------------------------------- a project


@pytest.mark.parametrize("size", SIZES)
def test_project_with_config_error(snap_compare, workspace, size):
    assert snap_compare(app_for(workspace), press=["enter"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_project_new(snap_compare, workspace, size):
    assert snap_compare(app_for(workspace), press=["down", "enter"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_project_trained(snap_compare, workspace, size):
    assert snap_compare(app_for(workspace), press=["down", "down", "enter"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_record(snap_compare, workspace, size):
    assert snap_compare(app_for(workspace), press=["down", "enter", "r"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_downloads_voices(snap_compare, workspace, size):
    assert snap_compare(app_for(workspace), press=["w"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_downloads_datasets(snap_compare, workspace, size):
    assert snap_compare(app_for(workspace), press=["w", "2"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_test_screen(snap_compare, workspace, size):
    assert snap_compare(app_for(workspace), press=["down", "down", "enter", "e"], terminal_size=size)


# ---------------------------------------------------------------- corrections and runs


def _with_corrections_and_runs(root: Path) -> None:
    """ok_computer: a false trigger, a missed wake word and a detection to review; a train and a refine run."""
    from core.audio import corrections
    from core.project.runs import path_of

    ws = Workspace(root)
    project = ws.project("ok_computer")
    cfg = project.load_config()
    corrections.save_false_trigger(project, (_tone(2.0, 700) * 32767).astype(np.int16), 12.4, 0.91, "m1")
    hey = np.concatenate([np.zeros(4000, np.float32), _tone(0.8, 350), np.zeros(4000, np.float32)])
    hey += np.random.default_rng(0).normal(0, 1e-3, len(hey)).astype(np.float32)  # a room, not digital silence
    missed, _ = corrections.save_missed(project, cfg, (hey * 32767).astype(np.int16), 31.0, "m1")
    assert missed is not None
    corrections.save_for_review(project, (_tone(2.0, 800) * 32767).astype(np.int16), 47.9, 0.66, "m1")
    curve = [[fa, max(0.0, min(1.0, 0.55 + 0.1 * fa))] for fa in (0.0, 0.5, 1.0, 2.0, 3.0, 4.0)]
    runs = [
        {"run": 1, "kind": "train", "ended": "2026-01-01 10:00", "minutes": 11.2, "threshold": 0.91,
         "recall": 0.83, "false_accepts_per_hour": 0.4, "counts": {}, "settings": {}, "det_curve": curve},
        {"run": 2, "kind": "refine", "ended": "2026-01-02 10:00", "minutes": 1.1, "threshold": 0.88, "recall": 0.82,
         "false_accepts_per_hour": 0.3, "counts": {"corrections": 2}, "settings": {}, "kept": True,
         "det_curve": [[fa, r - 0.05] for fa, r in curve]},
    ]
    path_of(project).write_text(json.dumps(runs), encoding="utf-8")


@pytest.mark.parametrize("size", SIZES)
def test_review_list(snap_compare, workspace, size):
    _with_corrections_and_runs(workspace)

    async def run_before(pilot):
        pilot.app.open_review("ok_computer")
        await pilot.pause()

    assert snap_compare(app_for(workspace), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_review_list_after_improving(snap_compare, workspace, size):
    """The refine job's end as the review list shows it (its result fed as the worker would post it)."""
    _with_corrections_and_runs(workspace)

    async def run_before(pilot):
        app = pilot.app
        app.open_review("ok_computer")
        await pilot.pause()
        key = "ok_computer#refine"
        feed(app, key, [ev.PhaseStarted("refine", 400, "Refining with 2 correction(s)"),
                        ev.Progress("refine", 200, 400, "fine-tuning, loss 0.0412")])
        await pilot.pause()
        result = {"kept": True, "version_archived": 1, "corrections": 2,
                  "before": {"recall": 0.83, "false_accepts_per_hour": 0.4, "threshold": 0.91},
                  "after": {"recall": 0.82, "false_accepts_per_hour": 0.3, "threshold": 0.88}}
        app.jobs[key].running = False
        app.post_message(JobDone(key, "refine", "ok", result))
        await pilot.pause()

    assert snap_compare(app_for(workspace), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_runs_table(snap_compare, workspace, size):
    _with_corrections_and_runs(workspace)

    async def run_before(pilot):
        pilot.app.open_runs("ok_computer")
        await pilot.pause()

    assert snap_compare(app_for(workspace), run_before=run_before, terminal_size=size)


# ---------------------------------------------------------------- dashboard


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_idle(snap_compare, workspace, size):
    assert snap_compare(app_for(workspace), press=["down", "enter", "t"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_trained_earlier(snap_compare, workspace, size):
    assert snap_compare(app_for(workspace), press=["down", "down", "enter", "t"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_running(snap_compare, workspace, size):
    async def run_before(pilot):
        app = pilot.app
        app.open_dashboard("hey_jarvis")
        await pilot.pause()
        feed(app, "hey_jarvis", TRAINING_EVENTS)
        await pilot.pause()

    assert snap_compare(app_for(workspace), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_finished(snap_compare, workspace, size):
    async def run_before(pilot):
        app = pilot.app
        app.open_dashboard("hey_jarvis")
        await pilot.pause()
        model = app.workspace.project("hey_jarvis").model_path()
        events = [*TRAINING_EVENTS,
                  ev.PhaseFinished("training", True, "", 60.0),
                  ev.PhaseStarted("export", None, "Exporting"), ev.PhaseFinished("export", True, "", 2.0),
                  ev.PhaseStarted("evaluation", None, "Evaluating"),
                  ev.PhaseFinished("evaluation", True, "", 20.0)]
        feed(app, "hey_jarvis", events)
        app.post_message(JobDone("hey_jarvis", "training", "ok", result={
            "model_path": model, "threshold": 0.37,
            "metrics": {"recall": 0.81, "false_accepts_per_hour": 0.45}}))
        await pilot.pause()

    assert snap_compare(app_for(workspace), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_error_dialog_from_failing_job(snap_compare, workspace, size):
    async def run_before(pilot):
        app = pilot.app
        app.open_dashboard("broken")
        await pilot.pause()
        await pilot.press("s")  # the real core raises ConfigError for the broken config.yaml
        for _ in range(200):
            if isinstance(app.screen, ErrorScreen):
                break
            await pilot.pause(0.05)

    assert snap_compare(app_for(workspace), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_quit_while_training_asks(snap_compare, workspace, size):
    async def run_before(pilot):
        app = pilot.app
        app.open_dashboard("hey_jarvis")
        await pilot.pause()
        feed(app, "hey_jarvis", TRAINING_EVENTS[:3])
        await pilot.pause()
        await pilot.press("q")

    assert snap_compare(app_for(workspace), run_before=run_before, terminal_size=size)
