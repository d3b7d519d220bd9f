"""CLI commands (filled in by their feature)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
