"""What goes wrong with a download, said so a person can fix it: offline, HTTP errors, timeouts, a full disk; and the HTTP session every download uses."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.errors import EasyOWWError

OFFLINE_HINT = (
    "What still works offline: the bundled joe voice, simulated rooms, generated noise; "
    "training runs without the downloads."
)


CONNECT_TIMEOUT = 8.0  # seconds to open a connection: short, so being offline fails fast


DISK_MARGIN = 64 * 1024 * 1024  # keep this much free beyond the download itself


USER_AGENT = "easy-oww (+https://github.com/dscripka/openWakeWord)"


class DownloadError(EasyOWWError):
    """A download that failed; the message says why and what to do."""


class OfflineError(DownloadError):
    """The host cannot be reached (offline, DNS failure, refused) or offline mode is on."""


class DiskSpaceError(DownloadError):
    """Not enough free disk space for a download (or the disk filled up while writing)."""




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


