"""Export a trained head to one self-contained ONNX file openWakeWord can load."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import EasyOWWError
from core.fsutil import atomic_path

PHASE = "export"
INPUT_NAME = "x"
OUTPUT_NAME = "score"
OPSET = 17
MAX_DIFF = 1e-4


def export_onnx(model: Any, path: str | Path) -> Path:
    """Write ``model`` ((1,16,96) -> (1,1) probability) as one ONNX file, atomically."""
    import torch

    model = model.cpu().eval()
    dummy = torch.zeros(1, 16, 96, dtype=torch.float32)
    path = Path(path)
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about constant shapes (16 frames, fixed heads)
        torch.onnx.export(
            model,
            (dummy,),
            str(tmp),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=OPSET,
            dynamo=False,
            external_data=False,
        )
    return path


def onnx_scorer(path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    """A function scoring (N, 16, 96) features with an openWakeWord-style ONNX head -> (N,).

    Runs batched when the graph allows a free batch size, else one row at a time.
    """
    sess = _batched_session(path)
    batched = sess is not None
    if sess is None:
        sess = _session(Path(path).read_bytes())
    name = sess.get_inputs()[0].name

    def score(features: np.ndarray, batch: int = 4096) -> np.ndarray:
        feats = np.asarray(features)
        out = np.empty(len(feats), np.float32)
        if batched:
            for i in range(0, len(feats), batch):
                xb = np.ascontiguousarray(feats[i : i + batch], dtype=np.float32)
                out[i : i + len(xb)] = np.asarray(sess.run(None, {name: xb})[0]).reshape(len(xb), -1)[:, 0]
        else:
            for i in range(len(feats)):
                xb = np.asarray(feats[i : i + 1], dtype=np.float32)
                out[i] = np.asarray(sess.run(None, {name: xb})[0]).ravel()[0]
        return out

    return score


def onnx_scores(path: str | Path, features: np.ndarray) -> np.ndarray:
    """Scores (N,) of an ONNX head on (N, 16, 96) features (see :func:`onnx_scorer`)."""
    return onnx_scorer(path)(features)


def _session(model_bytes: bytes) -> Any:
    from core.ort_session import onnx_session

    return onnx_session(model_bytes, threads=2)


def _batched_session(path: str | Path) -> Any | None:
    """A session over a copy of the model whose batch dimension is free, or None if that fails."""
    import onnx

    try:
        m = onnx.load(str(path))
        for v in list(m.graph.input[:1]) + list(m.graph.output[:1]):
            dim = v.type.tensor_type.shape.dim[0]
            dim.ClearField("dim_value")
            dim.dim_param = "batch"
        sess = _session(m.SerializeToString())
        name = sess.get_inputs()[0].name
        probe = np.zeros((3, 16, 96), np.float32)
        probe[1] += 1.0
        res = np.asarray(sess.run(None, {name: probe})[0])
        single = _session(Path(path).read_bytes())
        ref = np.asarray(single.run(None, {single.get_inputs()[0].name: probe[1:2]})[0]).ravel()[0]
        if res.reshape(3, -1).shape[0] != 3 or abs(float(res.reshape(3, -1)[1, 0]) - float(ref)) > 1e-5:
            return None
        return sess
    except Exception:  # noqa: BLE001 - any failure means: score one row at a time
        return None


def check_onnx_signature(path: str | Path) -> None:
    """Raise unless the file is a [1,16,96] -> [1,1] model."""
    sess = _session(Path(path).read_bytes())
    i, o = sess.get_inputs()[0], sess.get_outputs()[0]
    if list(i.shape) != [1, 16, 96] or list(o.shape) != [1, 1]:
        raise EasyOWWError(
            f"{path}: input {i.shape} / output {o.shape}; openWakeWord needs [1, 16, 96] -> [1, 1]. Export it again."
        )
