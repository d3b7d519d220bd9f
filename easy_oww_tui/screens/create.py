"""The "new project" dialog: wake word (checked as it is typed), pronunciation, name, samples, steps, voices;
validated by the core."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Static

from easy_oww_tui.widgets.word_check import WordCheckPanel

CHECK_DELAY = 0.3  # seconds of no typing before the wake word is checked
FIELDS = [
    ("wake_word", "Wake word", 'The phrase to detect, e.g. "hey jarvis"'),
    ("pronunciation", "Say it as", 'optional respelling, e.g. "hey my croft"'),
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
        Binding("ctrl+l", "listen", "Listen"),
    ]

    def __init__(self, existing: list[str], default_samples: int = 1000, default_steps: int = 10000,
                 voices_dir: Path | None = None) -> None:
        super().__init__()
        self.existing = set(existing)
        self.defaults = {"samples": str(default_samples), "steps": str(default_steps)}
        self.voices_dir = voices_dir
        self._name_edited = False
        self._check_timer: Timer | None = None

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
                if key == "pronunciation":
                    yield WordCheckPanel("", id="word-check")
            yield Static("", id="create-errors")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Listen (ctrl+l)", id="listen", compact=True)
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
        self._schedule_check()

    @on(Input.Changed, "#in-pronunciation")
    def _pronunciation_changed(self, event: Input.Changed) -> None:
        self._schedule_check()

    # ------------------------------------------------------------ the wake-word check
    def _schedule_check(self) -> None:
        if self._check_timer is not None:
            self._check_timer.stop()
        panel = self.query_one("#word-check", WordCheckPanel)
        panel.set_class(False, "checked")
        if not self.value("wake_word"):
            panel.update("")
            return
        self._check_timer = self.set_timer(CHECK_DELAY, self._start_check)

    def _start_check(self) -> None:
        self._check(self.value("wake_word"), self.value("pronunciation"))

    @work(thread=True, exclusive=True, group="word-check", exit_on_error=False)
    def _check(self, phrase: str, pronunciation: str) -> None:
        from core.errors import EasyOWWError
        from core.project.word_check import check_phrase

        try:
            report = check_phrase(phrase, pronunciation)
        except EasyOWWError as exc:
            self.app.call_from_thread(self._show_check, phrase, pronunciation, None, str(exc))
            return
        self.app.call_from_thread(self._show_check, phrase, pronunciation, report, "")

    def _show_check(self, phrase: str, pronunciation: str, report: object | None, error: str) -> None:
        if not self.is_attached or (phrase, pronunciation) != (self.value("wake_word"), self.value("pronunciation")):
            return  # typed on since: a newer check is coming
        panel = self.query_one("#word-check", WordCheckPanel)
        if report is None:
            panel.show_message(error)
        else:
            panel.show_report(report)

    def action_listen(self) -> None:
        phrase = self.value("wake_word")
        if not phrase:
            self.show_errors(['Wake word: type the phrase to listen to, e.g. "hey jarvis".'])
            return
        self.query_one("#word-check", WordCheckPanel).show_message(f"Speaking {phrase!r} in the installed voices...",
                                                                  checked=False)
        self._listen(phrase, self.value("pronunciation"))

    @work(thread=True, exclusive=True, group="word-listen", exit_on_error=False)
    def _listen(self, phrase: str, pronunciation: str) -> None:
        from core.audio.devices import play_audio
        from core.audio.tts import PiperTTS
        from core.errors import EasyOWWError
        from core.project.word_check import preview

        try:
            clips = preview(phrase, PiperTTS(self.voices_dir, threads=2), pronunciation)
            for name, audio in clips:
                self.app.call_from_thread(self._listen_note, f"Playing {name}...")
                play_audio(audio, what="the preview")
            note = "Played: " + ", ".join(name for name, _ in clips) + ". Wrong? Respell it under \"Say it as\"."
        except EasyOWWError as exc:
            note = str(exc) + ' Over SSH: `easy-oww check "PHRASE" --save DIR` writes WAV files.'
        self.app.call_from_thread(self._listen_note, note)

    def _listen_note(self, text: str) -> None:
        if self.is_attached:
            self.query_one("#word-check", WordCheckPanel).show_message(text)

    @on(Input.Changed, "#in-name")
    def _name_changed(self, event: Input.Changed) -> None:
        self._name_edited = True
        from core.project.config import name_problem

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
        elif event.button.id == "listen":
            self.action_listen()
        else:
            self.dismiss(None)

    def show_errors(self, errors: list[str]) -> None:
        box = self.query_one("#create-errors", Static)
        box.update("\n".join(f"• {escape(e)}" for e in errors))
        box.set_class(bool(errors), "has-errors")

    def build_config(self) -> tuple[object | None, list[str]]:
        """The config the form describes, or the list of problems with it."""
        from core.project.config import TrainingConfig, name_problem

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
        cfg.pronunciation = self.value("pronunciation")
        samples = numbers["samples"]
        cfg.set_samples(samples)
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
