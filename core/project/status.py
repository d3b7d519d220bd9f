"""What a project has and lacks: counts, last model and its metrics (for `list` and the app)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import EasyOWWError
from core.project.workspace import Project


@dataclass(frozen=True)
class ProjectSummary:
    name: str
    wake_word: str
    recordings: int
    negative_recordings: int
    clips: int
    positive_clips: int
    negative_clips: int
    augmented_clips: int
    model_exists: bool
    recall: float | None
    false_accepts_per_hour: float | None
    threshold: float | None
    config_error: str | None = None
    speakers: tuple[tuple[str, int, int], ...] = ()  # household test of the current model: (name, heard, tries)


def _count(folder: Path, pattern: str = "*.wav") -> int:
    return sum(1 for _ in folder.glob(pattern)) if folder.is_dir() else 0


def project_summary(project: Project) -> ProjectSummary:
    cfg = None
    error = None
    try:
        cfg = project.load_config()
    except EasyOWWError as exc:
        error = str(exc)
    pos = _count(project.positive_clips_dir(cfg))
    neg = _count(project.negative_clips_dir(cfg))
    aug = _count(project.augmented_clips_dir(cfg))
    speech = _count(project.clips_dir(cfg) / "negative_speech")
    card = project.model_path(cfg, ".json")
    recall = fa = thr = None
    speakers: tuple[tuple[str, int, int], ...] = ()
    if card.is_file():
        try:
            data = json.loads(card.read_text())
            metrics = data.get("metrics", {})
            recall = metrics.get("recall")
            fa = metrics.get("false_accepts_per_hour")
            thr = data.get("threshold")
            rows = ((data.get("card") or {}).get("household") or {}).get("speakers") or []
            speakers = tuple((str(r["speaker"]), int(r["hits"]), int(r["tries"])) for r in rows)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    return ProjectSummary(
        name=project.name,
        wake_word=cfg.wake_word if cfg else "?",
        recordings=_count(project.recordings_dir(cfg)),
        negative_recordings=_count(project.negative_recordings_dir),
        clips=pos + neg + aug + speech,
        positive_clips=pos,
        negative_clips=neg,
        augmented_clips=aug,
        model_exists=project.model_path(cfg).is_file(),
        recall=recall,
        false_accepts_per_hour=fa,
        threshold=thr,
        config_error=error,
        speakers=speakers,
    )
