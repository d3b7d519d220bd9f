"""Where assets live online: Hugging Face (endpoint, offline mode, token, file URLs, listing a repository folder with sizes and checksums) and GitHub releases (or a mirror)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from core.assets.net_errors import (
    CONNECT_TIMEOUT,
    OFFLINE_HINT,
    USER_AGENT,
    DownloadError,
    OfflineError,
    _http_error,
    _network_error,
    _session,
)

DEFAULT_HF_ENDPOINT = "https://huggingface.co"


DEFAULT_GITHUB = "https://github.com"


ENV_GITHUB_MIRROR = "EASY_OWW_GITHUB_MIRROR"


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


