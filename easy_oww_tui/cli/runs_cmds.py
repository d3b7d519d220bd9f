"""`easy-oww runs NAME` (the run history side by side) and the refine run behind `easy-oww train NAME --refine`."""

from __future__ import annotations

import click

from easy_oww_tui.cli.common import friendly_errors, get_workspace, make_console, workspace_option
from easy_oww_tui.widgets.text import fmt_float as _f


def refine_project(name: str, workspace: str | None, verbose: bool) -> None:
    """Fine-tune NAME's model on its corrections and say whether it was kept."""
    import threading

    from core.pipeline.refine import refine
    from easy_oww_tui.cli.common import rich_reporter

    ws = get_workspace(workspace)
    project = ws.project(name)
    cfg = project.load_config()
    cancel = threading.Event()
    with rich_reporter(verbose=verbose) as report:
        try:
            res = refine(project, cfg, report, cancel)
        except KeyboardInterrupt:
            cancel.set()
            raise
    console = make_console(highlight=False)
    b, a = res["before"], res["after"]
    console.print(f"Refined with {res['corrections']} correction(s) in {res['seconds']:.0f} s: recall on held-out "
                  f"voices {_f(b['recall'], 3)} -> {_f(a['recall'], 3)}, false accepts/h {_f(b['false_accepts_per_hour'], 2)}"
                  f" -> {_f(a['false_accepts_per_hour'], 2)}, threshold {_f(b['threshold'], 2)} -> "
                  f"{_f(a['threshold'], 2)}.")
    if res["kept"]:
        console.print(f"[green]Kept.[/] The previous model is models/history/{project.name}.v{res['version_archived']}"
                      ".*; `easy-oww runs " + project.name + "` compares them.")
    else:
        console.print("[yellow]Not kept:[/] the previous model is as good or better on the held-out data; it stays. "
                      "More corrections (f / m while testing) give the refine more to learn from.")


@click.command("runs")
@click.argument("name")
@click.option("--png/--no-png", default=True, show_default=True,
              help="Also write the DET curves as models/NAME.runs.png.")
@workspace_option
@friendly_errors
def runs_cmd(name: str, png: bool, workspace: str | None) -> None:
    """NAME's training and refine runs side by side, with their DET curves."""
    from rich.table import Table

    from core.project.runs import det_png, det_text, load_runs, run_note

    ws = get_workspace(workspace)
    project = ws.project(name)
    cfg = project.load_config()
    runs = load_runs(project)
    console = make_console(highlight=False)
    if not runs:
        console.print(f"{name} has no runs yet: easy-oww train {name}.")
        return
    table = Table(title=f"Runs of {name}")
    for col in ("run", "kind", "ended", "minutes", "recall", "FA/h", "threshold", "speech min", "steps", "heads",
                "note"):
        table.add_column(col, justify="right" if col not in ("kind", "ended", "note") else "left")
    for r in runs:
        s, c = r.get("settings") or {}, r.get("counts") or {}
        table.add_row(str(r.get("run")), str(r.get("kind")), str(r.get("ended")), _f(r.get("minutes"), 1),
                      _f(r.get("recall"), 3), _f(r.get("false_accepts_per_hour"), 2), _f(r.get("threshold"), 2),
                      _f(c.get("negative_speech_minutes") or s.get("negative_speech_minutes"), 0),
                      _f(s.get("max_steps"), 0), _f(s.get("ensemble_size"), 0), run_note(r))
    console.print(table)
    console.print("\n".join(det_text(runs)))
    if png:
        out = det_png(runs, project.model_path(cfg, ".runs.png"))
        console.print(f"DET curves: {out}")


COMMANDS = [runs_cmd]
