"""Kill `easy-oww train` (SIGKILL) inside every phase and resume: the result matches an uninterrupted run.

The reference run records when each phase starts and how long it takes (from the project log);
kills are then placed at seeded random fractions of each phase's duration.
"""

from __future__ import annotations

import random
import re
import signal
import time
from pathlib import Path

import pytest

from core.orchestrator import PHASES
from tests.pipeline_fixtures import (
    check_outputs_valid,
    generated_files,
    make_project,
    run_cli,
    start_cli,
    tiny_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

_STAGE_RE = re.compile(r"\[stage\] (\w+) (started|finished|FAILED)")


def _log_stages(project: Path) -> list[tuple[str, str]]:
    log = project / "logs" / "train.log"
    if not log.is_file():
        return []
    return _STAGE_RE.findall(log.read_text(errors="replace"))


def _phase_durations(project: Path) -> dict[str, float]:
    import json

    state = json.loads((project / "state.json").read_text())
    return {p: float(state["phases"][p]["seconds"]) for p in PHASES}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref")
    project = make_project(root, tiny_config())
    out = run_cli("train", "hey_jarvis", workspace=root)
    assert out.returncode == 0, out.stderr[-3000:]
    return project, _phase_durations(project)


def _kill_inside(project: Path, root: Path, phase: str, delay: float) -> str | None:
    """Start train, wait until ``phase`` starts, sleep ``delay``, SIGKILL.

    Returns the phase that was running when the kill landed (None if the run ended first).
    """
    before = len(_log_stages(project))
    proc = start_cli("train", "hey_jarvis", workspace=root)
    deadline = time.monotonic() + 300
    target = PHASES.index(phase)
    while time.monotonic() < deadline and proc.poll() is None:
        new = _log_stages(project)[before:]
        # the phase itself, or (when it finished in an earlier attempt) the first later phase that runs
        if any(what == "started" and PHASES.index(stage) >= target for stage, what in new):
            break
        time.sleep(0.02)
    if proc.poll() is not None:
        return None
    time.sleep(delay)
    if proc.poll() is not None:
        return None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    running = None
    for stage, what in _log_stages(project)[before:]:
        running = stage if what == "started" else None
    return running


def _assert_same_as_reference(project: Path, ref_project: Path) -> None:
    assert generated_files(project) == generated_files(ref_project)
    check_outputs_valid(project)
    recordings = sorted(p.name for p in (project / "recordings").iterdir())
    assert recordings == sorted(p.name for p in (ref_project / "recordings").iterdir())


def _run_with_kills(root: Path, points: list[tuple[str, float]]) -> tuple[Path, list[str]]:
    project = make_project(root, tiny_config())
    killed_in: list[str] = []
    for phase, delay in sorted(points, key=lambda p: PHASES.index(p[0])):
        landed = _kill_inside(project, root, phase, delay)
        if landed:
            killed_in.append(landed)
    out = run_cli("train", "hey_jarvis", "--resume", workspace=root)
    assert out.returncode == 0, out.stderr[-3000:]
    return project, killed_in


def test_kill_once_inside_each_phase_then_resume(reference, tmp_path):
    ref_project, durations = reference
    points = [(p, 0.5 * durations[p]) for p in PHASES]
    project, killed_in = _run_with_kills(tmp_path, points)
    # Every phase long enough to be hit was hit (sub-50 ms phases may finish before the kill lands).
    for phase in PHASES:
        if durations[phase] > 1.0:
            assert phase in killed_in, (phase, killed_in)
    _assert_same_as_reference(project, ref_project)


def test_twenty_seeded_random_kills(reference, tmp_path):
    ref_project, durations = reference
    rng = random.Random(20261126)
    weights = [max(durations[p], 0.2) for p in PHASES]
    points = []
    for i in range(20):
        phase = PHASES[i % len(PHASES)] if i < len(PHASES) else rng.choices(PHASES, weights=weights)[0]
        points.append((phase, rng.uniform(0.05, 0.95) * durations[phase]))
    project, killed_in = _run_with_kills(tmp_path, points)
    assert len(killed_in) >= 15, (killed_in, durations)
    assert len(set(killed_in)) >= 4, (killed_in, durations)
    _assert_same_as_reference(project, ref_project)
