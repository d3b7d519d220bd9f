"""Train a classifier head on the feature arrays: balanced batches, checkpoints, exact resume.

Recipe: half of each batch positives (real recordings drawn 4x as often), half negatives (clips,
negative-speech windows, ACAV100M rows when downloaded), optionally with Gaussian noise on every window's
features (``feature_noise`` times each feature's spread; off by default); focal loss (on label-smoothed targets when
``label_smoothing`` > 0); AdamW with warm-up and cosine decay; final weights averaged over the last quarter
of the run. Optional knobs (module constants): a ramped negative weight and hard-negative mining.

Determinism: every random draw (init, dropout, batch sampling) comes from torch RNGs seeded
from ``cfg.seed``; batch sampling uses its own ``torch.Generator``. Checkpoints hold the
model, optimizer, scheduler and all RNG states, so a resumed run ends with the same weights
as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import EasyOWWError
from core.events import Metric, PhaseFinished, PhaseStarted, Progress, Reporter, check_cancel, log, warn
from core.pipeline.p4_training import batches
from core.pipeline.p4_training.batches import (
    BatchSampler,
    TrainData,
    load_train_data,
)
from core.pipeline.p4_training.checkpoints import (
    BEST_NAME,
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    FINAL_NAME,
    load_torch,
    rng_state,
    save_torch_atomic,
    set_rng_state,
)
from core.pipeline.p4_training.heads import Head, build_head, head_spec
from core.project.config import TrainingConfig

PHASE = "training"
AVERAGE_FROM = 0.75  # the final weights are the mean of snapshots taken over the last 25% of the steps
AVERAGE_EVERY = 50  # steps between snapshots
# Focal loss: each row's (label-smoothed) cross-entropy times (1 - p_true)^gamma, so the mass of easy
# negatives stops drowning the few confusable ones. On the held-out benchmark gamma 2 lifted recall at
# <= 0.5 false accepts/h from 0.528 to 0.613 (mean of 3 seeds); 0 is plain cross-entropy.
FOCAL_GAMMA = 2.0
NEG_WEIGHT_MAX = 1.0  # the negatives' loss weight ramps linearly from 1 to this (3: within seed noise)


# --------------------------------------------------------------------------- helpers
def pick_device(setting: str) -> torch.device:
    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise EasyOWWError(
                "device: 'cuda' was asked for but no CUDA GPU is usable. Set device: auto or cpu."
            )
        return torch.device("cuda")
    return torch.device("cpu")


def lr_factor(step: int, max_steps: int) -> float:
    """Linear warm-up (5% of steps, at most 500) then cosine decay to 2% of the base rate."""
    warm = max(1, min(500, max_steps // 20))
    if step < warm:
        return (step + 1) / warm
    t = (step - warm) / max(1, max_steps - warm)
    return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def training_fingerprint(cfg: TrainingConfig, features_fp: str) -> str:
    keys = {
        **head_spec(cfg),
        "lr": cfg.learning_rate,
        "batch": cfg.batch_size,
        "max_steps": cfg.max_steps,
        "ls": cfg.label_smoothing,
        "seed": cfg.seed,
        "features": features_fp,
        "format": CHECKPOINT_FORMAT,
        "average": [AVERAGE_FROM, AVERAGE_EVERY],
        "recipe": [FOCAL_GAMMA, NEG_WEIGHT_MAX, batches.HARD_SHARE, batches.HARD_POOL, batches.HARD_EVERY, batches.HARD_FROM, batches.SPEECH_SHARE],
    }
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]


def adamw(model: Head, lr: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW, fused (one kernel per update: about a tenth of a step on 2 CPU cores) where this torch has it for the
    device (CPU since torch 2.4)."""
    params = list(model.parameters())
    if device.type in ("cpu", "cuda"):
        try:
            return torch.optim.AdamW(params, lr=lr, weight_decay=1e-2, fused=True)
        except (RuntimeError, TypeError, ValueError):
            pass
    return torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)


# --------------------------------------------------------------------------- weight averaging
def average_start(max_steps: int) -> int:
    """First step whose weights go into the average."""
    return int(max_steps * AVERAGE_FROM)


def update_average(avg: dict[str, torch.Tensor] | None, n: int, model: Head) -> dict[str, torch.Tensor]:
    """Running mean of the model's floating-point weights (``n`` snapshots so far)."""
    state = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items() if v.is_floating_point()}
    if avg is None or n == 0:
        return state
    for k, v in state.items():
        avg[k] += (v - avg[k]) / (n + 1)
    return avg


def load_average(model: Head, avg: dict[str, torch.Tensor]) -> None:
    sd = model.state_dict()
    for k, v in avg.items():
        sd[k] = v.to(sd[k].dtype)
    model.load_state_dict(sd)


# --------------------------------------------------------------------------- the loss
def loss_rows(logits: torch.Tensor, y: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Each row's loss: cross-entropy on label-smoothed targets, times the focal factor (1 - p_true)^gamma."""
    target = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    per_row = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if FOCAL_GAMMA:
        p = torch.sigmoid(logits.detach())
        per_row = per_row * (p * (1 - y) + (1 - p) * y).pow(FOCAL_GAMMA)
    return per_row


# --------------------------------------------------------------------------- evaluation during training
@torch.no_grad()
def validate(
    model: Head, val_pos: torch.Tensor, val_neg: torch.Tensor, device: torch.device
) -> dict[str, float]:
    """Balanced BCE (no smoothing), recall at 0.5 and false-accept rate at 0.5 on held-out rows."""
    was_training = model.training
    model.eval()

    def scores(x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [model.logits(x[i : i + 8192].to(device)).float().cpu() for i in range(0, len(x), 8192)]
        )

    lp, ln = scores(val_pos)[:, 0], scores(val_neg)[:, 0]
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    loss_p = bce(lp, torch.ones_like(lp)).item()
    loss_n = bce(ln, torch.zeros_like(ln)).item()
    model.train(was_training)
    return {
        "val_loss": 0.5 * (loss_p + loss_n),
        "recall": float((lp >= 0).float().mean()),
        "false_accept_rate": float((ln >= 0).float().mean()),
    }


# --------------------------------------------------------------------------- phase
@dataclass
class TrainResult:
    model: Head
    summary: dict[str, Any]


def _val_every(cfg: TrainingConfig) -> int:
    """About 20 validations a run (each costs ~10 training steps on 2 cores), at most every checkpoint."""
    return max(10, min(cfg.checkpoint_every, max(50, cfg.max_steps // 20)))


def train_head(
    project: Any,
    cfg: TrainingConfig,
    report: Reporter,
    cancel: threading.Event | None,
    resume: bool,
    patience: int,
    min_fraction: float,
    val_every: int | None,
    use_bank: bool,
    fp: str,
    device: torch.device,
    t0: float,
    ckdir: Path | None = None,
    data: TrainData | None = None,
) -> TrainResult:
    """One head: checkpoints in ``ckdir`` (default: the project's), training rows ``data`` (default: loaded)."""
    ckdir = ckdir or project.checkpoints_dir
    ckdir.mkdir(parents=True, exist_ok=True)
    final_path, ck_path, best_path = ckdir / FINAL_NAME, ckdir / CHECKPOINT_NAME, ckdir / BEST_NAME
    spec = head_spec(cfg)
    report(PhaseStarted(PHASE, total=cfg.max_steps, description=f"Training a {cfg.model_type} head"))

    if resume and final_path.is_file():
        final = load_torch(final_path)
        if final.get("fingerprint") == fp:
            model = build_head(final["spec"])
            model.load_state_dict(final["model"])
            model.eval()
            report(PhaseFinished(PHASE, True, "already trained", time.monotonic() - t0, "skipped"))
            return TrainResult(model, {**final["summary"], "skipped": True})

    if data is None:
        data = load_train_data(project, cfg, use_bank=use_bank)
        data_notes(data, report)

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % (2**32))
    model = build_head(spec).to(device)
    opt = adamw(model, cfg.learning_rate, device)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg.max_steps))
    input_dropout = model.input_dropout()
    model.set_input_dropout(0.0)  # the sampler applies it
    sampler = BatchSampler(data, cfg.batch_size, cfg.seed, device, cfg.feature_noise, input_dropout)
    step = 0
    best = {"val_loss": float("inf"), "step": -1}
    bad = 0
    history: list[dict[str, float]] = []
    avg: dict[str, torch.Tensor] | None = None
    n_avg = 0
    resumed_from = None
    if resume and ck_path.is_file():
        ck = load_torch(ck_path)
        if ck.get("fingerprint") == fp and ck.get("format") == CHECKPOINT_FORMAT:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            sched.load_state_dict(ck["scheduler"])
            sampler.gen.set_state(ck["rng"]["sampler"])
            set_rng_state(ck["rng"])
            step, best, bad, history = int(ck["step"]), dict(ck["best"]), int(ck["bad"]), list(ck["history"])
            n_avg = int(ck["n_avg"])
            avg = dict(ck["average"]) if n_avg else None
            sampler.hard = ck.get("hard")
            resumed_from = step
            log(report, f"resuming from step {step}", PHASE)
        else:
            warn(
                report,
                "the settings or features changed since the last checkpoint: training from scratch",
                PHASE,
            )
    elif not resume:
        for p in (ck_path, best_path, final_path):
            p.unlink(missing_ok=True)

    def checkpoint() -> None:
        save_torch_atomic(
            {
                "format": CHECKPOINT_FORMAT,
                "fingerprint": fp,
                "spec": spec,
                "step": step,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "rng": {**rng_state(), "sampler": sampler.gen.get_state()},
                "best": best,
                "bad": bad,
                "history": history,
                "n_avg": n_avg,
                "average": avg or {},
                "hard": sampler.hard,
            },
            ck_path,
        )

    every = val_every or _val_every(cfg)
    avg_from = max(1, average_start(cfg.max_steps))
    min_steps = int(cfg.max_steps * min_fraction)
    ls = float(cfg.label_smoothing)
    y = sampler.y
    is_neg = (y == 0).float()
    hard_from = int(cfg.max_steps * batches.HARD_FROM) if sampler.n_hard else -1
    model.train()
    run_loss = 0.0
    run_n = 0
    t_loop = time.monotonic()
    start_step = step
    early = False
    metrics: dict[str, float] = {}
    while step < cfg.max_steps:
        if cancel is not None and cancel.is_set():
            checkpoint()
            check_cancel(cancel)
        if hard_from >= 0 and step >= hard_from and (step - hard_from) % batches.HARD_EVERY == 0:
            sampler.refresh_hard(model)
        xb, _ = sampler.batch(step)
        per_row = loss_rows(model.logits(xb), y, ls)
        if NEG_WEIGHT_MAX != 1.0:
            per_row = per_row * (1 + is_neg * (NEG_WEIGHT_MAX - 1) * min(1.0, step / cfg.max_steps))
        loss = per_row.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        run_loss += float(loss.detach())
        run_n += 1
        if step >= avg_from and (step % AVERAGE_EVERY == 0 or step == cfg.max_steps):
            avg = update_average(avg, n_avg, model)
            n_avg += 1
        if step % 25 == 0 or step == cfg.max_steps:
            rate = (step - start_step) / max(1e-9, time.monotonic() - t_loop)
            report(Metric(PHASE, "loss", run_loss / run_n, step))
            report(Progress(PHASE, step, cfg.max_steps, f"loss {run_loss / run_n:.4f}, {rate:.0f} steps/s"))
            run_loss, run_n = 0.0, 0
        if step % every == 0 or step == cfg.max_steps:
            metrics = validate(model, data.val_pos, data.val_neg, device)
            history.append({"step": step, **metrics})
            for name, value in metrics.items():
                report(Metric(PHASE, name, value, step))
            if metrics["val_loss"] < best["val_loss"] - 1e-4:
                best = {"val_loss": metrics["val_loss"], "step": step}
                bad = 0
                save_torch_atomic(
                    {"spec": spec, "model": model.state_dict(), "step": step, "metrics": metrics}, best_path
                )
            else:
                bad += 1
            if step >= min_steps and bad >= patience and step < cfg.max_steps:
                early = True
                log(report, f"validation loss stopped improving: stopping early at step {step}", PHASE)
        if step % cfg.checkpoint_every == 0 or early:
            checkpoint()
        if early:
            break

    seconds = time.monotonic() - t0
    steps_run = step - start_step
    train_seconds = time.monotonic() - t_loop
    summary = {
        "steps": step,
        "best_step": best["step"],
        "best_val_loss": best["val_loss"],
        "final_metrics": metrics,
        "seconds": seconds,
        "steps_per_second": steps_run / train_seconds if train_seconds > 0 else 0.0,
        "early_stopped": early,
        "resumed_from": resumed_from,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "positives": int(len(data.pos)),
        "negatives": int(len(data.neg)),
        "negative_speech_windows": int(len(data.speech)) if data.speech is not None else 0,
        "real_positives": data.n_real,
        "bank_negatives": bool(data.bank is not None),
    }
    model.eval()
    model.set_input_dropout(input_dropout)
    checkpoint()
    if avg is not None and n_avg > 1:
        load_average(model, avg)
        metrics = validate(model, data.val_pos, data.val_neg, device)
        summary["final_metrics"] = metrics
        summary["averaged_snapshots"] = n_avg
        log(report, f"final weights: mean of {n_avg} snapshots from step {avg_from} on", PHASE)
    save_torch_atomic(
        {"spec": spec, "model": model.state_dict(), "fingerprint": fp, "summary": summary}, final_path
    )
    report(PhaseFinished(PHASE, True, f"{step} steps, val loss {best['val_loss']:.4f}", seconds))
    return TrainResult(model.cpu(), summary)


def data_notes(data: TrainData, report: Reporter) -> None:
    for note in data.notes:
        warn(report, note, PHASE)
    if data.bank is not None:
        log(report, f"drawing extra negatives from {data.bank.path.name} ({len(data.bank):,} windows)", PHASE)
