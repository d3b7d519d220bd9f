"""One project: what it has and what it lacks, in the order a user needs it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from easy_oww_tui.widgets.text import display_path, fmt_float

if TYPE_CHECKING:
    from easy_oww_tui.services import AppServices

OK, TODO, OPTIONAL, BAD = "✔", "•", "○", "✘"
STEP_ACTIONS = {"record": "record", "voices": "voices", "datasets": "datasets", "train": "train",
                "test": "test"}


def step_prompt(number: int, key: str, title: str, mark: str, lines: list[str]) -> Text:
    style = {"✔": "green", "•": "yellow", "○": "dim", "✘": "red"}[mark]
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f" {mark} ", style=f"bold {style}")
    text.append(f"{number}. {title} ", style="bold")
    text.append(f"[{key}]", style="bold cyan")
    for line in lines:
        text.append("\n     " + line)
    return text


class ProjectScreen(Screen[None]):
    """Steps: record -> voices -> datasets -> train -> test; each opens with its key."""

    app: AppServices
    BINDINGS = [
        Binding("r", "record", "Record"),
        Binding("v", "voices", "Voices"),
        Binding("d", "datasets", "Datasets"),
        Binding("t", "train", "Train"),
        Binding("e", "test", "Test"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, project_name: str) -> None:
        super().__init__()
        self.project_name = project_name

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◉")
        yield Static("", id="project-heading", classes="heading")
        yield OptionList(id="steps")
        yield Static("", id="project-settings", classes="hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = self.project_name
        self.refresh_view()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        from core.errors import EasyOWWError
        from core.project.status import project_summary, readiness

        ws = self.app.workspace
        try:
            project = ws.project(self.project_name)
        except EasyOWWError as exc:
            self.query_one("#project-heading", Static).update(escape(self.app.scrub(str(exc))))
            return
        s = project_summary(project)
        cfg: Any = None
        try:
            cfg = project.load_config()
        except EasyOWWError:
            pass
        heading = Text.assemble((s.name, "bold"), "   wake word ", (f"“{s.wake_word}”", "bold"))
        if s.config_error:
            heading.append("\n" + self.app.scrub(s.config_error), style="red")
        self.query_one("#project-heading", Static).update(heading)

        want_real = cfg.real_samples if cfg else 0
        steps: list[tuple[str, Text]] = []
        rec_mark = OK if s.recordings and s.recordings >= want_real else OPTIONAL
        steps.append(("record", step_prompt(1, "r", "Record your voice", rec_mark, [
            f"{s.recordings} recording{'s' if s.recordings != 1 else ''}"
            + (f" of {want_real} wanted" if want_real else "")
            + f", {s.negative_recordings} negative. Optional: makes it fit your voice.",
        ])))
        ready = readiness(ws, cfg)
        voices, missing, chosen = ready.voices, ready.missing_voices, (cfg.voices if cfg else []) or []
        vmark = BAD if missing or not voices else OK
        vline = f"{len(voices)} Piper voice{'s' if len(voices) != 1 else ''} installed"
        vline += f" ({', '.join(voices[:2])}{', …' if len(voices) > 2 else ''})" if voices else ""
        use = f"uses {', '.join(chosen)}" if chosen else "uses all installed"
        vlines = [vline + "; " + use + "."]
        if missing:
            vlines.append(f"Missing: {', '.join(missing)} — press v to download.")
        steps.append(("voices", step_prompt(2, "v", "Voices for synthetic clips", vmark, vlines)))
        have, required_missing = ready.datasets_installed, ready.datasets_recommended
        dmark = TODO if required_missing else (OK if have else OPTIONAL)
        dline = f"{have} of {ready.datasets_total} installed."
        dline += (f" Recommended: {', '.join(required_missing)}." if required_missing
                  else " Optional (offline: simulated rooms, noise).")
        steps.append(("datasets", step_prompt(3, "d", "Datasets (noise, rooms, negatives)", dmark, [dline])))
        job = self.app.jobs.get(self.project_name)
        if job is not None and job.running:
            tline, tmark = f"Training now: {job.current or 'starting'}…", TODO
        elif s.model_exists:
            tline, tmark = f"Model trained from {s.clips:,} clips. Press t to retrain or resume.", OK
        else:
            tline, tmark = f"Not trained yet ({s.clips:,} clips so far). Press t for the dashboard.", TODO
        steps.append(("train", step_prompt(4, "t", "Train", tmark, [tline])))
        if s.model_exists:
            eline = (f"recall {fmt_float(s.recall)}, {fmt_float(s.false_accepts_per_hour)} false accepts/h, "
                     f"threshold {fmt_float(s.threshold)}")
            elines = [eline]
            if s.speakers:
                elines.append("In your home: " + ", ".join(f"{n} {h}/{t}" for n, h, t in s.speakers)
                              + " heard (easy-oww test --speaker NAME).")
            steps.append(("test", step_prompt(5, "e", "Test and use the model", OK, elines)))
        else:
            steps.append(("test", step_prompt(5, "e", "Test and use the model", OPTIONAL,
                                              ["No model yet: train first."])))
        options = self.query_one("#steps", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options([Option(prompt, id=key) for key, prompt in steps])
        options.highlighted = highlighted if highlighted is not None else self.first_todo(steps)
        options.focus()
        if cfg is not None:
            self.query_one("#project-settings", Static).update(
                f"{cfg.target_samples:,} samples ({cfg.real_samples} real, {cfg.synthetic_samples:,} synthetic), "
                f"{cfg.max_steps:,} steps, {cfg.model_type} {cfg.model_size}. "
                f"Settings: {escape(display_path(project.config_path, ws.root))}"
            )

    @staticmethod
    def first_todo(steps: list[tuple[str, Text]]) -> int:
        for i, (_key, text) in enumerate(steps):
            if text.plain.lstrip().startswith((TODO, BAD)):
                return i
        return 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        action = STEP_ACTIONS.get(event.option.id or "")
        if action:
            self.run_action(action)

    def action_record(self) -> None:
        self.app.open_record(self.project_name)

    def action_voices(self) -> None:
        self.app.open_downloads(tab="voices")

    def action_datasets(self) -> None:
        self.app.open_downloads(tab="datasets")

    def action_train(self) -> None:
        self.app.open_dashboard(self.project_name)

    def action_test(self) -> None:
        self.app.open_test(self.project_name)

    def action_back(self) -> None:
        self.app.pop_screen()
