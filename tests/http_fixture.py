"""A real HTTP server on 127.0.0.1 for download tests, answering like the Hugging Face Hub.

Serves plain files (``add_file``) and Hub repo files (``add_hub_file``):

* ``GET/HEAD /{repo}/resolve/{rev}/{file}`` (models) and ``/datasets/{repo}/resolve/...``
  with ``X-Repo-Commit``, ``ETag``; LFS files answer ``302`` to ``http://localhost:PORT/cdn/<sha256>`` with
  ``X-Linked-Size`` / ``X-Linked-Etag`` like the Hub, so ``hf_hub_download`` works too.
* ``GET /api/{models|datasets}/{repo}/tree/{rev}[/{folder}]`` (JSON, ``Link`` pagination).
* ``Range: bytes=N-`` (206), HEAD, 404, and per-path faults: ``cut`` (close the connection
  after N body bytes, for the next K requests), ``delay`` (sleep before answering), ``then_status`` (an HTTP error after the cuts),
  ``ignore_range`` (answer 200 with the full body).

Every request is logged in ``server.requests`` as (method, path, headers).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Fault:
    cut_after: int | None = None  # close the connection after this many body bytes
    cut_times: int = 1  # ... for this many GET requests
    delay: float = 0.0  # sleep before answering
    ignore_range: bool = False
    then_status: int | None = None  # once the cuts are used up, answer this HTTP status instead


@dataclass
class HubEntry:
    repo_type: str
    repo_id: str
    path: str
    data: bytes
    lfs: bool


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FixtureServer:
    files: dict[str, bytes] = field(default_factory=dict)
    hub: list[HubEntry] = field(default_factory=list)
    faults: dict[str, Fault] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    page_size: int = 1000
    port: int = 0

    # -- content -------------------------------------------------------------------------
    def add_file(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path`` (e.g. ``/dscripka/x/releases/download/v1/a.onnx``); return its URL."""
        self.files["/" + path.lstrip("/")] = data
        return self.url(path)

    def add_hub_file(self, repo_id: str, path: str, data: bytes, repo_type: str = "model",
                     lfs: bool = True) -> str:
        self.hub.append(HubEntry(repo_type, repo_id, path, data, lfs))
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        return self.url(f"/{prefix}{repo_id}/resolve/main/{quote(path)}")

    def fault(self, path: str, **kw) -> Fault:
        f = Fault(**kw)
        self.faults["/" + path.lstrip("/")] = f
        return f

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/" + path.lstrip("/")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cdn_base(self) -> str:
        """LFS redirects go to another host name (like the Hub's CDN), same server."""
        return f"http://localhost:{self.port}"

    def gets(self, suffix: str) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and r.path.split("?")[0].endswith(suffix)]

    # -- lookup --------------------------------------------------------------------------
    def _hub_entry(self, path: str) -> HubEntry | None:
        parts = path.split("/")
        repo_type = "model"
        if parts and parts[0] == "datasets":
            repo_type, parts = "dataset", parts[1:]
        if len(parts) < 5 or parts[2] != "resolve":
            return None
        repo_id, filename = "/".join(parts[:2]), "/".join(parts[4:])
        for e in self.hub:
            if e.repo_type == repo_type and e.repo_id == repo_id and e.path == filename:
                return e
        return None

    def _by_sha(self, sha: str) -> bytes | None:
        for e in self.hub:
            if hashlib.sha256(e.data).hexdigest() == sha:
                return e.data
        return None

    def _tree(self, path: str) -> list[dict] | None:
        # api/{models|datasets}/{owner}/{name}/tree/{rev}[/{folder...}]
        parts = path.split("/")
        if len(parts) < 6 or parts[0] != "api" or parts[4] != "tree":
            return None
        repo_type = parts[1].rstrip("s")
        repo_id = "/".join(parts[2:4])
        folder = "/".join(parts[6:]).strip("/")
        out = []
        for e in self.hub:
            if e.repo_type != repo_type or e.repo_id != repo_id:
                continue
            if folder and not e.path.startswith(folder + "/"):
                continue
            entry = {"type": "file", "oid": hashlib.sha1(e.data).hexdigest(), "size": len(e.data), "path": e.path}
            if e.lfs:
                entry["lfs"] = {"oid": hashlib.sha256(e.data).hexdigest(), "size": len(e.data), "pointerSize": 134}
                entry["size"] = len(e.data)
            out.append(entry)
        known_repo = any(e.repo_type == repo_type and e.repo_id == repo_id for e in self.hub)
        return out if known_repo else None


def _handler(server: FixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _serve(self, head: bool) -> None:
            raw_path = self.path
            server.requests.append(Request(self.command, raw_path, dict(self.headers.items())))
            split = urlsplit(raw_path)
            path = unquote(split.path)
            fault = server.faults.get(path)
            if fault and fault.delay:
                time.sleep(fault.delay)
            if fault and fault.then_status and fault.cut_after is not None and fault.cut_times == 0:
                return self._status(fault.then_status)
            if path.startswith("/api/"):
                return self._api(path.strip("/"), parse_qs(split.query))
            if path.startswith("/cdn/"):
                data = server._by_sha(path.rsplit("/", 1)[-1])
                return self._bytes(data, head, fault) if data is not None else self._not_found()
            entry = server._hub_entry(path.strip("/"))
            if entry is not None:
                sha = hashlib.sha256(entry.data).hexdigest()
                common = {"X-Repo-Commit": COMMIT}
                if entry.lfs:
                    self.send_response(302)
                    for k, v in {**common, "Location": f"{server.cdn_base}/cdn/{sha}", "X-Linked-Size": str(len(entry.data)),
                                 "X-Linked-Etag": f'"{sha}"', "ETag": '"pointer"', "Content-Length": "0"}.items():
                        self.send_header(k, v)
                    self.end_headers()
                    return
                return self._bytes(entry.data, head, fault,
                                   {**common, "ETag": f'"{hashlib.sha1(entry.data).hexdigest()}"'})
            if path in server.files:
                return self._bytes(server.files[path], head, fault)
            return self._not_found()

        def _status(self, code: int) -> None:
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _not_found(self) -> None:
            body = b'{"error": "Entry not found"}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Error-Code", "EntryNotFound")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _api(self, path: str, query: dict) -> None:
            entries = server._tree(path)
            if entries is None:
                return self._not_found()
            start = int(query.get("cursor", ["0"])[0])
            page = entries[start:start + server.page_size]
            body = json.dumps(page).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if start + server.page_size < len(entries):
                nxt = f"{server.base}/{path}?recursive=true&cursor={start + server.page_size}"
                self.send_header("Link", f'<{nxt}>; rel="next"')
            self.end_headers()
            self.wfile.write(body)

        def _bytes(self, data: bytes, head: bool, fault: Fault | None, extra: dict | None = None) -> None:
            size = len(data)
            start = 0
            rng = self.headers.get("Range")
            status = 200
            if rng and not (fault and fault.ignore_range) and rng.startswith("bytes="):
                first = rng[len("bytes="):].split("-")[0]
                start = int(first) if first else 0
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            body = data[start:]
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.end_headers()
            if head:
                return
            if fault and fault.cut_after is not None and fault.cut_times > 0 and self.command == "GET":
                fault.cut_times -= 1
                self.wfile.write(body[:fault.cut_after])
                self.wfile.flush()
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)  # clients hanging up early are expected


@contextlib.contextmanager
def running_server(server: FixtureServer | None = None) -> Iterator[FixtureServer]:
    """Start ``server`` on 127.0.0.1 (random port) in a thread; stop it afterwards."""
    server = server or FixtureServer()
    httpd = _QuietServer(("127.0.0.1", 0), _handler(server))
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port() -> int:
    """A localhost port with nothing listening (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
