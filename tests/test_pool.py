"""The worker pool: results arrive, and workers do not outlive a killed parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.pool import run_chunks

ROOT = Path(__file__).resolve().parent.parent

_PARENT = """
import os, sys, time
sys.path.insert(0, {root!r})
from core.pool import run_chunks


def _nothing(*args):
    pass


def sleepy(folder):
    open(os.path.join(folder, "worker_%d" % os.getpid()), "w").close()
    time.sleep(120)
    return 0


if __name__ == "__main__":
    run_chunks(sleepy, [sys.argv[1]] * 2, lambda result: None, 2, None, _nothing)
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for a PID 1 that may never reap it)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] != "Z"


def _slow_square(x: int) -> int:
    time.sleep(1.5)  # longer than the workers' parent check, which must not end them while the parent lives
    return x * x


def _nothing(*args: object) -> None:
    pass


def test_results_arrive_from_workers_slower_than_the_parent_check() -> None:
    got: list[int] = []
    run_chunks(_slow_square, [1, 2, 3, 4], got.append, 2, None, _nothing)
    assert sorted(got) == [1, 4, 9, 16]


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads process states from /proc")
def test_workers_end_when_their_parent_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(_PARENT.format(root=str(ROOT)))
    folder = tmp_path / "pids"
    folder.mkdir()
    parent = subprocess.Popen([sys.executable, str(script), str(folder)])
    try:
        deadline = time.monotonic() + 60
        while len(list(folder.iterdir())) < 2 and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.1)
        workers = [int(p.name.split("_")[1]) for p in folder.iterdir()]
        assert len(workers) == 2 and all(_running(w) for w in workers)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 15
    while any(_running(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [w for w in workers if _running(w)]
    for w in left:  # do not leave them behind if the test fails
        os.kill(w, signal.SIGKILL)
    assert not left, "pool workers kept running after their parent was killed"
