"""core.assets.downloads against a real HTTP server on 127.0.0.1 (tests/http_fixture.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections import namedtuple
from pathlib import Path

import pytest

from core.assets import downloads, net_errors
from core.assets import hub as hf_hub
from core.errors import Cancelled
from core.events import LogLine, PhaseFinished, PhaseStarted, Progress
from tests.http_fixture import closed_port, running_server


@pytest.fixture(autouse=True)
def _online(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture
def srv():
    with running_server() as server:
        yield server


def payload(n: int = 300_000, seed: int = 1) -> bytes:
    return hashlib.sha256(str(seed).encode()).digest() * (n // 32) + b"x" * (n % 32)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- resume


def test_cut_download_resumes_from_where_it_stopped(srv, tmp_path):
    data = payload()
    url = srv.add_file("/f/model.bin", data)
    srv.fault("/f/model.bin", cut_after=100_000)
    dest = tmp_path / "model.bin"
    with pytest.raises(net_errors.DownloadError, match="interrupted.*resume"):
        downloads.download_file(url, dest, sha256=sha(data), retries=0)
    part = tmp_path / "model.bin.part"
    assert not dest.exists()
    kept = part.stat().st_size
    assert 0 < kept <= 100_000
    assert part.read_bytes() == data[:kept]

    events = []
    downloads.download_file(url, dest, sha256=sha(data), report=events.append)
    gets = srv.gets("/f/model.bin")
    assert gets[-1].headers.get("Range") == f"bytes={kept}-"
    assert dest.read_bytes() == data
    assert not part.exists()
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[0].done == kept and progress[-1].done == len(data) == progress[-1].total
    assert isinstance(events[-1], PhaseFinished) and events[-1].ok


def test_dropped_connection_is_resumed_within_one_call(srv, tmp_path):
    data = payload(500_000, seed=2)
    url = srv.add_file("/f/big.bin", data)
    srv.fault("/f/big.bin", cut_after=200_000, cut_times=2)
    events = []
    downloads.download_file(url, tmp_path / "big.bin", sha256=sha(data), report=events.append)
    assert (tmp_path / "big.bin").read_bytes() == data
    ranges = [r.headers.get("Range") for r in srv.gets("/f/big.bin")]
    assert ranges[0] is None and len(ranges) == 3
    assert all(r and r.startswith("bytes=") and int(r[6:-1]) > 0 for r in ranges[1:])
    assert any(isinstance(e, LogLine) and "resuming" in e.message for e in events)


def test_server_ignoring_range_restarts_from_zero(srv, tmp_path):
    data = payload(200_000, seed=3)
    url = srv.add_file("/f/a.bin", data)
    srv.fault("/f/a.bin", ignore_range=True)
    part = tmp_path / "a.bin.part"
    part.write_bytes(b"garbage!" * 1000)  # a stale partial that does not match
    downloads.download_file(url, tmp_path / "a.bin", sha256=sha(data))
    assert srv.gets("/f/a.bin")[0].headers.get("Range") == "bytes=8000-"
    assert (tmp_path / "a.bin").read_bytes() == data


def test_complete_part_file_is_verified_not_refetched(srv, tmp_path):
    data = payload(50_000, seed=4)
    url = srv.add_file("/f/done.bin", data)
    (tmp_path / "done.bin.part").write_bytes(data)
    downloads.download_file(url, tmp_path / "done.bin", sha256=sha(data))  # server answers 416
    assert (tmp_path / "done.bin").read_bytes() == data
    downloads.download_file(url, tmp_path / "done2.bin", expected_size=len(data))
    (tmp_path / "done3.bin.part").write_bytes(data)
    before = len(srv.requests)
    downloads.download_file(url, tmp_path / "done3.bin", expected_size=len(data))
    assert len(srv.requests) == before  # size known and .part complete: no request at all


# ----------------------------------------------------------------------------- verification


def test_checksum_mismatch_leaves_nothing(srv, tmp_path):
    url = srv.add_file("/f/x.bin", payload(10_000))
    dest = tmp_path / "x.bin"
    with pytest.raises(net_errors.DownloadError, match="Checksum mismatch.*expected sha256 0{64}"):
        downloads.download_file(url, dest, sha256="0" * 64)
    assert not dest.exists()
    assert not (tmp_path / "x.bin.part").exists()


def test_md5_is_checked(srv, tmp_path):
    data = payload(10_000, seed=5)
    url = srv.add_file("/f/v.onnx", data)
    downloads.download_file(url, tmp_path / "ok.onnx", md5=hashlib.md5(data).hexdigest())
    assert (tmp_path / "ok.onnx").read_bytes() == data
    with pytest.raises(net_errors.DownloadError, match="md5"):
        downloads.download_file(url, tmp_path / "bad.onnx", md5="f" * 32)
    assert not list(tmp_path.glob("bad.onnx*"))


def test_wrong_size_from_server_is_refused(srv, tmp_path):
    url = srv.add_file("/f/s.bin", payload(1000))
    with pytest.raises(net_errors.DownloadError, match="1000 bytes.*2000 were expected"):
        downloads.download_file(url, tmp_path / "s.bin", expected_size=2000)
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- failures


def test_404_names_the_url(srv, tmp_path):
    url = srv.url("/nothing/here.onnx")
    with pytest.raises(net_errors.DownloadError, match=r"not found at URL http://127\.0\.0\.1:\d+/nothing/here\.onnx"):
        downloads.download_file(url, tmp_path / "here.onnx")
    assert not list(tmp_path.iterdir())


def test_timeout_is_clear(srv, tmp_path):
    url = srv.add_file("/slow.bin", b"abc")
    srv.fault("/slow.bin", delay=3)
    t0 = time.monotonic()
    with pytest.raises(net_errors.DownloadError, match=r"did not answer within 0\.5 s \(timeout\)"):
        downloads.download_file(url, tmp_path / "slow.bin", timeout=0.5)
    assert time.monotonic() - t0 < 2.5


def test_connection_refused_says_offline_and_what_still_works(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/x.bin"
    t0 = time.monotonic()
    with pytest.raises(net_errors.OfflineError) as info:
        downloads.download_file(url, tmp_path / "x.bin")
    assert time.monotonic() - t0 < 3
    msg = str(info.value)
    assert "cannot reach host 127.0.0.1" in msg.lower() and "offline" in msg
    assert "bundled joe voice, simulated rooms, generated noise" in msg


def test_not_enough_disk_space_before_starting(srv, tmp_path, monkeypatch):
    url = srv.add_file("/f/huge.bin", payload(100_000))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 5000, 5000))
    with pytest.raises(net_errors.DiskSpaceError) as info:
        downloads.download_file(url, tmp_path / "huge.bin")
    msg = str(info.value)
    assert "needs 100.0 KB (100000 bytes)" in msg and "only 5.0 KB (5000 bytes) is free" in msg
    assert not (tmp_path / "huge.bin").exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_real_enospc_while_writing(srv, tmp_path):
    data = payload(200_000)
    url = srv.add_file("/f/full.bin", data)
    part = tmp_path / "full.bin.part"
    part.symlink_to("/dev/full")  # every write there fails with ENOSPC
    with pytest.raises(net_errors.DiskSpaceError, match="disk filled up while writing"):
        downloads.download_file(url, tmp_path / "full.bin", sha256=sha(data))
    assert not (tmp_path / "full.bin").exists()


def test_cancel_keeps_part_and_resume_finishes(srv, tmp_path):
    data = payload(2_000_000, seed=6)
    url = srv.add_file("/f/c.bin", data)
    cancel = threading.Event()

    def report(event):
        if isinstance(event, Progress) and event.done >= 64 * 1024:
            cancel.set()

    with pytest.raises(Cancelled):
        downloads.download_file(url, tmp_path / "c.bin", sha256=sha(data), report=report, cancel=cancel)
    part = tmp_path / "c.bin.part"
    assert 0 < part.stat().st_size < len(data)
    downloads.download_file(url, tmp_path / "c.bin", sha256=sha(data))
    assert (tmp_path / "c.bin").read_bytes() == data


def test_unverifiable_partial_is_not_resumed(srv, tmp_path):
    url = srv.add_file("/f/cat.json", b'{"new": 1}')
    (tmp_path / "cat.json.part").write_bytes(b'{"old"')  # no checksum or size to trust it by
    downloads.download_file(url, tmp_path / "cat.json")
    assert (tmp_path / "cat.json").read_bytes() == b'{"new": 1}'
    assert "Range" not in srv.gets("/f/cat.json")[0].headers


def test_unwritable_destination_is_clear(srv, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(net_errors.DownloadError, match="Cannot write .*a_file.*--workspace"):
        downloads.download_file(srv.add_file("/f/w.bin", b"x"), blocker / "sub" / "w.bin")


def test_hf_offline_env_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(net_errors.OfflineError, match="HF_HUB_OFFLINE=1.*What still works offline"):
        hf_hub.check_hf_online("voices")


# ----------------------------------------------------------------------------- many files, Hub


def test_download_files_aggregates_progress_and_skips_finished(srv, tmp_path):
    blobs = {f"/d/{i}.wav": payload(30_000 + i, seed=10 + i) for i in range(6)}
    files = [downloads.RemoteFile(url=srv.add_file(p, b), dest=tmp_path / Path(p).name, size=len(b), sha256=sha(b))
             for p, b in blobs.items()]
    (tmp_path / "0.wav").write_bytes(blobs["/d/0.wav"])  # already there
    events = []
    downloads.download_files(files, events.append, phase="rirs", description="RIRs", workers=3)
    for p, b in blobs.items():
        assert (tmp_path / Path(p).name).read_bytes() == b
    assert not srv.gets("/d/0.wav")
    started = [e for e in events if isinstance(e, PhaseStarted)]
    assert len(started) == 1 and started[0].total == sum(len(b) for b in blobs.values())
    last = [e for e in events if isinstance(e, Progress)][-1]
    assert last.done == started[0].total and last.message == "6/6 files"


def test_download_files_stops_on_error(srv, tmp_path):
    good = payload(10_000)
    files = [downloads.RemoteFile(url=srv.add_file("/g/ok.bin", good), dest=tmp_path / "ok.bin", size=len(good)),
             downloads.RemoteFile(url=srv.url("/g/missing.bin"), dest=tmp_path / "missing.bin")]
    with pytest.raises(net_errors.DownloadError, match="not found at URL"):
        downloads.download_files(files, workers=2)
    assert not (tmp_path / "missing.bin").exists()


def test_hub_urls_listing_and_metadata(srv, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", srv.base + "/")
    repo = "davidscripka/MIT_environmental_impulse_responses"
    blobs = {f"16khz/room{i}.wav": payload(1000 + i, seed=i) for i in range(5)}
    for path, data in blobs.items():
        srv.add_hub_file(repo, path, data, repo_type="dataset")
    srv.add_hub_file(repo, "README.md", b"# card", repo_type="dataset", lfs=False)
    srv.page_size = 2
    assert hf_hub.hf_url(repo, "16khz/room0.wav", "dataset") == f"{srv.base}/datasets/{repo}/resolve/main/16khz/room0.wav"
    assert hf_hub.hf_url("rhasspy/piper-voices", "voices.json") == f"{srv.base}/rhasspy/piper-voices/resolve/main/voices.json"
    listing = hf_hub.hf_list_files(repo, "16khz")
    assert sorted(f.path for f in listing) == sorted(blobs)
    assert all(f.sha256 == sha(blobs[f.path]) and f.size == len(blobs[f.path]) for f in listing)
    assert len([r for r in srv.requests if "/api/datasets/" in r.path]) == 3  # 2 + 2 + 1 entries
    assert hf_hub.hf_file_info(repo, "16khz/room3.wav") == (1003, sha(blobs["16khz/room3.wav"]))
    assert hf_hub.hf_file_info(repo, "README.md") == (6, None)  # not LFS: size only


def test_hf_token_is_sent_to_the_hub_but_not_to_the_cdn(srv, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", srv.base)
    monkeypatch.setenv("HF_TOKEN", "hf_testtoken")
    data = payload(5000)
    srv.add_hub_file("o/r", "w.npy", data, repo_type="dataset")
    downloads.download_file(hf_hub.hf_url("o/r", "w.npy", "dataset"), tmp_path / "w.npy", sha256=sha(data),
                     headers=hf_hub.hf_headers())
    hub, cdn = srv.gets("/w.npy")[0], srv.gets(sha(data))[0]
    assert hub.headers.get("Authorization") == "Bearer hf_testtoken"
    assert "Authorization" not in cdn.headers


def test_fixture_answers_like_the_hub_for_hf_hub_download(srv, tmp_path):
    """The fixture is Hub-compatible: huggingface_hub's own downloader accepts it."""
    from huggingface_hub import constants, hf_hub_download

    if constants.is_offline_mode():
        pytest.skip("huggingface_hub was imported with HF_HUB_OFFLINE set")

    data = payload(20_000, seed=9)
    srv.add_hub_file("davidscripka/openwakeword_features", "validation_set_features.npy", data, repo_type="dataset")
    srv.add_hub_file("rhasspy/piper-voices", "voices.json", b"{}", lfs=False)
    p = hf_hub_download("davidscripka/openwakeword_features", "validation_set_features.npy", repo_type="dataset",
                        endpoint=srv.base, cache_dir=tmp_path)
    assert Path(p).read_bytes() == data
    p = hf_hub_download("rhasspy/piper-voices", "voices.json", endpoint=srv.base, cache_dir=tmp_path)
    assert Path(p).read_bytes() == b"{}"


