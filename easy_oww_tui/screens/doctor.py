"""The Doctor screen: `easy-oww doctor` in the app (what this machine has, what a gap costs, the fix)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

if TYPE_CHECKING:
    from easy_oww_tui.services import AppServices

STYLE = {"ok": "green", "warn": "yellow", "missing": "red"}


class DoctorScreen(Screen[None]):
    """Runs the checks in a thread (the network check may wait a few seconds) and shows one row each."""

    app: AppServices
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("r", "recheck", "Check again"),
    ]

    class Checked(Message):
        """The checks finished (``findings``: core.doctor.Finding list, or an error text)."""

        def __init__(self, findings: list[Any], error: str = "") -> None:
            super().__init__()
            self.findings = findings
            self.error = error

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◉")
        yield Static("Checking this machine…", id="doctor-summary", classes="heading")
        table: DataTable[Any] = DataTable(id="doctor-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("check", "status", "found", "what it costs / fix")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.action_recheck()

    def action_recheck(self) -> None:
        self.query_one("#doctor-summary", Static).update("Checking this machine…")
        self._check()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _check(self) -> None:
        from core.doctor import run_checks

        try:
            found = run_checks(self.app.workspace)
        except Exception as exc:  # a check that breaks must not take the app down
            self.post_message(self.Checked([], f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.Checked(found))

    def on_doctor_screen_checked(self, message: Checked) -> None:
        from core.doctor import SUMMARY, worst

        table = self.query_one("#doctor-table", DataTable)
        table.clear()
        for f in message.findings:
            advice = f.cost + (f"\nfix: {f.fix}" if f.fix else "")
            height = 1 + advice.count("\n")
            table.add_row(f.name, Text(f.status, style=STYLE.get(f.status, "")), f.detail, advice, height=height)
        summary = self.query_one("#doctor-summary", Static)
        if message.error:
            summary.update(Text(f"The checks stopped: {message.error}", style="red"))
        else:
            status = worst(message.findings)
            summary.update(Text(SUMMARY[status], style=STYLE[status]))

    def action_back(self) -> None:
        self.app.pop_screen()
