"""Run history: every training or refine run of a project, side by side (``<project>/runs.json``).

Each run records when it ended, what it was (train / refine), its settings, data counts, minutes, its metrics
(recall on the held-out voices, false accepts per hour, threshold) and its DET curve. ``det_png`` draws the
curves of several runs as a PNG (plain zlib, no plotting library); ``det_text`` draws them in a terminal.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import EasyOWWError
from core.fsutil import atomic_write_bytes, atomic_write_text

FILE = "runs.json"
SETTINGS = ("wake_word", "target_samples", "negative_speech_minutes", "max_steps", "ensemble_size", "model_size",
            "seed", "target_false_accepts_per_hour")


def path_of(project: Any) -> Path:
    return Path(project.path) / FILE


def load_runs(project: Any) -> list[dict[str, Any]]:
    path = path_of(project)
    if not path.is_file():
        return []
    try:
        runs = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise EasyOWWError(f"{path} is damaged ({exc}). Fix or delete it; the models are not affected.") from None
    return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []


def record_run(project: Any, cfg: Any, kind: str, card: dict[str, Any], seconds: float,
               counts: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Append a run (``kind``: "train" or "refine") described by its evaluation ``card``; returns it."""
    metrics = card.get("metrics") or {}
    runs = load_runs(project)
    run = {
        "run": len(runs) + 1,
        "kind": kind,
        "ended": time.strftime("%Y-%m-%d %H:%M", time.localtime()),
        "minutes": round(seconds / 60.0, 2),
        "settings": {k: getattr(cfg, k, None) for k in SETTINGS},
        "counts": counts or {},
        "threshold": card.get("threshold"),
        "recall": metrics.get("recall"),
        "false_accepts_per_hour": metrics.get("false_accepts_per_hour"),
        "negative_hours": metrics.get("negative_hours"),
        "det_curve": [[row.get("false_accepts_per_hour"), row.get("recall")] for row in card.get("det_curve") or []
                      if isinstance(row, dict)],
        **(extra or {}),
    }
    atomic_write_text(path_of(project), json.dumps([*runs, run], indent=1))
    return run


def run_note(run: dict[str, Any]) -> str:
    """What a run's table row notes: whether a refine was kept, how many corrections it learnt from."""
    parts = [("kept" if run.get("kept") else "not kept")] if run.get("kind") == "refine" else []
    n = (run.get("counts") or {}).get("corrections")
    if n:
        parts.append(f"{n} corrections")
    return ", ".join(parts)


# ------------------------------------------------------------------ drawing
FA_MAX = 5.0  # the plots show false accepts per hour from 0 to this
COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))


def _points(run: dict[str, Any]) -> list[tuple[float, float]]:
    pts = [(float(fa), float(r)) for fa, r in run.get("det_curve") or [] if fa is not None and r is not None]
    return sorted(p for p in pts if p[0] <= FA_MAX)


def det_text(runs: list[dict[str, Any]], width: int = 60, height: int = 14) -> list[str]:
    """DET curves (recall up, false accepts/h right, 0-5) as text; run k is drawn with its number's last digit,
    joined between measured points."""
    grid = [[" "] * width for _ in range(height)]
    for run in runs:
        mark = str(run.get("run", 0))[-1]
        pts = _points(run)
        if not pts:
            continue
        fas, recs = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
        for x in range(width):
            fa = x / (width - 1) * FA_MAX
            if fa < fas[0] or fa > fas[-1]:
                continue
            rec = float(np.interp(fa, fas, recs))
            y = min(height - 1, int(round((1.0 - max(0.0, min(1.0, rec))) * (height - 1))))
            grid[y][x] = mark
    lines = [f"{1.0 - i / (height - 1):.2f} |" + "".join(row).rstrip() for i, row in enumerate(grid)]
    lines.append("-----+" + "-" * width)
    lines.append("FA/h: 0" + " " * (width - 2) + f"{FA_MAX:g}  (false accepts per hour)")
    return ["recall"] + lines


def det_png(runs: list[dict[str, Any]], path: Path, width: int = 480, height: int = 320) -> Path:
    """The runs' DET curves as a PNG (white background, axes, one colour per run)."""
    img = np.full((height, width, 3), 255, np.uint8)
    left, bottom, top, right = 40, height - 30, 10, width - 10
    img[top:bottom + 1, left] = img[bottom, left:right + 1] = (0, 0, 0)
    for k in range(1, 5):  # grid lines every 0.25 recall and 1 FA/h
        img[bottom - k * (bottom - top) // 4, left + 1:right + 1] = (225, 225, 225)
    for k in range(1, int(FA_MAX) + 1):
        img[top:bottom, left + k * (right - left) // int(FA_MAX)] = (225, 225, 225)

    def xy(fa: float, rec: float) -> tuple[int, int]:
        return (left + int(fa / FA_MAX * (right - left)), bottom - int(max(0.0, min(1.0, rec)) * (bottom - top)))

    for i, run in enumerate(runs):
        colour = COLOURS[i % len(COLOURS)]
        pts = [xy(fa, rec) for fa, rec in _points(run)]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            n = max(abs(x1 - x0), abs(y1 - y0), 1)
            for t in np.linspace(0.0, 1.0, n + 1):
                x, y = int(round(x0 + t * (x1 - x0))), int(round(y0 + t * (y1 - y0)))
                img[max(0, y - 1):y + 1, max(0, x - 1):x + 1] = colour
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    atomic_write_bytes(path, png)
    return path
