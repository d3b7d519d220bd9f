"""Kill `easy-oww train` (SIGKILL) inside every phase and resume: the result matches an uninterrupted run.

Kill points are deterministic: ``EASY_OWW_KILL_AT=<phase>:<n>`` makes the process SIGKILL itself at the
n-th progress event of that phase (core/faults.py). The uninterrupted reference run counts each phase's
progress events, and the kill points are drawn (seeded) from those ranges.
"""

from __future__ import annotations

import random
import re
import signal
from collections import Counter
from pathlib import Path

import pytest

from core.pipeline.phases import PHASES
from tests.pipeline_fixtures import check_outputs_valid, generated_files, make_project, run_cli, tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

_PHASE_RE = re.compile(r"\[phase\] (\w+) (started|finished|FAILED)")


def _log(project: Path) -> str:
    path = project / "logs" / "train.log"
    return path.read_text(errors="replace") if path.is_file() else ""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref")
    project = make_project(root, tiny_config())
    out = run_cli("train", "hey_jarvis", workspace=root, env={"EASY_OWW_TALLY_PROGRESS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    counts = Counter(re.findall(r"\[progress\] (\w+)", _log(project)))
    assert all(counts[p] >= 1 for p in PHASES), counts
    return project, counts


def _kill_at(project: Path, root: Path, phase: str, n: int) -> str | None:
    """Run train with a kill switch; return the phase running when it died (None if it finished)."""
    before = len(_PHASE_RE.findall(_log(project)))
    out = run_cli("train", "hey_jarvis", workspace=root, env={"EASY_OWW_KILL_AT": f"{phase}:{n}"})
    if out.returncode == 0:
        return None
    assert out.returncode == -signal.SIGKILL, out.stderr[-3000:]
    running = None
    for name, what in _PHASE_RE.findall(_log(project))[before:]:
        running = name if what == "started" else None
    return running


def _run_with_kills(root: Path, points: list[tuple[str, int]]) -> tuple[Path, list[str]]:
    project = make_project(root, tiny_config())
    killed_in = []
    for phase, n in sorted(points, key=lambda p: PHASES.index(p[0])):
        landed = _kill_at(project, root, phase, n)
        if landed:
            killed_in.append(landed)
    out = run_cli("train", "hey_jarvis", "--resume", workspace=root)
    assert out.returncode == 0, out.stderr[-3000:]
    return project, killed_in


def _assert_same_as_reference(project: Path, ref_project: Path) -> None:
    assert generated_files(project) == generated_files(ref_project)
    check_outputs_valid(project)
    log = _log(project)
    assert "Took over the project lock" in log  # every kill left a lock; each resume took it over


def test_kill_once_inside_each_phase_then_resume(reference, tmp_path):
    ref_project, counts = reference
    points = [(p, max(1, counts[p] // 2)) for p in PHASES]
    project, killed_in = _run_with_kills(tmp_path, points)
    assert killed_in == list(PHASES), (killed_in, counts)
    _assert_same_as_reference(project, ref_project)
    log = _log(project)
    # clips ran twice (the killed run and its resume), never again after finishing
    assert log.count("[phase] clips started") == 2


def test_twenty_seeded_random_kills(reference, tmp_path):
    ref_project, counts = reference
    rng = random.Random(20261126)
    points = [(p, rng.randint(1, counts[p])) for p in PHASES]  # every phase at least once
    weights = [counts[p] for p in PHASES]
    points += [(p, rng.randint(1, counts[p])) for p in rng.choices(PHASES, weights=weights, k=14)]
    project, killed_in = _run_with_kills(tmp_path, points)
    assert len(killed_in) >= 18 and set(killed_in) == set(PHASES), (killed_in, counts)
    _assert_same_as_reference(project, ref_project)
