"""Household test (issue #18): prompts, recall per speaker across sessions, the card and the project view."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.audio import household
from core.errors import EasyOWWError
from core.project.config import TrainingConfig
from core.project.workspace import Workspace
from tests.audio_device import SAMPLE_RATE, audio_device, synth_hey_jarvis, write  # noqa: F401


def test_prompts_are_scored_by_window():
    assert household.prompt_times(3, 4.0, 1.5) == [1.5, 5.5, 9.5]
    # A detection counts for the prompt it follows; none before the first prompt; two in one window: one hit.
    assert household.score_prompts([0.5, 3.0, 3.9, 10.2], 3, 4.0, 1.5) == [True, False, True]
    assert household.score_prompts([], 2, 4.0) == [False, False]
    assert household.score_prompts([99.0], 2, 4.0) == [False, False]


def test_speaker_names():
    assert household.check_speaker("  Anna  Maria ") == "Anna Maria"
    for bad in ("", "a/b", "x" * 41, "../etc"):
        with pytest.raises(EasyOWWError, match="Speaker name"):
            household.check_speaker(bad)


def test_sessions_add_up_per_speaker_and_model(tmp_path: Path):
    def session(who: str, hits: int, digest: str = "m1") -> household.SpeakerSession:
        return household.SpeakerSession(who, 10, hits, 1, 0.5, "x.onnx", digest)

    for s in (session("Anna", 9), session("Bob", 6), session("Anna", 7), session("Bob", 10, "old")):
        household.save_session(tmp_path, s)
    rows = household.recall_by_speaker(household.load_sessions(tmp_path), "m1")
    assert [(r.speaker, r.sessions, r.hits, r.tries, r.false_triggers) for r in rows] == [
        ("Anna", 2, 16, 20, 2), ("Bob", 1, 6, 10, 1)]
    assert rows[0].recall == pytest.approx(0.8)
    (tmp_path / household.HOUSEHOLD_FILE).write_text("{not json")
    with pytest.raises(EasyOWWError, match="damaged"):
        household.load_sessions(tmp_path)


def _reference_head() -> Path:
    pyoww = pytest.importorskip("pyopen_wakeword")
    pytest.importorskip("ai_edge_litert")
    return Path(pyoww.__file__).parent / "models" / "hey_jarvis.tflite"


def _session_audio(said: list[bool], every: float) -> np.ndarray:
    """The lead-in, then per prompt 1 s of quiet, "hey jarvis" (or nothing) and quiet to the next prompt."""
    hey = synth_hey_jarvis()
    lead = np.zeros(int(household.LEAD_S * SAMPLE_RATE), np.float32)
    parts = [lead]
    for s in said:
        window = np.zeros(int(every * SAMPLE_RATE), np.float32)
        if s:
            window[SAMPLE_RATE : SAMPLE_RATE + len(hey)] = hey
        parts.append(window)
    return np.concatenate(parts)


def _run_session(dev, ws: Path, speaker: str, clip: Path, every: float, tries: int) -> str:
    """`easy-oww test jarvis --speaker ...` in a subprocess; the clip plays once the microphone is live."""
    env = dict(os.environ, COLUMNS="120", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "easy_oww_tui.cli", "--workspace", str(ws), "test", "jarvis",
                             "--speaker", speaker, "--tries", str(tries), "--every", str(every), "--threshold", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out: list[str] = []
    player: list[subprocess.Popen] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if line.startswith("Listening on") and not player:
                player.append(dev.play(clip))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc.wait(timeout=120)
    reader.join(5)
    for p in player:
        p.wait(10)
    return "".join(out)


@pytest.mark.audio
@pytest.mark.timeout(300)
def test_household_test_on_the_sound_device_keeps_recall_per_speaker(audio_device, tmp_path: Path):  # noqa: F811
    from core.project.model_card import write_model_card
    from core.project.status import project_summary

    ws = Workspace(tmp_path / "ws")
    cfg = TrainingConfig.quick("jarvis", "hey jarvis")
    project = ws.create_project(cfg)
    model = project.model_path(cfg, ".tflite")
    model.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(_reference_head(), model)  # a real detector of "hey jarvis" stands in for a trained one
    write_model_card(project, cfg, {"threshold": 0.5, "metrics": {"recall": 0.9}}, {})
    every, tries = 4.0, 3
    anna = write(tmp_path / "anna.wav", _session_audio([True, True, True], every))
    bob = write(tmp_path / "bob.wav", _session_audio([True, False, True], every))

    out = _run_session(audio_device, ws.root, "Anna", anna, every, tries)
    assert "Anna: say 'hey jarvis' now (3/3)" in out, out
    assert "Anna: 3 of 3 heard." in out, out
    time.sleep(0.5)
    out = _run_session(audio_device, ws.root, "Bob", bob, every, tries)
    assert "Bob: 2 of 3 heard; missed prompts: 2." in out, out
    # The summary table: both speakers of this model, each with their own recall.
    assert "Anna" in out and "3/3" in out and "1.00" in out
    assert "2/3" in out and "0.67" in out

    rows = household.recall_by_speaker(household.load_sessions(project.path),
                                       household.project_model_digest(project, cfg))
    assert [(r.speaker, r.hits, r.tries) for r in rows] == [("Anna", 3, 3), ("Bob", 2, 3)]
    card_md = project.model_path(cfg, ".md").read_text()
    assert "## In your home" in card_md and "| Bob | 1 | 2/3 | 0.67 | 0 |" in card_md
    assert project_summary(project).speakers == (("Anna", 3, 3), ("Bob", 2, 3))
