"""Single keys for the CLI's interactive commands (record, test): cbreak mode in a terminal, one key per line
from a pipe, so sessions can be scripted (``printf 'f\\nq\\n' | easy-oww test NAME``)."""

from __future__ import annotations

import os
import select
import stat
import sys
import time
from typing import Any


def stdin_is_pipe() -> bool:
    """True when keys are piped in (a FIFO), not a terminal, a file or /dev/null."""
    try:
        return stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return False


class KeyReader:
    """Single keys from a terminal (cbreak mode), or one key per line from a pipe."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdin
        try:
            self.fd = self.stream.fileno()
            self.tty = os.isatty(self.fd)
        except (AttributeError, OSError, ValueError):
            self.fd, self.tty = -1, False
        self._saved: Any = None

    def __enter__(self) -> KeyReader:
        if self.tty:
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    @staticmethod
    def _name(ch: str) -> str:
        if ch in ("\r", "\n"):
            return "enter"
        if ch == " ":
            return "space"
        if ch in ("\x1b", "\x04"):
            return "q"
        return ch.lower()

    def read_key(self) -> str:
        """The next key: 'enter', 'space', a letter, or 'eof' when input ended."""
        if self.tty:
            data = os.read(self.fd, 1)
            return self._name(data.decode(errors="ignore")) if data else "eof"
        line = self.stream.readline()
        if line == "":
            return "eof"
        text = line.strip("\r\n")
        return self._name(text.strip()[:1]) if text.strip() else ("space" if text else "enter")

    def poll_key(self, timeout: float) -> str | None:
        """A key pressed within ``timeout`` seconds (terminal only), else None."""
        if not self.tty:
            time.sleep(timeout)
            return None
        ready, _, _ = select.select([self.fd], [], [], timeout)
        return self.read_key() if ready else None
