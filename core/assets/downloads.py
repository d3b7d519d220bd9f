"""Resumable, verified HTTP downloads and safe archive extraction.

Every download goes to ``<dest>.part`` first, resumes with ``Range: bytes=N-`` when a
``.part`` file is left over (a killed run, a dropped connection), is checked against its
size and checksum, and is renamed onto ``dest`` only when complete. Hugging Face files use
plain HTTP on the Hub's ``/resolve/`` URLs (built by ``huggingface_hub.hf_hub_url`` from
``HF_ENDPOINT`` at call time, token from ``HF_TOKEN`` or ``hf auth login``).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.assets.checksums import verify
from core.assets.net_errors import (
    CONNECT_TIMEOUT,
    DownloadError,
    _host,
    _http_error,
    _network_error,
    _session,
    _write_error,
    check_free_space,
    human_size,
)
from core.errors import Cancelled
from core.events import (
    CancelToken,
    Event,
    PhaseFinished,
    PhaseStarted,
    Progress,
    Reporter,
    check_cancel,
    null_report,
    warn,
)

CHUNK_SIZE = 64 * 1024  # also the most a dropped connection can lose


# ----------------------------------------------------------------------------- helpers


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    if not value:
        return None
    m = _CONTENT_RANGE.match(value.strip())
    if not m:
        return None
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), int(m.group(2)), total


def _unsatisfiable_total(value: str | None) -> int | None:
    m = re.match(r"bytes\s+\*/(\d+)", (value or "").strip())
    return int(m.group(1)) if m else None


def _pause(seconds: float, cancel: CancelToken | None) -> None:
    if cancel is not None and hasattr(cancel, "wait"):
        cancel.wait(seconds)
    else:
        time.sleep(seconds)
    check_cancel(cancel)


class _Throttle:
    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.last = 0.0

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            return True
        return False


# ----------------------------------------------------------------------------- one file


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None = None,
    expected_size: int | None = None,
    report: Reporter = null_report,
    cancel: CancelToken | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
    *,
    md5: str | None = None,
    phase: str = "download",
    description: str = "",
    connect_timeout: float = CONNECT_TIMEOUT,
    retries: int = 3,
    session: Any = None,
) -> Path:
    """Download ``url`` to ``dest`` (resumable, verified, atomic); return ``dest``.

    Writes ``dest.part`` and resumes it with a Range request; a server that ignores Range
    (HTTP 200) restarts from byte 0. A dropped connection is resumed up to ``retries``
    times, then the ``.part`` file is kept for the next run. A checksum mismatch deletes
    the ``.part`` file. ``dest`` exists only once the whole file is verified; an existing
    ``dest`` (of the expected size) is returned at once.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    desc = description or dest.name
    if dest.is_file() and (expected_size is None or dest.stat().st_size == expected_size):
        report(PhaseStarted(phase, total=expected_size, description=desc))
        report(PhaseFinished(phase, ok=True, message="already downloaded", status="skipped"))
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(exc, dest.parent) from exc
    started = time.monotonic()
    report(PhaseStarted(phase, total=expected_size, description=desc))
    own_session = session is None
    sess = _session() if own_session else session
    try:
        _fetch_to_part(url, part, sess, sha256=sha256, md5=md5, expected_size=expected_size,
                       report=report, cancel=cancel, headers=headers or {}, timeout=timeout,
                       connect_timeout=connect_timeout, retries=retries, phase=phase, desc=desc)
        os.replace(part, dest)
    except BaseException as exc:
        msg = "cancelled" if isinstance(exc, (Cancelled, KeyboardInterrupt)) else "failed"
        report(PhaseFinished(phase, ok=False, message=msg, seconds=time.monotonic() - started))
        raise
    finally:
        if own_session:
            sess.close()
    report(PhaseFinished(phase, ok=True, seconds=time.monotonic() - started))
    return dest


def _fetch_to_part(
    url: str, part: Path, sess: Any, *, sha256: str | None, md5: str | None, expected_size: int | None,
    report: Reporter, cancel: CancelToken | None, headers: dict[str, str], timeout: float,
    connect_timeout: float, retries: int, phase: str, desc: str,
) -> None:
    import requests

    hasher_names = [n for n, v in (("sha256", sha256), ("md5", md5)) if v]
    if not hasher_names and expected_size is None:
        # Nothing to check a resumed file against (it may have changed at the source): start over.
        part.unlink(missing_ok=True)
    attempts_left = retries
    throttle = _Throttle()
    total: int | None = expected_size
    while True:
        check_cancel(cancel)
        offset = part.stat().st_size if part.exists() and part.is_file() else 0
        if expected_size is not None and offset > expected_size:
            part.unlink()
            offset = 0
        if expected_size is not None and offset == expected_size and offset > 0:
            break  # the .part is complete already; just verify it
        req_headers = {"Accept-Encoding": "identity", **headers}
        if offset:
            req_headers["Range"] = f"bytes={offset}-"
        try:
            resp = sess.get(url, headers=req_headers, stream=True, timeout=(connect_timeout, timeout))
        except requests.exceptions.RequestException as exc:
            raise _network_error(exc, url, timeout, connect_timeout) from exc
        with resp:
            if resp.status_code == 416 and offset:
                have = _unsatisfiable_total(resp.headers.get("Content-Range"))
                if have is not None and have == offset:
                    break  # the server says we have every byte
                part.unlink(missing_ok=True)
                if attempts_left <= 0:
                    raise DownloadError(f"The server refused to resume {url} (HTTP 416). Run again to start over.")
                attempts_left -= 1
                continue
            if resp.status_code in (429, 500, 502, 503, 504) and attempts_left > 0:
                attempts_left -= 1  # a busy or hiccuping server: wait a little and ask again
                _pause(0.5 * (retries - attempts_left), cancel)
                continue
            if resp.status_code >= 400:
                raise _http_error(resp.status_code, url)
            mode = "wb"
            if offset and resp.status_code == 206:
                cr = _parse_content_range(resp.headers.get("Content-Range"))
                length = resp.headers.get("Content-Length")
                if cr is not None and cr[0] != offset:
                    part.unlink(missing_ok=True)  # answered a range we did not ask for: start over
                    if attempts_left <= 0:
                        raise DownloadError(f"The server sent the wrong part of {url}. Run again to start over.")
                    attempts_left -= 1
                    continue
                mode = "ab"
                if cr is not None and cr[2] is not None:
                    total = cr[2]
                elif length is not None and length.isdigit():
                    total = offset + int(length)
            else:
                offset = 0  # full body (server ignored Range, or a fresh download)
                length = resp.headers.get("Content-Length")
                if length is not None and length.isdigit() and resp.status_code == 200:
                    total = int(length)
            if expected_size is not None and total is not None and total != expected_size:
                part.unlink(missing_ok=True)
                raise DownloadError(
                    f"The server reports {total} bytes for {url} but {expected_size} were expected: "
                    "the file changed at the source. Update easy-oww (or its catalog) and try again."
                )
            if total is not None:
                check_free_space(part.parent, total - offset, what=desc)
            done = offset
            progressed = False
            try:
                with open(part, mode) as fh:
                    report(Progress(phase, done, total))
                    for chunk in resp.iter_content(CHUNK_SIZE):
                        check_cancel(cancel)
                        if not chunk:
                            continue
                        fh.write(chunk)
                        done += len(chunk)
                        progressed = True
                        if throttle.ready():
                            report(Progress(phase, done, total))
            except OSError as exc:  # requests' exceptions are OSErrors too
                if not isinstance(exc, requests.exceptions.RequestException):
                    raise _write_error(exc, part) from exc
                # a dropped or stalled connection: handled below
            else:
                if total is None or done >= total:
                    report(Progress(phase, done, total))
                    break
            # The body stopped early (connection dropped or stalled).
            if progressed:
                attempts_left = retries  # count only failures in a row
            if attempts_left > 0:
                attempts_left -= 1
                warn(report, f"Connection to {_host(url)} dropped after {human_size(done)}; resuming.", phase)
                _pause(0.25 * (retries - attempts_left), cancel)
                continue
            raise DownloadError(
                f"The download of {url} was interrupted after {human_size(done)}"
                + (f" of {human_size(total)}" if total else "")
                + ". Run the command again to resume where it stopped; the partial file is kept."
            )
    if hasher_names:
        size = part.stat().st_size
        report(Progress(phase, size, total or size, message=f"checking {'/'.join(hasher_names)}"))
    verify(part, url, sha256=sha256, md5=md5, expected_size=expected_size or total,
            algorithms=hasher_names, cancel=cancel)


# ----------------------------------------------------------------------------- many files


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch: where from, where to, and what it must be."""

    url: str
    dest: Path
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def download_files(
    files: Iterable[RemoteFile],
    report: Reporter = null_report,
    cancel: CancelToken | None = None,
    *,
    phase: str = "download",
    description: str = "",
    timeout: float = 30,
    connect_timeout: float = CONNECT_TIMEOUT,
    workers: int = 4,
) -> list[Path]:
    """Download several files with one aggregated byte progress bar; finished files are skipped.

    Checks free space for the whole batch first. Up to ``workers`` files at a time.
    """
    files = list(files)
    started = time.monotonic()
    sizes_known = all(f.size is not None for f in files)
    total = sum(f.size or 0 for f in files) if sizes_known else None

    def finished(f: RemoteFile) -> bool:
        return f.dest.is_file() and (f.size is None or f.dest.stat().st_size == f.size)

    todo = [f for f in files if not finished(f)]
    done_bytes = {id(f): (f.size or f.dest.stat().st_size) for f in files if finished(f)}
    report(PhaseStarted(phase, total=total, description=description))
    if todo and sizes_known:
        remaining = 0
        for f in todo:
            part = f.dest.with_name(f.dest.name + ".part")
            have = part.stat().st_size if part.is_file() else 0
            remaining += max((f.size or 0) - have, 0)
        check_free_space(todo[0].dest.parent, remaining, what=description or "the download")
    lock = threading.Lock()
    throttle = _Throttle()
    files_done = [len(files) - len(todo)]
    stop = threading.Event()

    def emit(force: bool = False) -> None:
        if force or throttle.ready():
            report(Progress(phase, sum(done_bytes.values()), total,
                            message=f"{files_done[0]}/{len(files)} files"))

    def sub_report(f: RemoteFile) -> Reporter:
        def _r(event: Event) -> None:
            if isinstance(event, Progress):
                with lock:
                    done_bytes[id(f)] = event.done
                    emit()
            elif not isinstance(event, (PhaseStarted, PhaseFinished)):
                report(event)
        return _r

    local = threading.local()

    def one(f: RemoteFile) -> None:
        if stop.is_set():
            return
        check_cancel(cancel)
        if not hasattr(local, "session"):
            local.session = _session()
        download_file(f.url, f.dest, sha256=f.sha256, md5=f.md5, expected_size=f.size,
                      report=sub_report(f), cancel=_AnyEvent(cancel, stop), headers=f.headers,
                      timeout=timeout, connect_timeout=connect_timeout, phase=phase,
                      session=local.session)
        with lock:
            done_bytes[id(f)] = f.dest.stat().st_size
            files_done[0] += 1
            emit(force=True)

    try:
        if workers <= 1 or len(todo) <= 1:
            for f in todo:
                one(f)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(one, f) for f in todo]
                wait(futures, return_when=FIRST_EXCEPTION)
                if any(fu.done() and fu.exception() is not None for fu in futures):
                    stop.set()  # tell the other workers to stop at their next chunk
                wait(futures)
                errors = [e for fu in futures if not fu.cancelled() and (e := fu.exception()) is not None]
                if errors:
                    if cancel is not None and cancel.is_set():
                        raise Cancelled()
                    real = [e for e in errors if not isinstance(e, Cancelled)]
                    raise (real or errors)[0]
    except BaseException as exc:
        msg = "cancelled" if isinstance(exc, Cancelled) else "failed"
        report(PhaseFinished(phase, ok=False, message=msg, seconds=time.monotonic() - started))
        raise
    emit(force=True)
    report(PhaseFinished(phase, ok=True, message=f"{len(files)} files", seconds=time.monotonic() - started))
    return [f.dest for f in files]


class _AnyEvent:
    """Looks like a cancel Event; set when either of two events is set."""

    def __init__(self, *events: threading.Event | None) -> None:
        self._events = [e for e in events if e is not None]

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)


# ----------------------------------------------------------------------------- metadata


# ----------------------------------------------------------------------------- archives


# ----------------------------------------------------------------------------- misc
