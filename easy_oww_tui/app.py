"""The full-screen easy-oww app: projects, a project's steps, the training dashboard, downloads.

The App owns the long jobs' thread workers, so a job keeps running and reporting when the user leaves its
dashboard; their state lives in a :class:`~easy_oww_tui.job_manager.JobManager`. The core's events arrive as
typed messages (:mod:`easy_oww_tui.messages`); the App folds them into the job state and posts a
:class:`~easy_oww_tui.messages.JobStateChanged` to the screens, which handle it with ``@on``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from easy_oww_tui.job_manager import JobManager
from easy_oww_tui.jobs import JobKind, JobState, prepare_child_processes, run_callable_job, run_training_job
from easy_oww_tui.messages import JobDone, JobMessage, JobPhaseFinished, JobPhaseStarted, JobStateChanged
from easy_oww_tui.widgets.text import scrub

Command = tuple[str, Callable[[], Any], str]


class EasyOWWCommands(Provider):
    """Command palette: every key of the current screen, plus each project's actions."""

    def commands(self) -> list[Command]:
        app: EasyOWWApp = self.app  # type: ignore[assignment]
        screen = self.screen
        out: list[Command] = []
        for binding in getattr(screen, "BINDINGS", []):
            if isinstance(binding, Binding) and binding.show and binding.description:
                key = binding.key.split(",")[0]
                out.append((binding.description, partial(screen.run_action, binding.action), f"key: {key}"))
        out += [
            ("New project", app.action_new_project, "create a project for a wake word (n)"),
            ("Voices and datasets", partial(app.open_downloads, "voices"), "what is installed, downloads (w)"),
            ("Doctor: check this machine", app.action_doctor, "microphone, voices, TFLite, disk, GPU, downloads (c)"),
            ("Help", app.action_help, "keys and workflow (f1)"),
            ("Quit", app.action_quit, "leave the app (q)"),
        ]
        for name in app.workspace.list_projects():
            out += [
                (f"Open project: {name}", partial(app.open_project, name), "the project's steps"),
                (f"Train: {name}", partial(app.open_dashboard, name), "training dashboard"),
                (f"Record: {name}", partial(app.open_record, name), "record your voice"),
                (f"Test: {name}", partial(app.open_test, name), "evaluation and how to use the model"),
                (f"Review corrections: {name}", partial(app.open_review, name), "false triggers and misses kept"),
                (f"Runs: {name}", partial(app.open_runs, name), "every training and refine run side by side"),
                (f"Delete project: {name}", partial(app.delete_project, name), "asks first"),
            ]
        return out

    async def discover(self) -> Hits:
        for title, callback, help_text in self.commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self.commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class EasyOWWApp(App[None]):
    """easy-oww's terminal app. ``deterministic=True`` hides everything time-based (for snapshots)."""

    CSS_PATH = str(Path(__file__).with_name("app.tcss"))
    TITLE = "easy-oww"
    COMMANDS = App.COMMANDS | {EasyOWWCommands}
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]
    deterministic: ClassVar[bool] = False

    def __init__(self, workspace: str | Path | None = None, mouse: bool = True,
                 deterministic: bool | None = None, workspace_label: str | None = None) -> None:
        super().__init__()
        from core.project.workspace import Workspace, resolve_workspace

        self.workspace = workspace if isinstance(workspace, Workspace) else resolve_workspace(workspace)
        self.mouse = mouse
        if deterministic is not None:
            self.deterministic = deterministic  # type: ignore[misc]
        if self.deterministic:
            self.animation_level = "none"
        self.workspace_label = workspace_label or ("<workspace>" if self.deterministic
                                                   else scrub(str(self.workspace.root), Path("/nonexistent")))
        self.job_manager = JobManager(self.workspace)
        self._quitting = False

    @property
    def jobs(self) -> dict[str, JobState]:
        return self.job_manager.jobs

    # ------------------------------------------------------------------ basics
    def on_mount(self) -> None:
        from easy_oww_tui.screens.projects import ProjectsScreen

        self.sub_title = self.workspace_label
        self.push_screen(ProjectsScreen())

    def scrub(self, text: str) -> str:
        """Text safe to show: the workspace folder removed (paths become workspace-relative)."""
        return scrub(text, self.workspace.root)

    def project_summary(self, name: str) -> Any:
        from core.errors import EasyOWWError
        from core.project.status import project_summary

        try:
            return project_summary(self.workspace.project(name))
        except EasyOWWError:
            return None

    def load_config(self, name: str) -> Any:
        from core.errors import EasyOWWError

        try:
            return self.workspace.project(name).load_config()
        except EasyOWWError:
            return None

    def show_error(self, title: str, message: str) -> None:
        from easy_oww_tui.screens.dialogs import ErrorScreen

        self.push_screen(ErrorScreen(title, self.scrub(message)))

    # ------------------------------------------------------------------ navigation
    def open_project(self, name: str) -> None:
        from easy_oww_tui.screens.project import ProjectScreen

        self.push_screen(ProjectScreen(name))

    def open_dashboard(self, name: str) -> None:
        from easy_oww_tui.screens.dashboard import DashboardScreen

        self.push_screen(DashboardScreen(name))

    def open_record(self, name: str) -> None:
        from easy_oww_tui.screens.record import RecordScreen

        self.push_screen(RecordScreen(name))

    def open_test(self, name: str) -> None:
        from easy_oww_tui.screens.test import TestScreen

        self.push_screen(TestScreen(name))

    def open_review(self, name: str) -> None:
        from easy_oww_tui.screens.review import ReviewScreen

        self.push_screen(ReviewScreen(name))

    def open_runs(self, name: str) -> None:
        from easy_oww_tui.screens.runs import RunsScreen

        self.push_screen(RunsScreen(name))

    def open_downloads(self, tab: str = "voices") -> None:
        from easy_oww_tui.screens.downloads import DownloadsScreen

        self.push_screen(DownloadsScreen(tab))

    def action_downloads(self) -> None:
        self.open_downloads("voices")

    def action_doctor(self) -> None:
        from easy_oww_tui.screens.doctor import DoctorScreen

        self.push_screen(DoctorScreen())

    def screen_keys(self, screen: Screen[Any]) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        for source in (getattr(screen, "BINDINGS", []), self.BINDINGS):
            for b in source:
                if isinstance(b, Binding) and b.show and b.description:
                    keys.append((b.key.replace(",", "/"), b.description))
        keys.append(("ctrl+p", "Command palette (every action)"))
        return keys

    def action_help(self) -> None:
        from easy_oww_tui.screens.dialogs import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        name = type(self.screen).__name__.removesuffix("Screen").lower() or "screen"
        self.push_screen(HelpScreen(self.screen_keys(self.screen), f"the {name} screen"))

    # ------------------------------------------------------------------ projects
    def action_new_project(self) -> None:
        from easy_oww_tui.screens.create import CreateProjectScreen

        self.push_screen(CreateProjectScreen(self.workspace.list_projects(), voices_dir=self.workspace.voices_dir),
                         self._create_done)

    def _create_done(self, cfg: Any) -> None:
        from core.errors import EasyOWWError

        if cfg is None:
            return
        try:
            self.workspace.create_project(cfg)
        except EasyOWWError as exc:
            self.show_error("Could not create the project", str(exc))
            return
        self._refresh_projects(select=cfg.project_name)
        self.open_project(cfg.project_name)

    def _refresh_projects(self, select: str | None = None) -> None:
        from easy_oww_tui.screens.projects import ProjectsScreen

        for screen in self.screen_stack:
            if isinstance(screen, ProjectsScreen):
                screen.refresh_projects(select=select)

    def delete_project(self, name: str) -> None:
        from easy_oww_tui.screens.dialogs import ConfirmScreen

        if self.is_running(name):
            self.show_error("Project is training", f"Cancel the training of {name!r} before deleting it.")
            return

        def answer(yes: bool | None) -> None:
            from core.errors import EasyOWWError

            if not yes:
                return
            try:
                self.workspace.delete_project(name)
            except (EasyOWWError, OSError) as exc:
                self.show_error("Could not delete the project", str(exc))
                return
            self.job_manager.forget(name)
            self._refresh_projects()

        self.push_screen(ConfirmScreen(
            f"Delete {name}?",
            f"This deletes the project {name!r} with its recordings, clips, features and models. "
            "It cannot be undone.", yes="Delete", no="Keep"), answer)

    # ------------------------------------------------------------------ jobs
    def is_running(self, name: str) -> bool:
        return self.job_manager.is_running(name)

    def running_jobs(self) -> list[JobState]:
        return self.job_manager.running()

    def job_state(self, name: str) -> JobState:
        """The current job's state, else the last one, else what the project folder says."""
        return self.job_manager.state(name)

    def start_training(self, name: str, resume: bool = False, force: bool = False) -> bool:
        """Start (or resume) training ``name`` in a thread worker; False if it cannot start now."""
        from core.errors import EasyOWWError

        if self.is_running(name):
            self.notify(f"{name} is training already.", severity="warning")
            return False
        try:
            project = self.workspace.project(name)
        except EasyOWWError as exc:
            self.show_error("Cannot train", str(exc))
            return False
        cancel = self.job_manager.begin(name)
        self._notify_screens(name, None)
        prepare_child_processes()
        self._training_worker(name, project.path, self.workspace.root, cancel, resume, force)
        return True

    @work(thread=True, exit_on_error=False, group="jobs", description="training")
    def _training_worker(self, name: str, path: Path, root: Path, cancel: threading.Event,
                         resume: bool, force: bool) -> None:
        run_training_job(self.post_message, name, path, root, cancel, resume=resume, force=force)

    @work(thread=True, exit_on_error=False, group="jobs", description="job")
    def _callable_worker(self, key: str, kind: str, fn: Callable[[Any, Any], Any],
                         cancel: threading.Event) -> None:
        run_callable_job(self.post_message, key, kind, fn, cancel)

    def start_job(self, key: str, kind: str, fn: Callable[[Any, Any], Any],
                  phases: list[str] | None = None) -> bool:
        """Run ``fn(report, cancel)`` (a core call) in a thread worker under ``key``; one job per key."""
        if self.is_running(key):
            self.notify("Wait for the running job to finish (or cancel it).", severity="warning")
            return False
        cancel = self.job_manager.begin(key, kind, phases or [])
        prepare_child_processes()
        self._notify_screens(key, None)
        self._callable_worker(key, kind, fn, cancel)
        return True

    def confirm_start_over(self, name: str) -> None:
        from easy_oww_tui.screens.dialogs import ConfirmScreen

        if self.is_running(name):
            self.notify(f"{name} is training; cancel it first.", severity="warning")
            return
        self.push_screen(ConfirmScreen(
            "Start over?", "Delete the generated clips, features and checkpoints of "
            f"{name!r} and train from scratch? Recordings are kept.", yes="Start over", no="Keep"),
            lambda yes: self.start_training(name, force=True) if yes else None)

    def cancel_job(self, name: str) -> None:
        if not self.job_manager.cancel(name):
            self.notify("Nothing is running.", severity="information")
            return
        self._notify_screens(name, None)

    @on(JobMessage)
    def _job_message(self, msg: JobMessage) -> None:
        if self.job_manager.apply(msg) is None:
            return
        self._notify_screens(msg.project, msg)
        if isinstance(msg, JobPhaseStarted | JobPhaseFinished):
            self._refresh_projects()
        if isinstance(msg, JobPhaseFinished) and msg.phase in ("export", "tflite"):
            self.refresh(repaint=True)  # the exporter may have borrowed fd 2, where Textual draws
        if isinstance(msg, JobDone):
            self._job_done(msg)

    def _job_done(self, msg: JobDone) -> None:
        self.job_manager.finished(msg.project)
        self._refresh_projects()
        if self._quitting:
            if not self.running_jobs():
                self.exit()
            return
        kind = JobKind.of(msg.kind)
        if kind in (JobKind.RECORD, JobKind.LIVE_TEST, JobKind.PLAY):
            if msg.outcome == "failed":
                titles = {JobKind.LIVE_TEST: "Microphone problem", JobKind.PLAY: "Playback problem"}
                self.show_error(titles.get(kind, "Recording problem"), msg.error)
            return
        what = {JobKind.DOWNLOAD: "Download", JobKind.REFINE: "Refining"}.get(kind, "Training")
        who = msg.project.split("#")[0].lstrip("@")
        if msg.outcome == "failed":
            self.show_error(f"{what} failed: {who}", msg.error)
        elif msg.outcome == "cancelled":
            self.notify(f"{what} of {who} stopped; finished work is kept.")
        else:
            self.notify(f"{what} of {who} finished.")

    def _notify_screens(self, name: str, msg: JobMessage | None) -> None:
        """Tell every open screen that job ``name`` changed (each screen handles the jobs it shows)."""
        for screen in self.screen_stack:
            screen.post_message(JobStateChanged(name, msg))

    # ------------------------------------------------------------------ quitting
    async def action_quit(self) -> None:
        from easy_oww_tui.screens.dialogs import ConfirmScreen, StoppingScreen

        running = self.running_jobs()
        if not running:
            self.exit()
            return
        names = ", ".join(j.project.lstrip("@") for j in running)

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            self._quitting = True
            self.job_manager.cancel_all()
            self.push_screen(StoppingScreen(names))
            if not self.running_jobs():
                self.exit()

        training = any(JobKind.of(j.kind) is JobKind.TRAINING for j in running)
        title = "Quit while training?" if training else "Quit while a job is running?"
        resume = "; resume later with r on its dashboard" if training else ""
        self.push_screen(ConfirmScreen(
            title,
            f"{names} is still running. Quit anyway? It stops at the next safe point and "
            f"everything finished so far is kept{resume}.",
            yes="Stop and quit", no="Keep running"), answer)


def run_app(workspace: str | None, mouse: bool = True) -> None:
    """Open the app on ``workspace`` (None: $EASY_OWW_HOME or the user data folder)."""
    EasyOWWApp(workspace=workspace, mouse=mouse).run(mouse=mouse)
