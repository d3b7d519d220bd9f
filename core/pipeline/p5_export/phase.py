"""The export phase: the trained head as one self-contained ONNX file, checked against torch, and the TFLite file Home Assistant loads."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from core.errors import EasyOWWError
from core.events import PhaseFinished, PhaseStarted, Progress, Reporter, check_cancel
from core.pipeline.p5_export.onnx_export import (
    MAX_DIFF,
    PHASE,
    check_onnx_signature,
    export_onnx,
    onnx_scores,
)
from core.project.config import TrainingConfig


def run_export_phase(
    project: Any, cfg: TrainingConfig, report: Reporter, cancel: threading.Event | None, **kw: Any
) -> dict[str, Any]:
    """Write models/<project>.onnx from the trained head and prove it scores like torch.

    Loads the file in the streaming detector (openWakeWord's pipeline, :mod:`core.audio.streaming`) and compares
    onnxruntime's scores with torch's on the validation features; a difference above 1e-4 fails the phase.
    """
    import torch

    from core.pipeline.p3_features.store import load_features
    from core.pipeline.p4_training.phase import load_trained_head

    t0 = time.monotonic()
    report(PhaseStarted(PHASE, total=3, description="Exporting the model to ONNX"))
    model, info = load_trained_head(project, which=kw.get("which", "final"))
    check_cancel(cancel)
    out = project.model_path(cfg, ".onnx")
    export_onnx(model, out)
    report(Progress(PHASE, 1, 3, f"wrote {out.name}"))
    check_onnx_signature(out)

    from core.audio.streaming import load_head

    score_window, _ = load_head(out)  # the loader the streaming detector (evaluation, live test) uses
    report(Progress(PHASE, 2, 3, "loads in the openWakeWord pipeline"))
    check_cancel(cancel)

    fdir = project.features_dir(cfg)
    parts = []
    for cls in ("positive", "negative"):
        try:
            a = load_features(fdir, "val", cls)
        except EasyOWWError:
            continue
        parts.append(np.asarray(a[:512], dtype=np.float32))
    feats = np.concatenate(parts) if parts else np.zeros((0, 16, 96), np.float32)
    feats = np.concatenate(
        [feats, np.random.default_rng(cfg.seed).normal(2.0, 2.0, (16, 16, 96)).astype(np.float32)]
    )
    with torch.no_grad():
        ref = model(torch.from_numpy(feats)).numpy()[:, 0]
    got = onnx_scores(out, feats)
    diff = float(np.max(np.abs(ref - got))) if len(feats) else 0.0
    # the streaming detector's head call must give the same score on one window
    diff = max(diff, abs(score_window(feats[:1]) - float(ref[0])))
    if not diff <= MAX_DIFF:
        out.unlink(missing_ok=True)
        raise EasyOWWError(
            f"The exported ONNX model scores differ from the trained model by {diff:.2e} (limit {MAX_DIFF:g}); "
            "the file was removed. Update torch/onnx (`pip install -U torch onnx`) and run the export again."
        )
    seconds = time.monotonic() - t0
    report(Progress(PHASE, 3, 3, f"matches torch (max diff {diff:.1e})"))
    report(PhaseFinished(PHASE, True, f"{out.name} ({out.stat().st_size // 1024} KB)", seconds))
    return {
        "path": str(out),
        "bytes": out.stat().st_size,
        "max_abs_diff": diff,
        "compared_rows": int(len(feats)),
        "model_name": out.stem,
        "trained_steps": int(info.get("summary", {}).get("steps", info.get("step", 0)) or 0),
        "seconds": seconds,
    }
