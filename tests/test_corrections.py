"""Corrections while testing: f after a detection keeps its audio as a negative recording, m after a missed wake
word keeps a positive take, --save-detections keeps every detection for review. On the PulseAudio device, with the
pretrained hey_jarvis as the detector and `easy-oww test` reading its keys from a pipe."""

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

from core.audio import corrections
from core.audio.live_test import AudioRing, LiveDetector
from core.project.config import TrainingConfig
from core.project.workspace import Workspace
from tests.audio_device import SAMPLE_RATE, audio_device, synth_hey_jarvis, write  # noqa: F401


def reference_head() -> Path:
    pyoww = pytest.importorskip("pyopen_wakeword")
    pytest.importorskip("ai_edge_litert")
    return Path(pyoww.__file__).parent / "models" / "hey_jarvis.tflite"


def project_with_reference(tmp_path: Path) -> tuple[Workspace, object, TrainingConfig]:
    ws = Workspace(tmp_path / "ws")
    cfg = TrainingConfig.quick("jarvis", "hey jarvis")
    project = ws.create_project(cfg)
    model = project.model_path(cfg, ".tflite")
    model.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(reference_head(), model)  # a real "hey jarvis" detector stands in for a trained one
    return ws, project, cfg


def test_audio_ring_keeps_the_last_seconds():
    ring = AudioRing(seconds=1.0)
    x = np.arange(40_000, dtype=np.int64).astype(np.int16)
    for i in range(0, len(x), 1280):
        ring.append(x[i:i + 1280])
    assert ring.total == len(x)  # every sample counted, the last chunk a short one
    np.testing.assert_array_equal(ring.window(ring.total - 100, ring.total), x[-100:])
    assert len(ring.window(0, ring.total)) == 16_000  # only the last second is held
    assert len(ring.window(0, 1000)) == 0  # long gone


def test_corrections_file_lists_what_was_saved_and_survives_hand_deletes(tmp_path: Path):
    ws = Workspace(tmp_path / "ws")
    cfg = TrainingConfig.quick("p", "hey jarvis")
    project = ws.create_project(cfg)
    noise = (np.random.default_rng(0).normal(0, 300, 2 * SAMPLE_RATE)).astype(np.int16)
    a = corrections.save_false_trigger(project, noise, 3.2, 0.91, "abc")
    b = corrections.save_for_review(project, noise, 7.0, 0.7, "abc")
    assert [c.kind for c in corrections.load_corrections(project)] == ["false_trigger", "unreviewed"]
    assert a.file == "recordings_negative/sample_0001.wav" and b.file.startswith("review/")
    new, msg = corrections.review(project, cfg, b, right=False)  # wrong -> a negative recording
    assert new is not None and new.kind == "false_trigger" and "negative recording" in msg
    assert not (project.path / b.file).exists() and corrections.counts(project)["false_trigger"] == 2
    (project.path / a.file).unlink()  # deleted by hand: no longer listed
    assert [c.file for c in corrections.load_corrections(project)] == [new.file]
    with pytest.raises(Exception, match="too short|no longer held"):
        corrections.save_false_trigger(project, noise[:100], 1.0, 0.9)
    corrections.path_of(project).write_text("{broken")
    with pytest.raises(Exception, match="damaged"):
        corrections.load_corrections(project)


def test_missed_wake_word_is_kept_only_when_it_passes_the_take_checks(tmp_path: Path):
    ws = Workspace(tmp_path / "ws")
    cfg = TrainingConfig.quick("p", "hey jarvis")
    project = ws.create_project(cfg)
    hey = synth_hey_jarvis()
    audio = np.concatenate([np.zeros(8000, np.float32), hey, np.zeros(8000, np.float32)])
    audio += np.random.default_rng(1).normal(0, 1e-3, len(audio)).astype(np.float32)
    c, verdict = corrections.save_missed(project, cfg, (audio * 32767).astype(np.int16), 12.0)
    assert c is not None and verdict.ok and c.kind == "missed" and c.label == 1
    assert (project.path / c.file).parent == project.recordings_dir(cfg)
    c2, verdict2 = corrections.save_missed(project, cfg, np.zeros(40_000, np.int16), 14.0)  # silence
    assert c2 is None and not verdict2.ok and verdict2.reasons
    assert corrections.counts(project)["missed"] == 1


def _run_test(dev, ws: Path, clip: Path, args: list[str], keys_after: dict[str, str]) -> str:
    """`easy-oww test jarvis ARGS` with keys piped in: each key is sent after a line containing its trigger."""
    env = dict(os.environ, COLUMNS="160", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "easy_oww_tui.cli", "--workspace", str(ws), "test", "jarvis",
                             *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    out: list[str] = []
    played: list[subprocess.Popen] = []
    todo = dict(keys_after)

    def send(key: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(key + "\n")
        proc.stdin.flush()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if line.startswith("Listening on") and not played:
                played.append(dev.play(clip))
                if "played" in todo:
                    threading.Thread(target=lambda: (played[0].wait(30), time.sleep(0.4), send(todo.pop("played"))),
                                     daemon=True).start()
            for trigger in [t for t in todo if t != "played" and t in line]:
                send(todo.pop(trigger))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc.wait(timeout=90)
    reader.join(5)
    for p in played:
        p.wait(10)
    return "".join(out)


@pytest.mark.audio
@pytest.mark.timeout(300)
def test_f_and_m_while_testing_on_the_sound_device(audio_device, tmp_path: Path):  # noqa: F811
    ws, project, cfg = project_with_reference(tmp_path)
    hey = synth_hey_jarvis()
    clip = write(tmp_path / "say.wav", np.concatenate([np.zeros(3 * SAMPLE_RATE // 2, np.float32), hey,
                                                      np.zeros(SAMPLE_RATE * 2, np.float32)]))
    # 1. A detection marked with f: the audio that triggered it becomes a negative recording.
    out = _run_test(audio_device, ws.root, clip, ["--threshold", "0.5", "--duration", "20"],
                    {"Detected": "f", "marked detection": "q"})
    assert "marked detection #1" in out and "negative recording (recordings_negative/sample_0001.wav)" in out, out
    assert "Corrections: 1 false trigger(s) -> negative recordings" in out, out
    (fix,) = corrections.load_corrections(project)
    saved = project.path / fix.file
    from core.audio.files import read_audio

    x, sr = read_audio(saved)
    assert fix.kind == "false_trigger" and fix.score >= 0.5 and sr == SAMPLE_RATE and 1.5 < len(x) / sr <= 2.0
    det = LiveDetector(reference_head(), threshold=0.5)  # what was kept is what fired: it fires again
    det.process_audio(np.concatenate([np.zeros(SAMPLE_RATE, np.float32), x, np.zeros(SAMPLE_RATE, np.float32)]))
    assert det.summary().max_score >= 0.5
    # 2. The wake word said, nothing detected (a threshold it cannot reach), m: a positive take.
    said = write(tmp_path / "said.wav", np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), hey,
                                                       np.zeros(SAMPLE_RATE // 4, np.float32)]))
    out = _run_test(audio_device, ws.root, said, ["--threshold", "0.9999", "--duration", "20"],
                    {"played": "m", "positive take": "q"})
    assert "now a positive take (recordings/sample_0001.wav)" in out, out
    kinds = sorted(c.kind for c in corrections.load_corrections(project))
    assert kinds == ["false_trigger", "missed"]
    y, _ = read_audio(project.recordings_dir(cfg) / "sample_0001.wav")
    assert 0.5 < len(y) / SAMPLE_RATE < 2.5  # trimmed to the phrase, as recorded takes are
    # 3. --save-detections: every detection kept for review.
    out = _run_test(audio_device, ws.root, clip, ["--threshold", "0.5", "--duration", "6", "--save-detections"], {})
    assert "1 detection(s) saved for review" in out, out
    assert [c.kind for c in corrections.load_corrections(project)].count("unreviewed") == 1
