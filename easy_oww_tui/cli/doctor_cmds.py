"""`easy-oww doctor`: what this machine has, what each missing piece costs, and the one command that fixes it."""

from __future__ import annotations

import click

from easy_oww_tui.cli.common import friendly_errors, get_workspace, make_console, workspace_option

STYLE = {"ok": "green", "warn": "yellow", "missing": "red"}


@click.command("doctor")
@click.option("--offline", is_flag=True, help="Skip the network check.")
@workspace_option
@friendly_errors
def doctor_cmd(offline: bool, workspace: str | None) -> None:
    """Check Python, PortAudio, microphones, voices, feature models, TFLite, disk, GPU and downloads."""
    from rich.markup import escape
    from rich.table import Table

    from core.doctor import SUMMARY, environment_summary, run_checks, worst

    ws = get_workspace(workspace)
    findings = run_checks(ws, network=not offline)
    table = Table(title="easy-oww doctor")
    for col in ("check", "status", "found", "what it costs / fix"):
        table.add_column(col, overflow="fold")
    for f in findings:
        advice = escape(f.cost) + (f"\n[bold]fix:[/] {escape(f.fix)}" if f.fix else "")
        table.add_row(f.name, f"[{STYLE[f.status]}]{f.status}[/]", escape(f.detail), advice)
    console = make_console(highlight=False)
    console.print(table)
    env = ", ".join(f"{k}={v}" if v else f"{k} unset" for k, v in environment_summary().items())
    console.print(f"workspace: {ws.root}  ({env})")
    status = worst(findings)
    console.print(f"[{STYLE[status]}]{escape(SUMMARY[status])}[/]")
    if status == "missing":
        raise SystemExit(1)


COMMANDS: list[click.Command] = [doctor_cmd]
