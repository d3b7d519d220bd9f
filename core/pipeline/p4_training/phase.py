"""The training phase: one head or an ensemble, resumed from its checkpoints, and the trained head for the phases after it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import torch

from core.errors import EasyOWWError
from core.events import Reporter
from core.fsutil import remove_stale_temps
from core.pipeline.p3_features.embedder import auto_threads
from core.pipeline.p3_features.store import (
    features_ready,
)
from core.pipeline.p4_training.checkpoints import (
    BEST_NAME,
    FINAL_NAME,
    load_torch,
)
from core.pipeline.p4_training.ensemble import train_ensemble
from core.pipeline.p4_training.heads import Head, build_head
from core.pipeline.p4_training.loop import TrainResult, pick_device, train_head, training_fingerprint
from core.project.config import TrainingConfig


def run_training_phase(
    project: Any,
    cfg: TrainingConfig,
    report: Reporter,
    cancel: threading.Event | None,
    resume: bool = True,
    patience: int = 8,
    min_fraction: float = 1.0,
    threads: int | None = None,
    val_every: int | None = None,
    use_bank: bool = True,
) -> dict[str, Any]:
    """Train the head (or an ensemble of heads); resumes from ``checkpoints/`` unless ``resume`` is False.

    patience: validations without improvement before stopping early; min_fraction: never stop before this
    share of max_steps (1.0, i.e. no early stop: the synthetic validation set is too easy to choose by, and
    the cosine schedule should finish). Returns steps, best step, final metrics, seconds and steps/s.
    """
    t0 = time.monotonic()
    ckdir: Path = project.checkpoints_dir
    ckdir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(ckdir)
    manifest = features_ready(project.features_dir(cfg))
    if manifest is None:
        raise EasyOWWError(
            f"No finished features in {project.features_dir(cfg)}. Run the features phase first."
        )
    fp = training_fingerprint(cfg, manifest.get("fingerprint", ""))
    device = pick_device(cfg.device)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads or auto_threads())
    try:
        result: TrainResult
        if int(cfg.ensemble_size) > 1:
            result = train_ensemble(project, cfg, report, cancel, resume, patience, min_fraction, val_every,
                                    use_bank, fp, device, t0, manifest.get("fingerprint", ""))
        else:
            result = train_head(project, cfg, report, cancel, resume, patience, min_fraction, val_every,
                                use_bank, fp, device, t0)
        return result.summary
    finally:
        torch.set_num_threads(old_threads)


def load_trained_head(project: Any, which: str = "final") -> tuple[Head, dict[str, Any]]:
    """The trained head from ``checkpoints/model_final.pt`` (or ``model_best.pt``), in eval mode."""
    path = project.checkpoints_dir / (FINAL_NAME if which == "final" else BEST_NAME)
    if not path.is_file():
        raise EasyOWWError(f"No trained model at {path}. Run the training phase first.")
    data = load_torch(path)
    model = build_head(data["spec"])
    model.load_state_dict(data["model"])
    model.eval()
    return model, data
