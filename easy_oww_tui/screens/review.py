"""The review list: the corrections a live test kept (core.audio.corrections), one key each, and the refine.

Rows: false triggers (negative recordings), missed wake words (positive takes) and detections kept with
``easy-oww test --save-detections`` waiting for a verdict. ``space`` plays the row, ``r`` says it was the wake word
(a positive take), ``w`` that it was not (a negative recording), ``d`` deletes it; keeping a row needs no key.
``i`` improves the model with them (``easy-oww train --refine``, an App job ``<project>#refine``); ``h`` opens the
run history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from easy_oww_tui.jobs import JobKind
from easy_oww_tui.messages import JobDone, JobMessage, JobPhaseProgress
from easy_oww_tui.screens.job_screen import JobScreen

if TYPE_CHECKING:
    from easy_oww_tui.services import AppServices

KIND_LABELS = {"false_trigger": "false trigger", "missed": "missed", "unreviewed": "to review"}


class ReviewScreen(JobScreen):
    app: AppServices
    BINDINGS = [
        Binding("space", "play", "Play"),
        Binding("r", "right", "Right"),
        Binding("w", "wrong", "Wrong"),
        Binding("d", "delete", "Delete"),
        Binding("i", "improve", "Improve"),
        Binding("h", "runs", "Runs"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, project_name: str) -> None:
        super().__init__()
        self.project_name = project_name
        self.job_key = f"{project_name}#refine"
        self.items: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◉")
        yield Static("", id="review-heading", classes="heading")
        yield DataTable(id="review-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="review-status")
        yield Static("r: it was the wake word (a positive take) · w: it was not (a negative recording) · "
                     "i: improve the model with these (about a minute)", id="review-hint", classes="hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"{self.project_name} · review"
        table = self.query_one("#review-table", DataTable)
        for label, key, width in (("#", "n", 3), ("Kind", "kind", 13), ("File", "file", 36), ("At", "at", 8),
                                  ("Score", "score", 6)):
            table.add_column(label, key=key, width=width)
        self.fill()
        table.focus()

    def project(self) -> Any:
        return self.app.workspace.project(self.project_name)

    def fill(self) -> None:
        from core.audio.corrections import counts, load_corrections
        from core.errors import EasyOWWError

        table = self.query_one("#review-table", DataTable)
        row = table.cursor_row
        table.clear()
        try:
            self.items = load_corrections(self.project())
            n = counts(self.project())
        except EasyOWWError as exc:
            self.items, n = [], {}
            self.status(f"[red]{escape(self.app.scrub(str(exc)))}[/red]")
        for i, c in enumerate(self.items):
            table.add_row(str(i + 1), KIND_LABELS.get(c.kind, c.kind), c.file, f"{c.time_s:.1f}s",
                          "-" if c.score is None else f"{c.score:.2f}", key=str(i))
        if self.items:
            table.move_cursor(row=min(row, len(self.items) - 1))
        self.query_one("#review-heading", Static).update(
            f"[b]{escape(self.project_name)}[/b]: {n.get('false_trigger', 0)} false trigger(s), "
            f"{n.get('missed', 0)} missed wake word(s), {n.get('unreviewed', 0)} to review"
            if self.items else f"[b]{escape(self.project_name)}[/b]: no corrections yet. On the Test screen, press "
            "f after a wrong detection and m after a missed wake word.")

    def status(self, text: str) -> None:
        self.query_one("#review-status", Static).update(text)

    def current(self) -> Any:
        table = self.query_one("#review-table", DataTable)
        if not self.items or table.cursor_row is None or not 0 <= table.cursor_row < len(self.items):
            self.notify("Nothing to review.", severity="information")
            return None
        return self.items[table.cursor_row]

    # ------------------------------------------------------------------ actions
    def action_play(self) -> None:
        item = self.current()
        if item is None:
            return
        from core.audio.files import read_audio

        x, _ = read_audio(self.project().path / item.file)

        def work(report: Any, cancel: Any) -> None:
            from core.audio.devices import play_audio

            play_audio(x, cancel=cancel, what=item.file)

        self.app.start_job(f"{self.project_name}#play", JobKind.PLAY, work)

    def _verdict(self, right: bool) -> None:
        item = self.current()
        if item is None:
            return
        from core.audio.corrections import review

        if (item.kind == "missed") == right and item.kind != "unreviewed":
            self.status(f"{escape(item.file)} is already a {'positive take' if right else 'negative recording'}.")
            return
        project = self.project()
        new, message = review(project, project.load_config(), item, right)
        self.status(escape(f"{item.file}: {message}"))
        self.fill()

    def action_right(self) -> None:
        self._verdict(True)

    def action_wrong(self) -> None:
        self._verdict(False)

    def action_delete(self) -> None:
        item = self.current()
        if item is None:
            return
        from core.audio.corrections import delete

        delete(self.project(), item)
        self.status(f"Deleted {escape(item.file)}.")
        self.fill()

    def action_improve(self) -> None:
        if not any(c.kind != "unreviewed" for c in self.items):
            self.notify("No corrections to learn from yet (f / m on the Test screen; r / w here).",
                        severity="information")
            return
        project = self.project()
        cfg = project.load_config()

        def work(report: Any, cancel: Any) -> dict[str, Any]:
            from core.pipeline.refine import refine

            return refine(project, cfg, report, cancel)

        if self.app.start_job(self.job_key, JobKind.REFINE, work, phases=["refine"]):
            self.status("Improving the model with your corrections…")

    def action_runs(self) -> None:
        from easy_oww_tui.screens.runs import RunsScreen

        self.app.push_screen(RunsScreen(self.project_name))

    def action_back(self) -> None:
        self.app.pop_screen()

    # ------------------------------------------------------------------ the refine job
    def job_updated(self, msg: JobMessage) -> None:
        if isinstance(msg, JobPhaseProgress):
            self.status(f"Improving the model: {escape(msg.message)} ({msg.done}/{msg.total})")
        elif isinstance(msg, JobDone):
            self.status(refine_text(msg.result) if msg.outcome == "ok" and isinstance(msg.result, dict)
                        else f"[red]Not improved:[/red] {escape(self.app.scrub(msg.error or msg.outcome))}")


def refine_text(res: dict[str, Any]) -> str:
    b, a = res["before"], res["after"]
    line = (f"recall {b['recall']:.3f} → {a['recall']:.3f}, false accepts/h {b['false_accepts_per_hour']:.2f} → "
            f"{a['false_accepts_per_hour']:.2f}")
    if res["kept"]:
        return f"[green]Improved and kept[/green] ({line}); the previous model is v{res['version_archived']} (h: runs)."
    return f"[yellow]Not kept[/yellow]: the previous model is as good or better on held-out voices ({line})."
