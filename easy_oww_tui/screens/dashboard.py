"""The training dashboard: phases, progress, live metrics, log; start / resume / cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, ProgressBar, RichLog, Static

from easy_oww_tui.jobs import METRICS, JobState
from easy_oww_tui.messages import JobDone, JobLog, JobMessage, JobPhaseProgress, MetricReported
from easy_oww_tui.screens.job_screen import JobScreen
from easy_oww_tui.widgets.phases import PHASE_LABELS, MetricRow, PhaseList
from easy_oww_tui.widgets.text import display_path, fmt_float

if TYPE_CHECKING:
    from easy_oww_tui.services import AppServices

LOG_STYLES = {"warning": "yellow", "error": "bold red", "info": ""}




class DashboardScreen(JobScreen):
    app: AppServices
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("r", "resume", "Resume"),
        Binding("c", "cancel", "Cancel"),
        Binding("f", "start_over", "Start over"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, project_name: str) -> None:
        super().__init__()
        self.project_name = project_name
        self.job_key = project_name
        self._log_lines = 0

    def compose(self) -> ComposeResult:
        det = self.app.deterministic
        yield Header(show_clock=False, icon="◉")
        yield Static("", id="dash-status", classes="heading")
        with Horizontal(id="dash-top"):
            with Vertical(id="dash-phases"):
                yield PhaseList(show_times=not det, id="phase-list")
                yield Static("", id="phase-message")
                yield ProgressBar(id="phase-bar", show_eta=not det, show_percentage=True)
            with Vertical(id="dash-metrics"):
                for name in METRICS:
                    yield MetricRow(name)
        yield Static("", id="dash-result")
        yield RichLog(id="dash-log", max_lines=1000, wrap=True, markup=False, auto_scroll=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"{self.project_name} · training"
        self.query_one("#dash-phases").border_title = "Phases"
        self.query_one("#dash-metrics").border_title = "Metrics"
        self.query_one("#dash-log").border_title = "Log"
        self.redraw_all()

    def on_screen_resume(self) -> None:
        self.redraw_all()

    # ------------------------------------------------------------------ drawing
    @property
    def job(self) -> JobState:
        return self.app.job_state(self.project_name)

    def redraw_all(self) -> None:
        job = self.job
        self.draw_phases(job)
        for name in METRICS:
            self.query_one(f"#metric-{name}", MetricRow).show(job.metrics.get(name, []))
        log = self.query_one("#dash-log", RichLog)
        log.clear()
        self._log_lines = 0
        for level, phase, message in job.log:
            self.write_log(level, phase, message)
        if not job.log:
            log.write(Text("Press s to start training (r resumes an earlier run, f starts over).", style="dim"))
        self.draw_status(job)

    def draw_phases(self, job: JobState) -> None:
        self.query_one("#phase-list", PhaseList).show(list(job.phases.values()))
        bar = self.query_one("#phase-bar", ProgressBar)
        msg = self.query_one("#phase-message", Static)
        ph = job.running_phase
        if ph is None:
            done = sum(p.status in ("done", "skipped") for p in job.phases.values())
            bar.update(total=max(1, len(job.phases)), progress=done)
            msg.update(Text("Overall", style="dim"))
            return
        label = PHASE_LABELS.get(ph.name, ph.name)
        msg.update(Text(f"{label}: {ph.message}"[:80], no_wrap=True, overflow="ellipsis"))
        if ph.total:
            bar.update(total=ph.total, progress=min(ph.done, ph.total))
        elif self.app.deterministic:
            bar.update(total=1, progress=0)
        else:
            bar.update(total=None)

    def draw_status(self, job: JobState) -> None:
        status = self.query_one("#dash-status", Static)
        result = self.query_one("#dash-result", Static)
        name = escape(self.project_name)
        if job.running:
            where = PHASE_LABELS.get(job.current or "", job.current or "starting")
            extra = " — stopping at the next safe point…" if job.cancel_requested else ""
            status.update(f"[b]{name}[/b]: training — [b yellow]{escape(where)}[/b yellow]{extra}   "
                          "[dim]c cancels[/dim]")
        elif job.outcome == "ok":
            status.update(f"[b]{name}[/b]: [b green]finished[/b green]")
        elif job.outcome == "cancelled":
            status.update(f"[b]{name}[/b]: [yellow]cancelled[/yellow]; finished work is kept — "
                          "press r to resume")
        elif job.outcome == "failed":
            status.update(f"[b]{name}[/b]: [b red]failed[/b red] — the log says why; fix it and press s")
        else:
            status.update(f"[b]{name}[/b]: ready — s start, r resume, f start over")
        text = self.result_text(job)
        result.update(text or "")
        result.display = bool(text)

    def result_text(self, job: JobState) -> str:
        if job.running:
            return ""
        res: dict[str, Any] = job.result if (job.outcome == "ok" and isinstance(job.result, dict)) else {}
        model_path = res.get("model_path")
        threshold = res.get("threshold")
        metrics = dict(res.get("metrics") or {})
        if not model_path:
            summary = self.app.project_summary(self.project_name)
            if summary is None or not summary.model_exists:
                return ""
            ws = self.app.workspace
            model_path = ws.project(self.project_name).model_path(self.app.load_config(self.project_name))
            threshold = summary.threshold
            metrics = {"recall": summary.recall, "false_accepts_per_hour": summary.false_accepts_per_hour}
        rel = display_path(model_path, self.app.workspace.root)
        shown = []
        for key, label in (("recall", "recall"), ("false_accepts_per_hour", "false accepts/h"),
                           ("recall_at_target_fa", "recall at target FA")):
            if isinstance(metrics.get(key), int | float):
                shown.append(f"{label} {metrics[key]:.2f}")
        return (
            f"[b]Model[/b] {escape(rel)}  [b]threshold[/b] {fmt_float(threshold)}\n"
            f"{escape(', '.join(shown))} — press [b]e[/b] in the project view for how to use it"
        )

    def write_log(self, level: str, phase: str, message: str) -> None:
        text = Text()
        if phase:
            text.append(f"{phase}: ", style="dim")
        text.append(self.app.scrub(message).rstrip(), style=LOG_STYLES.get(level, ""))
        self.query_one("#dash-log", RichLog).write(text)
        self._log_lines += 1

    # ------------------------------------------------------------------ updates
    def job_updated(self, msg: JobMessage) -> None:
        job = self.job
        if isinstance(msg, JobLog):
            if self._log_lines == 0:
                self.query_one("#dash-log", RichLog).clear()
            self.write_log(msg.level, msg.phase, msg.message)
            return
        if isinstance(msg, MetricReported):
            if msg.name in METRICS:
                self.query_one(f"#metric-{msg.name}", MetricRow).show(job.metrics.get(msg.name, []))
            return
        if isinstance(msg, JobDone) and msg.outcome == "failed" and msg.error:
            self.write_log("error", "", msg.error)
        self.draw_phases(job)
        if not isinstance(msg, JobPhaseProgress):
            self.draw_status(job)

    # ------------------------------------------------------------------ actions
    def action_start(self) -> None:
        self.app.start_training(self.project_name, resume=False)

    def action_resume(self) -> None:
        self.app.start_training(self.project_name, resume=True)

    def action_start_over(self) -> None:
        self.app.confirm_start_over(self.project_name)

    def action_cancel(self) -> None:
        self.app.cancel_job(self.project_name)

    def action_back(self) -> None:
        self.app.pop_screen()
