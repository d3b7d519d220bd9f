"""Shared CLI plumbing: the workspace option, error handling, Rich progress from core events."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from core.errors import Cancelled, EasyOWWError

F = TypeVar("F", bound=Callable[..., Any])


PIPE_WIDTH = 200  # columns when output goes to a pipe or a log: no wrapping at 80


def make_console(highlight: bool = True, stderr: bool = False) -> Any:
    """A Rich console for CLI output. In a terminal it fits the terminal; in a pipe or a log file it is
    wide (``$COLUMNS`` or 200) and never folds a line, so `easy-oww ... | cat` reads like the terminal."""
    import os

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(highlight=highlight, stderr=stderr)
    width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else PIPE_WIDTH
    width = max(width, 40)  # COLUMNS=0 would print nothing at all
    return Console(highlight=highlight, stderr=stderr, width=width, soft_wrap=True)


def workspace_option(fn: F) -> F:
    return click.option(
        "--workspace",
        type=click.Path(file_okay=False),
        default=None,
        envvar="EASY_OWW_HOME",
        help="Workspace folder (default: $EASY_OWW_HOME or the user data folder).",
    )(fn)


def get_workspace(workspace: str | None):
    from core.project.workspace import resolve_workspace

    ctx = click.get_current_context(silent=True)
    if workspace is None and ctx is not None and ctx.obj:
        workspace = ctx.obj.get("workspace")
    return resolve_workspace(workspace)


def _save_traceback() -> str:
    import tempfile
    import traceback
    from pathlib import Path

    from platformdirs import user_log_dir

    text = traceback.format_exc()
    for folder in (Path(user_log_dir("easy-oww", appauthor=False)), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "last-error.txt"
            path.write_text(text, encoding="utf-8")
            return str(path)
        except OSError:
            continue
    return "(could not save the traceback)"


def friendly_errors(fn: F) -> F:
    """Turn the core's user-facing errors into a message and exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Cancelled as exc:
            click.secho(f"Stopped: {exc}", fg="yellow", err=True)
            sys.exit(130)
        except KeyboardInterrupt:
            click.secho("Stopped by Ctrl-C; finished work is kept. Run the command again to continue.",
                        fg="yellow", err=True)
            sys.exit(130)
        except EasyOWWError as exc:
            click.secho(f"Error: {exc}", fg="red", err=True)
            sys.exit(1)
        except Exception as exc:  # a bug: keep the details, show one clear line
            where = _save_traceback()
            click.secho(f"Internal error: {type(exc).__name__}: {exc}", fg="red", err=True)
            click.echo(f"This is a bug in easy-oww; finished work is kept. Details: {where}", err=True)
            sys.exit(3)

    return wrapper  # type: ignore[return-value]


@contextmanager
def rich_reporter(verbose: bool = False) -> Iterator[Callable[[Any], None]]:
    """A core ``report`` callable that draws Rich progress bars and prints logs/warnings."""
    from easy_oww_tui.cli.progress import RichReporter

    reporter = RichReporter(verbose=verbose, console=make_console())
    with reporter:
        yield reporter
