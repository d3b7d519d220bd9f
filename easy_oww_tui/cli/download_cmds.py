"""`easy-oww list-voices`, `download-voices`, `download` and `datasets`."""

from __future__ import annotations

import sys

import click

from easy_oww_tui.cli.common import (
    friendly_errors,
    get_workspace,
    make_console,
    rich_reporter,
    workspace_option,
)


def _size(n: int | None) -> str:
    from core.assets.net_errors import human_size

    return human_size(n)


@click.command("list-voices")
@click.option("--available", is_flag=True, help="List the voices in the Piper catalog (downloads it once a day).")
@click.option("--language", default=None, help="Filter: a locale (en_US, en_GB) or a family (en). Default: all.")
@workspace_option
@friendly_errors
def list_voices_cmd(available: bool, language: str | None, workspace: str | None) -> None:
    """List installed Piper voices (or, with --available, the downloadable ones)."""
    from rich.table import Table

    from core.assets import voice_catalog as vc

    ws = get_workspace(workspace)
    console = make_console()
    installed = vc.list_installed_voices(ws)
    if not available:
        rows = [v for v in installed if not language or vc.language_matches(v.language, language)]
        table = Table(title=f"Installed voices ({ws.voices_dir})")
        for col in ("voice", "language", "quality", "speakers", "size", "where"):
            table.add_column(col)
        for v in rows:
            table.add_row(v.key, v.language, v.quality, str(v.num_speakers), _size(v.size_bytes),
                          "bundled" if v.bundled else "workspace")
        console.print(table)
        console.print("More voices: easy-oww download-voices --language en_US --count 2")
        return
    with rich_reporter() as report:
        catalog = vc.load_catalog(ws, report=report)
    keys = {v.key for v in installed}
    voices = vc.voices_for_language(catalog, language or "all")
    table = Table(title=f"Piper voices{f' for {language}' if language else ''} ({len(voices)})")
    for col in ("voice", "language", "quality", "speakers", "sex", "size", "installed"):
        table.add_column(col)
    for v in voices:
        table.add_row(v.key, v.language, v.quality, str(v.num_speakers), v.sex or "?", _size(v.size_bytes),
                      "yes" if v.key in keys else "")
    console.print(table)


@click.command("download-voices")
@click.option("--language", default="en_US", show_default=True,
              help="A locale (en_US, en_GB) or a family (en: voices from several regions).")
@click.option("--count", type=click.IntRange(1, 50), default=2, show_default=True, help="How many voices.")
@click.option("--quality", type=click.Choice(["x_low", "low", "medium", "high"]), default="medium",
              show_default=True)
@click.option("--voice", "voices", multiple=True,
              help="A voice key or name (e.g. en_GB-alan-medium or alan) instead of choosing; repeatable.")
@click.option("--refresh", is_flag=True, help="Download the voice catalog again even if the cached one is fresh.")
@workspace_option
@friendly_errors
def download_voices_cmd(language: str, count: int, quality: str, voices: tuple[str, ...], refresh: bool,
                        workspace: str | None) -> None:
    """Download Piper voices for more speaker variety (multi-speaker voices first)."""
    from core.assets import voice_catalog as vc

    ws = get_workspace(workspace)
    ws.ensure()
    with rich_reporter() as report:
        catalog = vc.load_catalog(ws, report=report, refresh=refresh)
    installed = {v.key for v in vc.list_installed_voices(ws)} | {v.name for v in vc.list_installed_voices(ws)}
    if voices:
        chosen = [vc.find_voice(catalog, name, quality) for name in voices]
    else:
        chosen = vc.choose_voices(catalog, language=language, count=count, quality=quality, exclude=installed)
        if not chosen:
            click.echo(f"Every {language} voice is installed already; nothing to download.")
            return
        if len(chosen) < count:
            click.echo(f"Only {len(chosen)} more {language} voice(s) available.")
    click.echo("Voices to download:")
    for v in chosen:
        speakers = f"{v.num_speakers} speakers" if v.num_speakers > 1 else (v.sex or "1 speaker")
        state = " (installed)" if vc.is_installed(ws, v) else ""
        click.echo(f"  {v.key:<36} {v.language_name} {v.region}, {speakers}, {_size(v.size_bytes)}{state}")
    with rich_reporter() as report:
        paths = vc.install_voices(ws, chosen, report=report)
    click.secho(f"Installed {len(paths)} voice(s) into {ws.voices_dir}", fg="green")


@click.command("download")
@click.argument("dataset_args", nargs=-1, metavar="[DATASET]...")
@click.option("--required-only", is_flag=True, help="Only the datasets training needs (small).")
@click.option("--dataset", "names", multiple=True, help="Download only this dataset (repeatable); see `easy-oww datasets`.")
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="Do not ask before very large downloads (ACAV100M, ~17 GB).")
@workspace_option
@friendly_errors
def download_cmd(dataset_args: tuple[str, ...], required_only: bool, names: tuple[str, ...], assume_yes: bool,
                 workspace: str | None) -> None:
    """Download training datasets into the workspace (resumable; finished files are kept).

    With no DATASET: every dataset not installed yet (or only the required ones).
    """
    from core.assets import datasets as ds
    from core.assets.net_errors import human_size

    ws = get_workspace(workspace)
    ws.ensure()
    names = dataset_args + names
    if names:
        todo = list(dict.fromkeys(ds.get_dataset(n).name for n in names))
    else:
        todo = ds.pending_datasets(ws, required_only=required_only)
    if not todo:
        click.echo("Everything is downloaded already. `easy-oww datasets` shows what is installed.")
        return
    plan: list[tuple[str, bool]] = []
    for name in todo:  # ask before any progress bar is drawn
        d = ds.get_dataset(name)
        yes = assume_yes
        if d.confirm and not yes and not ds.is_installed(ws, name):
            if not sys.stdin.isatty():
                click.echo(f"Skipped {name} (about {human_size(d.approx_bytes)}): pass --yes to download it.")
                continue
            yes = click.confirm(f"{d.title} is about {human_size(d.approx_bytes)}. Download it now?", default=False)
            if not yes:
                click.echo(f"Skipped {name}.")
                continue
        plan.append((name, yes))
    done: list[str] = []
    with rich_reporter() as report:
        for name, yes in plan:
            summary = ds.download_dataset(ws, name, report=report, assume_yes=yes)
            done.append(f"{name}: {summary.get('source')}")
    for line in done:
        click.secho(f"  {line}", fg="green")
    click.echo("`easy-oww datasets` shows what is installed.")


@click.command("datasets")
@workspace_option
@friendly_errors
def datasets_cmd(workspace: str | None) -> None:
    """Show which datasets are installed, their size and licence."""
    from rich.table import Table

    from core.assets.datasets import dataset_status

    ws = get_workspace(workspace)
    table = Table(title=f"Datasets in {ws.datasets_dir}")
    for col in ("dataset", "installed", "size", "needed", "licence", "status / path"):
        table.add_column(col, overflow="fold")
    for s in dataset_status(ws):
        table.add_row(
            f"{s.name}\n[dim]{s.purpose}[/]", "[green]yes[/]" if s.installed else "no",
            _size(s.size_bytes), "required" if s.required else "optional", s.licence,
            f"{s.detail}\n[dim]{s.path}[/]",
        )
    console = make_console()
    console.print(table)
    console.print("Download: easy-oww download --required-only  (or --dataset NAME; ACAV100M needs --yes)")


COMMANDS: list[click.Command] = [list_voices_cmd, download_voices_cmd, download_cmd, datasets_cmd]
