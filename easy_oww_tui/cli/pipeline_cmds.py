"""`easy-oww generate | train | eval | export`: thin wrappers over core.pipeline.orchestrator and friends."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from easy_oww_tui.cli.common import (
    friendly_errors,
    get_workspace,
    make_console,
    rich_reporter,
    workspace_option,
)


def _print_summary(summary, workspace_root: Path) -> None:
    from rich.table import Table

    from core.pipeline.phases import PHASE_TITLES, PHASES

    console = make_console()
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
        for line in summary.statement:
            console.print(("[yellow]" if line.startswith("WARNING") else "") + escape(line))
        from core.assets.feature_models import feature_models_for
        from core.project.model_card import usage_python
        from core.project.workspace import Workspace

        fm = feature_models_for(Workspace(workspace_root))
        console.print(usage_python(summary.model_path, summary.threshold, fm.melspec, fm.embedding,
                                   summary.project))


def _run(name: str, workspace: str | None, resume: bool, force: bool, verbose: bool,
         phases: list[str] | None, device: str | None = None) -> None:
    from core.pipeline.orchestrator import run_training

    ws = get_workspace(workspace)
    project = ws.project(name)
    cancel = threading.Event()
    with rich_reporter(verbose=verbose) as report:
        try:
            summary = run_training(project.path, ws.root, resume=resume, force=force,
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
@click.option("--get-voice/--no-get-voice", "get_voice", default=None,
              help="Download the recommended multi-speaker Piper voice (en_US-libritts_r-medium, 904 speakers, "
                   "~78 MB) before training (default: ask in a terminal when no multi-speaker voice is installed).")
@click.option("--refine", is_flag=True,
              help="Improve the trained model with your corrections (f / m while testing) in about a minute; it is "
                   "kept only if it is as good on the held-out data.")
@workspace_option
@friendly_errors
def train_cmd(name: str, resume: bool, force: bool, verbose: bool, device: str | None, get_voice: bool | None,
              refine: bool, workspace: str | None) -> None:
    """Train NAME end to end: clips -> augmentation -> features -> training -> ONNX -> evaluation."""
    if refine:
        from easy_oww_tui.cli.runs_cmds import refine_project

        refine_project(name, workspace, verbose)
        return
    ws = get_workspace(workspace)
    offer_recommended_voice(ws, ws.project(name).load_config(), get_voice,
                            interactive=sys.stdin.isatty() and sys.stdout.isatty())
    _run(name, workspace, resume=resume, force=force, verbose=verbose, phases=None, device=device)


def offer_recommended_voice(ws: Any, cfg: Any, choice: bool | None, interactive: bool) -> bool:
    """Fetch the recommended multi-speaker voice when asked (``choice``) or when the user says yes; True if
    it is installed afterwards. Offline or on a failed download training goes on with the installed voices."""
    from core.assets import voice_catalog as vc
    from core.errors import EasyOWWError

    if cfg.voices or choice is False or vc.has_multi_speaker_voice(ws):
        return vc.has_multi_speaker_voice(ws)
    if choice is None:
        if not interactive:
            click.echo(f"Tip: `easy-oww train NAME --get-voice` downloads {vc.RECOMMENDED_VOICE} (904 speakers, "
                       "~78 MB): models then hear voices they never trained on much better.")
            return False
        if not click.confirm(f"Download the multi-speaker voice {vc.RECOMMENDED_VOICE} (904 speakers, ~78 MB)? "
                             "Models trained with it hear other people's voices much better", default=True):
            return False
    try:
        with rich_reporter() as report:
            vc.install_recommended_voice(ws, report)
    except EasyOWWError as exc:
        click.secho(f"Could not download {vc.RECOMMENDED_VOICE} ({exc}); training with the installed voices.",
                    fg="yellow")
        return False
    click.secho(f"Installed {vc.RECOMMENDED_VOICE}: its speakers join the training voices.", fg="green")
    return True


@click.command("eval")
@click.argument("name")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False),
              help="Any openWakeWord-compatible ONNX model (default: the project's).")
@workspace_option
@friendly_errors
def eval_cmd(name: str, model_path: str | None, workspace: str | None) -> None:
    """Evaluate a model on NAME's held-out clips: recall, false accepts per hour, threshold."""
    from core.pipeline.p6_evaluation.evaluate import evaluate_model

    ws = get_workspace(workspace)
    project = ws.project(name)
    cfg = project.load_config()
    path = Path(model_path) if model_path else project.model_path(cfg)
    if not path.is_file():
        from core.errors import EasyOWWError

        raise EasyOWWError(f"No model at {path}. Train it first: easy-oww train {name}")
    with rich_reporter() as report:
        if model_path is None:
            from core.pipeline.p6_evaluation.phase import run_evaluation_phase

            result = run_evaluation_phase(project, cfg, report, threading.Event())
        else:
            result = evaluate_model(path, project, cfg, report=report, cancel=threading.Event())
    console = make_console()
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
              help="tflite is what Home Assistant loads.")
@workspace_option
@friendly_errors
def export_cmd(name: str, fmt: str, workspace: str | None) -> None:
    """Export NAME's trained model: ONNX (verified in the openWakeWord pipeline) and/or TFLite (Home Assistant)."""
    from core.pipeline.p5_export.phase import run_export_phase
    from core.project.model_card import read_card, write_model_card

    ws = get_workspace(workspace)
    project = ws.project(name)
    cfg = project.load_config()
    written: list[str] = []
    with rich_reporter() as report:
        if fmt in ("onnx", "all"):
            run_export_phase(project, cfg, report, threading.Event())
            written.append(str(project.model_path(cfg)))
        if fmt in ("tflite", "all"):
            from core.pipeline.p5_export.tflite_export import run_tflite_export

            run_tflite_export(project, cfg, report, threading.Event())
            written.append(str(project.model_path(cfg, ".tflite")))
    card = project.model_path(cfg, ".json")
    if card.is_file():
        write_model_card(project, cfg, read_card(card), {})
    for path in written:
        click.secho(f"Exported: {path}", fg="green")


COMMANDS: list[click.Command] = [generate_cmd, train_cmd, eval_cmd, export_cmd]
