"""The onnxruntime streaming detector gives openwakeword.Model's scores (where openwakeword installs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.assets.feature_models import locate_feature_models
from core.audio.streaming import FRAME, StreamingDetector
from core.audio.tts import PiperTTS
from core.errors import EasyOWWError
from core.pipeline.p4_training.heads import DNNHead
from core.pipeline.p5_export.onnx_export import export_onnx

JOE = "en_US-joe-medium"


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(3)
    model = DNNHead(32, 1, 0.0)
    with torch.no_grad():  # a head that reacts to the features (random init sits near 0.5 everywhere)
        model.net[-1].weight.mul_(8.0)
    return export_onnx(model, tmp_path_factory.mktemp("head") / "probe.onnx")


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    tts = PiperTTS(None)
    rng = np.random.default_rng(0)
    speech = tts.synthesize("Hey jarvis, what is the weather like today?", JOE)
    x = np.concatenate([rng.normal(0, 30, 8000), speech * 12000, rng.normal(0, 300, 9000)])
    return np.clip(x, -32768, 32767).astype(np.int16)


def _oww(head: Path, seed: int):
    oww = pytest.importorskip("openwakeword.model", reason="openwakeword installs on Python 3.11 only (dev extra)")
    fm = locate_feature_models(None)
    np.random.seed(seed)
    return oww.Model(wakeword_models=[str(head)], inference_framework="onnx", **fm.as_kwargs())


@pytest.mark.parametrize("chunk", [FRAME, 1000, 4 * FRAME, 3000])
def test_scores_equal_openwakeword(head: Path, audio: np.ndarray, chunk: int) -> None:
    ref = _oww(head, seed=7)
    det = StreamingDetector(head, locate_feature_models(None), seed=7)
    name = next(iter(ref.models))
    want, got = [], []
    for i in range(0, len(audio) - chunk + 1, chunk):
        want.append(ref.predict(audio[i : i + chunk])[name])
        got.append(det.predict(audio[i : i + chunk]))
    want, got = np.array(want), np.array(got)
    assert np.ptp(want) > 0.05  # the probe head moves with the audio
    assert np.max(np.abs(want - got)) < 1e-5
    assert (got[:5] == 0).all()


def test_reset_repeats_a_stream(head: Path, audio: np.ndarray) -> None:
    det = StreamingDetector(head, locate_feature_models(None), seed=1)
    first = det.scores(audio)
    det.reset()
    assert np.array_equal(first, det.scores(audio))
    assert len(first) == len(audio) // FRAME


def test_bad_inputs_give_clear_errors(head: Path, tmp_path: Path) -> None:
    fm = locate_feature_models(None)
    with pytest.raises(EasyOWWError, match="No model at"):
        StreamingDetector(tmp_path / "none.onnx", fm)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(EasyOWWError, match="Cannot load the model"):
        StreamingDetector(bad, fm)
    with pytest.raises(EasyOWWError, match=r"\.onnx or \.tflite"):
        StreamingDetector(tmp_path / "x.txt", fm) if (tmp_path / "x.txt").write_text("x") else None
    det = StreamingDetector(head, fm)
    with pytest.raises(EasyOWWError, match="int16"):
        det.predict(np.zeros(FRAME, np.float32))


def test_long_chunks_do_not_break_the_stream(head: Path, audio: np.ndarray) -> None:
    """A chunk longer than openWakeWord's 10 s of history: scored on the windows still kept, no crash."""
    det = StreamingDetector(head, locate_feature_models(None), seed=2)
    long = np.tile(audio, 1 + (16000 * 12) // len(audio))[: 16000 * 12]
    for _ in range(6):  # past the 5 ignored predictions
        score = det.predict(long)
    assert 0.0 < score <= 1.0
    assert 0.0 <= det.predict(audio[:FRAME]) <= 1.0
