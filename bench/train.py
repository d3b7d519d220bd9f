"""Benchmark the model half of the pipeline and the whole `easy-oww train` run.

Prints: raw feature-extraction throughput (openWakeWord's ONNX models called directly, one
openwakeword.utils.AudioFeatures batch) beside easy-oww's features phase; bare torch training
steps/s for the same head and batch beside easy-oww's training phase; wall time per phase for the
chosen preset; peak memory (per process, and the whole process tree sampled every 0.5 s).

    python bench/train.py                # default config ("hey jarvis"), fresh project
    python bench/train.py --preset quick
    python bench/train.py --skip-run     # only the raw library numbers
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import events as ev  # noqa: E402
from core.pipeline.orchestrator import run_training  # noqa: E402
from core.pipeline.phases import PHASES  # noqa: E402
from core.project.config import TrainingConfig  # noqa: E402
from core.project.workspace import Workspace  # noqa: E402


def raw_feature_rate(n_clips: int = 120) -> float:
    """Two-second clips/s through openWakeWord's own batch feature code (ONNX, 2 threads)."""
    from openwakeword.utils import AudioFeatures

    from core.assets.feature_models import locate_feature_models

    fm = locate_feature_models(None)
    af = AudioFeatures(melspec_model_path=str(fm.melspec), embedding_model_path=str(fm.embedding),
                       inference_framework="onnx", ncpu=2)
    rng = np.random.default_rng(0)
    clips = (rng.standard_normal((n_clips, 32000)) * 3000).astype(np.int16)
    af.embed_clips(clips[:8], batch_size=8)
    t = time.perf_counter()
    af.embed_clips(clips, batch_size=64)
    return n_clips / (time.perf_counter() - t)


def easy_feature_rate(n_clips: int = 120) -> float:
    """The same clips through easy-oww's streaming-exact extractor."""
    from core.assets.feature_models import locate_feature_models
    from core.pipeline.p3_features.embedder import MEL_CONTEXT, FeatureExtractor

    ext = FeatureExtractor(locate_feature_models(None), threads=2)
    rng = np.random.default_rng(0)
    wins = (rng.standard_normal((n_clips, MEL_CONTEXT + 32000)) * 3000).astype(np.float32)
    ext.clip_windows(wins[:8])
    t = time.perf_counter()
    for i in range(0, n_clips, 64):
        ext.clip_windows(wins[i : i + 64])
    return n_clips / (time.perf_counter() - t)


def bare_torch_rate(cfg: TrainingConfig, steps: int = 300, rows: int = 0) -> float:
    """Steps/s of a bare loop: same head, batch and optimiser, tensors already in memory.

    ``rows`` = 0 trains on one fixed batch (it stays in the CPU cache: an upper bound); ``rows`` > 0 draws
    each batch at random from that many in-memory rows (``x[idx]``), as any real training loop must.
    """
    import torch

    from core.pipeline.p4_training.heads import build_head

    torch.set_num_threads(2)
    model = build_head(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate)
    pool = torch.randn(max(rows, cfg.batch_size), 16, 96)
    y = (torch.rand(cfg.batch_size, 1) > 0.5).float()
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def batch() -> torch.Tensor:
        return pool[torch.randint(len(pool), (cfg.batch_size,))] if rows else pool[: cfg.batch_size]

    for _ in range(20):
        opt.zero_grad()
        loss_fn(model.logits(batch()), y).backward()
        opt.step()
    t = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model.logits(batch()), y).backward()
        opt.step()
    return steps / (time.perf_counter() - t)


class PrintReporter:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self, event: ev.Event) -> None:
        stamp = f"[{time.monotonic() - self.t0:7.1f}s]"
        if isinstance(event, ev.PhaseStarted):
            print(f"{stamp} {event.phase}: started {event.description}", flush=True)
        elif isinstance(event, ev.PhaseFinished):
            print(f"{stamp} {event.phase}: {'done' if event.ok else 'FAILED'} {event.message}", flush=True)
        elif isinstance(event, ev.LogLine) and event.level != "info":
            print(f"{stamp} {event.level}: {event.message}", flush=True)


def _tree_pids(root: int) -> list[int]:
    """``root`` and every process below it, from /proc/<pid>/stat parent ids."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _tree_memory_mb(root: int) -> tuple[float, float]:
    """(proportional set size, resident set size) of the whole process tree in MB (Linux /proc)."""
    pss = rss = 0
    for pid in _tree_pids(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
        except OSError:
            continue
    return pss / 1024, rss / 1024


class TreePeak:
    """Samples the whole process tree's memory every ``every`` seconds in a thread; keeps the peaks."""

    def __init__(self, every: float = 0.5) -> None:
        self.every, self.pss, self.rss = every, 0.0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            pss, rss = _tree_memory_mb(os.getpid())
            self.pss, self.rss = max(self.pss, pss), max(self.rss, rss)

    def __enter__(self) -> TreePeak:
        if Path("/proc/self/smaps_rollup").exists():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=["default", "quick"], default="default")
    ap.add_argument("--workspace", default=str(Path(__file__).parent / ".cache" / "train_ws"))
    ap.add_argument("--skip-run", action="store_true", help="only the raw library numbers")
    ap.add_argument("--keep", action="store_true", help="reuse an existing project (resume) instead of a fresh one")
    args = ap.parse_args()

    make = TrainingConfig.quick if args.preset == "quick" else TrainingConfig.create_default
    cfg = make("hey_jarvis", "hey jarvis")
    print(f"easy-oww bench/train.py  preset={args.preset}")
    own_feat = easy_feature_rate()
    try:
        raw_feat = raw_feature_rate()
        print(f"features  raw openwakeword embed_clips: {raw_feat:6.1f} clips/s   easy-oww extractor: "
              f"{own_feat:6.1f} clips/s   ratio {own_feat / raw_feat:.2f}")
    except ImportError:  # openwakeword installs on Python 3.11 only
        print(f"features  easy-oww extractor: {own_feat:6.1f} clips/s (openwakeword not installed: no comparison)")
    fixed = bare_torch_rate(cfg)
    bare = bare_torch_rate(cfg, rows=40000)
    print(f"training  bare torch loop ({cfg.model_type}, batch {cfg.batch_size}): {fixed:6.1f} steps/s on one "
          f"fixed batch, {bare:6.1f} steps/s drawing batches from 40,000 in-memory rows (input dropout as torch "
          f"draws it, one Bernoulli per feature; the training phase takes its masks from a bank)")
    if args.skip_run:
        return

    ws = Workspace(Path(args.workspace)).ensure()
    project_dir = ws.projects_dir / cfg.project_name
    if project_dir.exists() and not args.keep:
        shutil.rmtree(project_dir)
    project = ws.project(cfg.project_name) if project_dir.exists() else ws.create_project(cfg)
    t = time.monotonic()
    with TreePeak() as tree:
        summary = run_training(project.path, ws.root, report=PrintReporter())
    total = time.monotonic() - t
    print("\nphase           minutes")
    for phase in PHASES:
        print(f"{phase:15s} {summary.phase_seconds.get(phase, 0.0) / 60:7.2f}")
    print(f"{'total':15s} {total / 60:7.2f}")
    feats = summary.phase_summaries.get("features", {})
    train = summary.phase_summaries.get("training", {})
    if feats.get("clips_per_second"):
        print(f"features phase: {feats['clips_per_second']:.1f} clips/s")
    if train.get("steps_per_second"):
        sps = train["steps_per_second"]
        print(f"training phase: {sps:.1f} steps/s ({train.get('steps')} steps; bare loop {bare:.1f} "
              f"(ratio {sps / bare:.2f}), fixed batch {fixed:.1f} (ratio {sps / fixed:.2f})); "
              f"10,000 steps would take {10000 / sps / 60:.1f} min")
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: {peak_self:.0f} MB (main process), {peak_children:.0f} MB (largest worker)")
    if tree.pss:
        print(f"peak memory of the whole process tree (sampled every {tree.every} s): {tree.pss:.0f} MB "
              f"proportional set size (shared pages split between processes), {tree.rss:.0f} MB resident")
    print(f"model: {summary.model_path}  threshold {summary.threshold}  metrics {summary.metrics}")


if __name__ == "__main__":
    main()
