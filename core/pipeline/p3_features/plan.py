"""What the features phase embeds: every clip and passage by folder, split into train/validation by origin (never one source on both sides), and the plan's fingerprint."""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.pipeline.p1_clips.generator import UNSEEN_DIR
from core.pipeline.p3_features.embedder import (
    WINDOW_SAMPLES,
)
from core.project.config import TrainingConfig

FEATURE_VERSION = 1


SPLITS = ("train", "val")


CLASSES = ("positive", "negative")


# Long negative-speech passages are embedded as streams (each 80 ms frame once) and sliced into
# 16-frame windows every STREAM_STRIDE frames: "<split>_negative_speech.npy".
STREAM_CLASS = "negative_speech"


STREAM_FOLDERS = ("negative_speech", "negative_speech_augmented")


STREAM_STRIDE = 3
STREAM_LEAD_S = 1.0  # low noise before each passage, so windows also see speech starting


CLIP_FOLDERS = {
    "positive": ("positive", "positive_augmented"),
    "negative": ("negative", "negative_augmented"),
}


_AUG_SUFFIX = re.compile(r"_a\d+$")


UNSEEN_PREFIX = "unseen_"  # feature keys of the unseen-voice set: (T, 96) stream embeddings + offsets


# --------------------------------------------------------------------------- splits
def source_id(path: str | Path) -> str:
    """The clip id an augmented copy was made from (``synth_00042_a0`` -> ``synth_00042``)."""
    return _AUG_SUFFIX.sub("", Path(path).stem)


def is_real(source: str) -> bool:
    return source.startswith("real_")


def assign_splits(sources: Sequence[str], seed: int, fraction: float, salt: str = "") -> dict[str, str]:
    """Map each source clip id to "train" or "val", deterministically.

    Real recordings and other clips are split separately, so real ones land in both splits
    (at least one in each when there are two or more).
    """
    groups: dict[str, list[str]] = {}
    for s in sorted(set(sources)):
        groups.setdefault("real" if is_real(s) else "other", []).append(s)
    out: dict[str, str] = {}
    for group, ids in groups.items():
        rng = np.random.default_rng([int(seed), zlib.crc32(f"{salt}:{group}".encode())])
        order = rng.permutation(len(ids))
        n_val = int(round(len(ids) * fraction))
        if len(ids) >= 2:
            n_val = min(max(n_val, 1), len(ids) - 1)
        else:
            n_val = 0
        val = {ids[i] for i in order[:n_val]}
        for s in ids:
            out[s] = "val" if s in val else "train"
    return out


@dataclass
class FeaturePlan:
    """Which clip goes to which output array, in row order."""

    clips_dir: Path
    rows: dict[str, list[str]]  # "<split>_<class>" -> clip paths relative to clips_dir

    def fingerprint(self, cfg: TrainingConfig) -> str:
        h = hashlib.sha256()
        h.update(json.dumps([FEATURE_VERSION, cfg.seed, cfg.validation_fraction, WINDOW_SAMPLES,
                             STREAM_STRIDE, STREAM_LEAD_S]).encode())
        for key in sorted(self.rows):
            h.update(key.encode())
            for rel in self.rows[key]:
                st = (self.clips_dir / rel).stat()
                h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        return h.hexdigest()[:16]

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.rows.values())


def list_clips(clips_dir: Path) -> dict[str, list[str]]:
    """class -> sorted clip paths (relative to ``clips_dir``) from the clean and augmented folders."""
    out: dict[str, list[str]] = {}
    for cls, folders in CLIP_FOLDERS.items():
        files: list[str] = []
        for folder in folders:
            d = clips_dir / folder
            if d.is_dir():
                files += sorted(f"{folder}/{p.name}" for p in d.glob("*.wav") if not p.name.startswith("."))
        out[cls] = files
    return out


def _once_each(clips_dir: Path, clean: str, augmented: str) -> list[str]:
    """Passages in ``clean`` and ``augmented``, each once: its augmented copy where there is one."""
    aug = sorted(p.name for p in (clips_dir / augmented).glob("*.wav") if not p.name.startswith(".")) \
        if (clips_dir / augmented).is_dir() else []
    replaced = {_AUG_SUFFIX.sub("", Path(n).stem) for n in aug}
    files = sorted(f"{clean}/{p.name}" for p in (clips_dir / clean).glob("*.wav")
                   if not p.name.startswith(".") and p.stem not in replaced) if (clips_dir / clean).is_dir() else []
    return sorted(files + [f"{augmented}/{n}" for n in aug])


def list_streams(clips_dir: Path) -> list[str]:
    """Sorted negative-speech passages (relative to ``clips_dir``), clean and augmented."""
    files: list[str] = []
    for folder in STREAM_FOLDERS:
        d = clips_dir / folder
        if d.is_dir():
            files += sorted(f"{folder}/{p.name}" for p in d.glob("*.wav") if not p.name.startswith("."))
    return files


def plan_features(clips_dir: Path, cfg: TrainingConfig) -> FeaturePlan:
    clips = list_clips(clips_dir)
    clips[STREAM_CLASS] = list_streams(clips_dir)
    rows: dict[str, list[str]] = {f"{s}_{c}": [] for s in SPLITS for c in (*CLASSES, STREAM_CLASS)}
    for cls, files in clips.items():
        split_of = assign_splits([source_id(f) for f in files], cfg.seed, cfg.validation_fraction, salt=cls)
        for f in files:
            rows[f"{split_of[source_id(f)]}_{cls}"].append(f)
    for cls in CLASSES:  # the unseen-voice set: whole streams, never trained on
        if cls == "negative":  # passages: each once
            files = _once_each(clips_dir, f"{UNSEEN_DIR}/{cls}", f"{UNSEEN_DIR}/{cls}_augmented")
        else:  # wake words: clean and in a room / over noise
            files = []
            for folder in (f"{UNSEEN_DIR}/{cls}", f"{UNSEEN_DIR}/{cls}_augmented"):
                d = clips_dir / folder
                if d.is_dir():
                    files += sorted(f"{folder}/{p.name}" for p in d.glob("*.wav") if not p.name.startswith("."))
        if files:
            rows[f"{UNSEEN_PREFIX}{cls}"] = files
    return FeaturePlan(clips_dir, rows)


def is_unseen_key(key: str) -> bool:
    return key.startswith(UNSEEN_PREFIX)


def is_stream_key(key: str) -> bool:
    return key.endswith("_" + STREAM_CLASS)
