"""Voices and datasets: what is installed, what can be downloaded, and what works offline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Input,
    ProgressBar,
    Static,
    TabbedContent,
    TabPane,
)

from easy_oww_tui.jobs import DOWNLOADS_KEY, JobKind, JobState
from easy_oww_tui.messages import JobMessage
from easy_oww_tui.screens.job_screen import JobScreen
from easy_oww_tui.widgets.text import fmt_size

if TYPE_CHECKING:
    from easy_oww_tui.services import AppServices

OFFLINE = (
    "Offline, training works: the bundled voice en_US-joe-medium (plus espeak-ng when installed) makes "
    "clips, rooms are simulated, noise is generated. Downloads add variety and honest false-accept figures."
)


class DownloadsScreen(JobScreen):
    app: AppServices
    job_key = DOWNLOADS_KEY
    BINDINGS = [
        Binding("1", "tab('voices')", "Voices"),
        Binding("2", "tab('datasets')", "Datasets"),
        Binding("enter", "download", "Download", show=False),
        Binding("u", "refresh_catalog", "Update catalog"),
        Binding("c", "cancel", "Cancel"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, tab: str = "voices") -> None:
        super().__init__()
        self.initial_tab = tab
        self.catalog: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◉")
        yield Static(OFFLINE, id="downloads-offline", classes="hint")
        with TabbedContent(initial=self.initial_tab, id="downloads-tabs"):
            with TabPane("Voices (1)", id="voices"):
                yield Input(placeholder="language filter, e.g. en_US or de (enter on a row downloads)",
                            id="voice-filter", compact=True)
                yield DataTable(id="voices-table", cursor_type="row")
            with TabPane("Datasets (2)", id="datasets"):
                yield DataTable(id="datasets-table", cursor_type="row")
        with Vertical(id="download-job"):
            yield Static("", id="download-status")
            with Horizontal(id="download-bar-row"):
                yield ProgressBar(id="download-bar", show_eta=not self.app.deterministic)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "voices & datasets"
        self.load_cached_catalog()
        self.fill()
        self.redraw_all()

    # ------------------------------------------------------------------ data
    def load_cached_catalog(self) -> None:
        """Read the catalog from the workspace cache only (never the network on the UI thread)."""
        from core.assets import voice_catalog as vc

        try:
            path = vc.catalog_path(self.app.workspace)
            if path.is_file():
                self.catalog = vc.load_catalog(self.app.workspace, max_age=float("inf"))
        except Exception:
            self.catalog = {}

    def fill(self) -> None:
        self.fill_voices()
        self.fill_datasets()

    def fill_voices(self) -> None:
        ws = self.app.workspace
        table = self.query_one("#voices-table", DataTable)
        table.clear(columns=True)
        table.add_columns("", "Voice", "Language", "Quality", "Speakers", "Size")
        from core.assets import voice_catalog as vc

        installed: dict[str, Any] = {v.key: v for v in vc.list_installed_voices(ws)}
        query = self.query_one("#voice-filter", Input).value.strip().lower()
        for key, v in installed.items():
            table.add_row(Text("✔", style="green"), key, v.language, v.quality, str(v.num_speakers),
                          fmt_size(v.size_bytes), key=key)
        shown = 0
        for key, v in sorted(self.catalog.items()):
            if key in installed:
                continue
            if query and not (v.language.lower().startswith(query) or query in key.lower()):
                continue
            table.add_row(Text("·", style="dim"), key, v.language, v.quality, str(v.num_speakers),
                          fmt_size(v.size_bytes), key=key)
            shown += 1
            if shown >= 300:
                break
        if not self.catalog:
            table.add_row("", Text("Catalog not loaded: press u (needs internet)", style="dim"), "", "", "", "",
                          key="@nocatalog")

    def fill_datasets(self) -> None:
        table = self.query_one("#datasets-table", DataTable)
        table.clear(columns=True)
        table.add_columns("", "Dataset", "Size", "Need", "Licence")
        from core.assets.datasets import dataset_status

        for row in dataset_status(self.app.workspace):
            mark = Text("✔", style="green") if row.installed else Text("·", style="dim")
            need = Text("required", style="bold") if row.required else Text("optional", style="dim")
            table.add_row(mark, row.name, fmt_size(row.size_bytes), need, row.licence[:40], key=row.name)

    # ------------------------------------------------------------------ job panel
    def redraw_all(self) -> None:
        job: JobState | None = self.app.jobs.get(DOWNLOADS_KEY)
        status = self.query_one("#download-status", Static)
        bar = self.query_one("#download-bar", ProgressBar)
        if job is None:
            status.update("Select a row and press [b]enter[/b] to download it.")
            bar.update(total=1, progress=0)
            return
        what = escape(job.kind.split(":", 1)[-1])
        ph = job.running_phase
        if job.running:
            detail = escape(ph.message) if ph and ph.message else "starting…"
            stop = " (stopping…)" if job.cancel_requested else " — [b]c[/b] cancels"
            status.update(f"Downloading [b]{what}[/b]: {detail}{stop}")
            if ph is not None and ph.total:
                bar.update(total=ph.total, progress=min(ph.done, ph.total))
            elif not self.app.deterministic:
                bar.update(total=None)
        elif job.outcome == "ok":
            status.update(f"[green]Installed {what}.[/green]")
            bar.update(total=1, progress=1)
        elif job.outcome == "cancelled":
            status.update(f"[yellow]Stopped {what}; enter resumes it.[/yellow]")
        else:
            status.update(f"[red]{what} failed:[/red] {escape(self.app.scrub(job.error))[:150]}")

    def job_updated(self, msg: JobMessage) -> None:
        self.redraw_all()
        job = self.app.jobs.get(DOWNLOADS_KEY)
        if job is not None and not job.running:
            if job.kind == JobKind.DOWNLOAD.detail("catalog"):
                self.load_cached_catalog()
            self.fill()

    # ------------------------------------------------------------------ actions
    @on(Input.Changed, "#voice-filter")
    def _filter(self) -> None:
        self.fill_voices()

    @on(Input.Submitted, "#voice-filter")
    def _filter_done(self) -> None:
        self.query_one("#voices-table", DataTable).focus()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key is not None and event.row_key.value:
            self.download(event.data_table.id or "", str(event.row_key.value))

    def action_download(self) -> None:
        tabs = self.query_one(TabbedContent)
        table = self.query_one("#voices-table" if tabs.active == "voices" else "#datasets-table", DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key:
            self.download(table.id or "", str(key))

    def download(self, table_id: str, key: str, confirmed: bool = False) -> None:
        ws = self.app.workspace
        if key == "@nocatalog":
            self.action_refresh_catalog()
            return
        if table_id == "voices-table":
            voice = self.catalog.get(key)
            if voice is None:
                self.app.notify(f"{key} is installed already.")
                return
            from core.assets import voice_catalog as vc

            self.app.start_job(DOWNLOADS_KEY, JobKind.DOWNLOAD.detail(key),
                               lambda report, cancel: vc.install_voices(ws, [voice], report, cancel))
            return
        from core.assets import datasets as ds

        row = next((r for r in ds.dataset_status(ws) if r.name == key), None)
        if row is not None and row.installed:
            self.app.notify(f"{key} is installed already.")
            return
        size = row.size_bytes if row else None
        if not confirmed and size and size > 1_000_000_000:
            from easy_oww_tui.screens.dialogs import ConfirmScreen

            self.app.push_screen(ConfirmScreen(
                f"Download {key}?", f"{key} is about {fmt_size(size)}. Training works without it. Download it?",
                yes="Download", no="Not now"),
                lambda yes: self.download(table_id, key, confirmed=True) if yes else None)
            return
        self.app.start_job(DOWNLOADS_KEY, JobKind.DOWNLOAD.detail(key),
                           lambda report, cancel: ds.download_dataset(ws, key, report, cancel,
                                                                      assume_yes=confirmed))

    def action_refresh_catalog(self) -> None:
        from core.assets import voice_catalog as vc

        ws = self.app.workspace
        self.app.start_job(DOWNLOADS_KEY, JobKind.DOWNLOAD.detail("catalog"),
                           lambda report, cancel: vc.load_catalog(ws, report, refresh=True) and None)

    def action_cancel(self) -> None:
        self.app.cancel_job(DOWNLOADS_KEY)
        self.redraw_all()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_back(self) -> None:
        self.app.pop_screen()
