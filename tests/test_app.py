"""Pilot tests of the full-screen app at 80x24, against the real core (no mocks)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from core.project.config import TrainingConfig
from core.project.workspace import Workspace
from easy_oww_tui.app import EasyOWWApp
from easy_oww_tui.jobs import JobState
from easy_oww_tui.messages import JobPhaseProgress
from easy_oww_tui.screens.create import CreateProjectScreen, suggest_name
from easy_oww_tui.screens.dashboard import DashboardScreen
from easy_oww_tui.screens.dialogs import ConfirmScreen, ErrorScreen, HelpScreen, StoppingScreen
from easy_oww_tui.screens.project import ProjectScreen
from easy_oww_tui.screens.projects import ProjectsScreen

SIZE = (80, 24)


def run_async(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run an async test body with asyncio.run (no async pytest plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


def tiny(name: str = "tiny", wake_word: str = "hey jarvis") -> TrainingConfig:
    """A real but very small project: a dozen synthetic clips, a few dozen steps."""
    cfg = TrainingConfig.quick(name, wake_word)
    cfg.target_samples = 12
    cfg.synthetic_samples = 12
    cfg.negative_samples = 24
    cfg.max_steps = 40
    cfg.batch_size = 32
    cfg.checkpoint_every = 20
    cfg.check()
    return cfg


async def wait_for(pilot: Pilot, cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await pilot.pause(0.1)


def text_of(app: EasyOWWApp, selector: str) -> str:
    widget = app.screen.query_one(selector)
    return str(widget.render())


# ---------------------------------------------------------------- pure pieces


def test_suggest_name():
    assert suggest_name("Hey Jarvis!") == "hey_jarvis"
    assert suggest_name("  ok   nabu ") == "ok_nabu"
    assert suggest_name("") == ""


def test_progress_messages_coalesce_per_phase():
    a = JobPhaseProgress("p", "clips", 1, 10, "")
    assert a.can_replace(JobPhaseProgress("p", "clips", 2, 10, ""))
    assert not a.can_replace(JobPhaseProgress("p", "features", 2, 10, ""))
    assert not a.can_replace(JobPhaseProgress("q", "clips", 2, 10, ""))


def test_job_state_folds_events():
    from core import events as ev
    from easy_oww_tui.jobs import make_reporter

    state = JobState.fresh("p")
    report = make_reporter(state.apply, "p")
    report(ev.PhaseFinished("clips", True, "skipped (already done)", 0.0, "skipped"))
    report(ev.PhaseStarted("augmentation", 4, "Augmenting"))
    report(ev.Progress("augmentation", 2, 4, "2 of 4"))
    report(ev.Metric("training", "loss", 0.5, 1))
    report(ev.LogLine("hello", "warning", "augmentation"))
    assert state.phases["clips"].status == "skipped"
    assert state.phases["augmentation"].status == "running" and state.phases["augmentation"].done == 2
    assert state.current == "augmentation" and state.metrics["loss"] == [0.5]
    report(ev.PhaseFinished("augmentation", False, "cancelled", 1.0, "cancelled"))
    assert state.phases["augmentation"].status == "cancelled"


# ---------------------------------------------------------------- projects


@run_async
async def test_create_project_through_dialog(tmp_path: Path):
    app = EasyOWWApp(workspace=tmp_path, deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, ProjectsScreen)
        await pilot.press("n")
        assert isinstance(app.screen, CreateProjectScreen)
        await pilot.press(*"hey jarvis")
        assert app.screen.query_one("#in-name").value == "hey_jarvis"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ProjectScreen)
        assert Workspace(tmp_path).list_projects() == ["hey_jarvis"]
        cfg = Workspace(tmp_path).project("hey_jarvis").load_config()
        assert cfg.wake_word == "hey jarvis" and cfg.target_samples == 1000 and cfg.max_steps == 10000
        await pilot.press("escape")
        assert isinstance(app.screen, ProjectsScreen)
        assert app.screen.query_one("#projects-table").row_count == 1


@run_async
async def test_create_dialog_shows_validation_errors(tmp_path: Path):
    app = EasyOWWApp(workspace=tmp_path, deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", *"hey jarvis", "tab", "tab")  # past "Say it as" to the name
        name = app.screen.query_one("#in-name")
        name.value = ""
        await pilot.press(*"bad/name")
        await pilot.pause()
        errors = text_of(app, "#create-errors")
        assert "'/'" in errors and "letters, digits" in errors  # live, from core.project.config.name_problem
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, CreateProjectScreen)  # not created
        name.value = "good_name"
        app.screen.query_one("#in-samples").value = "5"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, CreateProjectScreen)
        assert "target_samples: 5 is out of range" in text_of(app, "#create-errors")  # TrainingConfig.validate
        assert Workspace(tmp_path).list_projects() == []
        await pilot.press("escape")
        assert isinstance(app.screen, ProjectsScreen)


async def _checked(pilot) -> str:
    for _ in range(200):
        await pilot.pause(0.05)
        if pilot.app.screen.query("#word-check.checked"):
            return text_of(pilot.app, "#word-check")
    raise AssertionError("the wake-word check never showed")


@run_async
async def test_create_dialog_checks_the_word_and_keeps_the_pronunciation(tmp_path: Path):
    app = EasyOWWApp(workspace=tmp_path, deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", *"hi")
        assert "Too short" in await _checked(pilot)
        app.screen.query_one("#in-wake_word").value = ""
        await pilot.press(*"hey mycroft")
        text = await _checked(pilot)
        assert "not in the pronouncing dictionary" in text and "my croft" in text
        await pilot.press("tab", *"hey my croft")  # the pronunciation field: the check follows it
        text = await _checked(pilot)
        assert "not in the pronouncing dictionary" not in text and "good" in text
        await pilot.press("ctrl+s")
        await pilot.pause()
        cfg = Workspace(tmp_path).project("hey_mycroft").load_config()
        assert (cfg.wake_word, cfg.pronunciation) == ("hey mycroft", "hey my croft")


@run_async
async def test_delete_asks_first(tmp_path: Path):
    Workspace(tmp_path).create_project(tiny("doomed"))
    app = EasyOWWApp(workspace=tmp_path, deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert Workspace(tmp_path).list_projects() == ["doomed"]
        await pilot.press("d", "y")
        await pilot.pause()
        assert Workspace(tmp_path).list_projects() == []
        assert isinstance(app.screen, ProjectsScreen)
        assert app.screen.query_one("#projects-empty").display


@run_async
async def test_help_palette_and_navigation(tmp_path: Path):
    Workspace(tmp_path).create_project(tiny("tiny"))
    app = EasyOWWApp(workspace=tmp_path, deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        assert "New" in text_of(app, "#help-keys")
        await pilot.press("escape", "enter")
        assert isinstance(app.screen, ProjectScreen)
        await pilot.press("t")
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, ProjectsScreen)
        # Every action is in the command palette.
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Train: tiny")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), 5, "dashboard from palette")


# ---------------------------------------------------------------- jobs


@run_async
async def test_failing_job_shows_error_dialog_and_app_survives(tmp_path: Path):
    ws = Workspace(tmp_path)
    project = ws.create_project(tiny("broken"))
    project.config_path.write_text("wake_word: [unclosed\n", encoding="utf-8")
    app = EasyOWWApp(workspace=tmp_path, deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        app.open_dashboard("broken")
        await pilot.pause()
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), 30, "the error dialog")
        message = text_of(app, "#error-message")
        assert "not valid YAML" in message  # core.errors.ConfigError from run_training
        assert str(tmp_path) not in message and "projects/broken/config.yaml" in message
        await pilot.press("enter")
        assert isinstance(app.screen, DashboardScreen)
        assert app.jobs["broken"].outcome == "failed" and not app.jobs["broken"].running
        assert "failed" in text_of(app, "#dash-status")


@run_async
async def test_cancel_training(tmp_path: Path):
    cfg = tiny("cancelme")
    cfg.target_samples = cfg.synthetic_samples = 400  # long enough to cancel mid-phase
    Workspace(tmp_path).create_project(cfg)
    app = EasyOWWApp(workspace=tmp_path, deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        app.open_dashboard("cancelme")
        await pilot.pause()
        await pilot.press("s")
        job = app.jobs["cancelme"]
        await wait_for(pilot, lambda: job.phases["clips"].status == "running", 60, "clips to start")
        await pilot.pause(1.0)
        await pilot.press("c")
        assert job.cancel_requested
        assert "stopping at the next safe point" in text_of(app, "#dash-status")
        t0 = time.monotonic()
        await wait_for(pilot, lambda: not job.running, 120, "the job to stop at a safe point")
        print(f"cancel took {time.monotonic() - t0:.1f} s")
        assert job.outcome == "cancelled", job.error
        assert job.phases["clips"].status == "cancelled"
        assert isinstance(app.screen, DashboardScreen)
        await wait_for(pilot, lambda: "cancelled" in text_of(app, "#dash-status"), 10, "the status to say cancelled")


@run_async
async def test_quit_while_training_asks_then_waits(tmp_path: Path):
    cfg = tiny("quitter")
    cfg.target_samples = cfg.synthetic_samples = 400
    Workspace(tmp_path).create_project(cfg)
    app = EasyOWWApp(workspace=tmp_path, deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        app.open_dashboard("quitter")
        await pilot.pause()
        await pilot.press("s")
        job = app.jobs["quitter"]
        await wait_for(pilot, lambda: job.phases["clips"].status == "running", 60, "clips to start")
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep running
        assert job.running and isinstance(app.screen, DashboardScreen)
        await pilot.press("q")
        await pilot.press("y")
        assert isinstance(app.screen, StoppingScreen) or not job.running
        await wait_for(pilot, lambda: not job.running, 120, "the job to stop before quitting")
        assert job.outcome == "cancelled", job.error
    assert app.return_code == 0


@pytest.mark.slow
@run_async
async def test_training_with_real_core_advances_through_phases(tmp_path: Path):
    Workspace(tmp_path).create_project(tiny("tiny"))
    app = EasyOWWApp(workspace=tmp_path, deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "t")
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("s")
        job = app.jobs["tiny"]
        await wait_for(pilot, lambda: job.phases["clips"].status == "running", 60, "clips to start")
        await wait_for(pilot, lambda: job.phases["clips"].status == "done" or not job.running, 300,
                       "clips to finish")
        assert job.phases["clips"].status == "done", job.error
        await wait_for(pilot, lambda: job.phases["augmentation"].status != "waiting" or not job.running, 60,
                       "augmentation to start")
        assert job.phases["augmentation"].status != "waiting", job.error
        await wait_for(pilot, lambda: not job.running, 900, "the training to finish")
        assert job.outcome == "ok", job.error
        assert [p.status for p in job.phases.values()] == ["done"] * 6
        assert job.metrics.get("loss"), "no loss reported during training"
        # the result line follows the job's end in a posted message (late on a busy machine)
        await wait_for(pilot, lambda: "models/tiny.onnx" in text_of(app, "#dash-result"), 30, "the result line")
        assert str(tmp_path) not in text_of(app, "#dash-result")
        # Running again skips every finished phase.
        await pilot.press("r")
        await wait_for(pilot, lambda: not app.jobs["tiny"].running, 300, "the resumed run")
        assert [p.status for p in app.jobs["tiny"].phases.values()] == ["skipped"] * 6
