"""Evaluate a wake-word model the way a microphone feeds it, and pick its threshold.

Held-out clips and a stream of held-out negatives go through openWakeWord's streaming pipeline
(:class:`core.audio.streaming.StreamingDetector`, the same scores as ``openwakeword.Model``) in 80 ms
frames (1280 int16 samples). Per-frame scores are stored once; every threshold of the DET curve is then a cheap sweep over the stored arrays. When openWakeWord's ~11 h
false-positive validation features are downloaded, their windows are scored directly too.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.audio.streaming import StreamingDetector
from core.errors import EasyOWWError
from core.events import PhaseStarted, Progress, Reporter, check_cancel, null_report, warn
from core.project.config import TrainingConfig

PHASE = "evaluation"
CHUNK = 1280
FRAME_SECONDS = CHUNK / 16000
REFRACTORY_FRAMES = 25  # 2 s: one trigger at most per 2 s
# 0.01 steps, finer near 1 where a well-trained head's operating point sits.
THRESHOLDS = np.unique(np.concatenate([np.round(np.arange(1, 100) / 100.0, 2),
                                       np.round(np.arange(991, 1000) / 1000.0, 3),
                                       np.round(np.arange(9991, 10000) / 10000.0, 4)]))
FALLBACK_THRESHOLD = 0.5
# Below this many hours of negative audio a threshold is not lowered under FALLBACK_THRESHOLD.
MIN_CALIBRATION_HOURS = 2.0
# The threshold is chosen for the target divided by this (when reachable). Generated calibration audio may trigger a
# model less than other voices do: 1.1-9 times less by word for session 13's models, 0.9-1.1 times for two words never
# used in any decision (session 16, bench/README.md). With 2 (session 12 to 15) the ~2.3 h of calibration audio could
# hold no event at all, so the threshold was its single highest peak: on those two words it kept 0.25-0.40 of the
# benchmark's wake words where the target itself (one event allowed) kept 0.40-0.51, still at <= 0.5 false accepts per
# hour there. No fixed margin serves every word (alexa's false accepts exceed the target either way).
CALIBRATION_MARGIN = 1.0
PAD_SECONDS = 1.0
PAD_NOISE_LSB = 3.0


# --------------------------------------------------------------------------- pure scoring logic
def count_triggers(scores: np.ndarray, threshold: float, refractory: int = REFRACTORY_FRAMES) -> int:
    """Triggers in a per-frame score stream: a frame >= threshold fires, then ``refractory`` frames are ignored."""
    hits = np.flatnonzero(np.asarray(scores) >= threshold)
    n = 0
    i = 0
    while i < len(hits):
        n += 1
        i = int(np.searchsorted(hits, hits[i] + refractory, side="left"))
    return n


def det_curve(
    positive_max: np.ndarray,
    negative_streams: list[np.ndarray],
    negative_hours: float,
    thresholds: np.ndarray = THRESHOLDS,
    refractory: int = REFRACTORY_FRAMES,
) -> list[dict[str, float]]:
    """Recall and false accepts per hour at each threshold.

    ``positive_max``: each positive clip's highest frame score (detected if >= threshold).
    ``negative_streams``: per-frame score arrays of negative audio totalling ``negative_hours``.
    """
    pos = np.asarray(positive_max, dtype=np.float64)
    rows = []
    for t in thresholds:
        fa = sum(count_triggers(s, float(t), refractory) for s in negative_streams)
        rows.append(
            {
                "threshold": float(t),
                "recall": float(np.mean(pos >= t)) if len(pos) else 0.0,
                "false_accepts": int(fa),
                "false_accepts_per_hour": float(fa / negative_hours) if negative_hours > 0 else 0.0,
            }
        )
    return rows


def threshold_grid(positive_max: np.ndarray) -> np.ndarray:
    """Thresholds to try: the fixed grid plus every positive's own score from 0.5 up, unrounded. Recall only
    changes at a positive's score, so the operating point is exact even where scores crowd together just
    under 1 (a confident model puts many in 0.9999-1.0, finer than any fixed grid)."""
    pos = np.asarray(positive_max, dtype=np.float64)
    return np.unique(np.concatenate([THRESHOLDS, pos[pos >= FALLBACK_THRESHOLD]]))


def choose_threshold(curve: list[dict[str, float]], target_fa_per_hour: float) -> tuple[float, bool]:
    """(threshold, met): the best-recall threshold whose FA/h <= target.

    Ties in recall go to fewer false accepts, then to the middle of the tied thresholds.
    If no threshold meets the target: (0.5, False).
    """
    ok = [r for r in curve if r["false_accepts_per_hour"] <= target_fa_per_hour + 1e-12]
    if not ok or max(r["recall"] for r in ok) <= 0.0:  # meeting the target by detecting nothing is no threshold
        return FALLBACK_THRESHOLD, False
    best_recall = max(r["recall"] for r in ok)
    tied = [r for r in ok if r["recall"] == best_recall]
    best_fa = min(r["false_accepts_per_hour"] for r in tied)
    tied = sorted((r for r in tied if r["false_accepts_per_hour"] == best_fa), key=lambda r: r["threshold"])
    return float(tied[(len(tied) - 1) // 2]["threshold"]), True


def calibrated_threshold(curve: list[dict[str, float]], target: float,
                         margin: float = CALIBRATION_MARGIN) -> tuple[float, bool, float]:
    """(threshold, met, rate aimed at): the best-recall threshold for ``target / margin`` false accepts per hour, or
    for ``target`` itself when the margin cannot be kept (see :func:`choose_threshold`)."""
    for aim in dict.fromkeys((target / margin, target)):  # once when there is no margin
        threshold, met = choose_threshold(curve, aim)
        if met:
            return threshold, True, aim
    return threshold, False, target


def _row_at(curve: list[dict[str, float]], threshold: float) -> dict[str, float]:
    return min(curve, key=lambda r: abs(r["threshold"] - threshold))


def _pad(rng: np.random.Generator, seconds: float) -> np.ndarray:
    return np.round(rng.normal(0, PAD_NOISE_LSB, int(16000 * seconds))).astype(np.int16)


def held_out_clips(project: Any, cfg: TrainingConfig) -> dict[str, list[str]]:
    """Validation clip paths (relative to the clips folder) per class, from the features phase."""
    from core.pipeline.p3_features.plan import plan_features
    from core.pipeline.p3_features.store import load_sidecar

    fdir = project.features_dir(cfg)
    out: dict[str, list[str]] = {}
    for cls in ("positive", "negative"):
        if (fdir / f"val_{cls}.json").is_file():
            out[cls] = list(load_sidecar(fdir, "val", cls)["files"])
    if len(out) < 2:
        plan = plan_features(project.clips_dir(cfg), cfg)
        for cls in ("positive", "negative"):
            out.setdefault(cls, plan.rows[f"val_{cls}"])
    return out


def load_unseen(features_dir: Path, cls: str) -> list[np.ndarray]:
    """Per-item (T, 96) stream embeddings of the unseen-voice set (empty when there is none)."""
    from core.pipeline.p3_features.plan import UNSEEN_PREFIX

    arr_path, side_path = Path(features_dir) / f"{UNSEEN_PREFIX}{cls}.npy", Path(features_dir) / f"{UNSEEN_PREFIX}{cls}.json"
    if not (arr_path.is_file() and side_path.is_file()):
        return []
    emb = np.load(arr_path, mmap_mode="r", allow_pickle=False)
    offsets = json.loads(side_path.read_text(encoding="utf-8")).get("offsets") or []
    return [emb[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def unseen_positive_files(project: Any, cfg: TrainingConfig) -> list[str]:
    """The unseen-voice wake words' files, in the order of their stored embeddings (empty when there are none)."""
    from core.pipeline.p3_features.plan import UNSEEN_PREFIX
    from core.pipeline.p3_features.store import load_sidecar

    return list(load_sidecar(project.features_dir(cfg), UNSEEN_PREFIX.rstrip("_"), "positive").get("files") or [])


def _subset_recall(scores: np.ndarray, mine: np.ndarray, threshold: float) -> dict[str, float]:
    return {"recall": float(np.mean(scores[mine] >= threshold)), "clips": int(mine.sum())}


def recall_by_phrasing(project: Any, cfg: TrainingConfig, pos_files: list[str], pos_max: np.ndarray,
                       unseen_files: list[str], unseen_max: np.ndarray,
                       threshold: float) -> dict[str, dict[str, float]]:
    """Recall of each phrasing at ``threshold`` (projects with other phrasings only), on the same clips as the
    headline recall: the unseen-voice wake words when there are any, else the validation clips. Recordings and
    clips without a recorded phrasing count as the wake word."""
    if not cfg.phrasings:
        return {}
    from core.pipeline.p1_clips.phase import load_phrasings
    from core.pipeline.p3_features.plan import source_id

    which = load_phrasings(project.clips_dir(cfg))
    files, scores = (unseen_files, unseen_max) if len(unseen_max) else (pos_files, pos_max)
    if len(files) != len(scores):
        return {}
    out: dict[str, dict[str, float]] = {}
    for phrase in (cfg.wake_word, *cfg.phrasings):
        mine = np.array([which.get(source_id(f), cfg.wake_word) == phrase for f in files], bool)
        if mine.any():
            out[phrase] = _subset_recall(scores, mine, threshold)
    return out


def recall_with_command(cfg: TrainingConfig, unseen_files: list[str], unseen_max: np.ndarray,
                        threshold: float) -> dict[str, dict[str, float]]:
    """Recall at ``threshold`` of the unseen-voice wake words said alone and of those followed by a command in
    the same breath ("hey jarvis, stop the music"), apart."""
    from core.pipeline.p1_clips.generator import unseen_command
    from core.pipeline.p3_features.plan import source_id

    if not len(unseen_max) or len(unseen_files) != len(unseen_max):
        return {}
    index = [source_id(f).rpartition("_")[2] for f in unseen_files]
    command = np.array([i.isdigit() and unseen_command(cfg.seed, int(i)) is not None for i in index], bool)
    return {name: _subset_recall(unseen_max, mine, threshold)
            for name, mine in (("alone", ~command), ("followed_by_command", command)) if mine.any()}


def stream_scores(score: Any, emb: np.ndarray, block: int = 8192) -> np.ndarray:
    """Per-frame scores of a live stream from its (T, 96) embeddings: the head on the last 16 after each frame."""
    from core.pipeline.p3_features.embedder import N_FRAMES

    emb = np.asarray(emb, dtype=np.float32)
    if len(emb) < N_FRAMES:
        return np.zeros(0, np.float32)
    view = np.lib.stride_tricks.sliding_window_view(emb, N_FRAMES, axis=0).transpose(0, 2, 1)
    return np.concatenate([score(view[i : i + block]) for i in range(0, len(view), block)])


# --------------------------------------------------------------------------- evaluation
def evaluate_model(
    model_path: str | Path,
    project: Any,
    cfg: TrainingConfig,
    report: Reporter = null_report,
    cancel: threading.Event | None = None,
    max_positive_clips: int | None = None,
    max_negative_clips: int | None = None,
    use_validation_features: bool = True,
) -> dict[str, Any]:
    """Score any openWakeWord-compatible ONNX model on the project's held-out data.

    Returns the model card fields (threshold, metrics, DET curve, what it was measured on)
    without writing anything.
    """
    from core.assets.feature_models import feature_models_for
    from core.pipeline.p3_features.store import FeatureBank
    from core.pipeline.p3_features.windows import read_clip_int16

    t0 = time.monotonic()
    model_path = Path(model_path)
    if not model_path.is_file():
        raise EasyOWWError(f"No model file at {model_path}. Export the model first or give the right path.")
    fm = feature_models_for(project)
    if fm.warning:
        warn(report, fm.warning, PHASE)
    clips_dir = project.clips_dir(cfg)
    held = held_out_clips(project, cfg)
    pos_files = held["positive"][:max_positive_clips] if max_positive_clips else held["positive"]
    neg_files = held["negative"][:max_negative_clips] if max_negative_clips else held["negative"]
    if not pos_files:
        raise EasyOWWError(
            "No held-out positive clips to evaluate on. Add clips and run the features phase again."
        )
    vf_path = Path(project.workspace.validation_features_path)
    bank = FeatureBank(vf_path) if use_validation_features and vf_path.is_file() else None
    total = len(pos_files) + len(neg_files) + (1 if bank is not None else 0)
    report(PhaseStarted(PHASE, total=total, description="Evaluating as a live microphone stream"))

    scorer = StreamingDetector(model_path, fm, seed=cfg.seed)
    rng = np.random.default_rng([cfg.seed, 101])
    pos_max = np.empty(len(pos_files), np.float32)
    real = np.array([Path(f).name.startswith("real_") for f in pos_files])
    t_stream = time.monotonic()
    frames = 0
    for i, rel in enumerate(pos_files):
        check_cancel(cancel)
        audio = np.concatenate(
            [_pad(rng, PAD_SECONDS), read_clip_int16(clips_dir / rel), _pad(rng, PAD_SECONDS)]
        )
        scorer.reset()
        s = scorer.scores(audio, cancel)
        frames += len(s)
        pos_max[i] = float(s.max()) if len(s) else 0.0
        if i % 16 == 0 or i == len(pos_files) - 1:
            report(Progress(PHASE, i + 1, total, f"positive clips {i + 1}/{len(pos_files)}"))

    streams: list[np.ndarray] = []
    stream_hours = 0.0
    if neg_files:
        parts = [_pad(rng, PAD_SECONDS)]
        for rel in neg_files:
            check_cancel(cancel)
            parts.append(read_clip_int16(clips_dir / rel))
        stream = np.concatenate(parts)
        scorer.reset()
        done = len(pos_files)
        scores = []
        block = CHUNK * 250
        for s0 in range(0, len(stream), block):
            scores.append(scorer.scores(stream[s0 : s0 + block], cancel))
            done_frac = min(1.0, (s0 + block) / len(stream))
            report(Progress(PHASE, done + int(done_frac * len(neg_files)), total, "negative stream"))
        neg_scores = np.concatenate(scores)
        frames += len(neg_scores)
        streams.append(neg_scores)
        stream_hours = len(neg_scores) * FRAME_SECONDS / 3600
    stream_seconds = time.monotonic() - t_stream

    from core.pipeline.p5_export.onnx_export import onnx_scorer

    fdir = project.features_dir(cfg)
    unseen_pos, unseen_neg = load_unseen(fdir, "positive"), load_unseen(fdir, "negative")
    # One batched session scores every precomputed window (validation features, the unseen-voice set).
    score = onnx_scorer(model_path) if bank is not None or (unseen_pos and unseen_neg) else None

    vf_hours = 0.0
    vf_scores = None
    if bank is not None:
        parts_s = []
        for blk in bank.iter_blocks(16384):
            check_cancel(cancel)
            parts_s.append(score(blk))
        vf_scores = np.concatenate(parts_s) if parts_s else np.zeros(0, np.float32)
        vf_hours = len(vf_scores) * FRAME_SECONDS / 3600
        streams.append(vf_scores)
        report(Progress(PHASE, total, total, "validation features"))

    # The unseen-voice set: wake words and 2 h of speech and sounds in voices never trained on. When it is
    # there, it decides the threshold and the headline recall; the in-voice validation clips are reported apart.
    unseen_hours = 0.0
    unseen_max = np.zeros(0, np.float32)
    unseen_files = unseen_positive_files(project, cfg) if unseen_pos else []
    if unseen_pos and unseen_neg:
        unseen_max = np.array([float(stream_scores(score, e).max(initial=0.0)) for e in unseen_pos], np.float32)
        for e in unseen_neg:
            check_cancel(cancel)
            s_ = stream_scores(score, e)
            streams.append(s_)
            unseen_hours += len(s_) * FRAME_SECONDS / 3600
    else:
        warn(report, "No unseen-voice set (voices kept out of training): the recall below is measured on "
             "validation clips in the training voices and overstates how well the model works for other "
             "voices.", PHASE)

    # The threshold is for a home's audio. With the unseen-voice set there, its speech and sounds (and openWakeWord's
    # validation features when downloaded) decide it; the held-out near-miss clips, in the training voices and made of
    # pieces of the wake word back to back, would set it for a home that says little else: reported apart.
    cal_streams = streams[1:] if neg_files and unseen_hours > 0 else streams
    negative_hours = (stream_hours if cal_streams is streams else 0.0) + vf_hours + unseen_hours
    curve_pos = unseen_max if len(unseen_max) else pos_max
    curve = det_curve(curve_pos, cal_streams, negative_hours, threshold_grid(curve_pos))
    if negative_hours <= 0:
        warn(report, "no held-out negative audio: false accepts per hour cannot be measured", PHASE)
    # openWakeWord's validation features are real speech and music: with them, no margin for generated audio.
    threshold, met, aim = calibrated_threshold(curve, cfg.target_false_accepts_per_hour,
                                               1.0 if vf_hours > 0 else CALIBRATION_MARGIN)
    if not met:
        warn(
            report,
            f"no threshold reaches {cfg.target_false_accepts_per_hour} false accepts per hour on the held-out "
            f"negatives; using {FALLBACK_THRESHOLD}. Add more negative clips (or negative data) and train again.",
            PHASE,
        )
    floor_used = False
    if negative_hours < MIN_CALIBRATION_HOURS and threshold < FALLBACK_THRESHOLD:
        # Too little negative audio to see a rate like 0.5/h: never go below openWakeWord's default.
        threshold, floor_used = FALLBACK_THRESHOLD, True
        warn(
            report,
            f"false accepts were measured on only {negative_hours:.2f} h of held-out audio, too little to "
            f"calibrate a threshold below {FALLBACK_THRESHOLD}; keeping {FALLBACK_THRESHOLD}. For a calibrated "
            "threshold: easy-oww download --dataset validation_features (about 11 h), then easy-oww eval.",
            PHASE,
        )
    at = _row_at(curve, threshold)
    at05 = _row_at(curve, 0.5)
    metrics: dict[str, Any] = {
        "recall": at["recall"],
        "false_accepts_per_hour": at["false_accepts_per_hour"],
        "recall_at_0_5": at05["recall"],
        "fa_per_hour_at_0_5": at05["false_accepts_per_hour"],
        "negative_hours": negative_hours,
    }
    metrics["recall_training_voices"] = float(np.mean(pos_max >= threshold))
    if len(unseen_max):
        metrics["recall_unseen_voices"] = float(np.mean(unseen_max >= threshold))
        metrics["recall_unseen_voices_at_0_5"] = float(np.mean(unseen_max >= 0.5))
        metrics["fa_per_hour_unseen_voices"] = sum(
            count_triggers(x, threshold) for x in streams[-len(unseen_neg):]) / unseen_hours
        by_command = recall_with_command(cfg, unseen_files, unseen_max, threshold)
        if by_command:
            metrics["recall_unseen_by_utterance"] = by_command
    by_phrasing = recall_by_phrasing(project, cfg, pos_files, pos_max, unseen_files, unseen_max, threshold)
    if by_phrasing:
        metrics["recall_by_phrasing"] = by_phrasing
    if real.any():
        metrics["recall_real_recordings"] = float(np.mean(pos_max[real] >= threshold))
    if neg_files:
        metrics["fa_per_hour_clips_stream"] = count_triggers(streams[0], threshold) / stream_hours
    if vf_scores is not None and vf_hours > 0:
        metrics["fa_per_hour_validation_features"] = count_triggers(vf_scores, threshold) / vf_hours
    seconds = time.monotonic() - t0
    return {
        "wake_word": cfg.wake_word,
        "model": model_path.name,
        "threshold": threshold,
        "threshold_meets_target": met,
        "threshold_floor_applied": floor_used,
        "target_false_accepts_per_hour": cfg.target_false_accepts_per_hour,
        "metrics": metrics,
        "det_curve": curve,
        "measured_on": {
            "recall": "unseen voices" if len(unseen_max) else "validation clips in the training voices",
            "unseen_positive_items": int(len(unseen_max)),
            "unseen_negative_hours": unseen_hours,
            "positive_clips": len(pos_files),
            "positive_real_recordings": int(real.sum()),
            "negative_clips": len(neg_files),
            "negative_stream_hours": stream_hours,
            "near_misses_in_threshold": cal_streams is streams,
            "threshold_chosen_for_fa_per_hour": aim,
            "validation_feature_hours": vf_hours,
            "validation_features": str(vf_path) if bank is not None else None,
            "refractory_seconds": REFRACTORY_FRAMES * FRAME_SECONDS,
            "method": "openWakeWord streaming (as openwakeword.Model), 80 ms frames, onnx feature models",
        },
        "timing": {
            "seconds": seconds,
            "stream_frames": frames,
            "stream_frames_per_second": frames / stream_seconds if stream_seconds > 0 else 0.0,
        },
        "config": cfg.to_dict(),
        "config_fingerprint": cfg.fingerprint(),
    }
