"""Runs the whole pipeline for a project: clips -> augmentation -> features -> training -> export -> evaluation.

Each phase records its completion in ``state.json`` together with a fingerprint of the settings it
depends on. A later run skips phases that are done and unchanged, and continues inside an unfinished
one (every phase is resumable on its own; training continues from its last checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import events as ev
from core.assets.datasets import dataset_notes
from core.errors import Cancelled, EasyOWWError
from core.fsutil import atomic_write_text
from core.pipeline.phases import PHASES, runner
from core.project.config import TrainingConfig
from core.project.workspace import Project, Workspace

# The settings each phase reads first; a phase also depends on everything earlier phases read.
_PHASE_KEYS: dict[str, tuple[str, ...]] = {
    "clips": ("wake_word", "pronunciation", "phrasings", "target_samples", "real_samples", "synthetic_samples", "negative_samples",
              "negative_speech_minutes", "voices", "clip_duration_ms", "sample_rate", "seed", "recordings_dir", "clips_dir"),
    "augmentation": ("use_augmentation", "augmentation_probability", "noise_probability", "rir_probability",
                     "pitch_probability", "augmentations_per_clip"),
    "features": ("validation_fraction", "features_dir"),
    "training": ("max_steps", "batch_size", "learning_rate", "model_type", "model_size", "layer_size", "ensemble_size",
                 "n_blocks", "dropout", "input_dropout", "label_smoothing", "feature_noise", "checkpoint_every"),
    "export": ("models_dir",),
    "evaluation": ("target_false_accepts_per_hour", "min_voices"),
}

# Settings added after the first release, with their defaults (left out of fingerprints while at the default).
_LATER_KEYS: dict[str, object] = {"pronunciation": "", "phrasings": [], "ensemble_size": 3, "feature_noise": 0.0}

def phase_fingerprint(cfg: TrainingConfig, phase: str) -> str:
    keys: list[str] = []
    for p in PHASES:
        keys.extend(_PHASE_KEYS[p])
        if p == phase:
            break
    data = cfg.to_dict()
    # Settings added later count only once set, so projects made before them keep their finished phases.
    text = json.dumps({k: data[k] for k in keys if not (k in _LATER_KEYS and data[k] == _LATER_KEYS[k])},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class TrainingSummary:
    project: str
    wake_word: str
    model_path: Path | None = None
    card_path: Path | None = None
    threshold: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    phase_status: dict[str, str] = field(default_factory=dict)  # done | skipped | failed | cancelled
    phase_summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    real_recordings: int = 0
    voices: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    statement: list[str] = field(default_factory=list)  # what the figures were measured on, with warnings


class ProjectState:
    """``state.json``: which phases finished, with which settings, and their summaries."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"phases": {}}
        if path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict) and isinstance(loaded.get("phases"), dict):
                    self.data = loaded
            except (OSError, ValueError):
                pass  # a damaged state only means phases are re-checked; their outputs are resumable

    def is_done(self, phase: str, fingerprint: str) -> bool:
        entry = self.data["phases"].get(phase)
        return bool(entry and entry.get("done") and entry.get("fingerprint") == fingerprint)

    def summary(self, phase: str) -> dict[str, Any]:
        return dict(self.data["phases"].get(phase, {}).get("summary", {}))

    def seconds(self, phase: str) -> float:
        return float(self.data["phases"].get(phase, {}).get("seconds", 0.0))

    def mark_done(self, phase: str, fingerprint: str, seconds: float, summary: dict[str, Any]) -> None:
        self.data["phases"][phase] = {
            "done": True, "fingerprint": fingerprint, "seconds": round(seconds, 3),
            "summary": _jsonable(summary), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        self.save()

    def invalidate_from(self, phase: str) -> None:
        idx = PHASES.index(phase)
        for p in PHASES[idx:]:
            self.data["phases"].pop(p, None)
        self.save()

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.data, indent=2))


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


class _ProjectLog:
    """Appends what a run did to ``logs/<kind>.log`` (kept across runs) while passing events on."""

    def __init__(self, project: Project, kind: str, report: ev.Reporter) -> None:
        project.logs_dir.mkdir(parents=True, exist_ok=True)
        self.path = project.logs_dir / f"{kind}.log"
        self.report = report
        self._lock = threading.Lock()
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        from core.faults import KillSwitch, tally_enabled

        self._kill = KillSwitch.from_env(PHASES)
        self._tally = tally_enabled()
        self.write(f"===== {kind} started {time.strftime('%Y-%m-%d %H:%M:%S')} =====")

    def write(self, line: str) -> None:
        with self._lock:
            self._fh.write(f"{time.strftime('%H:%M:%S')} {line}\n")
            self._fh.flush()

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.LogLine):
            self.write(f"[{event.level}] {event.phase + ': ' if event.phase else ''}{event.message}")
        elif isinstance(event, ev.PhaseStarted):
            self.write(f"[phase] {event.phase} started {event.description}")
        elif isinstance(event, ev.PhaseFinished):
            took = f" in {event.seconds:.1f}s" if event.seconds is not None else ""
            self.write(f"[phase] {event.phase} {'finished' if event.ok else 'FAILED'}{took} {event.message}")
        elif isinstance(event, ev.Metric) and event.name in ("val_loss", "recall", "false_accept_rate"):
            self.write(f"[metric] {event.phase} step {event.step} {event.name}={event.value:.4g}")
        elif isinstance(event, ev.Progress) and self._tally:
            self.write(f"[progress] {event.phase}")
        if self._kill is not None:
            self._kill.observe(event)
        self.report(event)

    def close(self, outcome: str) -> None:
        self.write(f"===== {outcome} =====")
        with self._lock:
            self._fh.close()


def force_reset(project: Project, state: ProjectState, cfg: TrainingConfig) -> list[Path]:
    """Remove everything training generated: the clips, features and checkpoints folders the settings name
    (never the recordings, the config or a folder holding them). Returns the folders kept for that reason."""
    keep = [project.path, project.config_path, project.recordings_dir(cfg), project.negative_recordings_dir]
    keep = [k.resolve() for k in keep]
    refused: list[Path] = []
    for target in (project.clips_dir(cfg), project.features_dir(cfg), project.checkpoints_dir):
        real = target.resolve()
        if any(k == real or k.is_relative_to(real) for k in keep):
            refused.append(target)
        elif target.is_dir():
            shutil.rmtree(target)
    state.invalidate_from(PHASES[0])
    project.make_layout(cfg)
    return refused


def run_training(
    project_path: str | Path,
    workspace_path: str | Path | None = None,
    resume: bool = False,
    report: ev.Reporter = ev.null_report,
    cancel: threading.Event | None = None,
    force: bool = False,
    phases: list[str] | None = None,
    device: str | None = None,
) -> TrainingSummary:
    """Run (or continue) the pipeline for the project at ``project_path``.

    ``resume`` insists on continuing an earlier run; without it an unchanged earlier run is continued
    anyway (nothing finished is redone). ``force`` starts over, deleting generated clips, features and
    checkpoints (never recordings). ``phases`` limits the run to some phases (e.g. ``["clips",
    "augmentation"]`` for ``easy-oww generate``).
    """
    project_path = Path(project_path)
    ws = Workspace(Path(workspace_path)) if workspace_path else Workspace(project_path.parent.parent)
    project = Project(path=project_path, workspace=ws)
    orchestrator = TrainingOrchestrator(project, report=report, cancel=cancel, device=device)
    return orchestrator.run(resume=resume, force=force, phases=phases)


class TrainingOrchestrator:
    def __init__(self, project: Project, report: ev.Reporter = ev.null_report,
                 cancel: threading.Event | None = None, device: str | None = None) -> None:
        self.project = project
        self.device = device  # overrides cfg.device for this run (not saved; results do not depend on it)
        self.report = report
        self.cancel = cancel if cancel is not None else threading.Event()

    def run(self, resume: bool = False, force: bool = False, phases: list[str] | None = None) -> TrainingSummary:
        from core.project.locking import ProjectLock

        purpose = "train" if phases is None else "generate"
        with ProjectLock(self.project.path, purpose) as lock:
            return self._run_locked(resume, force, phases, lock.took_over)

    def _run_locked(self, resume: bool, force: bool, phases: list[str] | None,
                    took_over: dict | None) -> TrainingSummary:
        project = self.project
        cfg = project.load_config()
        if self.device:
            cfg.device = self.device
        cfg.check()
        state = ProjectState(project.state_path)
        if resume and not state.data["phases"] and not force:
            ev.log(self.report, "No earlier run to resume; starting from the beginning.")
        if force:
            for kept in force_reset(project, state, cfg):
                ev.warn(self.report, f"--force left {kept} in place: it holds the recordings or the project itself. "
                        "Point clips_dir/features_dir at folders of their own.")
        project.make_layout(cfg)
        wanted = phases or PHASES
        unknown = [p for p in wanted if p not in PHASES]
        if unknown:
            raise EasyOWWError(f"Unknown phase(s) {unknown}; phases are {', '.join(PHASES)}.")

        log = _ProjectLog(project, "train" if phases is None else "generate", self.report)
        if took_over:
            ev.warn(log, f"Took over the project lock left by a stopped run (pid {took_over.get('pid')}); "
                    "continuing where it stopped.")
        summary = TrainingSummary(project=project.name, wake_word=cfg.wake_word)
        used, warnings = dataset_notes(project.workspace)
        summary.datasets = used
        for w in warnings:
            ev.warn(log, w)
        summary.warnings.extend(warnings)

        outcome = "failed"
        try:
            upstream_changed = False
            for phase in PHASES:
                if phase not in wanted:
                    continue
                fp = phase_fingerprint(cfg, phase)
                if not upstream_changed and state.is_done(phase, fp):
                    summary.phase_status[phase] = "skipped"
                    summary.phase_seconds[phase] = state.seconds(phase)
                    summary.phase_summaries[phase] = state.summary(phase)
                    log(ev.PhaseFinished(phase=phase, ok=True, message="skipped (already done)", seconds=0.0,
                                        status="skipped"))
                    continue
                upstream_changed = True  # every later phase must run again
                state.invalidate_from(phase)
                ev.check_cancel(self.cancel)
                started = time.monotonic()
                try:
                    result = self._run_phase(phase, cfg, log)
                except Cancelled:
                    summary.phase_status[phase] = "cancelled"
                    log(ev.PhaseFinished(phase=phase, ok=False, message="cancelled", status="cancelled",
                                         seconds=time.monotonic() - started))
                    raise
                except EasyOWWError as exc:
                    summary.phase_status[phase] = "failed"
                    log(ev.PhaseFinished(phase=phase, ok=False, message=str(exc),
                                         seconds=time.monotonic() - started))
                    raise
                seconds = time.monotonic() - started
                state.mark_done(phase, fp, seconds, result or {})
                summary.phase_status[phase] = "done"
                summary.phase_seconds[phase] = seconds
                summary.phase_summaries[phase] = _jsonable(result or {})
            if phases is None:
                self._deploy_extras(cfg, log, summary)
            outcome = "finished"
        except Cancelled:
            outcome = "cancelled"
            raise
        finally:
            log.close(outcome)
        self._fill_summary(summary, cfg)
        return summary

    def _deploy_extras(self, cfg: TrainingConfig, log: ev.Reporter, summary: TrainingSummary) -> None:
        """After a full run: the TFLite model for Home Assistant and the model card."""
        import importlib.util

        onnx_path = self.project.model_path(cfg)
        tflite_path = self.project.model_path(cfg, ".tflite")
        if onnx_path.is_file() and importlib.util.find_spec("ai_edge_litert") is not None:
            if not tflite_path.is_file() or tflite_path.stat().st_mtime < onnx_path.stat().st_mtime:
                from core.pipeline.p5_export.tflite_export import run_tflite_export

                try:
                    run_tflite_export(self.project, cfg, log, self.cancel)
                except Cancelled:
                    raise
                except EasyOWWError as exc:
                    ev.warn(log, f"TFLite export failed ({exc}); the ONNX model is fine. "
                            f"Retry with: easy-oww export {self.project.name} --format tflite")
        elif onnx_path.is_file():
            ev.warn(log, "No TFLite model for Home Assistant: ai-edge-litert is missing. Install it with "
                    "pip install 'ai-edge-litert>=2.3,<2.4' (part of easy-oww's install), then "
                    f"easy-oww export {self.project.name} --format tflite")
        card = self.project.model_path(cfg, ".json")
        if card.is_file():
            from core.audio.household import household_summary
            from core.project.model_card import write_model_card

            self._fill_summary(summary, cfg)
            write_model_card(self.project, cfg, {}, _jsonable({
                "voices": summary.voices, "datasets": summary.datasets,
                "phase_seconds": summary.phase_seconds, "real_recordings": summary.real_recordings,
                "clips": summary.phase_summaries.get("clips", {}), "phase_summaries": summary.phase_summaries,
            }), household_summary(self.project, cfg))
            if summary.phase_status.get("evaluation") == "done":  # a new model: one more run in the history
                from core.project.model_card import read_card
                from core.project.runs import record_run

                clips = summary.phase_summaries.get("clips", {})
                record_run(self.project, cfg, "train", read_card(card), sum(summary.phase_seconds.values()),
                           {k: clips.get(k) for k in ("real", "synthetic", "negatives", "negative_speech_minutes")})

    def _run_phase(self, phase: str, cfg: TrainingConfig, report: ev.Reporter) -> dict[str, Any]:
        fn = runner(phase)
        kwargs: dict[str, Any] = {}
        if phase == "training":
            kwargs["resume"] = True
        return fn(self.project, cfg, report, self.cancel, **kwargs)

    def _fill_summary(self, summary: TrainingSummary, cfg: TrainingConfig) -> None:
        clips = summary.phase_summaries.get("clips", {})
        summary.real_recordings = int(clips.get("real", clips.get("real_clips", 0)) or 0)
        summary.voices = list(clips.get("voices", []))
        model = self.project.model_path(cfg)
        if model.is_file():
            summary.model_path = model
        card = self.project.model_path(cfg, ".json")
        if card.is_file():
            summary.card_path = card
            try:
                data = json.loads(card.read_text(encoding="utf-8"))
                summary.threshold = data.get("threshold")
                summary.metrics = dict(data.get("metrics", {}))
                from core.project.model_card import quality_statement

                summary.statement = quality_statement(data)
            except (OSError, ValueError):
                pass
