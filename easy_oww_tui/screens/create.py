"""The "new project" dialog: wake word, name, samples, steps, voices; validated by the core."""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

FIELDS = [
    ("wake_word", "Wake word", 'The phrase to detect, e.g. "hey jarvis"'),
    ("name", "Project name", "letters, digits, _ and -"),
    ("samples", "Samples", "positive clips to make"),
    ("steps", "Steps", "training steps"),
    ("voices", "Voices", "comma-separated; empty = all installed"),
]


def suggest_name(wake_word: str) -> str:
    """A safe project name from a wake word: "Hey Jarvis!" -> "hey_jarvis"."""
    out = []
    for ch in wake_word.strip().lower():
        if ch.isascii() and (ch.isalnum() or ch in "_-"):
            out.append(ch)
        elif ch.isspace() and out and out[-1] != "_":
            out.append("_")
    return "".join(out).strip("_-")[:64]


class CreateProjectScreen(ModalScreen[object]):
    """Dismisses with a saved-ready ``TrainingConfig`` or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "create", "Create"),
    ]

    def __init__(self, existing: list[str], default_samples: int = 1000, default_steps: int = 10000) -> None:
        super().__init__()
        self.existing = set(existing)
        self.defaults = {"samples": str(default_samples), "steps": str(default_steps)}
        self._name_edited = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="create-dialog"):
            yield Label("New project", classes="dialog-title")
            for key, label, placeholder in FIELDS:
                with Horizontal(classes="form-row"):
                    yield Label(label, classes="form-label")
                    yield Input(
                        value=self.defaults.get(key, ""),
                        placeholder=placeholder,
                        id=f"in-{key}",
                        compact=True,
                        type="integer" if key in ("samples", "steps") else "text",
                    )
            yield Static("", id="create-errors")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Create (ctrl+s)", variant="primary", id="create", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#in-wake_word", Input).focus()

    def value(self, key: str) -> str:
        return self.query_one(f"#in-{key}", Input).value.strip()

    @on(Input.Changed, "#in-wake_word")
    def _wake_changed(self, event: Input.Changed) -> None:
        if not self._name_edited:
            name_input = self.query_one("#in-name", Input)
            with name_input.prevent(Input.Changed):
                name_input.value = suggest_name(event.value)

    @on(Input.Changed, "#in-name")
    def _name_changed(self, event: Input.Changed) -> None:
        self._name_edited = True
        from core.config import name_problem

        problem = name_problem(event.value.strip()) if event.value.strip() else None
        self.show_errors([problem] if problem else [])

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        idx = inputs.index(event.input)
        if idx + 1 < len(inputs):
            inputs[idx + 1].focus()
        else:
            self.action_create()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "create":
            self.action_create()
        else:
            self.dismiss(None)

    def show_errors(self, errors: list[str]) -> None:
        box = self.query_one("#create-errors", Static)
        box.update("\n".join(f"• {escape(e)}" for e in errors))
        box.set_class(bool(errors), "has-errors")

    def build_config(self) -> tuple[object | None, list[str]]:
        """The config the form describes, or the list of problems with it."""
        from core.config import TrainingConfig, name_problem

        errors: list[str] = []
        wake, name = self.value("wake_word"), self.value("name")
        if not wake:
            errors.append('Wake word: type the phrase to detect, e.g. "hey jarvis".')
        problem = name_problem(name)
        if problem:
            errors.append(problem)
        elif name in self.existing:
            errors.append(f"A project named {name!r} exists already; pick another name.")
        numbers: dict[str, int] = {}
        for key, label in (("samples", "Samples"), ("steps", "Steps")):
            text = self.value(key)
            try:
                numbers[key] = int(text)
            except ValueError:
                errors.append(f"{label}: {text!r} is not a whole number.")
        if errors:
            return None, errors
        cfg = TrainingConfig.create_default(name, wake)
        samples = numbers["samples"]
        cfg.target_samples = samples
        cfg.real_samples = max(0, min(cfg.real_samples, samples))
        cfg.synthetic_samples = max(0, samples - cfg.real_samples)
        cfg.max_steps = numbers["steps"]
        cfg.voices = [v.strip() for v in self.value("voices").split(",") if v.strip()]
        ok, messages = cfg.validate()
        if not ok:
            return None, messages
        return cfg, []

    def action_create(self) -> None:
        cfg, errors = self.build_config()
        if errors:
            self.show_errors(errors)
            return
        self.dismiss(cfg)

    def action_cancel(self) -> None:
        self.dismiss(None)
