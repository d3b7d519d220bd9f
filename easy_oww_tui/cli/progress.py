"""Render core events as Rich progress bars and log lines."""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from core import events as ev

OUTCOME_MARK = {"done": "[green]done[/]", "failed": "[red]failed[/]", "cancelled": "[yellow]cancelled[/]"}


class RichReporter:
    """Callable reporter: one progress bar per phase; warnings and logs printed above the bars."""

    def __init__(self, verbose: bool = False, console: Console | None = None) -> None:
        self.console = console or Console(stderr=False)
        self.verbose = verbose
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=self.console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.metrics: dict[str, float] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            self._handle(event)

    def _task(self, phase: str, total: int | None = None, description: str = "") -> TaskID:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(description or phase, total=total, note="")
        return self.tasks[phase]

    def _handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.PhaseStarted):
            tid = self._task(event.phase, event.total, event.description)
            self.progress.update(tid, total=event.total, description=event.description or event.phase)
        elif isinstance(event, ev.Progress):
            tid = self._task(event.phase, event.total)
            kw: dict[str, Any] = {"completed": event.done}
            if event.total is not None:
                kw["total"] = event.total
            if event.message:
                kw["note"] = event.message
            self.progress.update(tid, **kw)
        elif isinstance(event, ev.Metric):
            self.metrics[event.name] = event.value
            if event.phase in self.tasks:
                note = "  ".join(f"{k} {v:.4g}" for k, v in self.metrics.items() if not k.startswith("_"))
                self.progress.update(self.tasks[event.phase], note=note)
        elif isinstance(event, ev.LogLine):
            if event.level == "warning":
                self.progress.console.print(f"[yellow]Warning:[/] {event.message}")
            elif event.level == "error":
                self.progress.console.print(f"[red]Error:[/] {event.message}")
            elif self.verbose:
                self.progress.console.print(f"[dim]{event.message}[/]")
        elif isinstance(event, ev.PhaseFinished):
            tid = self._task(event.phase)
            task = self.progress.tasks[[t.id for t in self.progress.tasks].index(tid)]
            if event.ok and task.total is not None:
                self.progress.update(tid, completed=task.total)
            took = f" ({event.seconds:.1f} s)" if event.seconds is not None else ""
            if event.outcome == "skipped":  # "skipped (already done)", "features are up to date"...
                note = f"[dim]{event.message or 'skipped'}[/]"
            else:
                note = f"{OUTCOME_MARK.get(event.outcome, event.outcome)}{took} {event.message}".strip()
            self.progress.update(tid, note=note)
        # Level events are for live meters (recording); ignored here.
