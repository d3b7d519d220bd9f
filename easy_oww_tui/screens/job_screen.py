"""A screen that shows one job (training, a download, recording, a live test) and follows its updates."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.screen import Screen

from easy_oww_tui.messages import JobMessage, JobStateChanged


class JobScreen(Screen[Any]):
    """Subclasses set ``job_key`` (the job they show) and draw in ``redraw_all`` / ``job_updated``."""

    job_key: str = ""

    @on(JobStateChanged)
    def _job_state_changed(self, event: JobStateChanged) -> None:
        if event.project != self.job_key:
            return
        if event.source is None:  # started, or asked to stop: draw everything again
            self.redraw_all()
        else:
            self.job_updated(event.source)

    def redraw_all(self) -> None:
        """Draw the whole screen from the job's state."""

    def job_updated(self, msg: JobMessage) -> None:
        """Draw what ``msg`` (already folded into the job's state) changed."""
        self.redraw_all()
