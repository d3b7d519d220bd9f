"""Resumable, verified HTTP downloads and safe archive extraction.

Every download goes to ``<dest>.part`` first, resumes with ``Range: bytes=N-`` when a
``.part`` file is left over (a killed run, a dropped connection), is checked against its
size and checksum, and is renamed onto ``dest`` only when complete. Hugging Face files use
plain HTTP on the Hub's ``/resolve/`` URLs (built by ``huggingface_hub.hf_hub_url`` from
``HF_ENDPOINT`` at call time, token from ``HF_TOKEN`` or ``hf auth login``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from core.errors import Cancelled, EasyOWWError
from core.events import (
    CancelToken,
    Event,
    Progress,
    Reporter,
    StageFinished,
    StageStarted,
    check_cancel,
    null_report,
    warn,
)
from core.fsutil import file_digest

OFFLINE_HINT = (
    "What still works offline: the bundled joe voice, simulated rooms, generated noise; "
    "training runs without the downloads."
)
DEFAULT_HF_ENDPOINT = "https://huggingface.co"
DEFAULT_GITHUB = "https://github.com"
ENV_GITHUB_MIRROR = "EASY_OWW_GITHUB_MIRROR"
CONNECT_TIMEOUT = 8.0  # seconds to open a connection: short, so being offline fails fast
CHUNK_SIZE = 64 * 1024  # also the most a dropped connection can lose
DISK_MARGIN = 64 * 1024 * 1024  # keep this much free beyond the download itself
USER_AGENT = "easy-oww (+https://github.com/dscripka/openWakeWord)"


class DownloadError(EasyOWWError):
    """A download that failed; the message says why and what to do."""


class OfflineError(DownloadError):
    """The host cannot be reached (offline, DNS failure, refused) or offline mode is on."""


class DiskSpaceError(DownloadError):
    """Not enough free disk space for a download (or the disk filled up while writing)."""


class UnsafeArchiveError(EasyOWWError):
    """An archive member would land outside the extraction folder."""


# ----------------------------------------------------------------------------- helpers


def human_size(n: int | float | None) -> str:
    if n is None:
        return "unknown size"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def hf_endpoint() -> str:
    """The Hugging Face endpoint, read from ``HF_ENDPOINT`` at call time."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_HF_ENDPOINT).rstrip("/")


def hf_offline() -> bool:
    return _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE"))


def check_hf_online(what: str = "this") -> None:
    """Fail fast when the user switched Hugging Face to offline mode."""
    if hf_offline():
        raise OfflineError(
            f"HF_HUB_OFFLINE=1 is set, so {what} cannot be downloaded from Hugging Face. "
            f"Unset HF_HUB_OFFLINE to download. {OFFLINE_HINT}"
        )


def hf_url(repo_id: str, filename: str, repo_type: str = "model", revision: str = "main") -> str:
    """``{endpoint}/[datasets/]{repo_id}/resolve/{revision}/{filename}`` for the current endpoint."""
    from huggingface_hub import hf_hub_url

    return hf_hub_url(
        repo_id, filename, repo_type=None if repo_type == "model" else repo_type,
        revision=revision, endpoint=hf_endpoint(),
    )


def hf_api_url(repo_id: str, repo_type: str, *parts: str) -> str:
    from urllib.parse import quote

    tail = "/".join(quote(p, safe="") for p in parts if p)
    return f"{hf_endpoint()}/api/{repo_type}s/{repo_id}/{tail}"


def hf_headers() -> dict[str, str]:
    """Auth header from ``HF_TOKEN`` / the saved Hugging Face login (read now), plus a user agent."""
    headers = {"User-Agent": USER_AGENT}
    try:
        from huggingface_hub import get_token

        token = get_token()
    except Exception:  # a broken token file must not stop public downloads
        token = os.environ.get("HF_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def github_base() -> str:
    """``https://github.com`` or the mirror in ``EASY_OWW_GITHUB_MIRROR``."""
    return (os.environ.get(ENV_GITHUB_MIRROR) or DEFAULT_GITHUB).rstrip("/")


def check_free_space(folder: str | os.PathLike[str], needed: int, what: str = "the download") -> None:
    """Raise :class:`DiskSpaceError` unless ``needed`` bytes (+ a margin) are free under ``folder``."""
    if needed <= 0:
        return
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed + DISK_MARGIN:
        raise DiskSpaceError(
            f"Not enough free disk space for {what}: it needs {human_size(needed)} ({needed} bytes) "
            f"plus {human_size(DISK_MARGIN)} headroom in {probe}, but only {human_size(free)} "
            f"({free} bytes) is free. Free some space (or point --workspace / EASY_OWW_HOME at a "
            "bigger disk) and run the command again; finished files are kept."
        )


def _disk_full(path: Path) -> DiskSpaceError:
    return DiskSpaceError(
        f"The disk filled up while writing {path}. Free some space (or point --workspace / "
        "EASY_OWW_HOME at a bigger disk) and run the command again; the download resumes "
        "where it stopped."
    )


def _write_error(exc: OSError, path: Path) -> EasyOWWError:
    if exc.errno == errno.ENOSPC:
        return _disk_full(path)
    return DownloadError(
        f"Cannot write {path} ({exc.strerror or exc}). Use a folder you can write to (--workspace or "
        "EASY_OWW_HOME) and run the command again."
    )


def _session() -> Any:
    import requests

    s = requests.Session()
    s.headers["User-Agent"] = USER_AGENT
    return s


def _network_error(exc: BaseException, url: str, timeout: float, connect_timeout: float) -> DownloadError:
    """Turn a requests exception raised before any data arrived into a clear message."""
    import requests

    host = _host(url)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return OfflineError(
            f"Cannot reach host {host} (no answer within {connect_timeout:g} s): you seem to be "
            f"offline. {OFFLINE_HINT}"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return DownloadError(
            f"The secure connection to {host} failed ({exc.__class__.__name__}). Check the system "
            "clock and any proxy that intercepts HTTPS, then try again."
        )
    if isinstance(exc, requests.exceptions.ProxyError):
        return OfflineError(f"Cannot reach host {host} through the configured proxy: check HTTPS_PROXY. {OFFLINE_HINT}")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return OfflineError(f"Cannot reach host {host}: you seem to be offline. {OFFLINE_HINT}")
    if isinstance(exc, requests.exceptions.Timeout):
        return DownloadError(
            f"The server {host} did not answer within {timeout:g} s (timeout) for {url}. Try again "
            "later or on a better connection; a partial download resumes where it stopped."
        )
    return DownloadError(f"Download from {url} failed: {exc}")


def _http_error(status: int, url: str) -> DownloadError:
    if status == 404:
        return DownloadError(
            f"File not found at URL {url} (HTTP 404). The source may have moved; check the URL "
            "(or HF_ENDPOINT / EASY_OWW_GITHUB_MIRROR if you set one) and update easy-oww."
        )
    if status in (401, 403):
        return DownloadError(
            f"Access denied to {url} (HTTP {status}). If the file needs a Hugging Face account, set "
            "HF_TOKEN (or run `hf auth login`) and accept the dataset's terms on its page."
        )
    if status == 429:
        return DownloadError(f"The server rate-limited the download of {url} (HTTP 429). Wait a few minutes and run again.")
    if status >= 500:
        return DownloadError(f"The server had a problem serving {url} (HTTP {status}). Try again later.")
    return DownloadError(f"Download of {url} failed with HTTP {status}.")


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
    stage: str = "download",
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
        report(StageStarted(stage, total=expected_size, description=desc))
        report(StageFinished(stage, ok=True, message="already downloaded", status="skipped"))
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(exc, dest.parent) from exc
    started = time.monotonic()
    report(StageStarted(stage, total=expected_size, description=desc))
    own_session = session is None
    sess = _session() if own_session else session
    try:
        _fetch_to_part(url, part, sess, sha256=sha256, md5=md5, expected_size=expected_size,
                       report=report, cancel=cancel, headers=headers or {}, timeout=timeout,
                       connect_timeout=connect_timeout, retries=retries, stage=stage, desc=desc)
        os.replace(part, dest)
    except BaseException as exc:
        msg = "cancelled" if isinstance(exc, (Cancelled, KeyboardInterrupt)) else "failed"
        report(StageFinished(stage, ok=False, message=msg, seconds=time.monotonic() - started))
        raise
    finally:
        if own_session:
            sess.close()
    report(StageFinished(stage, ok=True, seconds=time.monotonic() - started))
    return dest


def _fetch_to_part(
    url: str, part: Path, sess: Any, *, sha256: str | None, md5: str | None, expected_size: int | None,
    report: Reporter, cancel: CancelToken | None, headers: dict[str, str], timeout: float,
    connect_timeout: float, retries: int, stage: str, desc: str,
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
                    report(Progress(stage, done, total))
                    for chunk in resp.iter_content(CHUNK_SIZE):
                        check_cancel(cancel)
                        if not chunk:
                            continue
                        fh.write(chunk)
                        done += len(chunk)
                        progressed = True
                        if throttle.ready():
                            report(Progress(stage, done, total))
            except OSError as exc:  # requests' exceptions are OSErrors too
                if not isinstance(exc, requests.exceptions.RequestException):
                    raise _write_error(exc, part) from exc
                # a dropped or stalled connection: handled below
            else:
                if total is None or done >= total:
                    report(Progress(stage, done, total))
                    break
            # The body stopped early (connection dropped or stalled).
            if progressed:
                attempts_left = retries  # count only failures in a row
            if attempts_left > 0:
                attempts_left -= 1
                warn(report, f"Connection to {_host(url)} dropped after {human_size(done)}; resuming.", stage)
                _pause(0.25 * (retries - attempts_left), cancel)
                continue
            raise DownloadError(
                f"The download of {url} was interrupted after {human_size(done)}"
                + (f" of {human_size(total)}" if total else "")
                + ". Run the command again to resume where it stopped; the partial file is kept."
            )
    if hasher_names:
        size = part.stat().st_size
        report(Progress(stage, size, total or size, message=f"checking {'/'.join(hasher_names)}"))
    _verify(part, url, sha256=sha256, md5=md5, expected_size=expected_size or total,
            algorithms=hasher_names, cancel=cancel)


def _verify(part: Path, url: str, *, sha256: str | None, md5: str | None, expected_size: int | None,
            algorithms: list[str], cancel: CancelToken | None) -> None:
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"The download of {url} has {size} bytes but {expected_size} were expected; the partial "
            "file was deleted. Run the command again."
        )
    for name in algorithms:
        want = (sha256 if name == "sha256" else md5 or "").lower()
        got = file_digest(part, name, cancel)
        if got != want:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"Checksum mismatch for {part.name.removesuffix('.part')} from {url}: expected {name} "
                f"{want}, got {got}. The damaged file was deleted; run the command again. If it keeps "
                "happening, the source changed or a proxy alters downloads."
            )


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
    stage: str = "download",
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
    report(StageStarted(stage, total=total, description=description))
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
            report(Progress(stage, sum(done_bytes.values()), total,
                            message=f"{files_done[0]}/{len(files)} files"))

    def sub_report(f: RemoteFile) -> Reporter:
        def _r(event: Event) -> None:
            if isinstance(event, Progress):
                with lock:
                    done_bytes[id(f)] = event.done
                    emit()
            elif not isinstance(event, (StageStarted, StageFinished)):
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
                      timeout=timeout, connect_timeout=connect_timeout, stage=stage,
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
        report(StageFinished(stage, ok=False, message=msg, seconds=time.monotonic() - started))
        raise
    emit(force=True)
    report(StageFinished(stage, ok=True, message=f"{len(files)} files", seconds=time.monotonic() - started))
    return [f.dest for f in files]


class _AnyEvent:
    """Looks like a cancel Event; set when either of two events is set."""

    def __init__(self, *events: threading.Event | None) -> None:
        self._events = [e for e in events if e is not None]

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)


# ----------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class HubFile:
    """A file in a Hugging Face repo, as the tree API lists it."""

    path: str
    size: int
    sha256: str | None  # LFS files only


def hf_list_files(repo_id: str, folder: str = "", repo_type: str = "dataset", revision: str = "main",
                  timeout: float = 30, connect_timeout: float = CONNECT_TIMEOUT) -> list[HubFile]:
    """List the files under ``folder`` (recursively) with the Hub API ``/api/{type}s/{repo}/tree/...``.

    Follows the ``Link: <...>; rel="next"`` pagination the Hub uses for large folders.
    """
    import requests

    check_hf_online(f"the file list of {repo_id}")
    url: str | None = hf_api_url(repo_id, repo_type, "tree", revision) + (f"/{folder.strip('/')}" if folder else "")
    params: dict[str, str] | None = {"recursive": "true"}
    out: list[HubFile] = []
    with _session() as sess:
        while url:
            try:
                resp = sess.get(url, params=params, headers=hf_headers(), timeout=(connect_timeout, timeout))
            except requests.exceptions.RequestException as exc:
                raise _network_error(exc, url, timeout, connect_timeout) from exc
            if resp.status_code == 404:
                raise DownloadError(
                    f"Not found at URL {resp.url} (HTTP 404): the repository {repo_id} or its folder "
                    f"{folder!r} is gone or moved. Update easy-oww; check HF_ENDPOINT if you set one."
                )
            if resp.status_code >= 400:
                raise _http_error(resp.status_code, resp.url)
            try:
                entries = resp.json()
            except ValueError as exc:
                raise DownloadError(f"The Hub answered {resp.url} with something that is not JSON.") from exc
            for e in entries:
                if e.get("type") != "file":
                    continue
                lfs = e.get("lfs") or {}
                out.append(HubFile(path=e["path"], size=int(lfs.get("size", e.get("size", 0))),
                                   sha256=lfs.get("oid")))
            url = resp.links.get("next", {}).get("url")
            params = None  # the next link carries its own query
    return out


def hf_file_info(repo_id: str, filename: str, repo_type: str = "dataset", revision: str = "main",
                 timeout: float = 30, connect_timeout: float = CONNECT_TIMEOUT) -> tuple[int | None, str | None]:
    """(size, sha256) of one Hub file from a HEAD on its resolve URL (sha256 for LFS files only)."""
    import requests

    check_hf_online(filename)
    url = hf_url(repo_id, filename, repo_type=repo_type, revision=revision)
    try:
        resp = requests.head(url, headers={**hf_headers(), "Accept-Encoding": "identity"},
                             allow_redirects=False, timeout=(connect_timeout, timeout))
    except requests.exceptions.RequestException as exc:
        raise _network_error(exc, url, timeout, connect_timeout) from exc
    if resp.status_code >= 400:
        raise _http_error(resp.status_code, url)
    size = resp.headers.get("X-Linked-Size")
    if size is None and not resp.is_redirect:
        size = resp.headers.get("Content-Length")
    etag = (resp.headers.get("X-Linked-Etag") or "").strip('"').removeprefix("W/").strip('"')
    sha = etag.lower() if re.fullmatch(r"[0-9a-fA-F]{64}", etag) else None
    return (int(size) if size and size.isdigit() else None), sha


# ----------------------------------------------------------------------------- archives


def _member_problem(name: str) -> str | None:
    if not name or "\x00" in name:
        return "an empty or invalid name"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "an absolute path"
    if ".." in PurePosixPath(norm).parts:
        return "a '..' path component"
    return None


def _inside(root: Path, candidate: Path) -> bool:
    root = root.resolve()
    cand = candidate.resolve()
    return cand == root or root in cand.parents


def _check_members(archive: Path, target: Path, members: list[tuple[str, str | None, bool]]) -> None:
    """members: (name, link target or None, is_hardlink)."""
    for name, link, hard in members:
        problem = _member_problem(name)
        dest = target / name.replace("\\", "/")
        if problem is None and not _inside(target, dest):
            problem = "a path outside the target folder"
        if problem is None and link is not None:
            link_norm = link.replace("\\", "/")
            if link_norm.startswith("/") or re.match(r"^[A-Za-z]:", link_norm):
                problem = f"a link to the absolute path {link!r}"
            else:
                base = target if hard else dest.parent
                if not _inside(target, base / link_norm):
                    problem = f"a link pointing outside the target folder ({link!r})"
        if problem:
            raise UnsafeArchiveError(
                f"Refusing to extract {archive.name}: member {name!r} has {problem} and would be "
                f"written outside {target}. The archive is corrupt or malicious; nothing was extracted. "
                "Delete it and download it again from the original source."
            )


def safe_extract(archive: str | os.PathLike[str], target: str | os.PathLike[str],
                 cancel: CancelToken | None = None) -> list[Path]:
    """Extract a .zip or .tar[.gz|.bz2|.xz] into ``target``; refuse any member escaping it.

    Every member is checked before anything is written (absolute paths, ``..``, links
    pointing outside); tar extraction additionally uses Python's ``data`` filter.
    """
    archive = Path(archive)
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            members = []
            for info in infos:
                mode = info.external_attr >> 16
                link = zf.read(info).decode("utf-8", "replace") if stat.S_ISLNK(mode) else None
                members.append((info.filename, link, False))
            _check_members(archive, target, members)
            for info in infos:
                check_cancel(cancel)
                out.append(Path(zf.extract(info, target)))
        return out
    try:
        tf = tarfile.open(archive, "r:*")
    except tarfile.TarError as exc:
        raise EasyOWWError(
            f"{archive} is not a readable .zip or .tar archive ({exc}). Delete it and download it again."
        ) from exc
    with tf:
        tmembers = tf.getmembers()
        _check_members(archive, target, [
            (m.name, m.linkname if (m.issym() or m.islnk()) else None, m.islnk()) for m in tmembers
        ])
        for m in tmembers:
            check_cancel(cancel)
            try:
                tf.extract(m, target, filter="data")
            except tarfile.FilterError as exc:
                raise UnsafeArchiveError(
                    f"Refusing to extract {archive.name}: {exc}. The archive is corrupt or malicious."
                ) from exc
            out.append(target / m.name)
    return out


# ----------------------------------------------------------------------------- misc


def remove_partials(folder: str | os.PathLike[str]) -> int:
    """Delete leftover ``*.part`` files in ``folder`` (not recursive); return how many."""
    n = 0
    folder = Path(folder)
    if folder.is_dir():
        for p in folder.glob("*.part"):
            with contextlib.suppress(OSError):
                p.unlink()
                n += 1
    return n


def copy_verified(src: Path, dest: Path, sha256: str | None = None,
                  cancel: CancelToken | None = None) -> Path:
    """Copy a local file atomically (e.g. a bundled model) after checking its sha256."""
    from core.fsutil import atomic_path

    if sha256 and file_digest(src, "sha256", cancel) != sha256.lower():
        raise DownloadError(f"{src} does not match its expected sha256; reinstall the package that ships it.")
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest


__all__: list[str] = [
    "OFFLINE_HINT", "DownloadError", "OfflineError", "DiskSpaceError", "UnsafeArchiveError",
    "RemoteFile", "HubFile", "download_file", "download_files", "safe_extract", "check_free_space",
    "hf_endpoint", "hf_url", "hf_headers", "hf_offline", "check_hf_online", "hf_list_files",
    "hf_file_info", "github_base", "human_size", "file_digest", "copy_verified", "remove_partials",
]
