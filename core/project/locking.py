"""One writer per project: an advisory lock file (``<project>/.lock``) naming who holds it.

The lock is an ``flock`` on the file, so the kernel releases it when the holder dies (even by
SIGKILL); the next writer sees the old holder's note, says it took the lock over, and goes on.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from core.errors import EasyOWWError

LOCK_NAME = ".lock"


class ProjectBusy(EasyOWWError):
    """Another easy-oww process (or job) is writing to this project."""


def _describe(info: dict) -> str:
    what = info.get("purpose", "another easy-oww command")
    pid = info.get("pid", "?")
    host = info.get("host", "")
    since = info.get("started", "")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return f"`easy-oww {what}` (pid {pid}{where}, since {since})"


class ProjectLock:
    """``with ProjectLock(path, "train"):`` — raises :class:`ProjectBusy` naming the holder."""

    def __init__(self, project_path: str | os.PathLike[str], purpose: str) -> None:
        self.path = Path(project_path) / LOCK_NAME
        self.purpose = purpose
        self._fd: int | None = None
        self.took_over: dict | None = None

    def _read_info(self, fd: int) -> dict:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            raw = os.read(fd, 4096).decode("utf-8", "replace")
            data = json.loads(raw) if raw.strip() else {}
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def acquire(self) -> ProjectLock:
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = self._read_info(fd)
            os.close(fd)
            raise ProjectBusy(
                f"Project {self.path.parent.name!r} is busy: {_describe(info)} is using it. "
                "Wait for it to finish (or stop it), then run this again."
            ) from None
        previous = self._read_info(fd)
        if previous.get("pid"):
            self.took_over = previous  # its holder died without releasing: the kernel freed the flock
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "purpose": self.purpose,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ProjectLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    @staticmethod
    def holder(project_path: str | os.PathLike[str]) -> dict | None:
        """Who holds the lock now (None if nobody)."""
        path = Path(project_path) / LOCK_NAME
        if not path.exists():
            return None
        fd = os.open(path, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.lseek(fd, 0, os.SEEK_SET)
                try:
                    return json.loads(os.read(fd, 4096) or b"{}")
                except ValueError:
                    return {}
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)
