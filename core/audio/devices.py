"""Audio devices through PortAudio (sounddevice): listing and choosing a microphone, opening it at a rate it supports, playing audio back; a missing library or server becomes a DeviceError that says what to install."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.audio.files import SAMPLE_RATE, resample
from core.errors import EasyOWWError
from core.events import (
    check_cancel,
)

FALLBACK_RATES = (48000, 44100, 32000, 22050)


PORTAUDIO_MISSING = (
    "PortAudio is not installed: `sudo apt-get install libportaudio2` "
    "(or use `easy-oww import NAME FILES...` to add recordings made elsewhere)."
)


class DeviceError(EasyOWWError):
    """No usable microphone / speaker, a busy device, or PortAudio missing."""


def _sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio into a clear error."""
    try:
        import sounddevice as sd
    except OSError as exc:  # sounddevice raises OSError('PortAudio library not found')
        raise DeviceError(f"{PORTAUDIO_MISSING} ({exc})") from None
    except ImportError:
        raise DeviceError("The sounddevice package is missing: `pip install sounddevice`.") from None
    return sd


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    default_rate: float
    hostapi: str = ""
    is_default: bool = False

    def __str__(self) -> str:
        star = " (default)" if self.is_default else ""
        return f"{self.index}: {self.name} [{self.hostapi}, {self.channels} ch, {self.default_rate:.0f} Hz]{star}"


def list_input_devices() -> list[InputDevice]:
    """Every device that can record; a clear error when there is none."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default_in = sd.default.device[0]
    except sd.PortAudioError as exc:
        raise DeviceError(f"Could not list audio devices ({exc}). Check the sound system is running.") from None
    out = []
    for d in devices:
        if int(d["max_input_channels"]) <= 0:
            continue
        api = hostapis[d["hostapi"]]["name"] if 0 <= d["hostapi"] < len(hostapis) else ""
        out.append(InputDevice(int(d["index"]), str(d["name"]), int(d["max_input_channels"]),
                               float(d["default_samplerate"]), api, int(d["index"]) == default_in))
    if not out:
        raise DeviceError(
            "No microphone found: the sound system lists no input device. Plug one in (and check "
            "that PulseAudio/PipeWire is running), or add recordings made elsewhere with "
            "`easy-oww import NAME FILES...`."
        )
    return out


def resolve_input_device(spec: int | str | None) -> InputDevice:
    """The device for an index or (part of) a name; None means the system default."""
    devices = list_input_devices()
    names = ", ".join(f"{d.index} {d.name!r}" for d in devices)
    hint = f"Available inputs: {names}. See `easy-oww record --list-devices`."
    if spec is None or str(spec).strip() == "":
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        for d in devices:
            if d.index == int(text):
                return d
        raise DeviceError(f"No input device with index {text}. {hint}")
    exact = [d for d in devices if d.name.lower() == text.lower()]
    if exact:
        return exact[0]
    partial = [d for d in devices if text.lower() in d.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise DeviceError(f"{text!r} matches several input devices ({', '.join(d.name for d in partial)}); "
                          f"give the index instead. {hint}")
    raise DeviceError(f"No input device named {text!r}. {hint}")


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    code = exc.args[1] if len(exc.args) > 1 else None
    return code in (-9985, -9993) or "unavailable" in text or "busy" in text


def _open_input(sd: Any, device: InputDevice, callback: Any,
                preferred: Sequence[int] | None = None) -> tuple[Any, int, int]:
    """Open and start an input stream: 16 kHz if the device takes it, else its own rate (resampled later)."""
    rates: list[int] = []
    for r in preferred or (SAMPLE_RATE, int(device.default_rate), *FALLBACK_RATES):
        if r > 0 and r not in rates:
            rates.append(r)
    channel_options = [1] if device.channels >= 1 else []
    if device.channels >= 2:
        channel_options.append(2)
    last: BaseException | None = None
    for channels in channel_options:
        for rate in rates:
            try:
                sd.check_input_settings(device=device.index, channels=channels, samplerate=rate, dtype="float32")
            except (sd.PortAudioError, ValueError) as exc:
                last = exc
                if _is_busy(exc):
                    break
                continue
            try:
                stream = sd.InputStream(device=device.index, channels=channels, samplerate=rate, dtype="float32",
                                        blocksize=0, callback=callback)
                stream.start()
                return stream, rate, channels
            except (sd.PortAudioError, ValueError) as exc:
                last = exc
                if _is_busy(exc):
                    break
    if last is not None and _is_busy(last):
        raise DeviceError(
            f"The input device {device.name!r} is busy (another program is using it: {last}). "
            "Close that program, or pick another input with --device (see --list-devices)."
        )
    raise DeviceError(
        f"Could not open the input device {device.name!r} at any sample rate ({last}). Check it is plugged in "
        "and the sound system is running, or pick another input with --device (see --list-devices)."
    )


def play_audio(x: np.ndarray, sr: int = SAMPLE_RATE, cancel: threading.Event | None = None,
               what: str = "the sample") -> float:
    """Play mono audio on the default output and wait for the end; returns seconds played."""
    sd = _sounddevice()
    try:
        dev = sd.query_devices(kind="output")
    except (sd.PortAudioError, ValueError):
        raise DeviceError(f"No audio output device to play on; listen to {what} with another player.") from None
    data = np.asarray(x, dtype=np.float32)
    rate = sr
    try:
        sd.check_output_settings(device=int(dev["index"]), channels=1, samplerate=sr, dtype="float32")
    except (sd.PortAudioError, ValueError):
        rate = int(dev["default_samplerate"])
        data = resample(data, sr, rate)
    done = threading.Event()
    pos = 0

    def callback(outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        nonlocal pos
        chunk = data[pos : pos + frames]
        outdata[: len(chunk), 0] = chunk
        outdata[len(chunk) :, 0] = 0
        pos += frames
        if pos >= len(data):
            raise sd.CallbackStop

    try:
        # "high" latency: larger buffers, so a busy machine does not starve the sound (a preview has no deadline)
        stream = sd.OutputStream(device=int(dev["index"]), channels=1, samplerate=rate, dtype="float32",
                                 latency="high", callback=callback, finished_callback=done.set)
        stream.start()
    except sd.PortAudioError as exc:
        raise DeviceError(f"Could not play on {dev['name']!r} ({exc}); listen to {what} with another player.") \
            from None
    t0 = time.monotonic()
    try:
        limit = len(data) / rate + 2.0
        while not done.wait(0.05):
            check_cancel(cancel)
            if time.monotonic() - t0 > limit:
                break
    finally:
        stream.abort()
        stream.close()
    return time.monotonic() - t0


