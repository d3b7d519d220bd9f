"""Long jobs (training, downloads) as seen by the app: their state, and the thread-side runners.

The App owns the workers (``@work(thread=True)``); the functions here run inside them. They turn
core events into :mod:`easy_oww_tui.messages` and post them to the App (``post`` must be thread-safe,
e.g. ``App.post_message``). :class:`JobState` is only touched on the UI thread, by the App's handlers.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from textual.message import Message

from core.pipeline.phases import PHASES
from easy_oww_tui.messages import (
    JobDone,
    JobLog,
    JobMessage,
    JobPhaseFinished,
    JobPhaseProgress,
    JobPhaseStarted,
    LevelChanged,
    LiveScore,
    MetricReported,
    WakeWordDetected,
)

METRICS: list[str] = ["loss", "val_loss", "recall", "false_accept_rate"]
DOWNLOADS_KEY = "@downloads"

Post = Callable[[Message], Any]



class JobKind(StrEnum):
    """What a job does; a job's ``kind`` is ``<JobKind>`` or ``<JobKind>:<detail>`` ("download:catalog")."""

    TRAINING = "training"
    DOWNLOAD = "download"
    RECORD = "record"
    LIVE_TEST = "live-test"
    REFINE = "refine"
    PLAY = "play"

    @classmethod
    def of(cls, kind: str) -> JobKind:
        """The kind named by ``kind`` (its part before ":")."""
        return cls(kind.split(":", 1)[0])

    def detail(self, what: str) -> str:
        return f"{self.value}:{what}"

@dataclass
class PhaseState:
    name: str
    status: str = "waiting"  # waiting | running | done | skipped | failed | cancelled
    done: int = 0
    total: int | None = None
    message: str = ""
    seconds: float | None = None


@dataclass
class JobState:
    """Everything a dashboard shows about one project's job; survives leaving the screen."""

    project: str
    kind: str = JobKind.TRAINING
    phases: dict[str, PhaseState] = field(default_factory=dict)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    log: deque[tuple[str, str, str]] = field(default_factory=lambda: deque(maxlen=2000))
    running: bool = False
    outcome: str | None = None  # ok | cancelled | failed
    result: Any = None
    error: str = ""
    current: str | None = None
    started: float = 0.0
    cancel_requested: bool = False

    @classmethod
    def fresh(cls, project: str, kind: str = JobKind.TRAINING, phases: list[str] | None = None) -> JobState:
        names = PHASES if phases is None else phases
        return cls(project=project, kind=kind, phases={p: PhaseState(p) for p in names})

    def phase(self, name: str) -> PhaseState:
        if name not in self.phases:
            self.phases[name] = PhaseState(name)
        return self.phases[name]

    def apply(self, msg: JobMessage) -> None:
        """Fold one message into the state."""
        phase = getattr(msg, "phase", None)
        if (self.kind == JobKind.TRAINING and phase and phase not in PHASES
                and isinstance(msg, JobPhaseStarted | JobPhaseProgress | JobPhaseFinished)):
            # steps after the six phases (the TFLite copy): a log line, not a phase row
            if isinstance(msg, JobPhaseFinished):
                level = "info" if msg.ok else "warning"
                self.log.append((level, phase, msg.message or ("done" if msg.ok else "failed")))
            return
        if isinstance(msg, JobPhaseStarted):
            ph = self.phase(msg.phase)
            ph.status, ph.done, ph.total, ph.message = "running", 0, msg.total, msg.description
            self.current = msg.phase
        elif isinstance(msg, JobPhaseProgress):
            ph = self.phase(msg.phase)
            if ph.status == "waiting":
                ph.status = "running"
            ph.done, ph.total = msg.done, msg.total
            if msg.message:
                ph.message = msg.message
            self.current = msg.phase
        elif isinstance(msg, JobPhaseFinished):
            ph = self.phase(msg.phase)
            ph.status = msg.status
            ph.message, ph.seconds = msg.message, msg.seconds
            if ph.status == "done" and ph.total:
                ph.done = ph.total
            if self.current == msg.phase:
                self.current = None
        elif isinstance(msg, MetricReported):
            values = self.metrics.setdefault(msg.name, [])
            values.append(float(msg.value))
            del values[:-300]
        elif isinstance(msg, JobLog):
            self.log.append((msg.level, msg.phase, msg.message))
        elif isinstance(msg, JobDone):
            self.running = False
            self.outcome, self.result, self.error = msg.outcome, msg.result, msg.error
            if msg.outcome == "failed" and msg.error:
                self.log.append(("error", "", msg.error))
            for ph in self.phases.values():
                if ph.status == "running":
                    ph.status = "cancelled" if msg.outcome == "cancelled" else "failed"
            self.current = None

    @property
    def running_phase(self) -> PhaseState | None:
        return self.phases.get(self.current) if self.current else None


def make_reporter(post: Post, project: str) -> Callable[[Any], None]:
    """A core ``report`` callable that posts each core event as a typed message."""
    from core import events as ev

    def report(event: Any) -> None:
        msg: JobMessage | None = None
        if isinstance(event, ev.PhaseStarted):
            msg = JobPhaseStarted(project, event.phase, event.total, event.description)
        elif isinstance(event, ev.Progress):
            msg = JobPhaseProgress(project, event.phase, event.done, event.total, event.message)
        elif isinstance(event, ev.Metric):
            msg = MetricReported(project, event.phase, event.name, event.value, event.step)
        elif isinstance(event, ev.LogLine):
            msg = JobLog(project, event.message, event.level, event.phase)
        elif isinstance(event, ev.PhaseFinished):
            msg = JobPhaseFinished(project, event.phase, event.ok, event.message, event.seconds, event.outcome)
        elif isinstance(event, ev.Level):
            msg = LevelChanged(project, event.rms_db, event.peak_db, event.clipped)
        if msg is not None:
            post(msg)

    return report


def make_live_reporter(post: Post, key: str) -> Callable[[Any], None]:
    """The ``report`` for a live wake-word test (core.audio.live_test.LiveDetector).

    The detector reports ``Level`` then ``Score`` for every 80 ms frame; they are posted as one
    :class:`LiveScore` (so a UI that falls behind coalesces whole frames), each ``Detection`` as a
    :class:`WakeWordDetected`, anything else as :func:`make_reporter` does.
    """
    from core import events as ev
    from core.audio.live_test import Detection, Score

    other = make_reporter(post, key)
    last_level: list[Any] = [None]

    def report(event: Any) -> None:
        if isinstance(event, ev.Level):
            last_level[0] = event
        elif isinstance(event, Score):
            lv = last_level[0]
            post(LiveScore(key, event.time_s, event.score, lv.rms_db if lv else -120.0,
                           lv.peak_db if lv else -120.0, bool(lv and lv.clipped)))
        elif isinstance(event, Detection):
            post(WakeWordDetected(key, event.time_s, event.score, event.index))
        else:
            other(event)

    return report


def summary_to_dict(summary: Any) -> dict[str, Any]:
    """A plain dict from the orchestrator's TrainingSummary (or anything dataclass/dict-like)."""
    if summary is None:
        return {}
    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        return {f.name: getattr(summary, f.name) for f in dataclasses.fields(summary)}
    if isinstance(summary, dict):
        return dict(summary)
    return {"result": summary}


def _run(post: Post, project: str, kind: str, fn: Callable[[], Any]) -> None:
    """Run ``fn`` and always post exactly one JobDone describing how it ended."""
    from core.errors import Cancelled, EasyOWWError

    try:
        result = fn()
    except Cancelled as exc:
        post(JobDone(project, kind, "cancelled", error=str(exc)))
    except EasyOWWError as exc:
        post(JobDone(project, kind, "failed", error=str(exc)))
    except Exception as exc:  # a bug: keep the app alive, show it, log the traceback
        post(JobLog(project, traceback.format_exc(), "error", ""))
        post(JobDone(project, kind, "failed", error=f"Unexpected error: {type(exc).__name__}: {exc}"))
    else:
        post(JobDone(project, kind, "ok", result=summary_to_dict(result)))


def run_training_job(
    post: Post, project: str, project_path: Path, workspace_root: Path, cancel: Any,
    resume: bool = False, force: bool = False,
) -> None:
    """Thread side of a training job: the real core orchestrator, events posted as messages."""

    def go() -> Any:
        from core.pipeline.orchestrator import run_training

        return run_training(
            project_path, workspace_root, resume=resume, force=force,
            report=make_reporter(post, project), cancel=cancel,
        )

    _run(post, project, JobKind.TRAINING, go)


def run_callable_job(post: Post, key: str, kind: str, fn: Callable[[Any, Any], Any], cancel: Any) -> None:
    """Thread side of any other core job (a download, a recording take): ``fn(report, cancel)``."""
    _run(post, key, kind, lambda: fn(make_reporter(post, key), cancel))


def prepare_child_processes() -> None:
    """Start multiprocessing's resource tracker with the real stderr, on the UI thread.

    While a Textual app runs, ``sys.stderr`` is its print capture whose ``fileno()`` is -1; the
    tracker's first start passes that descriptor to the child and fails ("bad value(s) in
    fds_to_keep"), which breaks every ``spawn`` process pool the core starts (e.g. clip synthesis).
    """
    import sys
    from multiprocessing import resource_tracker

    saved = sys.stderr
    try:
        if sys.__stderr__ is not None:
            sys.stderr = sys.__stderr__
        resource_tracker.ensure_running()
    except Exception:
        pass
    finally:
        sys.stderr = saved


def now() -> float:
    return time.monotonic()
