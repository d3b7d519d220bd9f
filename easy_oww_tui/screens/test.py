"""The 'test and use' view of a trained model: its evaluation card and how to use it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from easy_oww_tui.screens.dashboard import usage_text
from easy_oww_tui.widgets.text import display_path

if TYPE_CHECKING:
    from easy_oww_tui.app import EasyOWWApp


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int | str | bool):
        return str(value)
    return json.dumps(value, default=str)[:60]


class TestScreen(ModalScreen[None]):
    app: EasyOWWApp
    BINDINGS = [Binding("escape,enter", "close", "Close")]

    def __init__(self, project_name: str) -> None:
        super().__init__()
        self.project_name = project_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="test-dialog"):
            yield Label(f"Test and use: {escape(self.project_name)}", classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static(self.body(), classes="dialog-body", id="test-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (escape)", id="close", compact=True)

    def body(self) -> str:
        ws = self.app.workspace
        try:
            project = ws.project(self.project_name)
            cfg = project.load_config()
        except Exception as exc:
            return escape(self.app.scrub(str(exc)))
        model = project.model_path(cfg)
        if not model.is_file():
            return ("No model yet. Train it first: press [b]t[/b] in the project view, then [b]s[/b].\n"
                    f"When it finishes, the model is written to {escape(display_path(model, ws.root))}.")
        card_path = project.model_path(cfg, ".json")
        card: dict[str, Any] = {}
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        rel = display_path(model, ws.root)
        lines = [f"[b]Model[/b]      {escape(rel)}"]
        threshold = card.get("threshold")
        if threshold is not None:
            lines.append(f"[b]Threshold[/b]  {_fmt(threshold)}")
        metrics = card.get("metrics", {})
        if isinstance(metrics, dict) and metrics:
            lines.append("[b]Evaluation[/b]")
            for key, value in list(metrics.items())[:12]:
                lines.append(f"  {escape(str(key)):<28} {escape(_fmt(value))}")
        lines.append("")
        lines.append(escape(usage_text(rel, threshold)))
        lines.append(f"Live microphone test: [b]easy-oww test {escape(self.project_name)}[/b]")
        return "\n".join(lines)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
