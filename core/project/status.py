"""What a project has and lacks: counts, last model and its metrics (for `list` and the app)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import EasyOWWError
from core.project.model_card import read_card
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
    data = read_card(card)
    metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
    recall = metrics.get("recall")
    fa = metrics.get("false_accepts_per_hour")
    thr = data.get("threshold")
    try:
        rows = ((data.get("card") or {}).get("household") or {}).get("speakers") or []
        speakers = tuple((str(r["speaker"]), int(r["hits"]), int(r["tries"])) for r in rows)
    except (ValueError, KeyError, TypeError, AttributeError):
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


@dataclass(frozen=True)
class Readiness:
    """What a project still needs before training: voices and datasets (the app's project view)."""

    voices: tuple[str, ...]  # installed Piper voices
    missing_voices: tuple[str, ...]  # named in the config but not installed
    datasets_installed: int
    datasets_total: int
    datasets_recommended: tuple[str, ...]  # required ones not installed yet


def readiness(ws: Any, cfg: Any | None) -> Readiness:
    """Voices and datasets for ``cfg`` (None: a project whose config cannot be read)."""
    from core.assets.datasets import dataset_status
    from core.assets.voice_catalog import list_installed_voices

    voices = tuple(v.key for v in list_installed_voices(ws))
    chosen = (cfg.voices if cfg else []) or []
    rows = dataset_status(ws)
    return Readiness(voices, tuple(v for v in chosen if v not in voices), sum(r.installed for r in rows), len(rows),
                     tuple(r.name for r in rows if r.required and not r.installed))

