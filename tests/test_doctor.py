"""`easy-oww doctor`: every check answers with what it found, what a gap costs and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import doctor
from core.project.workspace import Workspace
from easy_oww_tui.app import EasyOWWApp
from easy_oww_tui.screens.doctor import DoctorScreen
from tests.http_fixture import closed_port, running_server
from tests.pipeline_fixtures import run_cli
from tests.test_app import run_async, wait_for

NAMES = ["Python", "PortAudio", "Microphone", "Piper voices", "espeak-ng voices", "Feature models",
         "TFLite (Home Assistant)", "Disk space", "GPU", "Downloads"]


def test_checks_cover_the_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    found = doctor.run_checks(Workspace(tmp_path / "ws"))
    assert [f.name for f in found] == NAMES
    by = {f.name: f for f in found}
    assert by["Python"].status == "ok" and by["Feature models"].status == "ok"
    assert by["TFLite (Home Assistant)"].status == "ok" and by["espeak-ng voices"].status == "ok"
    # One bundled single-speaker voice: a warning that names the multi-speaker voice to fetch.
    assert by["Piper voices"].status == "warn" and "en_US-libritts_r-medium" in by["Piper voices"].fix
    assert by["Downloads"].status == "warn" and by["Downloads"].fix == "unset HF_HUB_OFFLINE"
    for f in found:  # every gap says what it costs and how to fix it
        assert f.status in ("ok", "warn", "missing")
        if f.status != "ok":
            assert f.cost and f.fix, f


def test_network_check_uses_real_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    with running_server() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.base)
        found = doctor.check_network()
        assert found.status == "ok" and server.base in found.detail
        assert any(r.path.startswith("/api/models") for r in server.requests)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    found = doctor.check_network()
    assert found.status == "warn" and "unreachable" in found.detail and "HF_ENDPOINT" in found.fix


def test_disk_check_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**12 - 5 * 10**8, 5 * 10**8))
    found = doctor.check_disk(Workspace(tmp_path / "not-yet"))
    assert found.status == "missing" and "EASY_OWW_HOME" in found.fix and "0.5 GB free" in found.detail


def test_cli_doctor(tmp_path: Path) -> None:
    res = run_cli("doctor", workspace=tmp_path / "ws", env={"HF_HUB_OFFLINE": "1"}, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    for name in NAMES:
        assert name in res.stdout
    assert "HF_HUB_OFFLINE=1" in res.stdout and "Traceback" not in res.stdout + res.stderr


@run_async
async def test_doctor_screen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    app = EasyOWWApp(workspace=tmp_path, deterministic=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        assert isinstance(app.screen, DoctorScreen)
        table = app.screen.query_one("#doctor-table")
        await wait_for(pilot, lambda: table.row_count == len(NAMES), 60, "the checks")
        first_column = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert first_column == NAMES
        summary = str(app.screen.query_one("#doctor-summary").render())
        assert "easy-oww works here" in summary or "Everything" in summary or "missing" in summary
        await pilot.press("escape")
        assert not isinstance(app.screen, DoctorScreen)


def test_a_broken_check_is_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> doctor.Finding:
        raise OSError("libcudnn.so.9: cannot open shared object file")

    monkeypatch.setattr(doctor, "check_gpu", broken)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    found = {f.name: f for f in doctor.run_checks(Workspace(tmp_path / "ws"))}
    assert found["GPU"].status == "warn" and "libcudnn" in found["GPU"].detail
    assert found["Downloads"].fix == "unset TRANSFORMERS_OFFLINE"
