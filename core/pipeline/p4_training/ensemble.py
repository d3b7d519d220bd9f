"""An ensemble of heads: each trained with its own seed and checkpoints (resumable one by one), their logits averaged into one EnsembleHead."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.events import Metric, PhaseFinished, PhaseStarted, Progress, Reporter
from core.pipeline.p4_training.batches import (
    load_train_data,
)
from core.pipeline.p4_training.checkpoints import (
    FINAL_NAME,
    load_torch,
    save_torch_atomic,
)
from core.pipeline.p4_training.heads import EnsembleHead, Head, build_head, ensemble_spec, head_spec
from core.pipeline.p4_training.loop import (
    PHASE,
    TrainResult,
    data_notes,
    train_head,
    training_fingerprint,
    validate,
)
from core.project.config import TrainingConfig

MEMBER_SEED_STEP = 7919  # ensemble member k trains with seed + k * this


def _member_reporter(report: Reporter, k: int, size: int, steps: int) -> Reporter:
    """Head ``k`` of an ensemble reports on one progress bar and one metric axis for the whole phase."""
    offset, total = k * steps, size * steps

    def member_report(event: Any) -> None:
        if isinstance(event, PhaseStarted | PhaseFinished):
            return
        if isinstance(event, Progress):
            event = Progress(event.phase, offset + event.done, total, f"head {k + 1}/{size}: {event.message}")
        elif isinstance(event, Metric) and event.step is not None:
            event = Metric(event.phase, event.name, event.value, offset + event.step)
        report(event)

    return member_report


def train_ensemble(
    project: Any, cfg: TrainingConfig, report: Reporter, cancel: threading.Event | None, resume: bool,
    patience: int, min_fraction: float, val_every: int | None, use_bank: bool, fp: str, device: torch.device,
    t0: float, features_fp: str,
) -> TrainResult:
    """``cfg.ensemble_size`` heads, each with its own seed and checkpoints (``checkpoints/head<k>``, resumable
    one by one), averaged into one :class:`EnsembleHead` saved as ``model_final.pt``."""
    size = int(cfg.ensemble_size)
    ckdir: Path = project.checkpoints_dir
    final_path = ckdir / FINAL_NAME
    spec = ensemble_spec(head_spec(cfg), size)
    report(PhaseStarted(PHASE, total=size * cfg.max_steps,
                        description=f"Training {size} {cfg.model_type} heads (one model: their mean)"))
    if resume and final_path.is_file():
        final = load_torch(final_path)
        if final.get("fingerprint") == fp and final.get("spec") == spec:
            model = build_head(spec)
            model.load_state_dict(final["model"])
            model.eval()
            report(PhaseFinished(PHASE, True, "already trained", time.monotonic() - t0, "skipped"))
            return TrainResult(model, {**final["summary"], "skipped": True})
    final_path.unlink(missing_ok=True)
    data = load_train_data(project, cfg, use_bank=use_bank)
    data_notes(data, report)
    members: list[Head] = []
    summaries: list[dict[str, Any]] = []
    for k in range(size):
        mcfg = replace(cfg, seed=(cfg.seed + k * MEMBER_SEED_STEP) % (2**31 - 1), ensemble_size=1)
        res = train_head(project, mcfg, _member_reporter(report, k, size, cfg.max_steps), cancel, resume, patience,
                     min_fraction, val_every, use_bank, training_fingerprint(mcfg, features_fp), device,
                     time.monotonic(), ckdir=ckdir / f"head{k + 1}", data=data)
        members.append(res.model)
        summaries.append(res.summary)
    model = EnsembleHead(members).eval()
    metrics = validate(model.to(device), data.val_pos, data.val_neg, device)
    first = summaries[0]
    seconds = time.monotonic() - t0
    summary = {
        **{k: first[k] for k in ("device", "threads", "positives", "negatives", "negative_speech_windows",
                                 "real_positives", "bank_negatives") if k in first},
        "ensemble_size": size,
        "steps": sum(int(s["steps"]) for s in summaries),
        "final_metrics": metrics,
        "seconds": seconds,
        "steps_per_second": float(np.mean([s["steps_per_second"] for s in summaries])),
        "members": [{k: s.get(k) for k in ("steps", "best_step", "best_val_loss", "final_metrics", "seconds",
                                           "steps_per_second", "resumed_from", "skipped")} for s in summaries],
        "early_stopped": any(s.get("early_stopped") for s in summaries),
        "resumed_from": next((s["resumed_from"] for s in summaries if s.get("resumed_from") is not None), None),
    }
    save_torch_atomic({"spec": spec, "model": model.state_dict(), "fingerprint": fp, "summary": summary}, final_path)
    report(PhaseFinished(PHASE, True, f"{size} heads x {cfg.max_steps} steps, val loss {metrics['val_loss']:.4f}",
                         seconds))
    return TrainResult(model.cpu(), summary)
