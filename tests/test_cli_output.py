"""CLI output in a pipe or a log is not folded at 80 columns."""

from __future__ import annotations

from pathlib import Path

from tests.pipeline_fixtures import run_cli


def test_piped_output_keeps_long_lines_whole(tmp_path: Path) -> None:
    ws = tmp_path / ("a-long-workspace-folder-name-" * 3)
    env = {"COLUMNS": ""}  # as in a cron job or CI log: no terminal width at all
    res = run_cli("datasets", workspace=ws, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert f"Datasets in {ws / 'datasets'}" in lines  # the title, path and all, on one line
    assert "Download: easy-oww download --required-only  (or --dataset NAME; ACAV100M needs --yes)" in lines
    res = run_cli("create", "pipe_test", "--wake-word", "hey mycroft", workspace=ws, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "  the voices will say: 'hey mycroft' / 'hey my croft'" in res.stdout.splitlines()


def test_every_command_a_message_names_exists() -> None:
    """Messages that tell users to run `easy-oww <command>` name commands that exist."""
    import re

    from easy_oww_tui.cli import main

    commands = set(main.commands)
    root = Path(__file__).resolve().parent.parent
    named: dict[str, str] = {}
    for py in list((root / "core").rglob("*.py")) + list((root / "easy_oww_tui").rglob("*.py")):
        for cmd in re.findall(r"`easy-oww ([a-z][a-z-]*)", py.read_text(encoding="utf-8")):
            named.setdefault(cmd, str(py.relative_to(root)))
    unknown = {c: where for c, where in named.items() if c not in commands}
    assert not unknown, f"messages name commands that do not exist: {unknown}"
