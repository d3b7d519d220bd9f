"""`easy-oww train NAME --refine`: improve the trained model with the user's corrections, in about a minute.

Not a retrain: the current head (every head of an ensemble) is fine-tuned for a few hundred steps at a fifth of
the learning rate, on batches drawn as in training (every feature already computed is reused) plus, in each
batch, rows from the corrections (``core.audio.corrections``): every window of a false trigger's audio as a
negative and the missed wake words as positives, weighted up. The result is exported and evaluated on the same
held-out data as the model it would replace; it replaces it only when its recall there is no more than
``RECALL_TOLERANCE`` lower and its false accepts per hour stay at or under the target (or the old figure). The
replaced model is kept, numbered, in ``models/history/``.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import EasyOWWError
from core.events import PhaseFinished, PhaseStarted, Progress, Reporter, check_cancel, log, null_report

PHASE = "refine"
STEPS = 400  # fine-tuning steps
LR_FACTOR = 0.2  # of the configured learning rate
CORRECTION_ROWS = 64  # rows of each batch taken from the corrections (half negatives, half positives if any)
POSITIVE_PLACEMENTS = 8  # a missed take, placed this many ways in the 2 s window
RECALL_TOLERANCE = 0.02


def correction_features(project: Any, cfg: Any, items: list[Any], ext: Any) -> tuple[np.ndarray, np.ndarray]:
    """(positives, negatives) as (N, 16, 96): every window of each false trigger's audio streamed, and each missed
    take placed at the end of the window in several ways."""
    from core.pipeline.p3_features.embedder import EMB_DIM, N_FRAMES, SR, stream_windows
    from core.pipeline.p3_features.windows import PAD_NOISE_LSB, clip_rng, place_clip, read_clip_int16

    empty = np.empty((0, N_FRAMES, EMB_DIM), np.float32)
    pos, neg = [empty], [empty]
    for c in items:
        path = Path(project.path) / c.file
        x = read_clip_int16(path).astype(np.float32)
        rng = clip_rng(cfg.seed, c.file)
        if c.label == 0:
            audio = np.concatenate([rng.normal(0, PAD_NOISE_LSB, SR), x, rng.normal(0, PAD_NOISE_LSB, SR // 2)])
            neg.append(stream_windows(ext.embed_stream(np.clip(np.round(audio), -32768, 32767))))
        elif c.label == 1:
            clip = x.astype(np.int16)
            wins = np.stack([place_clip(clip, rng, "end") for _ in range(POSITIVE_PLACEMENTS)])
            pos.append(ext.clip_windows(wins))
    return (np.ascontiguousarray(np.concatenate(pos), np.float32),
            np.ascontiguousarray(np.concatenate(neg), np.float32))


def fine_tune(model: Any, data: Any, cfg: Any, pos: np.ndarray, neg: np.ndarray, report: Reporter,
              cancel: threading.Event | None, steps: int = STEPS) -> Any:
    """A few hundred steps of the training loss on ordinary batches plus correction rows."""
    import torch

    from core.pipeline.p4_training.batches import BatchSampler
    from core.pipeline.p4_training.loop import adamw, loss_rows

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    device = torch.device("cpu")
    sampler = BatchSampler(data, cfg.batch_size, cfg.seed + 17, device, cfg.feature_noise)  # noise as trained
    cp, cn = torch.from_numpy(pos), torch.from_numpy(neg)
    n_pos = (CORRECTION_ROWS // 2 if len(cn) else CORRECTION_ROWS) if len(cp) else 0
    n_neg = CORRECTION_ROWS - n_pos if len(cn) else 0
    opt = adamw(model, cfg.learning_rate * LR_FACTOR, device)
    model.train()
    for step in range(steps):
        check_cancel(cancel)
        xb, _ = sampler.batch(step)
        y = sampler.y
        extra_x = [xb]
        extra_y = [y]
        if n_pos:
            extra_x.append(cp[torch.randint(len(cp), (n_pos,), generator=gen)])
            extra_y.append(torch.ones(n_pos, 1))
        if n_neg:
            extra_x.append(cn[torch.randint(len(cn), (n_neg,), generator=gen)])
            extra_y.append(torch.zeros(n_neg, 1))
        x, yy = torch.cat(extra_x), torch.cat(extra_y).reshape(-1, 1)
        loss = loss_rows(model.logits(x), yy, float(cfg.label_smoothing)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            report(Progress(PHASE, step + 1, steps, f"fine-tuning, loss {float(loss.detach()):.4f}"))
    return model.eval()


def _archive(project: Any, cfg: Any) -> tuple[int, list[tuple[Path, Path]]]:
    """Copy the current model files to models/history/<name>.v<k>.*; returns k and (copy, original) pairs."""
    models = project.model_path(cfg).parent
    history = models / "history"
    history.mkdir(parents=True, exist_ok=True)
    stem = project.model_path(cfg).stem
    k = 1 + sum(1 for _ in history.glob(f"{stem}.v*.onnx"))
    pairs = []
    for suffix in (".onnx", ".tflite", ".json", ".md"):
        src = project.model_path(cfg, suffix)
        if src.is_file():
            dst = history / f"{stem}.v{k}{suffix}"
            shutil.copy2(src, dst)
            pairs.append((dst, src))
    from core.pipeline.p4_training.checkpoints import FINAL_NAME

    ck = project.checkpoints_dir / FINAL_NAME
    dst = history / f"{stem}.v{k}.pt"
    shutil.copy2(ck, dst)
    pairs.append((dst, ck))
    return k, pairs


def _restore(pairs: list[tuple[Path, Path]]) -> None:
    for copy, original in pairs:
        shutil.copy2(copy, original)


def refine(project: Any, cfg: Any, report: Reporter = null_report, cancel: threading.Event | None = None
           ) -> dict[str, Any]:
    """Fine-tune the project's model on its corrections; keep it only if it is as good on the held-out data."""
    import torch

    from core.assets.feature_models import feature_models_for
    from core.audio.corrections import load_corrections
    from core.fsutil import atomic_write_text
    from core.pipeline.p3_features.embedder import FeatureExtractor, auto_threads
    from core.pipeline.p4_training.batches import load_train_data
    from core.pipeline.p4_training.checkpoints import FINAL_NAME, save_torch_atomic
    from core.pipeline.p4_training.phase import load_trained_head
    from core.pipeline.p5_export.phase import run_export_phase
    from core.pipeline.p6_evaluation.evaluate import evaluate_model
    from core.project.model_card import read_card, write_model_card

    t0 = time.monotonic()
    items = [c for c in load_corrections(project) if c.label is not None]
    if not items:
        raise EasyOWWError(f"{project.name} has no corrections yet. Test it (easy-oww test {project.name}): press f "
                           "after a wrong detection, m after a missed wake word; then refine.")
    old_card = read_card(project.model_path(cfg, ".json"))
    if not old_card.get("metrics") or not project.model_path(cfg, ".onnx").is_file():
        raise EasyOWWError(f"{project.name} has no evaluated model to refine. Train it first: easy-oww train "
                           f"{project.name}.")
    report(PhaseStarted(PHASE, STEPS, f"Refining with {len(items)} correction(s)"))
    torch.set_num_threads(auto_threads())
    model, final = load_trained_head(project)
    ext = FeatureExtractor(feature_models_for(project.workspace), threads=auto_threads())
    pos, neg = correction_features(project, cfg, items, ext)
    log(report, f"corrections: {len(neg)} negative windows from false triggers, {len(pos)} positive windows from "
        "missed wake words", PHASE)
    data = load_train_data(project, cfg)
    check_cancel(cancel)
    model = fine_tune(model, data, cfg, pos, neg, report, cancel)
    version, pairs = _archive(project, cfg)
    save_torch_atomic({**final, "model": model.state_dict(),
                       "summary": {**final.get("summary", {}), "refined": len(items)}},
                      project.checkpoints_dir / FINAL_NAME)
    try:
        run_export_phase(project, cfg, null_report, cancel)
        card = evaluate_model(project.model_path(cfg, ".onnx"), project, cfg, null_report, cancel)
    except BaseException:
        _restore(pairs)
        raise
    old_m, new_m = old_card["metrics"], card["metrics"]
    fa_cap = max(float(cfg.target_false_accepts_per_hour), float(old_m.get("false_accepts_per_hour") or 0.0))
    kept = (new_m["recall"] >= old_m["recall"] - RECALL_TOLERANCE and new_m["false_accepts_per_hour"] <= fa_cap)
    if kept:
        atomic_write_text(project.model_path(cfg, ".json"), json.dumps({**card, "refined_from": version}, indent=1))
        write_model_card(project, cfg, card, final.get("summary", {}))
        if project.model_path(cfg, ".tflite").is_file():
            from core.pipeline.p5_export.tflite_export import run_tflite_export

            run_tflite_export(project, cfg, null_report, cancel)
    else:
        _restore(pairs)
        for copy, _ in pairs:
            copy.unlink(missing_ok=True)
    seconds = time.monotonic() - t0
    from core.project.runs import record_run

    record_run(project, cfg, "refine", card, seconds, {"corrections": len(items)},
               {"kept": kept, "archived_as": f"v{version}" if kept else None})
    result = {
        "kept": kept, "version_archived": version if kept else None, "corrections": len(items),
        "negative_windows": len(neg), "positive_windows": len(pos), "seconds": round(seconds, 1),
        "before": {k: old_m.get(k) for k in ("recall", "false_accepts_per_hour")} | {"threshold": old_card.get(
            "threshold")},
        "after": {k: new_m.get(k) for k in ("recall", "false_accepts_per_hour")} | {"threshold": card.get(
            "threshold")},
    }
    verdict = (f"kept (the previous model is models/history/v{version})" if kept else
               "not kept: the previous model is better on the held-out data")
    report(PhaseFinished(PHASE, True, f"recall {old_m['recall']:.3f} -> {new_m['recall']:.3f}, "
                         f"{old_m['false_accepts_per_hour']:.2f} -> {new_m['false_accepts_per_hour']:.2f} false "
                         f"accepts/h; {verdict}", seconds))
    return result
