"""Fault injection for reliability tests: SIGKILL this process at a chosen point of a phase.

Set ``EASY_OWW_KILL_AT="<phase>:<n>"`` and the process kills itself (SIGKILL, no clean-up) at the
``n``-th progress event of ``<phase>``; if that phase ends first, at the next progress event of a
later phase. ``EASY_OWW_TALLY_PROGRESS=1`` writes one ``[progress] <phase>`` line per progress event
to the project log, so a test can count the events of an uninterrupted run. Unset, both cost nothing.
"""

from __future__ import annotations

import os
import signal

from core import events as ev

KILL_ENV = "EASY_OWW_KILL_AT"
TALLY_ENV = "EASY_OWW_TALLY_PROGRESS"


class KillSwitch:
    def __init__(self, spec: str | None, order: list[str]) -> None:
        self.phase: str | None = None
        self.n = 0
        self.seen = 0
        self.passed = False
        self.order = order
        if spec and ":" in spec:
            phase, _, n = spec.partition(":")
            if phase in order and n.isdigit() and int(n) > 0:
                self.phase, self.n = phase, int(n)

    @classmethod
    def from_env(cls, order: list[str]) -> KillSwitch | None:
        spec = os.environ.get(KILL_ENV)
        switch = cls(spec, order)
        return switch if switch.phase else None

    def observe(self, event: ev.Event) -> None:
        assert self.phase is not None
        phase = getattr(event, "phase", "")
        if phase not in self.order:
            return
        later = self.order.index(phase) > self.order.index(self.phase)
        if isinstance(event, ev.PhaseFinished) and phase == self.phase:
            self.passed = True
        elif isinstance(event, ev.Progress):
            if phase == self.phase:
                self.seen += 1
                if self.seen >= self.n:
                    self._kill()
            elif later and (self.passed or self.seen == 0):
                self._kill()

    @staticmethod
    def _kill() -> None:
        os.kill(os.getpid(), signal.SIGKILL)


def tally_enabled() -> bool:
    return os.environ.get(TALLY_ENV) == "1"
