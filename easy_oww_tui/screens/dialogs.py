"""Small modal dialogs: confirm, error, help, and the 'stopping safely' notice."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True for yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, message: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.title_text, self.message, self.yes, self.no = title, message, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm-dialog"):
            yield Label(escape(self.title_text), classes="dialog-title")
            yield Static(escape(self.message), classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes", compact=True)
                yield Button(f"{self.no} (n)", variant="primary", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ErrorScreen(ModalScreen[None]):
    """Show a user-facing error (problem + fix); the app keeps running."""

    BINDINGS = [Binding("escape,enter", "close", "Close")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text, self.message = title, message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog error-dialog", id="error-dialog"):
            yield Label(escape(self.title_text), classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static(escape(self.message), classes="dialog-body", id="error-message")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK (enter)", variant="primary", id="ok", compact=True)

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class StoppingScreen(ModalScreen[None]):
    """Shown while running jobs reach their next safe point before the app quits."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="stopping-dialog"):
            yield Label("Stopping", classes="dialog-title")
            yield Static(
                escape(f"Stopping {self.what} at the next safe point; finished work is kept. "
                       "The app closes when it has stopped."),
                classes="dialog-body",
            )


WORKFLOW = """\
[b]How it works[/b]
1. Create a project ([b]n[/b] in the list) for your wake word, e.g. "hey jarvis".
2. Open it ([b]enter[/b]). Optionally record yourself saying it ([b]r[/b]).
3. Check voices ([b]v[/b]) and datasets ([b]d[/b]); everything needed ships offline.
4. Train ([b]t[/b]): clips, augmentation, features, training, export, evaluation.
   Cancel any time ([b]c[/b]); resume ([b]r[/b]) skips finished phases.
5. Test ([b]e[/b]): recall, false accepts per hour, threshold, and how to use the model.
[b]ctrl+p[/b] opens the command palette with every action. [b]escape[/b] goes back.
"""


class HelpScreen(ModalScreen[None]):
    """F1: the workflow and the keys of the screen underneath."""

    BINDINGS = [Binding("escape,f1,q", "close", "Close")]

    def __init__(self, keys: list[tuple[str, str]], screen_name: str) -> None:
        super().__init__()
        self.keys, self.screen_name = keys, screen_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help-dialog"):
            yield Label("Help", classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                lines = [f"[b]Keys on {escape(self.screen_name)}[/b]"]
                lines += [f"  [b]{escape(k):<10}[/b] {escape(d)}" for k, d in self.keys]
                yield Static("\n".join(lines) + "\n", classes="dialog-body", id="help-keys")
                yield Static(WORKFLOW, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (escape)", id="close", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class SpeakerDialog(ModalScreen[object]):
    """Who is about to speak in a household test; dismisses with the name, "" to end household mode, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str = "", tries: int = 10) -> None:
        super().__init__()
        self.current, self.tries = current, tries

    def compose(self) -> ComposeResult:
        from textual.widgets import Input

        with Vertical(classes="dialog", id="speaker-dialog"):
            yield Label("Household test", classes="dialog-title")
            yield Static(f"Who is speaking? Each person says the wake word at {self.tries} prompts; recall is kept "
                         "per person. Leave it empty for a plain test.", classes="dialog-body")
            yield Input(value=self.current, placeholder="e.g. Anna", id="speaker-name", compact=True)
            yield Static("", id="speaker-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK (enter)", variant="primary", id="ok", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        from textual.widgets import Input

        self.query_one("#speaker-name", Input).focus()

    def _accept(self) -> None:
        from textual.widgets import Input

        from core.audio.household import check_speaker
        from core.errors import EasyOWWError

        value = self.query_one("#speaker-name", Input).value
        if not value.strip():
            self.dismiss("")
            return
        try:
            self.dismiss(check_speaker(value))
        except EasyOWWError as exc:
            self.query_one("#speaker-error", Static).update(f"[red]{escape(str(exc))}[/]")

    def on_input_submitted(self, event: object) -> None:
        self._accept()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._accept()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
