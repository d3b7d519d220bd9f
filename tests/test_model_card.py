"""Model card: merged into models/<name>.json (existing keys kept), sha256 of the model files, a .md."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from core import __version__
from core.errors import EasyOWWError
from core.project.config import TrainingConfig
from core.project.model_card import write_model_card
from core.project.workspace import Workspace

EVAL = {
    "wake_word": "hey jarvis",
    "model": "jarvis.onnx",
    "threshold": 0.42,
    "metrics": {"recall": 0.81, "false_accepts_per_hour": 0.4, "recall_at_0_5": 0.78,
                "fa_per_hour_at_0_5": 0.3, "negative_hours": 2.5},
    "det_curve": [{"threshold": 0.5, "recall": 0.78, "false_accepts_per_hour": 0.3}],
    "measured_on": {"positive_clips": 40, "positive_real_recordings": 3, "negative_clips": 300,
                    "negative_stream_hours": 0.1, "validation_feature_hours": 2.4},
}


def _project(tmp_path: Path, name: str = "jarvis"):
    ws = Workspace(tmp_path / "ws")
    cfg = TrainingConfig.quick(name, "hey jarvis")
    project = ws.create_project(cfg)
    return ws, project, project.load_config()


def _wav(path: Path) -> None:
    from core.audio.files import write_wav

    write_wav(path, np.zeros(1600, np.float32))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_card_merges_and_describes(tmp_path: Path) -> None:
    ws, project, cfg = _project(tmp_path)
    models = project.models_dir(cfg)
    models.mkdir(parents=True, exist_ok=True)
    onnx = models / "jarvis.onnx"
    tfl = models / "jarvis.tflite"
    onnx.write_bytes(b"onnx model bytes")
    tfl.write_bytes(b"tflite model bytes" * 10)
    existing = dict(EVAL, config=cfg.to_dict(), config_fingerprint=cfg.fingerprint(), custom_key={"kept": True})
    (models / "jarvis.json").write_text(json.dumps(existing))
    for i in range(3):
        _wav(project.positive_clips_dir(cfg) / f"synth_{i}.wav")
    _wav(project.negative_clips_dir(cfg) / "neg_0.wav")
    _wav(project.recordings_dir(cfg) / "take_0.wav")
    # The validation features "downloaded": used for evaluation only (no non-commercial training data).
    ws.validation_features_path.parent.mkdir(parents=True, exist_ok=True)
    np.save(ws.validation_features_path, np.zeros((2, 16, 96), np.float32))
    summary = {"clips": {"voices": ["en_US-joe-medium", "espeak:en-us"], "synthetic": 3, "negatives": 1, "real": 1},
               "training": {"steps": 800, "best_step": 700, "seconds": 12.5, "irrelevant": [1, 2]}}

    json_path, md_path = write_model_card(project, cfg, EVAL, summary)

    data = json.loads(json_path.read_text())
    for key, value in existing.items():  # every existing key preserved, unchanged
        assert data[key] == value
    card = data["card"]
    assert card["wake_word"] == "hey jarvis" and card["threshold"] == 0.42
    assert card["performance"]["recall"] == 0.81 and card["performance"]["false_accepts_per_hour"] == 0.4
    assert card["performance"]["measured_on"]["positive_clips"] == 40
    assert card["easy_oww_version"] == __version__ and card["config_fingerprint"] == cfg.fingerprint()
    assert card["files"]["onnx"] == {"path": "jarvis.onnx", "bytes": onnx.stat().st_size, "sha256": _sha(onnx)}
    assert card["files"]["tflite"]["sha256"] == _sha(tfl)
    counts = card["training_data"]["clip_counts"]
    assert counts["positive"] == 3 and counts["negative"] == 1 and counts["real_recordings"] == 1
    voices = {v["name"]: v for v in card["training_data"]["voices"]}
    assert voices["en_US-joe-medium"]["licence"] == "dataset CC0"  # from the voice's own MODEL_CARD
    assert "GPL" in voices["espeak:en-us"]["licence"]
    assert "openWakeWord validation features" in card["training_data"]["datasets"]
    lic = {entry["name"]: entry for entry in card["licences"]}
    assert lic["openWakeWord feature models (melspectrogram.onnx, embedding_model.onnx, v0.5.1)"]["licence"] \
        == "Apache-2.0"
    assert lic["openWakeWord validation features"]["licence"] == "CC BY-NC-SA 4.0"
    assert "evaluation only" in lic["openWakeWord validation features"]["use"]
    assert card["non_commercial"] is False
    assert card["training"] == {"steps": 800, "best_step": 700, "seconds": 12.5}
    md = md_path.read_text()
    assert md_path.name == "jarvis.md" and "hey jarvis" in md
    assert "0.42" in md and "0.810" in md and _sha(onnx) in md and _sha(tfl) in md
    assert "/share/openwakeword" in md and "inference_framework=\"onnx\"" in md
    assert not list(models.glob(".*.tmp*"))


def test_acav100m_marks_the_model_non_commercial(tmp_path: Path) -> None:
    ws, project, cfg = _project(tmp_path, "nc")
    models = project.models_dir(cfg)
    models.mkdir(parents=True, exist_ok=True)
    (models / "nc.onnx").write_bytes(b"x")
    _, md = write_model_card(project, cfg, EVAL, {"datasets": ["ACAV100M negative features"]})
    card = json.loads(project.model_path(cfg, ".json").read_text())["card"]
    assert card["non_commercial"] is True and "CC BY-NC-SA 4.0" in card["licence_note"]
    assert "tflite" not in card["files"]  # only files that exist
    assert "non-commercial" in md.read_text()
    # Writing again replaces the card, keeps the rest.
    data = json.loads(project.model_path(cfg, ".json").read_text())
    data["note"] = "mine"
    project.model_path(cfg, ".json").write_text(json.dumps(data))
    write_model_card(project, cfg, EVAL, {"datasets": []})
    data = json.loads(project.model_path(cfg, ".json").read_text())
    assert data["note"] == "mine" and data["card"]["non_commercial"] is False


def test_errors_are_clear(tmp_path: Path) -> None:
    _, project, cfg = _project(tmp_path, "err")
    with pytest.raises(EasyOWWError, match="Export the model first"):
        write_model_card(project, cfg, EVAL, {})
    models = project.models_dir(cfg)
    models.mkdir(parents=True, exist_ok=True)
    (models / "err.onnx").write_bytes(b"x")
    (models / "err.json").write_text("{broken")
    with pytest.raises(EasyOWWError, match="damaged"):
        write_model_card(project, cfg, EVAL, {})
    assert (models / "err.json").read_text() == "{broken"  # not overwritten
