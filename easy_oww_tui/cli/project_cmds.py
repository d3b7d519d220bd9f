"""`easy-oww create` and `easy-oww list`."""

from __future__ import annotations

import sys

import click

from easy_oww_tui.cli.common import friendly_errors, get_workspace, make_console, workspace_option


@click.command("create")
@click.argument("name")
@click.option("--wake-word", help='The phrase to detect, e.g. "hey jarvis".')
@click.option("--pronunciation", default=None,
              help='How the voices should say it, in ordinary words, when they get it wrong (e.g. "hey my croft").')
@click.option("--also", "phrasings", multiple=True, metavar="PHRASE",
              help='Another way to say it, trained into the same model (repeat for more), e.g. --also "ok jarvis".')
@click.option("--samples", type=int, default=None, help="Positive clips to make (default 1000).")
@click.option("--steps", type=int, default=None, help="Training steps (default 10000).")
@click.option("--preset", type=click.Choice(["default", "quick"]), default="default",
              help="quick: a few hundred clips and ~1,000 steps, for trying things out.")
@workspace_option
@friendly_errors
def create_cmd(name: str, wake_word: str | None, pronunciation: str | None, phrasings: tuple[str, ...],
               samples: int | None, steps: int | None, preset: str, workspace: str | None) -> None:
    """Create a project NAME for a wake word."""
    from core.errors import ProjectError
    from core.project.config import TrainingConfig, name_problem

    problem = name_problem(name)
    if problem:
        raise ProjectError(problem)
    interactive = sys.stdin.isatty()
    if not wake_word:
        if not interactive:
            raise ProjectError('Give the phrase with --wake-word "hey jarvis".')
        wake_word = click.prompt("Wake word", default=name.replace("_", " ").replace("-", " "))
    if samples is None and interactive and preset == "default":
        samples = click.prompt("Positive samples", default=1000, type=int)
    if steps is None and interactive and preset == "default":
        steps = click.prompt("Training steps", default=10000, type=int)
    cfg = (TrainingConfig.quick if preset == "quick" else TrainingConfig.create_default)(name, wake_word)
    if samples is not None:
        cfg.set_samples(samples)
    if steps is not None:
        cfg.max_steps = steps
    if pronunciation:
        cfg.pronunciation = pronunciation
    cfg.phrasings = [p.strip() for p in phrasings]
    ws = get_workspace(workspace)
    project = ws.create_project(cfg)
    click.secho(f"Created project {name!r} for wake word {wake_word!r}", fg="green")
    from core.pipeline.p1_clips.phrases import spoken_forms

    forms = spoken_forms(cfg.wake_word, cfg.pronunciation)
    if len(forms) > 1 or forms[0] != " ".join(cfg.wake_word.lower().split()):
        click.echo(f"  the voices will say: {' / '.join(repr(f) for f in forms)}")
    if cfg.phrasings:
        click.echo(f"  also: {', '.join(repr(p) for p in cfg.phrasings)} (one model; recall reported per phrasing)")
    click.echo(f"  folder: {project.path}")
    click.echo(f"  samples: {cfg.target_samples} ({cfg.real_samples} real, {cfg.synthetic_samples} synthetic), "
               f"steps: {cfg.max_steps}")
    from core.project.word_check import check_phrase

    checks = [check_phrase(cfg.wake_word, cfg.pronunciation)] + [check_phrase(p) for p in cfg.phrasings]
    for report in checks:
        for advice in (a for a in report.advice if a.level == "warning"):
            click.secho(f"  warning ({report.phrase}): {advice.text}", fg="yellow")
    click.echo(f"Next: `easy-oww record {name}` (optional), then `easy-oww train {name}`. "
               f'More about the word: `easy-oww check "{cfg.wake_word}"`.')


@click.command("list")
@workspace_option
@friendly_errors
def list_cmd(workspace: str | None) -> None:
    """List the projects in the workspace."""
    from rich.table import Table

    from core.project.status import project_summary

    ws = get_workspace(workspace)
    names = ws.list_projects()
    console = make_console()
    if not names:
        console.print(f"No projects in {ws.root}. Create one: easy-oww create hey_jarvis --wake-word \"hey jarvis\"")
        return
    table = Table(title=f"Projects in {ws.root}")
    for col in ("name", "wake word", "recordings", "clips", "model", "recall", "FA/h"):
        table.add_column(col)
    for name in names:
        s = project_summary(ws.project(name))
        table.add_row(
            name, s.wake_word, str(s.recordings), str(s.clips),
            "yes" if s.model_exists else "-",
            f"{s.recall:.2f}" if s.recall is not None else "-",
            f"{s.false_accepts_per_hour:.2f}" if s.false_accepts_per_hour is not None else "-",
        )
    console.print(table)


COMMANDS: list[click.Command] = [create_cmd, list_cmd]
