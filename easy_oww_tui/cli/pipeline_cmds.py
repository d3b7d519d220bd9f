"""`easy-oww generate | train | eval | export`: thin wrappers over core.orchestrator and friends."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from easy_oww_tui.cli.common import friendly_errors, get_workspace, rich_reporter, workspace_option


def _print_summary(summary, workspace_root: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from core.orchestrator import PHASE_TITLES, PHASES

    console = Console()
    table = Table(title=f"easy-oww: {summary.project} ({summary.wake_word!r})")
    table.add_column("phase")
    table.add_column("status")
    table.add_column("minutes", justify="right")
    for phase in PHASES:
        if phase not in summary.phase_status:
            continue
        status = summary.phase_status[phase]
        secs = summary.phase_seconds.get(phase, 0.0)
        table.add_row(PHASE_TITLES[phase], status, f"{secs / 60:.2f}")
    table.add_row("total", "", f"{sum(summary.phase_seconds.values()) / 60:.2f}")
    console.print(table)
    clips = summary.phase_summaries.get("clips", {})
    if clips:
        console.print(
            f"Clips: {summary.real_recordings} real recordings, "
            f"{clips.get('synthetic', clips.get('synthetic_clips', '?'))} synthetic positives, "
            f"{clips.get('negatives', clips.get('negative_clips', '?'))} negatives"
        )
    if summary.voices:
        console.print(f"Voices: {', '.join(summary.voices)}")
    console.print(f"Datasets: {', '.join(summary.datasets) if summary.datasets else 'none (offline fallbacks)'}")
    if summary.model_path:
        m = summary.metrics
        console.print(f"[bold green]Model:[/] {summary.model_path}")
        if summary.threshold is not None:
            console.print(f"Threshold: {summary.threshold:.3f}")
        if m:
            parts = []
            if "recall" in m:
                parts.append(f"recall {m['recall']:.3f}")
            if "false_accepts_per_hour" in m:
                parts.append(f"false accepts/hour {m['false_accepts_per_hour']:.2f}")
            if "recall_at_0_5" in m:
                parts.append(f"recall@0.5 {m['recall_at_0_5']:.3f}")
            console.print("Metrics (at the threshold): " + ", ".join(parts))
        from core.feature_models import feature_models_for
        from core.projects import Workspace

        fm = feature_models_for(Workspace(workspace_root))
        console.print(
            "Use it (Python):\n"
            "  from openwakeword.model import Model\n"
            f"  m = Model(wakeword_models=[\"{summary.model_path}\"], inference_framework=\"onnx\",\n"
            f"            melspec_model_path=\"{fm.melspec}\",\n"
            f"            embedding_model_path=\"{fm.embedding}\")\n"
            f"  score = m.predict(frame_int16_1280)[\"{summary.model_path.stem}\"]  "
            f"# wake word when >= {summary.threshold or 0.5:.2f}\n"
            f"Live test: easy-oww test {summary.project}    Home Assistant: easy-oww export {summary.project} "
            "--format tflite, then copy the .tflite to /share/openwakeword"
        )


def _run(name: str, workspace: str | None, resume: bool, force: bool, verbose: bool,
         phases: list[str] | None, device: str | None = None) -> None:
    from core.orchestrator import run_training

    ws = get_workspace(workspace)
    project = ws.project(name)
    cancel = threading.Event()
    with rich_reporter(verbose=verbose) as report:
        try:
            summary = run_training(project.path, ws.root, resume=resume, force=force, verbose=verbose,
                                   report=report, cancel=cancel, phases=phases, device=device)
        except KeyboardInterrupt:
            cancel.set()
            raise
    _print_summary(summary, ws.root)


@click.command("generate")
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete generated clips and make them again (recordings are kept).")
@click.option("--verbose", "-v", is_flag=True, help="Show every log line.")
@workspace_option
@friendly_errors
def generate_cmd(name: str, force: bool, verbose: bool, workspace: str | None) -> None:
    """Make the training clips for NAME: recordings, synthetic positives, negatives, augmentation."""
    _run(name, workspace, resume=False, force=force, verbose=verbose, phases=["clips", "augmentation"])


@click.command("train")
@click.argument("name")
@click.option("--resume", is_flag=True, help="Continue an interrupted run (the default when nothing changed).")
@click.option("--force", is_flag=True, help="Start over: regenerate clips, features and the model.")
@click.option("--verbose", "-v", is_flag=True, help="Show every log line.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
              help="Where to train (default: the config's device, auto = CUDA when present).")
@workspace_option
@friendly_errors
def train_cmd(name: str, resume: bool, force: bool, verbose: bool, device: str | None,
              workspace: str | None) -> None:
    """Train NAME end to end: clips -> augmentation -> features -> training -> ONNX -> evaluation."""
    _run(name, workspace, resume=resume, force=force, verbose=verbose, phases=None, device=device)


@click.command("eval")
@click.argument("name")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False),
              help="Any openWakeWord-compatible ONNX model (default: the project's).")
@workspace_option
@friendly_errors
def eval_cmd(name: str, model_path: str | None, workspace: str | None) -> None:
    """Evaluate a model on NAME's held-out clips: recall, false accepts per hour, threshold."""
    from rich.console import Console

    from core.evaluation import evaluate_model

    ws = get_workspace(workspace)
    project = ws.project(name)
    cfg = project.load_config()
    path = Path(model_path) if model_path else project.model_path(cfg)
    if not path.is_file():
        from core.errors import EasyOWWError

        raise EasyOWWError(f"No model at {path}. Train it first: easy-oww train {name}")
    with rich_reporter() as report:
        if model_path is None:
            from core.evaluation import run_evaluation_phase

            result = run_evaluation_phase(project, cfg, report, threading.Event())
        else:
            result = evaluate_model(path, project, cfg, report=report, cancel=threading.Event())
    console = Console()
    m = result.get("metrics", result)
    console.print(f"[bold]Model:[/] {path}")
    console.print(f"Threshold: {result.get('threshold', 0.5):.3f}  (target <= {cfg.target_false_accepts_per_hour} "
                  "false accepts/hour)")
    for key in ("recall", "false_accepts_per_hour", "recall_at_0_5", "fa_per_hour_at_0_5", "negative_hours"):
        if key in m:
            console.print(f"  {key}: {m[key]:.4g}")


@click.command("export")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["onnx", "tflite", "all"]), default="onnx", show_default=True,
              help="tflite is what Home Assistant loads (needs: pip install 'easy-oww[tflite]').")
@workspace_option
@friendly_errors
def export_cmd(name: str, fmt: str, workspace: str | None) -> None:
    """Export NAME's trained model: ONNX (verified in openwakeword.Model) and/or TFLite (Home Assistant)."""
    from core.export import run_export_phase
    from core.model_card import write_model_card

    ws = get_workspace(workspace)
    project = ws.project(name)
    cfg = project.load_config()
    written: list[str] = []
    with rich_reporter() as report:
        if fmt in ("onnx", "all"):
            run_export_phase(project, cfg, report, threading.Event())
            written.append(str(project.model_path(cfg)))
        if fmt in ("tflite", "all"):
            from core.tflite_export import run_tflite_export

            run_tflite_export(project, cfg, report, threading.Event())
            written.append(str(project.model_path(cfg, ".tflite")))
    card = project.model_path(cfg, ".json")
    if card.is_file():
        import json

        write_model_card(project, cfg, json.loads(card.read_text()), {})
    for path in written:
        click.secho(f"Exported: {path}", fg="green")


COMMANDS: list[click.Command] = [generate_cmd, train_cmd, eval_cmd, export_cmd]
