"""The first screen: every project in the workspace, with what it has and how good its model is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from easy_oww_tui.widgets.tables import ProjectTable
from easy_oww_tui.widgets.text import fmt_float

if TYPE_CHECKING:
    from easy_oww_tui.services import AppServices

EMPTY = (
    "No projects yet.\n\nPress [b]n[/b] to create one: type the wake word (e.g. \"hey jarvis\"), "
    "keep the suggested settings, and press ctrl+s.\nPress [b]f1[/b] for help."
)


class ProjectsScreen(Screen[None]):
    """DataTable of projects; n new, enter open, d delete."""

    app: AppServices
    BINDINGS = [
        Binding("n", "new_project", "New"),
        Binding("enter", "open_project", "Open", show=False),
        Binding("d", "delete_project", "Delete"),
        Binding("w", "app.downloads", "Voices & data"),
        Binding("c", "app.doctor", "Check setup"),
        Binding("f5", "refresh", "Refresh", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◉")
        yield Static("", id="projects-heading", classes="heading")
        yield ProjectTable(id="projects-table", cursor_type="row", zebra_stripes=True)
        yield Static(EMPTY, id="projects-empty")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Project", key="name")
        table.add_column("Wake word", key="wake")
        table.add_column("Recs", key="recs")
        table.add_column("Clips", key="clips")
        table.add_column("Model", key="model")
        self.refresh_projects()

    def on_screen_resume(self) -> None:
        self.refresh_projects()

    def refresh_projects(self, select: str | None = None) -> None:
        from core.project.status import project_summary

        ws = self.app.workspace
        table = self.query_one(DataTable)
        current = select or self.selected_name()
        table.clear()
        names = ws.list_projects()
        for name in names:
            try:
                s = project_summary(ws.project(name))
            except Exception as exc:  # a broken project must not hide the others
                table.add_row(name, Text("unreadable", style="red"), "-", "-", str(exc)[:30], key=name)
                continue
            table.add_row(name, s.wake_word if not s.config_error else Text("config error", style="red"),
                          str(s.recordings), f"{s.clips:,}", self.model_cell(name, s), key=name)
        empty = not names
        self.query_one("#projects-empty").display = empty
        table.display = not empty
        self.query_one("#projects-heading", Static).update(
            f"{len(names)} project{'s' if len(names) != 1 else ''} in {self.app.workspace_label}"
        )
        if current in names:
            table.move_cursor(row=names.index(current))
        if not empty:
            table.focus()

    def model_cell(self, name: str, s: object) -> Text:
        job = self.app.jobs.get(name)
        if job is not None and job.running:
            return Text(f"training: {job.current or 'starting'}", style="bold yellow")
        if getattr(s, "model_exists", False):
            recall = fmt_float(getattr(s, "recall", None))
            fa = fmt_float(getattr(s, "false_accepts_per_hour", None))
            return Text(f"recall {recall}  FA/h {fa}", style="green")
        return Text("not trained", style="dim")

    def selected_name(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key is not None else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key is not None and event.row_key.value:
            self.app.open_project(str(event.row_key.value))

    def action_open_project(self) -> None:
        name = self.selected_name()
        if name:
            self.app.open_project(name)
        else:
            self.app.bell()

    def action_new_project(self) -> None:
        self.app.action_new_project()

    def action_delete_project(self) -> None:
        name = self.selected_name()
        if name:
            self.app.delete_project(name)
        else:
            self.app.bell()

    def action_refresh(self) -> None:
        self.refresh_projects()
