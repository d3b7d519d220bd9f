"""Checkpoints that resume exactly: atomic torch saves, weights-only loads with a clear error, and every RNG state (Python, numpy, torch) as plain tensors."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import EasyOWWError
from core.fsutil import atomic_path

CHECKPOINT_FORMAT = 2


CHECKPOINT_NAME = "checkpoint.pt"


BEST_NAME = "model_best.pt"


FINAL_NAME = "model_final.pt"


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as tensors/primitives (safe for weights_only loading)."""
    py = random.getstate()
    key, arr, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {
            "key": key,
            "state": torch.from_numpy(np.asarray(arr, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        (n["key"], n["state"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_torch_atomic(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_torch(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        raise EasyOWWError(
            f"{path}: the checkpoint cannot be read ({type(exc).__name__}). Delete it and train again."
        ) from None
