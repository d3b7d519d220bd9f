"""The list of pipeline phases with their state, and the metric rows with a trend sparkline."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Sparkline, Static

from core.pipeline.phases import PHASE_LABELS
from easy_oww_tui.jobs import PhaseState

STATE_STYLE = {
    "waiting": ("·", "dim"), "running": ("▶", "bold yellow"), "done": ("✔", "green"),
    "skipped": ("✔", "green"), "failed": ("✘", "bold red"), "cancelled": ("■", "yellow"),
}
METRIC_LABELS = {"loss": "Loss", "val_loss": "Val loss", "recall": "Recall", "false_accept_rate": "False acc."}


class PhaseList(Static):
    """One line per phase: mark, name, state (and seconds unless deterministic)."""

    def __init__(self, show_times: bool = True, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.show_times = show_times

    def show(self, phases: list[PhaseState]) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, ph in enumerate(phases):
            mark, style = STATE_STYLE.get(ph.status, ("?", ""))
            if i:
                text.append("\n")
            text.append(f"{mark} ", style=style)
            text.append(f"{PHASE_LABELS.get(ph.name, ph.name):<14}", style="bold" if ph.status == "running" else "")
            state = ph.status
            if ph.status == "running" and ph.total:
                state = f"{min(ph.done, ph.total)}/{ph.total}"
            elif ph.status == "skipped":
                state = "done earlier"
            text.append(f"{state:<12}", style=style)
            if self.show_times and ph.seconds and ph.status in ("done", "failed", "cancelled"):
                text.append(f"{ph.seconds:6.1f}s", style="dim")
        self.update(text)


def trend(values: list[float]) -> str:
    if len(values) < 2:
        return " "
    back = values[-min(len(values), 10)]
    last = values[-1]
    if abs(last - back) <= 1e-3 * max(1.0, abs(back)):
        return "→"
    return "↑" if last > back else "↓"


class MetricRow(Horizontal):
    """"Loss 0.123 ↓" and a sparkline of its history."""

    def __init__(self, name: str) -> None:
        super().__init__(classes="metric-row", id=f"metric-{name}")
        self.metric = name

    def compose(self) -> ComposeResult:
        yield Label(f"{METRIC_LABELS.get(self.metric, self.metric):<10} -", classes="metric-value")
        yield Sparkline([], classes="metric-spark", summary_function=max)

    def show(self, values: list[float]) -> None:
        label = METRIC_LABELS.get(self.metric, self.metric)
        value = f"{values[-1]:.3f}" if values else "-"
        self.query_one(Label).update(f"{label:<10} {value:>6} {trend(values)}")
        self.query_one(Sparkline).data = list(values[-60:])
