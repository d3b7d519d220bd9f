"""Atomic file writes: a temp file in the same folder, fsync, then rename."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from core.errors import EasyOWWError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _disk_nearly_full(folder: Path, margin: int = 1 << 20) -> bool:
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


def _disk_full_message(path: Path) -> str:
    return (
        f"The disk is full while writing {path}. Free some space (or point --workspace / "
        "EASY_OWW_HOME at a bigger disk) and run the command again; finished files are kept."
    )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temp file keeps ``path``'s suffix (so libraries that pick a format from the
    extension still work) and is removed on any error.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    sfx = suffix if suffix is not None else target.suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{sfx}", dir=target.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC or _disk_nearly_full(target.parent):
            raise EasyOWWError(_disk_full_message(target)) from exc
        raise
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        # Some writers (libsndfile, onnx, torch) report a full disk as their own error type.
        if not isinstance(exc, EasyOWWError) and _disk_nearly_full(target.parent):
            raise EasyOWWError(_disk_full_message(target)) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256", cancel=None) -> str:
    """Hex digest of a file, read in 1 MiB blocks; ``cancel`` (a threading.Event) is checked per block."""
    import hashlib

    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            if cancel is not None and cancel.is_set():
                from core.errors import Cancelled

                raise Cancelled()
            h.update(block)
    return h.hexdigest()


def remove_stale_temps(folder: str | os.PathLike[str]) -> int:
    """Delete temp files left by a killed writer (``.*.tmp*``); return how many."""
    n = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for p in folder.glob(".*.tmp*"):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n
