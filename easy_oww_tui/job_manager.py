"""The app's long jobs, one per key: their state, their cancel tokens, and a finished project's state on disk.

Kept apart from :class:`~easy_oww_tui.app.EasyOWWApp`, which only starts the thread workers (a worker must be
owned by a node) and forwards each job message here, then to the screens as a
:class:`~easy_oww_tui.messages.JobStateChanged`. No Textual in this module: it is plain state, tested alone.
"""

from __future__ import annotations

import threading
from typing import Any

from easy_oww_tui.jobs import PHASES, JobKind, JobState
from easy_oww_tui.messages import JobMessage


class JobManager:
    """Job states by key (a project name, ``<project>#record``, ``@downloads``) and their cancel tokens."""

    def __init__(self, workspace: Any) -> None:
        self.workspace = workspace
        self.jobs: dict[str, JobState] = {}
        self._cancels: dict[str, threading.Event] = {}

    def is_running(self, key: str) -> bool:
        job = self.jobs.get(key)
        return job is not None and job.running

    def running(self) -> list[JobState]:
        return [j for j in self.jobs.values() if j.running]

    def begin(self, key: str, kind: str = JobKind.TRAINING, phases: list[str] | None = None) -> threading.Event:
        """A fresh running state for ``key``; returns the job's cancel token."""
        job = JobState.fresh(key, kind=kind, phases=phases)
        job.running = True
        self.jobs[key] = job
        cancel = self._cancels[key] = threading.Event()
        return cancel

    def cancel(self, key: str) -> bool:
        """Ask the job under ``key`` to stop at its next safe point; False when nothing runs there."""
        job = self.jobs.get(key)
        if job is None or not job.running:
            return False
        job.cancel_requested = True
        event = self._cancels.get(key)
        if event is not None:
            event.set()
        return True

    def cancel_all(self) -> list[JobState]:
        """Cancel every running job; returns them."""
        running = self.running()
        for job in running:
            self.cancel(job.project)
        return running

    def apply(self, msg: JobMessage) -> JobState | None:
        """Fold a worker's message into its job's state (None: no such job, e.g. the project was deleted)."""
        job = self.jobs.get(msg.project)
        if job is None:
            return None
        job.apply(msg)
        return job

    def finished(self, key: str) -> None:
        self._cancels.pop(key, None)

    def forget(self, key: str) -> None:
        self.jobs.pop(key, None)
        self._cancels.pop(key, None)

    def state(self, name: str) -> JobState:
        """The current job's state, else the last one, else what the project folder says."""
        job = self.jobs.get(name)
        return job if job is not None else self.idle_state(name)

    def idle_state(self, name: str) -> JobState:
        """Phases already done on disk (with the current settings' fingerprints), in order."""
        state = JobState.fresh(name, phases=list(PHASES))
        try:
            from core.pipeline.orchestrator import ProjectState, phase_fingerprint

            project = self.workspace.project(name)
            cfg = project.load_config()
            disk = ProjectState(project.state_path)
            for phase in PHASES:
                if not disk.is_done(phase, phase_fingerprint(cfg, phase)):
                    break
                state.phases[phase].status = "done"
                state.phases[phase].seconds = disk.seconds(phase)
        except Exception:  # noqa: BLE001 - a damaged project shows as not started; its screen says why
            pass
        return state
