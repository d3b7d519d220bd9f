"""The run history of a project (core.project.runs): every training and refine run side by side, and their DET
curves drawn in the terminal (the same drawing `easy-oww runs` prints)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from easy_oww_tui.widgets.text import fmt_float

if TYPE_CHECKING:
    from easy_oww_tui.services import AppServices




class RunsScreen(Screen[None]):
    app: AppServices
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, project_name: str) -> None:
        super().__init__()
        self.project_name = project_name

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◉")
        yield Static("", id="runs-heading", classes="heading")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="runs-det")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from core.errors import EasyOWWError
        from core.project.runs import det_text, load_runs, run_note

        self.sub_title = f"{self.project_name} · runs"
        table = self.query_one("#runs-table", DataTable)
        for label, width in (("Run", 3), ("Kind", 6), ("Ended", 11), ("Min", 5), ("Recall", 6), ("FA/h", 5),
                             ("Thr", 4), ("Note", 20)):
            table.add_column(label, width=width)
        try:
            runs = load_runs(self.app.workspace.project(self.project_name))
        except EasyOWWError as exc:
            runs = []
            self.query_one("#runs-heading", Static).update(f"[red]{escape(self.app.scrub(str(exc)))}[/red]")
        for r in runs:
            ended = "-" if self.app.deterministic else str(r.get("ended"))[5:]  # MM-DD HH:MM; no clock in snapshots
            table.add_row(str(r.get("run")), str(r.get("kind")), ended, fmt_float(r.get("minutes"), 1),
                          fmt_float(r.get("recall"), 3), fmt_float(r.get("false_accepts_per_hour"), 2),
                          fmt_float(r.get("threshold"), 2), run_note(r))
        if not runs:
            self.query_one("#runs-heading", Static).update(
                f"[b]{escape(self.project_name)}[/b]: no runs yet. Train it (t in the project view).")
            return
        self.query_one("#runs-heading", Static).update(
            f"[b]{escape(self.project_name)}[/b]: {len(runs)} run(s); recall on held-out voices and false accepts "
            "per hour at each run's threshold. DET curves, each run drawn with its number:")
        self.query_one("#runs-det", Static).update(Text("\n".join(det_text(runs, width=56, height=9))))
        table.focus()

    def action_back(self) -> None:
        self.app.pop_screen()
