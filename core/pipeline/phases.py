"""The pipeline's phases, in order, named once (light: the CLI and the app import it without the pipeline).

clips -> augmentation -> features -> training -> export -> evaluation. Each phase is
``run(project, cfg, report, cancel) -> summary dict``; :func:`runner` gives the function (imported on use, so
``import core.pipeline.phases`` stays cheap).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Phase:
    name: str
    title: str  # the CLI's summary table
    label: str  # the app's phase list
    writes: str  # what it makes, for readers of the code and the docs


PHASE_TABLE: tuple[Phase, ...] = (
    Phase("clips", "Clips (recordings, synthesis, negatives)", "Clips",
          "clips/: processed recordings, synthetic positives, near misses, negative speech, the unseen-voice set"),
    Phase("augmentation", "Augmentation", "Augmentation", "clips/*_augmented: rooms, noise, pitch, speed, gain"),
    Phase("features", "Features", "Features", "features/: openWakeWord (16, 96) embeddings per clip and stream"),
    Phase("training", "Training", "Training", "checkpoints/: the torch head, resumable"),
    Phase("export", "Export (ONNX)", "Export (ONNX)", "models/<name>.onnx (and .tflite), checked against torch"),
    Phase("evaluation", "Evaluation", "Evaluation", "models/<name>.json and .md: threshold, DET curve, the card"),
)
PHASES: tuple[str, ...] = tuple(p.name for p in PHASE_TABLE)
PHASE_TITLES: dict[str, str] = {p.name: p.title for p in PHASE_TABLE}
PHASE_LABELS: dict[str, str] = {p.name: p.label for p in PHASE_TABLE}


def runner(name: str) -> Callable[..., dict[str, Any]]:
    """The function that runs phase ``name`` (plain imports: the import graph shows every phase)."""
    if name == "clips":
        from core.pipeline.p1_clips.phase import run_clip_phase

        return run_clip_phase
    if name == "augmentation":
        from core.pipeline.p2_augmentation.phase import run_augmentation_phase

        return run_augmentation_phase
    if name == "features":
        from core.pipeline.p3_features.phase import run_feature_phase

        return run_feature_phase
    if name == "training":
        from core.pipeline.p4_training.phase import run_training_phase

        return run_training_phase
    if name == "export":
        from core.pipeline.p5_export.phase import run_export_phase

        return run_export_phase
    if name == "evaluation":
        from core.pipeline.p6_evaluation.phase import run_evaluation_phase

        return run_evaluation_phase
    raise KeyError(f"unknown phase {name!r}; phases are {', '.join(PHASES)}")
