"""Finished feature arrays on disk: the manifest that marks them ready, loading them (and their source sidecars), and the downloaded ACAV100M negative-feature bank, read block by block."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import EasyOWWError
from core.pipeline.p3_features.embedder import (
    EMB_DIM,
    N_FRAMES,
    stream_windows,
)


def _partial_dir(features_dir: Path) -> Path:
    return features_dir / ".partial"


def features_ready(features_dir: Path) -> dict[str, Any] | None:
    """The manifest of finished features, or None."""
    path = features_dir / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    for key in manifest.get("arrays", {}):
        if not (features_dir / f"{key}.npy").is_file():
            return None
    return manifest


def _wav_frames(path: Path) -> int:
    import soundfile as sf

    return int(sf.info(str(path)).frames)


# --------------------------------------------------------------------------- reading back
def load_features(features_dir: Path, split: str, cls: str) -> np.ndarray:
    """A finished feature array, memory-mapped read-only."""
    path = Path(features_dir) / f"{split}_{cls}.npy"
    if not path.is_file():
        raise EasyOWWError(f"{path} is missing. Run the features phase first (`easy-oww train`).")
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    if arr.ndim != 3 or arr.shape[1:] != (N_FRAMES, EMB_DIM):
        raise EasyOWWError(
            f"{path}: shape {arr.shape}, expected (N, 16, 96). Delete it and run features again."
        )
    return arr


def load_sidecar(features_dir: Path, split: str, cls: str) -> dict[str, list[str]]:
    """``{"files": [...], "sources": [...]}`` for the rows of one feature array."""
    path = Path(features_dir) / f"{split}_{cls}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise EasyOWWError(
            f"{path} is missing or damaged. Delete the features folder and run features again."
        ) from None
    return data


class FeatureBank:
    """A huge memory-mapped feature file (ACAV100M negatives, validation features); never read whole.

    Accepts (N, 16, 96) windows or a (T, 96) embedding stream (windows made with stride 1).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise EasyOWWError(
                f"{self.path}: not a readable .npy feature file ({exc}). Delete it and download it again."
            ) from None
        if arr.dtype not in (np.float16, np.float32):
            raise EasyOWWError(
                f"{self.path}: dtype {arr.dtype}, expected float16 or float32 openWakeWord features. "
                "Delete it and download it again."
            )
        if arr.ndim == 3 and arr.shape[1:] == (N_FRAMES, EMB_DIM):
            self.kind = "windows"
        elif arr.ndim == 2 and arr.shape[1] == EMB_DIM and arr.shape[0] >= N_FRAMES:
            self.kind = "stream"
        else:
            raise EasyOWWError(
                f"{self.path}: shape {arr.shape}, expected (N, 16, 96) or (T, 96). Delete it and download it again."
            )
        self.array = arr

    def __len__(self) -> int:
        return self.array.shape[0] if self.kind == "windows" else self.array.shape[0] - N_FRAMES + 1

    def block(self, start: int, n: int) -> np.ndarray:
        """Rows ``start .. start+n`` as float32 (N, 16, 96), read from disk in one contiguous read."""
        start = max(0, min(int(start), len(self) - 1))
        stop = min(len(self), start + int(n))
        if self.kind == "windows":
            return np.asarray(self.array[start:stop], dtype=np.float32)
        emb = np.asarray(self.array[start : stop + N_FRAMES - 1], dtype=np.float32)
        return np.ascontiguousarray(stream_windows(emb))

    def iter_blocks(self, size: int = 8192) -> Iterator[np.ndarray]:
        for s in range(0, len(self), size):
            yield self.block(s, size)


def acav_bank(project: Any) -> FeatureBank | None:
    """The workspace's ACAV100M negative features, when downloaded."""
    path = project.workspace.acav100m_features_path
    return FeatureBank(path) if Path(path).is_file() else None
