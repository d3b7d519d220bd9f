"""Typed messages the app's job workers post to the App (one per core event, plus job outcomes).

The core reports plain frozen dataclasses from a worker thread; :func:`easy_oww_tui.jobs.make_reporter`
turns each into one of these and posts it with ``App.post_message`` (thread-safe). Bursts of progress
and level messages are coalesced by :meth:`Message.can_replace`: when the UI falls behind, only the
newest of a run of equivalent messages is handled.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class JobMessage(Message):
    """Base for everything a job reports; ``project`` names the job (one job per project)."""

    def __init__(self, project: str) -> None:
        super().__init__()
        self.project = project


class JobPhaseStarted(JobMessage):
    def __init__(self, project: str, phase: str, total: int | None, description: str) -> None:
        super().__init__(project)
        self.phase = phase
        self.total = total
        self.description = description


class JobPhaseProgress(JobMessage):
    def __init__(self, project: str, phase: str, done: int, total: int | None, message: str) -> None:
        super().__init__(project)
        self.phase = phase
        self.done = done
        self.total = total
        self.message = message

    def can_replace(self, message: Message) -> bool:
        """A newer progress report for the same phase supersedes this one."""
        return (
            isinstance(message, JobPhaseProgress)
            and message.project == self.project
            and message.phase == self.phase
        )


class MetricReported(JobMessage):
    def __init__(self, project: str, phase: str, name: str, value: float, step: int | None) -> None:
        super().__init__(project)
        self.phase = phase
        self.name = name
        self.value = value
        self.step = step


class JobLog(JobMessage):
    def __init__(self, project: str, message: str, level: str, phase: str) -> None:
        super().__init__(project)
        self.message = message
        self.level = level
        self.phase = phase


class JobPhaseFinished(JobMessage):
    """A phase ended; ``status`` is core's: "done", "skipped", "failed" or "cancelled"."""

    def __init__(self, project: str, phase: str, ok: bool, message: str, seconds: float | None,
                 status: str = "") -> None:
        super().__init__(project)
        self.phase = phase
        self.ok = ok
        self.message = message
        self.seconds = seconds
        self.status = status or ("done" if ok else "failed")


class LevelChanged(JobMessage):
    """Microphone level while recording."""

    def __init__(self, project: str, rms_db: float, peak_db: float, clipped: bool) -> None:
        super().__init__(project)
        self.rms_db = rms_db
        self.peak_db = peak_db
        self.clipped = clipped

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LevelChanged) and message.project == self.project


class LiveScore(JobMessage):
    """One 80 ms frame of a live wake-word test: the model's score and the microphone level."""

    def __init__(self, project: str, time_s: float, score: float, rms_db: float, peak_db: float,
                 clipped: bool) -> None:
        super().__init__(project)
        self.time_s = time_s
        self.score = score
        self.rms_db = rms_db
        self.peak_db = peak_db
        self.clipped = clipped

    def can_replace(self, message: Message) -> bool:
        """Only the newest frame matters to the meters (detections arrive as their own messages)."""
        return isinstance(message, LiveScore) and message.project == self.project


class WakeWordDetected(JobMessage):
    """The live test heard the wake word ``time_s`` seconds of audio after it started (never coalesced)."""

    def __init__(self, project: str, time_s: float, score: float, index: int) -> None:
        super().__init__(project)
        self.time_s = time_s
        self.score = score
        self.index = index


class JobDone(JobMessage):
    """A job ended. ``outcome`` is "ok", "cancelled" or "failed"; ``error`` is the user-facing text."""

    def __init__(self, project: str, kind: str, outcome: str, result: Any = None, error: str = "") -> None:
        super().__init__(project)
        self.kind = kind
        self.outcome = outcome
        self.result = result
        self.error = error


class JobStateChanged(Message):
    """Posted by the App to each open screen after job ``project`` changed; ``source`` is the worker's message
    (None: the job started or was asked to stop). Screens handle it with ``@on`` for the job they show."""

    bubble = False

    def __init__(self, project: str, source: JobMessage | None) -> None:
        super().__init__()
        self.project = project
        self.source = source
