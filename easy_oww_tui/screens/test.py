"""Test and use a trained model: a live microphone test (core.audio.live_test), the evaluation, how to use it.

``s`` starts listening in an App-owned thread worker (job ``<project>#test``): a
:class:`~core.audio.live_test.LiveDetector` on the default microphone, reporting each 80 ms frame
(level meter and score bar, coalesced :class:`~easy_oww_tui.messages.LiveScore` messages) and each
detection (:class:`~easy_oww_tui.messages.WakeWordDetected`). ``c`` stops and shows a summary,
``f`` marks the last detection as a false trigger (its audio becomes a negative recording), ``m`` keeps
the last 2.5 s as a positive take (a missed wake word), ``v`` opens the review list; ``p`` names a speaker for a household test (prompts,
recall per speaker kept by core.audio.household). A microphone problem ends the job and the App
shows the error dialog. The threshold is the evaluated one (``models/<name>.json``), else 0.5.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from core.project.model_card import read_card, saved_threshold, trained_model, usage_summary
from easy_oww_tui.jobs import JobKind, make_live_reporter
from easy_oww_tui.messages import JobDone, JobMessage, LiveScore, WakeWordDetected
from easy_oww_tui.screens.job_screen import JobScreen
from easy_oww_tui.widgets.meters import LevelMeter, ScoreBar
from easy_oww_tui.widgets.text import display_path

if TYPE_CHECKING:
    from easy_oww_tui.services import AppServices

DEFAULT_THRESHOLD = 0.5
# Kind of the live-test job. The App's "record" branch is the right one for it: a failure (a
# microphone problem) shows the error dialog titled "Recording problem"; the end is not a toast.
JOB_KIND = JobKind.LIVE_TEST
FALSE_MARK = Text("false trigger", style="bold red")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int | str | bool):
        return str(value)
    return json.dumps(value, default=str)[:60]




class TestScreen(JobScreen):
    """Live test of a project's model (or ``model_path``, e.g. a .tflite head) and how to use it."""

    __test__ = False  # not a pytest test class
    app: AppServices
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("c", "stop", "Stop"),
        Binding("f", "mark_false", "False trigger"),
        Binding("m", "missed", "Missed"),
        Binding("p", "speaker", "Speaker"),
        Binding("v", "review", "Review"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, project_name: str, model_path: str | Path | None = None,
                 threshold: float | None = None, device: str | int | None = None,
                 tries: int | None = None, every_s: float | None = None) -> None:
        super().__init__()
        from core.audio.household import DEFAULT_EVERY_S, DEFAULT_TRIES

        self.tries = tries or DEFAULT_TRIES  # household test: prompts per session
        self.every_s = every_s or DEFAULT_EVERY_S
        self.project_name = project_name
        self.job_key = f"{project_name}#test"
        self.explicit_model = Path(model_path) if model_path else None
        self.explicit_threshold = threshold
        self.device = device
        self.wake_word = project_name
        self.model: Path | None = None
        self.threshold = DEFAULT_THRESHOLD
        self.problem = ""  # why the model cannot be tested (no model, bad project)
        self.detector: Any = None  # the running/last LiveDetector (set by the worker thread)
        self.listening = False
        self.detections = 0
        self.speaker = ""  # household test: who speaks ("" = a plain test)
        self.speaker_run = ""  # the speaker of the running/last run
        self.prompted = 0

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◉")
        yield Static("", id="test-heading", classes="heading")
        yield Static("", id="test-status")
        yield LevelMeter(id="test-level")
        yield ScoreBar(id="test-score")
        yield DataTable(id="test-detections", cursor_type="none", zebra_stripes=True)
        yield Static("", id="test-summary")
        yield Static("", id="test-usage", classes="hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"{self.project_name} · test"
        table = self.query_one("#test-detections", DataTable)
        table.border_title = "Detections"
        table.add_column("#", key="n", width=3)
        table.add_column("At", key="at", width=8)
        table.add_column("Score", key="score", width=6)
        table.add_column("", key="mark", width=13)
        self.set_summary("")
        self.load()
        self.redraw_all()

    def load(self) -> None:
        """Find the model, its card and threshold; fill the heading and the usage text."""
        ws = self.app.workspace
        card: dict[str, Any] = {}
        try:
            project = ws.project(self.project_name)
            cfg = project.load_config()
            self.wake_word = cfg.wake_word
            card = read_card(project.model_path(cfg, ".json"))
            self.model = self.explicit_model or trained_model(project, cfg) or project.model_path(cfg, ".onnx")
            if not self.model.is_file():
                self.problem = (f"No model yet: {display_path(self.model, ws.root)}. Train it first: "
                                "press t in the project view, then s.")
        except Exception as exc:  # a broken project: say why, keep the screen usable
            self.problem = self.app.scrub(str(exc))
            self.model = self.explicit_model
        saved = saved_threshold(card)
        self.threshold = self.explicit_threshold or saved or DEFAULT_THRESHOLD
        self.query_one("#test-score", ScoreBar).threshold = self.threshold
        heading = self.query_one("#test-heading", Static)
        if self.model is None or self.problem:
            heading.update(f"[b]{escape(self.project_name)}[/b]: {escape(self.problem)}")
            self.query_one("#test-usage", Static).update("")
            return
        rel = display_path(self.model, ws.root)
        source = "evaluated" if saved is not None and self.explicit_threshold is None else (
            "given" if self.explicit_threshold else "default; no evaluation saved")
        second = [f"[b]Threshold[/b] {self.threshold:.2f} ({source})"]
        metrics = card.get("metrics", {})
        if isinstance(metrics, dict):
            second += [f"{escape(str(k))} {escape(_fmt(v))}" for k, v in list(metrics.items())[:6]]
        heading.update(f"[b]Model[/b] {escape(rel)}\n" + " · ".join(second))
        self.query_one("#test-usage", Static).update(escape(usage_summary(rel, saved)))

    # ------------------------------------------------------------------ drawing
    def status(self, markup: str) -> None:
        self.query_one("#test-status", Static).update(markup)

    def redraw_all(self) -> None:
        """Called by the App when the job starts or a stop is requested."""
        job = self.app.jobs.get(self.job_key)
        if self.problem:
            self.status("")
        elif job is not None and job.running and job.cancel_requested:
            self.status("Stopping…")
        elif job is not None and job.running:
            if not self.listening:
                self.status("Loading the model and opening the microphone…")
        elif self.speaker:
            self.status(f"Household test: [b]{escape(self.speaker)}[/b] says “{escape(self.wake_word)}” at each of "
                        f"{self.tries} prompts. Press [b]s[/b] to start; [b]p[/b] changes the speaker.")
        else:
            self.status(f"Press [b]s[/b] to start listening, then say “{escape(self.wake_word)}” "
                        "a few times; [b]c[/b] stops; [b]p[/b]: household test per speaker.")

    def job_updated(self, msg: JobMessage) -> None:
        if isinstance(msg, LiveScore):
            if not self.listening:
                self.listening = True
                where = self.detector.summary().device if self.detector is not None else ""
                on = f" on {escape(where)}" if where and not self.app.deterministic else ""
                self.status(f"[b red]●[/b red] Listening{on}: say “{escape(self.wake_word)}”. "
                            "[b]f[/b] marks a wrong detection, [b]m[/b] a missed one, [b]c[/b] stops.")
            self.query_one("#test-level", LevelMeter).show(msg.rms_db, msg.clipped)
            self.query_one("#test-score", ScoreBar).show(msg.score)
            if self.speaker_run:
                self.show_prompt(msg.time_s)
        elif isinstance(msg, WakeWordDetected):
            self.add_detection(msg.index, msg.time_s, msg.score)
        elif isinstance(msg, JobDone):
            self.listening = False
            self.query_one("#test-level", LevelMeter).show(None)
            self.query_one("#test-score", ScoreBar).score = None  # keeps the run's max
            if msg.outcome == "failed":
                self.status("[b red]Stopped:[/b red] the test could not run (see the message).")
            else:
                self.status("Stopped. Press [b]s[/b] to listen again.")
            self.show_summary(msg.result if isinstance(msg.result, dict) else {})
            if self.speaker_run and msg.outcome != "failed":
                self.finish_household()

    def show_prompt(self, time_s: float) -> None:
        from core.audio.household import prompt_times

        times = prompt_times(self.tries, self.every_s)
        if self.prompted < self.tries and time_s >= times[self.prompted]:
            self.prompted += 1
            self.status(f"[b red]●[/b red] [b]{escape(self.speaker_run)}[/b]: say “{escape(self.wake_word)}” now "
                        f"([b]{self.prompted}[/b]/{self.tries}). [b]f[/b] marks a wrong detection, [b]c[/b] stops.")

    def finish_household(self) -> None:
        """Keep the household session and show recall per speaker (core.audio.household)."""
        from core.audio.household import finish_session
        from core.errors import EasyOWWError

        if self.detector is None or self.model is None:
            return
        try:
            project = self.app.workspace.project(self.project_name)
            res = finish_session(project, project.load_config(), self.model, self.detector.summary(),
                                 self.speaker_run, self.tries, self.every_s)
        except EasyOWWError as exc:
            self.app.show_error("Household test not kept", self.app.scrub(str(exc)))
            return
        if res is None:
            self.status("Stopped before the first prompt ended: nothing kept. Press [b]s[/b] to start again.")
            return
        s = res.session
        missed = f"; missed prompts {', '.join(map(str, res.missed))}" if res.missed else ""
        per = ", ".join(f"{escape(r.speaker)} {r.hits}/{r.tries} ({r.recall:.2f})" for r in res.speakers)
        self.status(f"[b]{escape(s.speaker)}[/b]: {s.hits} of {s.tries} heard{missed}. "
                    f"This model in your home: {per}.")

    def add_detection(self, index: int, time_s: float, score: float) -> None:
        table = self.query_one("#test-detections", DataTable)
        key = str(index)
        if key in table.rows:
            return
        self.detections += 1
        table.add_row(str(index + 1), f"{time_s:7.1f}s", f"{score:.2f}",
                      Text("detected", style="bold green"), key=key)
        table.move_cursor(row=table.row_count - 1)
        self.set_summary(f"{self.detections} detection{'s' if self.detections != 1 else ''} so far")

    def show_summary(self, result: dict[str, Any]) -> None:
        """The summary of the last run (the detector's, so later false marks count)."""
        if self.detector is not None:
            data = self.detector.summary().to_dict()
        elif result:
            data = result
        else:
            self.set_summary("")
            return
        n = len(data.get("detections") or [])
        false_triggers = [i for i in data.get("false_triggers") or [] if isinstance(i, int)]
        n_false = len(false_triggers)
        table = self.query_one("#test-detections", DataTable)
        for index in false_triggers:
            if str(index) in table.rows:
                table.update_cell(str(index), "mark", FALSE_MARK)
        parts = [f"[b]Summary[/b]: {n} detection{'s' if n != 1 else ''} of “{escape(self.wake_word)}”"
                 f" ({n_false} marked false)"]
        if not self.app.deterministic:
            parts.append(f" in {float(data.get('duration_s') or 0.0):.1f} s")
        parts.append(f"; highest score {float(data.get('max_score') or 0.0):.2f}"
                     f" (threshold {float(data.get('threshold') or self.threshold):.2f}).")
        if n == 0:
            parts.append("\nNot detected? Speak closer, watch the level meter, or train with more recordings.")
        elif n_false:
            parts.append("\nFalse triggers: record negatives (r, then n) and train again, or use a higher "
                         "threshold.")
        self.set_summary("".join(parts))

    def set_summary(self, markup: str) -> None:
        summary = self.query_one("#test-summary", Static)
        summary.update(markup)
        summary.display = bool(markup)

    # ------------------------------------------------------------------ actions
    def action_start(self) -> None:
        if self.app.is_running(self.job_key):
            self.notify("Already listening; c stops.", severity="information")
            return
        if self.model is None or self.problem:
            self.app.show_error("Nothing to test", self.problem or "This project has no model.")
            return
        model, threshold, device = self.model, self.threshold, self.device
        feature_dir = self.app.workspace.feature_models_dir
        post = self.app.post_message
        key = self.job_key
        self.detector = None
        self.listening = False
        self.detections = 0
        self.speaker_run, self.prompted = self.speaker, 0
        from core.audio.household import session_seconds

        duration = session_seconds(self.tries, self.every_s) if self.speaker else None
        self.query_one("#test-detections", DataTable).clear()
        self.query_one("#test-score", ScoreBar).reset()
        self.set_summary("")

        def work(report: Any, cancel: Any) -> Any:
            from core.audio.live_test import LiveDetector

            detector = LiveDetector(model, threshold=threshold, device=device,
                                    report=make_live_reporter(post, key), cancel=cancel,
                                    feature_models_dir=feature_dir)
            self.detector = detector
            return detector.run(duration).to_dict()

        self.app.start_job(key, JOB_KIND, work)

    def action_stop(self) -> None:
        if not self.app.is_running(self.job_key):
            self.notify("Not listening; s starts.", severity="information")
            return
        self.app.cancel_job(self.job_key)

    def action_mark_false(self) -> None:
        marked = self.detector.mark_false() if self.detector is not None else None
        if marked is None:
            self.notify("No detection to mark yet.", severity="information")
            return
        table = self.query_one("#test-detections", DataTable)
        key = str(marked.index)
        if key not in table.rows:
            self.add_detection(marked.index, marked.time_s, marked.score)
        table.update_cell(key, "mark", FALSE_MARK)
        if not self.app.is_running(self.job_key):
            self.show_summary({})
        wait = self.detector.audio_pending_s(marked)  # its last 0.4 s may not be heard yet
        if wait > 0 and self.app.is_running(self.job_key):
            self.set_timer(wait + 0.05, lambda: self._keep_false_trigger(marked))
        else:
            self._keep_false_trigger(marked)

    def _keep_false_trigger(self, marked: Any) -> None:
        saved = self._correct("false_trigger", marked)
        self.notify(f"Detection #{marked.index + 1} marked as a false trigger" + (f"; {saved}." if saved else "."))

    def action_missed(self) -> None:
        if self.detector is None:
            self.notify("Start listening first (s), say the wake word, then press m if nothing happened.",
                        severity="information")
            return
        saved = self._correct("missed", None)
        if saved:
            self.notify(f"Missed wake word: {saved}.")

    def _correct(self, kind: str, det: Any) -> str:
        """Keep a correction (core.audio.corrections); returns what was saved, "" when nothing was."""
        from core.audio import corrections
        from core.audio.household import model_digest
        from core.errors import EasyOWWError

        try:
            project = self.app.workspace.project(self.project_name)
            digest = model_digest(self.model) if self.model is not None and self.model.is_file() else ""
            if kind == "false_trigger":
                c = corrections.save_false_trigger(project, self.detector.detection_audio(det), det.time_s,
                                                   det.score, digest)
                return f"its audio is now a negative recording ({c.file})"
            c, verdict = corrections.save_missed(project, project.load_config(), self.detector.recent_audio(),
                                                 self.detector.time_s, digest)
        except EasyOWWError as exc:
            self.notify(self.app.scrub(str(exc)), severity="warning")
            return ""
        if c is None:
            self.notify("Not kept: " + "; ".join(verdict.reasons), severity="warning")
            return ""
        return f"the last seconds are now a positive take ({c.file})"

    def action_review(self) -> None:
        from easy_oww_tui.screens.review import ReviewScreen

        self.app.push_screen(ReviewScreen(self.project_name))

    def action_speaker(self) -> None:
        if self.app.is_running(self.job_key):
            self.notify("Stop the test first (c), then choose who speaks.", severity="information")
            return
        from easy_oww_tui.screens.dialogs import SpeakerDialog

        def chosen(name: object) -> None:
            if isinstance(name, str):
                self.speaker = name
                self.redraw_all()

        self.app.push_screen(SpeakerDialog(self.speaker, self.tries), chosen)

    def action_back(self) -> None:
        if self.app.is_running(self.job_key):
            self.app.cancel_job(self.job_key)
        self.app.pop_screen()
