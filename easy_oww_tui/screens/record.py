"""Recording the wake word with your own voice (core.audio.recording), reachable from the project view.

Each take runs as an App job (thread worker) keyed ``<project>#record``; the session (device,
accepted takes) lives on this screen. Countdown, level meter and the take's verdict come back as
messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, ProgressBar, RichLog, Static

from easy_oww_tui.jobs import JobKind
from easy_oww_tui.messages import (
    JobDone,
    JobLog,
    JobMessage,
    JobPhaseFinished,
    JobPhaseProgress,
    JobPhaseStarted,
    LevelChanged,
)
from easy_oww_tui.screens.job_screen import JobScreen

if TYPE_CHECKING:
    from easy_oww_tui.services import AppServices


class RecordScreen(JobScreen):
    app: AppServices
    BINDINGS = [
        Binding("space", "take", "Record"),
        Binding("x", "redo", "Redo last"),
        Binding("backspace", "delete_last", "Delete last"),
        Binding("p", "play", "Play"),
        Binding("n", "toggle_negative", "Pos/neg"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, project_name: str) -> None:
        super().__init__()
        self.project_name = project_name
        self.job_key = f"{project_name}#record"
        self.negative = False
        self.session: Any = None
        self.takes = 0  # takes recorded on this screen (numbers the take list)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◉")
        yield Static("", id="record-heading", classes="heading")
        yield Static("", id="record-prompt")
        yield ProgressBar(id="record-level", total=60, show_eta=False, show_percentage=False)
        yield Static("", id="record-result")
        yield RichLog(id="record-log", max_lines=200, wrap=True, markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"{self.project_name} · record"
        self.query_one("#record-log").border_title = "Takes"
        self.draw_heading()
        self.prompt("Press [b]space[/b] to record a take: a 3-second countdown, then say the wake word once.")

    # ------------------------------------------------------------------ drawing
    def draw_heading(self) -> None:
        summary = self.app.project_summary(self.project_name)
        cfg = self.app.load_config(self.project_name)
        name = escape(self.project_name)
        if summary is None:
            self.query_one("#record-heading", Static).update(f"[b]{name}[/b]")
            return
        wake = escape(summary.wake_word)
        kind = ("[b yellow]negatives[/b yellow] (anything but the wake word)" if self.negative
                else f"the wake word “{wake}”")
        want = f" of {cfg.real_samples} wanted" if cfg and cfg.real_samples and not self.negative else ""
        self.query_one("#record-heading", Static).update(
            f"[b]{name}[/b]: {summary.recordings} recording{'s' if summary.recordings != 1 else ''}{want}, "
            f"{summary.negative_recordings} negative — recording {kind}")

    def prompt(self, markup: str) -> None:
        self.query_one("#record-prompt", Static).update(markup)

    def redraw_all(self) -> None:
        self.draw_heading()

    def job_updated(self, msg: JobMessage) -> None:
        if isinstance(msg, LevelChanged):
            level = max(0.0, min(60.0, msg.rms_db + 60.0))
            self.query_one("#record-level", ProgressBar).update(progress=level)
            return
        if isinstance(msg, JobPhaseStarted) and msg.phase == "recording":
            self.prompt("[b red]● Recording[/b red] — speak now (it stops after you finish).")
        elif isinstance(msg, JobPhaseProgress) and msg.phase == "countdown":
            self.prompt(f"Get ready… [b]{escape(msg.message or str(msg.total - msg.done))}[/b]")
        elif isinstance(msg, JobPhaseFinished) and msg.phase == "recording":
            self.takes += 1
            style = "green" if msg.ok else "red"
            verdict = "Saved" if msg.ok else "Not saved"
            self.query_one("#record-result", Static).update(
                Text(f"{verdict}: {msg.message}", style=style))
            mark, outcome = ("✔", "accepted") if msg.ok else ("✘", "rejected")
            self.query_one("#record-log", RichLog).write(
                Text(f"{mark} Take {self.takes} {outcome}: {msg.message}", style=style))
        elif isinstance(msg, JobLog):
            self.query_one("#record-log", RichLog).write(Text(self.app.scrub(msg.message)))
        elif isinstance(msg, JobDone):
            self.query_one("#record-level", ProgressBar).update(progress=0)
            self.prompt("Press [b]space[/b] for another take, [b]x[/b] to redo the last, "
                        "[b]p[/b] to play it, [b]backspace[/b] to delete it.")
            self.draw_heading()

    # ------------------------------------------------------------------ actions
    def run_session(self, kind: str, call: str) -> None:
        from core.audio import recording as rec

        project = self.app.workspace.project(self.project_name)
        negative = self.negative

        def work(report: Any, cancel: Any) -> Any:
            if self.session is None or self.session.negative != negative:
                self.session = rec.RecordingSession(project, negative=negative, report=report, cancel=cancel)
            self.session.report, self.session.cancel = report, cancel
            result = getattr(self.session, call)()
            return {"result": str(result)} if not hasattr(result, "verdict") else {"ok": result.ok}

        self.app.start_job(self.job_key, JobKind.RECORD.detail(kind), work)

    def action_take(self) -> None:
        if self.app.is_running(self.job_key):
            if self.session is not None:
                self.session.stop_take()
            return
        self.run_session("take", "record_take")

    def action_redo(self) -> None:
        self.run_session("redo", "rerecord_last")

    def action_delete_last(self) -> None:
        self.run_session("delete", "delete_last")

    def action_play(self) -> None:
        self.run_session("play", "play_last")

    def action_toggle_negative(self) -> None:
        if self.app.is_running(self.job_key):
            return
        self.negative = not self.negative
        self.draw_heading()

    def action_back(self) -> None:
        if self.app.is_running(self.job_key):
            self.app.cancel_job(self.job_key)
        self.app.pop_screen()
