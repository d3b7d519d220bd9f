"""Events the core reports while it works, and the cancel token it obeys.

Front ends pass ``report`` (any callable taking one event) and ``cancel``
(a :class:`threading.Event`). Events are small frozen dataclasses so they can be
handed across threads safely.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import Cancelled


@dataclass(frozen=True)
class PhaseStarted:
    phase: str
    total: int | None = None
    description: str = ""


@dataclass(frozen=True)
class Progress:
    phase: str
    done: int
    total: int | None = None
    message: str = ""


@dataclass(frozen=True)
class Metric:
    phase: str
    name: str
    value: float
    step: int | None = None


@dataclass(frozen=True)
class Level:
    """Audio input level (dBFS) for a live meter."""

    rms_db: float
    peak_db: float
    clipped: bool = False


@dataclass(frozen=True)
class LogLine:
    message: str
    level: str = "info"  # "info" | "warning" | "error"
    phase: str = ""


FINISH_STATUSES = ("done", "skipped", "failed", "cancelled")


@dataclass(frozen=True)
class PhaseFinished:
    """A phase ended. ``status``: "done", "skipped" (nothing to do), "failed" or "cancelled"; empty means
    "done" when ``ok``, else "failed"."""

    phase: str
    ok: bool = True
    message: str = ""
    seconds: float | None = None
    status: str = ""

    @property
    def outcome(self) -> str:
        return self.status or ("done" if self.ok else "failed")


Event = PhaseStarted | Progress | Metric | Level | LogLine | PhaseFinished
Reporter = Callable[[Event], None]
CancelToken = threading.Event


def null_report(event: Event) -> None:
    """A reporter that drops every event."""


def check_cancel(cancel: CancelToken | None) -> None:
    """Raise :class:`Cancelled` if the user asked to stop."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def warn(report: Reporter, message: str, phase: str = "") -> None:
    report(LogLine(message=message, level="warning", phase=phase))


def log(report: Reporter, message: str, phase: str = "") -> None:
    report(LogLine(message=message, level="info", phase=phase))
