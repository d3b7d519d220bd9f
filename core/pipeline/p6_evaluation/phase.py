"""The evaluation phase: score the exported model the way a microphone feeds it, choose the threshold on audio it never trained on, and write the model card."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from core.events import PhaseFinished, Reporter
from core.fsutil import atomic_write_text
from core.pipeline.p6_evaluation.evaluate import PHASE, evaluate_model
from core.project.config import TrainingConfig


def run_evaluation_phase(
    project: Any,
    cfg: TrainingConfig,
    report: Reporter,
    cancel: threading.Event | None,
    model_path: str | Path | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """Evaluate the exported model (or ``model_path``) and write models/<project>.json atomically."""
    t0 = time.monotonic()
    path = Path(model_path) if model_path else project.model_path(cfg, ".onnx")
    card = evaluate_model(path, project, cfg, report, cancel, **kw)
    out = project.model_path(cfg, ".json")
    atomic_write_text(out, json.dumps(card, indent=1))
    m = card["metrics"]
    report(
        PhaseFinished(
            PHASE,
            True,
            f"threshold {card['threshold']:.2f}: recall {m['recall']:.2f}, "
            f"{m['false_accepts_per_hour']:.2f} false accepts/h over {m['negative_hours']:.2f} h",
            time.monotonic() - t0,
        )
    )
    return {
        "path": str(out),
        "threshold": card["threshold"],
        **{
            k: m[k]
            for k in (
                "recall",
                "false_accepts_per_hour",
                "recall_at_0_5",
                "fa_per_hour_at_0_5",
                "negative_hours",
            )
        },
        "seconds": time.monotonic() - t0,
    }
