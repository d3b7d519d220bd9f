"""openWakeWord features for training: clips -> (N, 16, 96) float32 arrays.

The melspectrogram is computed the way a live microphone stream computes it (one call
per 80 ms chunk with 480 samples of context), because openWakeWord's melspectrogram model
clamps at (maximum over its whole input - 80 dB): a whole-clip or whole-batch call sees a
different maximum than live audio does. Embeddings (the expensive part) are batched.

Each clip is placed in a 2 s window (+480 samples of context), which yields exactly the 16
embedding frames the classifier reads; a positive's speech ends a small seeded random time
before the window's end, as at the moment a live detector should fire.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.assets.feature_models import FeatureModels, feature_models_for
from core.errors import EasyOWWError
from core.events import PhaseFinished, PhaseStarted, Progress, Reporter, check_cancel, log, warn
from core.fsutil import atomic_path, atomic_write_text, remove_stale_temps
from core.pipeline.p3_features.embedder import (
    EMB_DIM,
    N_FRAMES,
    FeatureExtractor,
)
from core.pipeline.p3_features.plan import (
    CLASSES,
    FEATURE_VERSION,
    SPLITS,
    STREAM_CLASS,
    is_stream_key,
    is_unseen_key,
    plan_features,
    source_id,
)
from core.pipeline.p3_features.store import _partial_dir, _wav_frames, features_ready
from core.pipeline.p3_features.windows import compute_chunk, stream_frames, unseen_padding
from core.pool import cpu_count, run_chunks
from core.project.config import TrainingConfig

PHASE = "features"
STREAM_CHUNK_FILES = 8


# --------------------------------------------------------------------------- phase
CHUNK_CLIPS = 128
POOL_MIN_CLIPS = 600  # fewer clips run in-process (worker start-up costs ~2 s)


_WORKER_EXT: FeatureExtractor | None = None


def _init_feature_worker(models: FeatureModels, threads: int) -> None:
    global _WORKER_EXT
    _WORKER_EXT = FeatureExtractor(models, threads=threads)


def _feature_worker_chunk(item: tuple[str, Path, list[str]], clips_dir: Path, seed: int) -> tuple:
    """One chunk in a worker process: the item back with its features and the seconds they took."""
    assert _WORKER_EXT is not None
    t0 = time.monotonic()
    return item, compute_chunk(_WORKER_EXT, clips_dir, item[0], item[2], seed), time.monotonic() - t0


def run_feature_phase(
    project: Any, cfg: TrainingConfig, report: Reporter, cancel: threading.Event | None, **kw: Any
) -> dict[str, Any]:
    """Compute features for every clip; resumable chunk by chunk; skips work already done."""
    t0 = time.monotonic()
    clips_dir = project.clips_dir(cfg)
    out_dir = project.features_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out_dir)
    plan = plan_features(clips_dir, cfg)
    for cls in CLASSES:
        if not any(plan.rows[f"{s}_{cls}"] for s in SPLITS):
            raise EasyOWWError(
                f"No {cls} clips in {clips_dir}. Run the clips phase first (`easy-oww train {project.name}`)."
            )
    fp = plan.fingerprint(cfg)
    manifest = features_ready(out_dir)
    report(PhaseStarted(PHASE, total=plan.total, description="Computing openWakeWord features"))
    if manifest and manifest.get("fingerprint") == fp:
        report(Progress(PHASE, plan.total, plan.total, "features are up to date"))
        report(PhaseFinished(PHASE, True, "features are up to date", time.monotonic() - t0, "skipped"))
        return {**manifest["arrays_summary"], "skipped": True, "seconds": time.monotonic() - t0}

    models = feature_models_for(project)
    if models.warning:
        warn(report, models.warning, PHASE)
    partial = _partial_dir(out_dir) / fp
    if _partial_dir(out_dir).is_dir():
        for old in _partial_dir(out_dir).iterdir():
            if old.name != fp:
                shutil.rmtree(old, ignore_errors=True)
    partial.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(partial)
    todo: list[tuple[str, Path, list[str]]] = []
    done = 0
    for key, files in plan.rows.items():
        per = STREAM_CHUNK_FILES if is_stream_key(key) or is_unseen_key(key) else CHUNK_CLIPS
        for ci, start in enumerate(range(0, len(files), per)):
            chunk_path = partial / f"{key}_{ci:05d}.npy"
            batch = files[start : start + per]
            if chunk_path.is_file():
                done += len(batch)
            else:
                todo.append((key, chunk_path, batch))
    workers = kw.get("workers")
    n_todo = sum(len(b) for _, _, b in todo)
    if workers is None:
        workers = 2 if cpu_count() >= 2 and n_todo >= POOL_MIN_CLIPS else 1
    threads = kw.get("threads") or (1 if workers > 1 else None)
    ext = None if workers > 1 else FeatureExtractor(models, threads=threads)
    stats = {"computed": 0, "t_compute": 0.0, "t_stream": 0.0, "done": done}
    t_phase = time.monotonic()

    def finish(key: str, chunk_path: Path, batch: list[str], feats: np.ndarray, secs: float) -> None:
        with atomic_path(chunk_path) as tmp:
            np.save(tmp, feats, allow_pickle=False)
        stats["done"] += len(batch)
        if is_stream_key(key) or is_unseen_key(key):
            stats["t_stream"] += secs
            msg = f"{key}: {len(feats)} windows from {len(batch)} passages"
        else:
            stats["computed"] += len(batch)
            stats["t_compute"] += secs
            rate = stats["computed"] / max(1e-9, time.monotonic() - t_phase) if workers > 1 else (
                stats["computed"] / stats["t_compute"] if stats["t_compute"] > 0 else 0.0)
            msg = f"{key}: {rate:.0f} clips/s"
        report(Progress(PHASE, stats["done"], plan.total, msg))

    if ext is not None:
        for key, chunk_path, batch in todo:
            tc = time.monotonic()
            feats = compute_chunk(ext, clips_dir, key, batch, cfg.seed, cancel)
            finish(key, chunk_path, batch, feats, time.monotonic() - tc)
    elif todo:
        run_chunks(_feature_worker_chunk, todo, lambda r: finish(*r[0], r[1], r[2]), workers, cancel,
                   _init_feature_worker, (models, threads or 1), (clips_dir, cfg.seed))
    computed, t_compute, t_stream = stats["computed"], stats["t_compute"], stats["t_stream"]
    check_cancel(cancel)
    summary: dict[str, Any] = {}
    shapes: dict[str, list[int]] = {}
    for key, files in plan.rows.items():
        per = STREAM_CHUNK_FILES if is_stream_key(key) or is_unseen_key(key) else CHUNK_CLIPS
        chunks = [partial / f"{key}_{ci:05d}.npy" for ci in range((len(files) + per - 1) // per)]
        n_rows = sum(np.load(c, mmap_mode="r", allow_pickle=False).shape[0] for c in chunks)
        shape = (n_rows, EMB_DIM) if is_unseen_key(key) else (n_rows, N_FRAMES, EMB_DIM)
        with atomic_path(out_dir / f"{key}.npy") as tmp:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            row = 0
            for c in chunks:
                part = np.load(c, allow_pickle=False)
                arr[row : row + len(part)] = part
                row += len(part)
            arr.flush()
            del arr
        sidecar: dict[str, Any] = {"files": files, "sources": [source_id(f) for f in files]}
        if is_unseen_key(key):
            positive = key.endswith("_positive")
            lengths = [stream_frames(sum(len(p) for p in unseen_padding(cfg.seed, f, positive))
                                     + _wav_frames(clips_dir / f)) for f in files]
            if sum(lengths) != n_rows:
                raise EasyOWWError(f"features for {key} have {n_rows} frames, expected {sum(lengths)}; "
                                   "delete the features folder and run the features phase again.")
            sidecar["offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(int).tolist()
        atomic_write_text(out_dir / f"{key}.json", json.dumps(sidecar))
        summary[key] = n_rows
        shapes[key] = list(shape)
    atomic_write_text(
        out_dir / "manifest.json",
        json.dumps(
            {
                "version": FEATURE_VERSION,
                "fingerprint": fp,
                "arrays": shapes,
                "arrays_summary": summary,
                "feature_models": models.source,
            },
            indent=1,
        ),
    )
    shutil.rmtree(_partial_dir(out_dir), ignore_errors=True)
    seconds = time.monotonic() - t0
    rate = computed / t_compute if t_compute > 0 else 0.0
    log(report, f"features: {computed} clips at {rate:.0f} clips/s ({workers} process(es) x "
        f"{ext.threads if ext is not None else threads} thread(s))", PHASE)
    n_stream = sum(summary.get(f"{s}_{STREAM_CLASS}", 0) for s in SPLITS)
    if t_stream > 0:
        log(report, f"features: {n_stream} negative-speech windows in {t_stream:.0f} s", PHASE)
    report(PhaseFinished(PHASE, True, f"{plan.total} clips", seconds))
    return {**summary, "skipped": False, "seconds": seconds, "clips_per_second": rate, "computed": computed}
