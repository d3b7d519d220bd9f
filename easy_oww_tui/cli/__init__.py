"""The `easy-oww` command line. With no command it opens the full-screen app."""

from __future__ import annotations

import sys

import click

from easy_oww_tui.cli import (
    check_cmds,
    deploy_cmds,
    doctor_cmds,
    download_cmds,
    pipeline_cmds,
    project_cmds,
    record_cmds,
    runs_cmds,
)
from easy_oww_tui.cli.common import workspace_option


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@workspace_option
@click.option("--no-mouse", is_flag=True, help="Disable mouse support in the app.")
@click.version_option(package_name="easy-oww")
@click.pass_context
def main(ctx: click.Context, workspace: str | None, no_mouse: bool) -> None:
    """Train your own openWakeWord wake word.

    Run with no command to open the full-screen app; or script it with the commands below.
    """
    ctx.ensure_object(dict)
    ctx.obj["workspace"] = workspace
    if ctx.invoked_subcommand is not None:
        return
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        click.echo(
            "easy-oww: the app needs an interactive terminal (stdout is not a TTY).\n"
            "Use the commands instead, e.g. `easy-oww create NAME --wake-word \"...\"`, "
            "`easy-oww train NAME`; see `easy-oww --help`.",
            err=True,
        )
        ctx.exit(2)
    from easy_oww_tui.app import run_app

    run_app(workspace=workspace, mouse=not no_mouse)


for _module in (project_cmds, check_cmds, pipeline_cmds, record_cmds, download_cmds, deploy_cmds, doctor_cmds,
                runs_cmds):
    for _cmd in _module.COMMANDS:
        main.add_command(_cmd)
