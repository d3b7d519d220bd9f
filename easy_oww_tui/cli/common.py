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


def workspace_option(fn: F) -> F:
    return click.option(
        "--workspace",
        type=click.Path(file_okay=False),
        default=None,
        envvar="EASY_OWW_HOME",
        help="Workspace folder (default: $EASY_OWW_HOME or the user data folder).",
    )(fn)


def get_workspace(workspace: str | None):
    from core.projects import resolve_workspace

    ctx = click.get_current_context(silent=True)
    if workspace is None and ctx is not None and ctx.obj:
        workspace = ctx.obj.get("workspace")
    return resolve_workspace(workspace)


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

    return wrapper  # type: ignore[return-value]


@contextmanager
def rich_reporter(verbose: bool = False) -> Iterator[Callable[[Any], None]]:
    """A core ``report`` callable that draws Rich progress bars and prints logs/warnings."""
    from easy_oww_tui.cli.progress import RichReporter

    reporter = RichReporter(verbose=verbose)
    with reporter:
        yield reporter
