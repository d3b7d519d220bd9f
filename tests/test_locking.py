"""One writer per project: a second writer is refused by name; a killed holder's lock is taken over."""

import os
import signal
import subprocess
import sys
import time

import pytest

from core.project.locking import ProjectBusy, ProjectLock


def test_second_writer_is_refused_naming_the_holder(tmp_path):
    with ProjectLock(tmp_path, "train"):
        with pytest.raises(ProjectBusy) as err:
            ProjectLock(tmp_path, "record").acquire()
        msg = str(err.value)
        assert "`easy-oww train`" in msg and f"pid {os.getpid()}" in msg and "Wait for it" in msg
        assert ProjectLock.holder(tmp_path)["purpose"] == "train"
    assert ProjectLock.holder(tmp_path) is None
    with ProjectLock(tmp_path, "record") as lock:
        assert lock.took_over is None


def test_lock_of_killed_process_is_taken_over(tmp_path):
    code = (
        "import sys, time\n"
        "from core.project.locking import ProjectLock\n"
        f"ProjectLock({str(tmp_path)!r}, 'train').acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(ProjectBusy, match=f"pid {proc.pid}"):
            ProjectLock(tmp_path, "generate").acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    time.sleep(0.05)
    with ProjectLock(tmp_path, "generate") as lock:
        assert lock.took_over and lock.took_over["pid"] == proc.pid
