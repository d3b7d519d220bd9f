"""Held-out audio for the wake-word quality benchmark, built once and cached, per wake word and split.

Everything comes from sources the training pipeline never uses (it uses Piper and espeak-ng):

* positives: the wake word ("hey jarvis", "alexa", "hey mycroft" or any phrase) from flite (kal, kal16, awb,
  rms, slt) and festival (kal/ked diphone, slt HTS) voices, at varied speed and pitch; a clean copy and a
  "realistic" copy (simulated rooms from a room set unlike training's, noise 5-20 dB SNR, varied level);
  some followed by a command. Each item is padded with ~1 s of low noise before and after.
* near misses: ~16 phrases per word and split ("hey jarvin", "hey marvis", "jarvis", "a jar of peas", ...)
  in the same voices.
* negative stream (2 h by default): read-aloud text (Python docs, licence texts, manual pages, templated
  conversation incl. "hey <name>", random word strings) in those voices, clean, in rooms, over noise or
  music; synthetic music (chords, bass, melody, drums); noise (fan, hum, babble, rain, typing, traffic,
  coloured noise). Stored as ~5 min parts, each streamed on its own. The stream does not depend on the word
  (no table word is ever spoken in it), so it is built once per split and shared.

Splits (``--split``):

* ``dev``: the set every recipe was tuned on (seed 20250917). For "hey jarvis" it is exactly the set built
  before words and splits existed (same seed, voices, phrases, corpus: existing caches stay valid). Python
  docstrings, /usr/share/common-licenses and Debian copyright notes; speed x0.8-1.3, pitch x0.9-1.12.
* ``test``: FROZEN. Never used to choose a recipe, only to report. Its own seed, near-miss phrases, command
  and "hey <name>" lists, rooms and text: the Python language reference (pydoc topics), manual pages of base
  Debian tools, other conversation templates, assistant commands spoken without the wake word. The same
  English voices (Debian has no further English festival/flite voices: festvox-kallpc8k/kdlpc8k conflict
  with the 16 kHz packages, festvox-rablpc16k/-don are not packaged) but speed x0.72-1.4, pitch x0.87-1.15 and
  a moved intonation target (F0 x0.8-1.4 for the flite kal/kal16/awb/slt and festival diphone voices),
  microphone colouring on the realistic copies; in the negative stream also Italian (festvox-itapc16k,
  festvox-italp16k) and Finnish (festvox-suopuhe-lj, festvox-suopuhe-mv) voices, and real recorded sounds
  (chimes, alerts, clicks, ringtones, spoken channel tests) from sound-theme-freedesktop, oxygen-sounds,
  deepin-sound-theme, sound-icons, lomiri-sounds and alsa-utils, inserted between speech, over noise and as
  music. These sounds are evaluation-only material: training code must never read them.

Output: the word's items in ``cache`` (``positive/*.wav``, ``near_miss/*.wav``, ``manifest.json``) and the
split's negative stream in ``negatives`` (``negative/*.wav``; the manifest's ``roots`` say where), 16 kHz int16
mono. Default folders: ``bench/.cache/heldout`` for dev "hey jarvis" (words and negatives together, as before),
``heldout_dev_<word>`` + negatives in ``heldout`` for other dev words, ``heldout_test_<word>`` +
``heldout_test_negatives`` for test. A phrase outside the table whose words occur in the split's read-aloud
text gets its own negative stream (with the phrase taken out). Items are deterministic per index, written
atomically and skipped when present, so an interrupted build continues. Needs the Debian packages ``flite``
(required) and ``festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts`` (optional for dev, required
for test), and for test also the packages above and ``groff-base`` (manual pages).
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

SR = 16000
VERSION = 1
CACHE_ROOT = Path(__file__).resolve().parent / ".cache"
DEFAULT_CACHE = CACHE_ROOT / "heldout"  # dev "hey jarvis" (and the dev negative stream)
SPLIT_NAMES = ("dev", "test")

FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
# Other-language festival voices: test split, negative stream only (read English text with their own rules).
FOREIGN_VOICES = ["pc_diphone", "lp_diphone", "suo_fi_lj_diphone", "hy_fi_mv_diphone"]
VOICE_PACKAGES = {
    "flite:kal": "flite", "flite:kal16": "flite", "flite:awb": "flite", "flite:rms": "flite", "flite:slt": "flite",
    "festival:kal_diphone": "festvox-kallpc16k", "festival:ked_diphone": "festvox-kdlpc16k",
    "festival:cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
    "festival:pc_diphone": "festvox-itapc16k", "festival:lp_diphone": "festvox-italp16k",
    "festival:suo_fi_lj_diphone": "festvox-suopuhe-lj", "festival:hy_fi_mv_diphone": "festvox-suopuhe-mv",
}
# Recorded sounds for the test split's negative stream (evaluation only), by Debian package.
SOUND_PACKAGES = {
    "sound-theme-freedesktop": "/usr/share/sounds/freedesktop/stereo/*.oga",
    "oxygen-sounds": "/usr/share/sounds/Oxygen-*.ogg",
    "deepin-sound-theme": "/usr/share/sounds/deepin/stereo/*.wav",
    "sound-icons": "/usr/share/sounds/sound-icons/*.wav",
    "lomiri-sounds": "/usr/share/sounds/lomiri/*/*.ogg",
    "alsa-utils": "/usr/share/sounds/alsa/*.wav",
}
# Packages the test split added; their copyright notes stay out of the dev corpus, which reads the first 400
# /usr/share/doc/*/copyright files and would otherwise change when they are installed.
TEST_ONLY_PACKAGES = ("festvox-itapc16k", "festvox-italp16k", "festlex-ifd", "festvox-suopuhe-lj",
                      "festvox-suopuhe-mv", "festvox-suopuhe-common", "sound-theme-freedesktop", "oxygen-sounds",
                      "deepin-sound-theme", "sound-icons", "lomiri-sounds")
APT_HINT = ("Install them with `apt-get install flite festival festvox-kallpc16k festvox-kdlpc16k "
            "festvox-us-slt-hts` (flite is required, festival voices add variety); the test split also needs "
            "`apt-get install festvox-itapc16k festvox-italp16k festvox-suopuhe-lj festvox-suopuhe-mv groff-base "
            "sound-theme-freedesktop oxygen-sounds deepin-sound-theme sound-icons lomiri-sounds alsa-utils`.")

# ---- dev "hey jarvis" (unchanged: the dev set is what it was)
WAKE_FORMS = ["hey jarvis", "hey jarvis", "hey, jarvis", "Hey Jarvis.", "hey jarvis!", "hey jarvis?"]
COMMANDS = ["turn on the lights", "what time is it", "play some music", "what's the weather like",
            "set a timer for ten minutes", "stop", "open the garage door"]
NEAR_MISS = ["hey jarvin", "hey marvis", "hey travis", "jarvis", "hey harvest", "hey service", "hey there",
             "a jar of peas", "hey jar", "hey davis", "hey mavis", "hey carvings", "hey jarred", "hi darvis",
             "hey starfish", "jars and jars"]
NAMES = ["john", "mary", "alex", "sarah", "mike", "linda", "tom", "anna", "david", "emma", "chris", "kate",
         "peter", "lucy", "mark", "jane", "steve", "olivia", "paul", "grace", "siri", "google", "computer"]

# ---- test split (FROZEN: change nothing here; a new test set needs a new split name)
TEST_COMMANDS = ["dim the bedroom lights", "how long is my commute", "add milk to the shopping list", "call mum",
                 "read me the news", "pause", "lock the front door"]
TEST_NAMES = ["miriam", "emily", "robert", "sophie", "daniel", "chloe", "henry", "ruth", "oscar", "nina", "victor",
              "laura", "simon", "helen", "george", "martha", "frank", "irene", "walter", "zoe", "cortana", "bixby",
              "assistant"]


@dataclass(frozen=True)
class WakeWord:
    """One benchmark word: its label, what the synthesisers are given, near misses per split, reference."""

    label: str  # the wake word as trained and reported ("hey mycroft")
    spoken: str  # the text the synthesisers get ("hey my croft": flite/festival say "mycroft" wrongly)
    near_dev: tuple[str, ...]
    near_test: tuple[str, ...]
    reference: str | None  # pretrained pyopen-wakeword model name, if any
    terms: tuple[str, ...]  # regexes kept out of every negative stream
    commands: bool = True  # some positives are "<word>, <command>"

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", self.label.lower()).strip("_")

    @property
    def forms(self) -> list[str]:
        """Punctuation variants of the spoken form (for "hey jarvis" exactly :data:`WAKE_FORMS`)."""
        s = self.spoken
        words = s.split()
        comma = f"{words[0]}, {' '.join(words[1:])}" if len(words) > 1 else f"{s}..."
        return [s, s, comma, " ".join(w.capitalize() for w in words) + ".", f"{s}!", f"{s}?"]

    def near_miss(self, split: str) -> tuple[str, ...]:
        return self.near_dev if split == "dev" else self.near_test


WORDS: dict[str, WakeWord] = {w.label: w for w in [
    WakeWord(
        "hey jarvis", "hey jarvis", tuple(NEAR_MISS),
        ("hey jarrow", "hey garvin", "hey carvery", "hey purvis", "hey chavez", "hey jarrett", "hey darwin",
         "hey garvey", "hey carpets", "a jar of jam", "hey marvel", "they starve us", "hey parvis", "hey arvin",
         "hey jealous", "hey artist"),
        "hey_jarvis", (r"jarvis",)),
    WakeWord(
        "alexa", "alexa",
        ("alex", "alexis", "a lexus", "alaska", "elixir", "electra", "alexander", "alyssa", "lexa", "relax her",
         "hey alex", "allegra", "annex", "a letter", "texas", "ellipse"),
        ("alexandria", "alexandra", "lexi", "a lexicon", "relaxer", "lexington", "alessia", "hey lexi", "a lesson",
         "elect her", "annex a", "electric", "excel", "a lexer", "unless a", "a legend"),
        "alexa", (r"alexa",)),
    WakeWord(
        "hey mycroft", "hey my croft",
        ("hey microsoft", "hey my craft", "hey my crop", "hey my", "my croft", "hey minecraft", "hey my cross",
         "hey by croft", "hey might", "hey my car", "hey my crew", "hey micro", "hey my loft", "hey microphone",
         "hey croft", "hey white croft"),
        ("hey my draft", "hey my cat", "hey my roof", "hey my crowd", "hey nice loft", "hey my crust",
         "hey might cross", "hey microwave", "hey my coffee", "hey maybe soft", "hey mike", "hey my cough",
         "hey ashcroft", "hey my god", "the croft", "okay microscope"),
        "hey_mycroft", (r"my ?croft",)),
]}
# Kept out of every shared negative stream: the table's words and the other pretrained references' words.
SHARED_TERMS = tuple(t for w in WORDS.values() for t in w.terms) + (r"rhasspy", r"nabu")


def _phrase_regex(phrase: str) -> str:
    return r"[\s,.!?;:'\"-]+".join(re.escape(w) for w in phrase.split())


def normalise_word(word: str) -> str:
    return " ".join(word.replace("_", " ").lower().split())


def reference_exists(name: str) -> bool:
    try:
        import pyopen_wakeword
    except ImportError:
        return False
    return name not in ("melspectrogram", "embedding_model") and \
        (Path(pyopen_wakeword.__file__).parent / "models" / f"{name}.tflite").is_file()


def _auto_near_misses(spoken: str, split: str) -> tuple[str, ...]:
    """Near misses for a phrase outside the table: parts of it, other first words, other onsets/endings."""
    words = spoken.split()
    key = max(reversed(words), key=len)  # the longest word, the last of equals (the name)
    body = re.sub(r"^[^aeiouy]+", "", key) or key
    if split == "dev":
        starts, onsets, ends = ["hi", "say"], ["m", "d", "t", "b", "h", "st"], ["er", "in"]
        parts = ([" ".join(words[1:]), words[0]] if len(words) > 1 else [key[: max(2, len(key) - 2)]])
    else:
        starts, onsets, ends = ["hay", "play", "oh"], ["p", "g", "n", "s", "k", "l", "fr"], ["s", "ing"]
        parts = ([" ".join(words[:-1]) + " " + key[: max(2, len(key) // 2)], words[-1] + " " + words[0]]
                 if len(words) > 1 else [key + " " + key[: max(2, len(key) // 2)], key[len(key) // 3:]])
    out = list(parts)
    for o in onsets:
        out.append(spoken.replace(key, o + body, 1))
    for e in ends:
        out.append(spoken.replace(key, key + e, 1))
    if len(words) > 1:
        out += [" ".join([s] + words[1:]) for s in starts]
    else:
        out += [f"{s} {o}{body}" for s in starts for o in onsets[:2]]
    seen: list[str] = []
    for p in out:
        p = " ".join(p.split())
        if p and p != spoken and p not in seen and not re.search(rf"\b{_phrase_regex(spoken)}\b", p):
            seen.append(p)
    return tuple(seen[:16])


def wake_word(word: str) -> WakeWord:
    """The table entry for ``word``, or an entry made up for any other phrase (reference only if one exists)."""
    label = normalise_word(word)
    if not label:
        raise ValueError("empty wake word")
    if label in WORDS:
        return WORDS[label]
    slug = re.sub(r"[^a-z0-9]+", "_", label).strip("_")
    dev = _auto_near_misses(label, "dev")
    test = tuple(p for p in _auto_near_misses(label, "test") if p not in dev)
    return WakeWord(label, label, dev, test, slug if reference_exists(slug) else None, (_phrase_regex(label),))


@dataclass(frozen=True)
class Split:
    """How a split varies voices, prosody, text and sounds."""

    name: str
    seed: int
    stretch: tuple[float, float]  # duration stretch range
    pitch: tuple[float, float]  # resampling factor range (pitch and tempo together)
    f0: tuple[float, float] | None  # intonation target as a multiple of the voice's own (where the engine can)
    names: tuple[str, ...]  # "hey <name>" in templated talk
    commands: tuple[str, ...]
    negative_voices: tuple[str, ...]  # voice ids used only in the negative stream
    sounds: tuple[str, ...]  # apt packages of recorded sounds mixed into the negative stream
    mic_eq: bool  # colour the realistic copies like a different microphone
    frozen: bool
    neg_stretch: tuple[float, float] = (0.85, 1.25)  # the negative stream's speech
    neg_pitch: tuple[float, float] = (0.9, 1.12)


SPLITS = {
    "dev": Split("dev", 20250917, (0.8, 1.3), (0.9, 1.12), None, tuple(NAMES), tuple(COMMANDS), (), (), False, False),
    "test": Split("test", 20260521, (0.72, 1.4), (0.87, 1.15), (0.8, 1.4), tuple(TEST_NAMES), tuple(TEST_COMMANDS),
                  tuple(f"festival:{v}" for v in FOREIGN_VOICES), tuple(SOUND_PACKAGES), True, True, (0.75, 1.35), (0.87, 1.15)),
}
# Median F0 (Hz) of the voices whose intonation target can be set (flite rms and festival HTS ignore it).
VOICE_F0 = {"flite:kal": 97.0, "flite:kal16": 98.0, "flite:awb": 124.0, "flite:slt": 172.0,
            "festival:kal_diphone": 109.0, "festival:ked_diphone": 99.0}


@dataclass(frozen=True)
class Spec:
    """What to build; a cache built with another spec is rebuilt."""

    positives_per_voice: int = 22  # clean; each also gets an augmented copy
    commands_per_voice: int = 3  # "<word>, <command>" clips per voice (augmented)
    near_miss_reps: int = 1  # each near-miss phrase per voice, clean + augmented copy
    negative_minutes: float = 120.0  # 2 h: at 0.5 FA/h one trigger is allowed (1.25 h would allow none)
    part_seconds: float = 300.0
    seed: int = 20250917
    voices: tuple[str, ...] = ()  # voice ids ("flite:slt"); empty = the split's held-out voices
    near_miss: tuple[str, ...] = ()  # phrases; empty = the word's near misses for the split
    rooms: int = 24  # simulated rooms in the held-out RIR bank
    corpus: str = "full"  # "full" | "small" (dev: no docstrings; test: no manual pages)
    word: str = "hey jarvis"
    split: str = "dev"
    sounds: tuple[str, ...] = ()  # apt packages of recorded sounds for the negative stream (test split)

    @classmethod
    def for_split(cls, split: str = "test", word: str = "hey jarvis", **kw: object) -> Spec:
        """The default spec of ``split`` for ``word`` (its seed and sounds), with ``kw`` overriding fields."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_NAMES)}")
        s = SPLITS[split]
        base = {"seed": s.seed, "word": normalise_word(word), "split": split, "sounds": s.sounds}
        return cls(**{**base, **kw})  # type: ignore[arg-type]

    @classmethod
    def quick(cls, split: str = "dev", word: str = "hey jarvis") -> Spec:
        return cls.for_split(split, word, positives_per_voice=3, commands_per_voice=1, near_miss_reps=1,
                             negative_minutes=6.0, part_seconds=120.0,
                             near_miss=tuple(wake_word(word).near_miss(split)[:6]))

    @property
    def legacy(self) -> bool:
        """Dev "hey jarvis": the set as it was before words and splits (same item keys and spec record)."""
        return self.word == "hey jarvis" and self.split == "dev"


# ------------------------------------------------------------------------------------------------ TTS
@dataclass(frozen=True)
class Voice:
    engine: str  # flite | festival
    name: str

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}"


def _voice(vid: str) -> Voice:
    engine, name = vid.split(":", 1)
    return Voice(engine, name)


def available_voices(candidates: list[str] | None = None) -> list[Voice]:
    """Installed held-out voices among ``candidates`` (default: the English ones; each checked by synthesis)."""
    ids = candidates or [f"flite:{v}" for v in FLITE_VOICES] + [f"festival:{v}" for v in FESTIVAL_VOICES]
    voices: list[Voice] = []
    listed = (subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout.split()
              if shutil.which("flite") else [])
    for vid in ids:
        v = _voice(vid)
        if v.engine == "flite":
            if v.name in listed:
                voices.append(v)
        elif shutil.which("text2wave"):
            try:
                if len(synth(v, "test")) > 1000:
                    voices.append(v)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
    if not listed:
        raise RuntimeError(f"The held-out set needs the flite speech synthesiser, which is not installed. {APT_HINT}")
    return voices


def synth(voice: Voice, text: str, stretch: float = 1.0, f0: float | None = None) -> np.ndarray:
    """float32 16 kHz speech for ``text``; ``stretch`` > 1 speaks slower; ``f0`` moves the intonation target."""
    with tempfile.TemporaryDirectory(prefix="heldout_tts_") as tmp:
        txt, wav = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
        txt.write_text(text + "\n", encoding="utf-8")
        if voice.engine == "flite":
            cmd = ["flite", "-voice", voice.name, "-f", str(txt), "-o", str(wav),
                   "--setf", f"duration_stretch={stretch:.3f}"]
            if f0 is not None:
                cmd += ["--setf", f"int_f0_target_mean={f0:.1f}", "--setf", f"int_f0_target_stddev={f0 * 0.16:.1f}"]
        else:
            cmd = ["text2wave", "-eval", f"(voice_{voice.name})",
                   "-eval", f"(Parameter.set 'Duration_Stretch {stretch:.3f})", str(txt), "-o", str(wav)]
            if f0 is not None:
                cmd[3:3] = ["-eval", f"(set! int_lr_params (append (list (list 'target_f0_mean {f0:.1f}) "
                                     f"(list 'target_f0_std {f0 * 0.16:.1f})) int_lr_params))"]
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=600)
        if proc.returncode != 0 or not wav.is_file():
            raise RuntimeError(f"{voice.id} failed on {text[:40]!r}: {proc.stderr.strip()[:200]}")
        x, sr = sf.read(str(wav), dtype="float32", always_2d=False)
    if x.ndim > 1:
        x = x.mean(axis=1)
    return soxr.resample(x, sr, SR).astype(np.float32) if sr != SR else x


def vary(x: np.ndarray, factor: float) -> np.ndarray:
    """Shift pitch and tempo together by ``factor`` (a different vocal tract / speaking rate)."""
    if abs(factor - 1.0) < 1e-3:
        return x
    return soxr.resample(x, SR * factor, SR).astype(np.float32)


def trim(x: np.ndarray, db: float = -45.0) -> np.ndarray:
    env = np.abs(x)
    if not len(env) or env.max() <= 0:
        return x
    idx = np.flatnonzero(env > env.max() * 10 ** (db / 20))
    return x[max(0, idx[0] - 800): idx[-1] + 1600]


# ------------------------------------------------------------------------------------------ signals
def coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power ~ 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    spec /= f ** (exponent / 2)
    y = np.fft.irfft(spec, n)
    return (y / (np.sqrt(np.mean(y**2)) + 1e-12)).astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def _bandpass(x: np.ndarray, lo: float | None, hi: float | None, order: int = 4) -> np.ndarray:
    if lo and hi:
        sos = signal.butter(order, [lo, hi], "bandpass", fs=SR, output="sos")
    elif lo:
        sos = signal.butter(order, lo, "highpass", fs=SR, output="sos")
    else:
        sos = signal.butter(order, hi, "lowpass", fs=SR, output="sos")
    return signal.sosfilt(sos, x).astype(np.float32)


def _bursts(rng: np.random.Generator, n: int, rate: float, length: int, lo: float, hi: float) -> np.ndarray:
    y = np.zeros(n, np.float32)
    times = rng.uniform(0, n - length, int(rate * n / SR))
    burst = _bandpass(rng.standard_normal(length).astype(np.float32), lo, hi) * np.exp(-np.linspace(0, 8, length))
    for t in times.astype(int):
        y[t:t + length] += burst * rng.uniform(0.3, 1.0)
    return y


def noise_segment(rng: np.random.Generator, seconds: float, kind: str | None = None,
                  speech: Callable[[], np.ndarray] | None = None) -> tuple[np.ndarray, str]:
    """One stretch of background noise (unit RMS) and its kind."""
    kinds = ["white", "pink", "brown", "fan", "hum", "rain", "typing", "traffic"] + (["babble"] * 2 if speech else [])
    kind = kind or str(rng.choice(kinds))
    n = int(seconds * SR)
    t = np.arange(n) / SR
    if kind in ("white", "pink", "brown"):
        y = coloured_noise(rng, n, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind])
    elif kind == "fan":
        blade = rng.uniform(20, 60)
        y = _bandpass(coloured_noise(rng, n, 1.5), None, rng.uniform(800, 3000))
        y = y * (1 + 0.2 * np.sin(2 * np.pi * blade * t)) + 0.3 * np.sin(2 * np.pi * blade * 3 * t)
    elif kind == "hum":
        f0 = rng.choice([50.0, 60.0])
        y = sum(rng.uniform(0.2, 1) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) for k in range(1, 8))
        y = y + 0.05 * coloured_noise(rng, n, 1.0)
    elif kind == "rain":
        y = 0.5 * _bandpass(coloured_noise(rng, n, 0.5), 400, 7000) + _bursts(rng, n, 300, 64, 1000, 7000)
    elif kind == "typing":
        y = 0.05 * coloured_noise(rng, n, 1.0) + _bursts(rng, n, rng.uniform(3, 9), 400, 800, 6000)
    elif kind == "traffic":
        swell = np.interp(t, np.linspace(0, seconds, max(2, int(seconds / 4))), rng.uniform(0.2, 1.0, max(2, int(seconds / 4))))
        y = _bandpass(coloured_noise(rng, n, 1.8), None, 1500) * swell
    elif kind == "babble":
        assert speech is not None
        y = np.zeros(n, np.float32)
        for _ in range(int(rng.integers(4, 8))):
            s = np.zeros(0, np.float32)
            while len(s) < n:
                s = np.concatenate([s, speech(), np.zeros(int(rng.uniform(0.1, 0.6) * SR), np.float32)])
            start = int(rng.integers(0, max(1, len(s) - n)))
            y += s[start:start + n] / (_rms(s) + 1e-9) * rng.uniform(0.5, 1.0)
    else:
        raise ValueError(kind)
    y = np.asarray(y, np.float32)
    return y / (_rms(y) + 1e-12), kind


def _adsr(n: int, rng: np.random.Generator, pluck: bool) -> np.ndarray:
    a = max(1, int(rng.uniform(0.003, 0.03 if pluck else 0.15) * SR))
    env = np.ones(n, np.float32)
    env[:min(a, n)] = np.linspace(0, 1, min(a, n))
    if pluck:
        env *= np.exp(-np.arange(n) / (SR * rng.uniform(0.15, 0.6)))
    r = min(n, int(0.05 * SR))
    env[-r:] *= np.linspace(1, 0, r)
    return env


def _note(freq: float, dur: float, rng: np.random.Generator, harmonics: np.ndarray, pluck: bool) -> np.ndarray:
    n = int(dur * SR)
    t = np.arange(n) / SR
    vib = 1 + 0.004 * np.sin(2 * np.pi * rng.uniform(4, 6) * t) if not pluck else 1.0
    phase = 2 * np.pi * freq * np.cumsum(np.broadcast_to(vib, t.shape)) / SR
    y = sum(a * np.sin((k + 1) * phase) for k, a in enumerate(harmonics) if (k + 1) * freq < SR / 2 - 500)
    return (np.asarray(y) * _adsr(n, rng, pluck)).astype(np.float32)


def music_segment(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A synthetic piece: chord progression, bass, melody and (often) drums; unit RMS."""
    n = int(seconds * SR)
    y = np.zeros(n + SR * 3, np.float32)
    bpm = rng.uniform(65, 150)
    beat = 60.0 / bpm
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    scale = [0, 2, 4, 5, 7, 9, 11] if rng.random() < 0.6 else [0, 2, 3, 5, 7, 8, 10]
    prog = rng.choice([[0, 4, 5, 3], [0, 5, 3, 4], [0, 3, 4, 4], [5, 3, 0, 4], [0, 0, 3, 4]])
    timbres = [1 / np.arange(1, 9) ** p for p in rng.uniform(0.8, 2.5, 3)]
    pluck = [bool(rng.random() < 0.5) for _ in range(3)]
    drums = rng.random() < 0.7

    def deg(d: int, octave: int = 0) -> float:
        return root * 2 ** ((scale[d % 7] + 12 * (d // 7 + octave)) / 12)

    def add(x: np.ndarray, at: float, gain: float) -> None:
        i = int(at * SR)
        m = min(len(x), len(y) - i)
        if m > 0:
            y[i:i + m] += gain * x[:m]

    bar = 0
    t0 = 0.0
    mel = int(rng.integers(7, 12))
    while t0 < seconds:
        chord = int(prog[bar % len(prog)])
        for d in (chord, chord + 2, chord + 4):
            add(_note(deg(d, 1), 4 * beat, rng, timbres[0], pluck[0]), t0, 0.25)
        for b in range(4):
            add(_note(deg(chord, 0) / 2, beat * 0.9, rng, timbres[1], True), t0 + b * beat, 0.5)
        for e in range(8 if rng.random() < 0.7 else 4):
            dur = beat / 2 if e < 8 else beat
            if rng.random() < 0.8:
                mel = int(np.clip(mel + rng.integers(-2, 3), 4, 16))
                add(_note(deg(mel, 1), dur * 0.95, rng, timbres[2], pluck[2]), t0 + e * beat / 2, 0.35)
        if drums:
            for b in range(4):
                tb = t0 + b * beat
                if b % 2 == 0:
                    m = int(0.25 * SR)
                    tt = np.arange(m) / SR
                    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-tt * 30)) * tt) * np.exp(-tt * 12)
                    add(kick.astype(np.float32), tb, 0.9)
                else:
                    m = int(0.18 * SR)
                    snare = _bandpass(rng.standard_normal(m).astype(np.float32), 300, 5000)
                    add(snare * np.exp(-np.linspace(0, 9, m)).astype(np.float32), tb, 0.5)
                for h in range(2):
                    hat = _bandpass(rng.standard_normal(int(0.05 * SR)).astype(np.float32), 6000, None)
                    add(hat * np.exp(-np.linspace(0, 10, len(hat))), tb + h * beat / 2, 0.15)
        bar += 1
        t0 += 4 * beat
    y = y[:n]
    return y / (_rms(y) + 1e-12)


# ------------------------------------------------------------------------------------------------ rooms
def rir_bank(seed: int, count: int = 24) -> list[np.ndarray]:
    """Simulated room impulse responses (pyroomacoustics), a room set of this benchmark's own.

    pyroomacoustics' ray tracing draws from its own generator: it is seeded here so that the bank is the same
    on every build (and reseeded from fresh entropy afterwards).
    """
    import pyroomacoustics as pra

    pra.random.seed(seed)
    try:
        return _rir_bank(pra, seed, count)
    finally:
        pra.random.seed()


def _rir_bank(pra: ModuleType, seed: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    rirs = []
    for _ in range(count):
        dims = np.array([rng.uniform(2.5, 9.0), rng.uniform(2.5, 7.0), rng.uniform(2.3, 3.5)])
        rt60 = rng.uniform(0.15, 0.8)
        try:
            e_abs, max_order = pra.inverse_sabine(rt60, dims)
        except ValueError:
            e_abs, max_order = 0.4, 10
        room = pra.ShoeBox(dims, fs=SR, materials=pra.Material(e_abs), max_order=min(max_order, 3),
                           ray_tracing=True, air_absorption=True)
        room.set_ray_tracing(receiver_radius=0.5, n_rays=3000, energy_thres=1e-5)
        src = dims * rng.uniform(0.15, 0.85, 3)
        mic = dims * rng.uniform(0.15, 0.85, 3)
        room.add_source(src)
        room.add_microphone(mic)
        room.compute_rir()
        h = np.asarray(room.rir[0][0], np.float32)
        rirs.append(h / (np.max(np.abs(h)) + 1e-9))
    return rirs


def apply_rir(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    y = signal.fftconvolve(x, h)[: len(x) + len(h) // 4].astype(np.float32)
    return y * (np.max(np.abs(x)) / (np.max(np.abs(y)) + 1e-9))


def set_peak(x: np.ndarray, db: float) -> np.ndarray:
    return (x * (10 ** (db / 20) / (np.max(np.abs(x)) + 1e-9))).astype(np.float32)


def to_int16(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16)


# ------------------------------------------------------------------------------------------------ text
def _clean(text: str) -> str:
    text = re.sub(r"https?://\S+|\S+@\S+|`|\*|_|=|>>>|\.\.\.", " ", text)
    text = re.sub(r"\[[^\]]*\]|\{[^}]*\}|<[^>]*>", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _prose_ok(line: str) -> bool:
    letters = sum(c.isalpha() or c in " ,.;:'?!-" for c in line)
    return len(line) > 30 and letters / len(line) > 0.93 and len(line.split()) >= 6


def _paragraphs(blocks: list[str], max_words: int = 90, exclude: re.Pattern | None = None) -> list[str]:
    out = []
    for block in blocks:
        words = _clean(block).split()
        for i in range(0, len(words), max_words):
            chunk = " ".join(words[i:i + max_words])
            if _prose_ok(chunk) and "jarvis" not in chunk.lower() and not (exclude and exclude.search(chunk)):
                out.append(chunk)
    return out


def _docstrings() -> list[str]:
    lib = Path(sysconfig.get_paths()["stdlib"])
    blocks = []
    for p in sorted(lib.glob("*.py")) + sorted(lib.glob("*/*.py")):
        try:
            tree = ast.parse(p.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    blocks.extend(b for b in doc.split("\n\n") if _prose_ok(" ".join(b.split())))
    return blocks


def _licence_texts() -> list[str]:
    blocks = []
    notes = [f for f in sorted(glob.glob("/usr/share/doc/*/copyright")) if Path(f).parent.name not in TEST_ONLY_PACKAGES]
    files = sorted(glob.glob("/usr/share/common-licenses/*")) + notes[:400]
    for f in files:
        try:
            text = Path(f).read_text(encoding="utf-8", errors="ignore")
        except OSError:
            continue
        blocks.extend(b for b in re.split(r"\n\s*\n", text) if _prose_ok(" ".join(b.split())))
    return blocks


def _pydoc_topics() -> list[str]:
    """The Python language and library reference as pydoc ships it (test split)."""
    from pydoc_data.topics import topics

    return [b for key in sorted(topics) for b in re.split(r"\n\s*\n", topics[key]) if _prose_ok(" ".join(b.split()))]


# Manual pages of base Debian tools (Priority: required/important, on every Debian system) for the test split.
MAN_PAGES = ["bash", "dpkg", "apt-get", "apt-cache", "find", "xargs", "grep", "sed", "tar", "ls", "cp", "sort",
             "date", "du", "df", "chmod", "gzip", "login", "mount"]


def _man_pages() -> list[str]:
    if not shutil.which("groff"):
        raise RuntimeError("The test split reads manual pages and needs groff: `apt-get install groff-base`.")
    blocks = []
    for name in MAN_PAGES:
        found = sorted(glob.glob(f"/usr/share/man/man[18]/{name}.[18].gz"))
        if not found:
            raise RuntimeError(f"Manual page {name} is missing from /usr/share/man (the test split reads it): "
                               "install the `man-db` package and reinstall the page's package.")
        import gzip

        src = gzip.decompress(Path(found[0]).read_bytes())
        out = subprocess.run(["groff", "-man", "-Tascii", "-rHY=0", "-rLL=400n", "-P-cbou"], input=src,
                             capture_output=True, timeout=120).stdout.decode("ascii", errors="ignore")
        blocks.extend(b for b in re.split(r"\n\s*\n", out) if _prose_ok(" ".join(b.split())))
    return blocks


_SUBJ = ["I", "we", "you", "they", "my brother", "the neighbours", "our team", "the kids", "my friend", "she", "he"]
_VERB = ["bought", "fixed", "painted", "found", "lost", "moved", "cleaned", "borrowed", "ordered", "cooked",
         "carried", "forgot", "checked", "repaired", "packed", "watched", "opened"]
_OBJ = ["the car", "a new lamp", "the garden fence", "some bread", "the old piano", "three chairs", "the laptop",
        "a birthday cake", "the garage", "the front door", "the blue jacket", "a map of the city", "the dishes"]
_WHEN = ["yesterday", "last weekend", "this morning", "after dinner", "on Tuesday", "before the storm",
         "in the afternoon", "during the holidays", "an hour ago", "every Sunday"]
_Q = ["did you remember to {v} {o}?", "can you {v} {o} {w}?", "have you seen {o}?", "where did you put {o}?",
      "should we {v} {o} {w}?", "what do you think about {o}?"]
_VB = ["fix", "clean", "paint", "move", "check", "open", "carry", "order", "cook", "wash", "find"]
DEV_VOCAB = (_SUBJ, _VERB, _OBJ, _WHEN, _Q, _VB)
TEST_VOCAB = (
    ["my sister", "the landlord", "our neighbour", "the teacher", "grandpa", "the new intern", "my cousin",
     "the plumber", "everyone", "nobody"],
    ["mentioned", "delivered", "returned", "broke", "replaced", "described", "recommended", "sold", "measured",
     "photographed", "wrapped"],
    ["the kitchen tap", "a parcel", "the broken window", "two tickets", "the spare key", "a recipe for soup",
     "the garden hose", "an umbrella", "the electricity bill", "the bicycle", "a pair of boots"],
    ["on Friday", "last month", "tonight", "around noon", "after the meeting", "twice a week", "next spring",
     "before breakfast", "at half past six"],
    ["how much did {o} cost?", "why did they {v} {o}?", "is it worth it to {v} {o} {w}?", "who is going to {v} {o}?",
     "could we {v} {o} {w} instead?", "when will {o} arrive?"],
    ["repair", "replace", "return", "measure", "deliver", "collect", "sell", "wrap", "label", "borrow"],
)


def _templates(rng: np.random.Generator, n: int, names: tuple[str, ...] | list[str] = tuple(NAMES),
               vocab: tuple = DEV_VOCAB) -> list[str]:
    subj, verb, obj, when, qs, vb = vocab
    out = []
    for _ in range(n):
        sents = []
        for _ in range(int(rng.integers(3, 7))):
            r = rng.random()
            if r < 0.45:
                s = f"{rng.choice(subj)} {rng.choice(verb)} {rng.choice(obj)} {rng.choice(when)}."
            elif r < 0.8:
                s = str(rng.choice(qs)).format(v=rng.choice(vb), o=rng.choice(obj), w=rng.choice(when))
            else:
                s = f"hey {rng.choice(names)}, {str(rng.choice(qs)).format(v=rng.choice(vb), o=rng.choice(obj), w=rng.choice(when))}"
            sents.append(s[0].upper() + s[1:])
        out.append(" ".join(sents))
    return out


ASSISTANT_TALK = (
    ("set an alarm for {h} {m}", "remind me to call the dentist {w}", "what's on my calendar {w}",
     "turn the volume down", "skip this song", "how far is the station", "cancel that",
     "turn off the heating at {h}", "play the radio in the kitchen", "is it going to rain {w}"),
    ("six", "seven", "eight", "nine", "ten", "eleven", "twelve"),
    ("o'clock", "fifteen", "thirty", "forty five", "twenty"),
    ("tomorrow", "this evening", "on Monday", "next week", "later"),
)


def _assistant_talk(rng: np.random.Generator, n: int, names: tuple[str, ...], commands: tuple[str, ...]) -> list[str]:
    """What people say to and around assistants, without any table wake word (test split)."""
    extra, hours, mins, when = (list(x) for x in ASSISTANT_TALK)
    out = []
    for _ in range(n):
        sents = []
        for _ in range(int(rng.integers(2, 6))):
            c = str(rng.choice(list(commands) + extra)).format(h=rng.choice(hours), m=rng.choice(mins),
                                                                w=rng.choice(when))
            r = rng.random()
            if c.split()[0] in ("what", "what's", "how", "is", "read"):  # questions stay as they are
                s = f"hey {rng.choice(names)}, {c}?" if r < 0.3 else f"{c}?"
            else:
                s = (f"hey {rng.choice(names)}, {c}." if r < 0.3 else f"could you {c}, please?" if r < 0.5
                     else f"I asked it to {c}." if r < 0.65 else f"{c}.")
            sents.append(s[0].upper() + s[1:])
        out.append(" ".join(sents))
    return out


def _word_strings(rng: np.random.Generator, n: int, exclude: re.Pattern | None = None) -> list[str]:
    import pronouncing

    pronouncing.init_cmu()
    words = [w for w in pronouncing.lookup if w.isalpha() and 3 <= len(w) <= 9]  # type: ignore[attr-defined]
    words = [w for w in words if "jarv" not in w]
    if exclude is not None:  # one search over all words (a search per word takes seconds)
        bad = {m.group(0).lower() for m in exclude.finditer("\n".join(words))}
        words = [w for w in words if w not in bad]
    return [" ".join(rng.choice(words, int(rng.integers(8, 25)))) for _ in range(n)]


def terms_pattern(terms: tuple[str, ...] | list[str]) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(terms) + r")\b", re.IGNORECASE)


def redact(texts: list[str], pattern: re.Pattern) -> list[str]:
    """``texts`` with every match of ``pattern`` taken out (texts without one are returned unchanged)."""
    return [re.sub(r"\s+", " ", pattern.sub(" ", t)).strip() if pattern.search(t) else t for t in texts]


def text_corpus(seed: int, small: bool = False) -> list[str]:
    """Dev read-aloud paragraphs, shuffled: docstrings, licences, templated talk, word strings.

    ``small`` leaves out the Python docstrings (parsing the standard library takes ~20 s).
    """
    rng = np.random.default_rng(seed)
    docs = [] if small else _paragraphs(_docstrings())
    lic = _paragraphs(_licence_texts())
    rng.shuffle(docs)
    rng.shuffle(lic)
    corpus = docs[:900] + lic[:500] + _templates(rng, 400) + _word_strings(rng, 120)
    rng.shuffle(corpus)
    return corpus


def text_corpus_test_split(seed: int, small: bool = False) -> list[str]:
    """Test read-aloud paragraphs, shuffled: Python reference, manual pages, other templates, assistant talk,
    word strings. ``small`` leaves out the manual pages."""
    rng = np.random.default_rng(seed)
    pat = terms_pattern(SHARED_TERMS)
    ref = _paragraphs(_pydoc_topics(), exclude=pat)
    man = [] if small else _paragraphs(_man_pages(), exclude=pat)
    rng.shuffle(ref)
    rng.shuffle(man)
    s = SPLITS["test"]
    corpus = (ref[:800] + man[:500] + _templates(rng, 300, s.names, TEST_VOCAB)
              + _assistant_talk(rng, 200, s.names, s.commands) + _word_strings(rng, 120, pat))
    rng.shuffle(corpus)
    return corpus


def split_corpus(split: str, seed: int, small: bool = False, terms: tuple[str, ...] = ()) -> list[str]:
    """The read-aloud text of ``split``'s negative stream, with the shared terms and ``terms`` taken out."""
    corpus = text_corpus(seed, small) if split == "dev" else text_corpus_test_split(seed, small)
    return redact(corpus, terms_pattern(SHARED_TERMS + tuple(terms)))


def babble_texts(split: str, seed: int, terms: tuple[str, ...] = ()) -> list[str]:
    """Texts of the background-babble voices (also under the positives' and near misses' noise)."""
    prng = np.random.default_rng(seed + 3)
    s = SPLITS[split]
    texts = _templates(prng, 40) if split == "dev" else _templates(prng, 40, s.names, TEST_VOCAB)
    return redact(texts, terms_pattern(SHARED_TERMS + tuple(terms)))


def phrase_in_texts(word: WakeWord, texts: list[str]) -> bool:
    pat = terms_pattern(word.terms + (_phrase_regex(word.spoken),))
    return any(pat.search(t) for t in texts)


def split_fingerprint(split: str, word: str | None = None) -> str:
    """A hash of what defines ``split``'s material: without ``word`` the word-independent part (vocabularies,
    text sources, voices, prosody, sounds), with it also the word's entry (spoken form, near misses, reference).

    tests/test_heldout.py pins the test split's: it is frozen, so changing it makes a new split. Adding a word
    to the table leaves the other words' entries as they are, but the base changes with it (the new word is
    kept out of the shared stream's text): rebuild the test negatives then.
    """
    import hashlib

    s = SPLITS[split]
    if word is not None:
        w = wake_word(word)
        data: dict = {"word": [w.label, w.spoken, list(w.near_miss(split)), w.reference, list(w.terms), w.commands],
                      "base": split_fingerprint(split)}
    else:
        if split == "dev":
            text = {"vocab": DEV_VOCAB, "sources": ["docstrings", "common-licenses", "copyright[:400]"]}
        else:
            text = {"vocab": TEST_VOCAB, "assistant": ASSISTANT_TALK, "man": MAN_PAGES, "sources": ["pydoc_topics"]}
        data = {"split": asdict(s), "text": text, "shared_terms": SHARED_TERMS,
                "voices": [FLITE_VOICES, FESTIVAL_VOICES, VOICE_F0 if s.f0 else {}],
                "sounds": {p: SOUND_PACKAGES[p] for p in s.sounds}}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=list).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------ recorded sounds
def sound_files(packages: tuple[str, ...]) -> list[Path]:
    """Recorded sound files of ``packages`` (sorted, links resolved); raises naming any missing package."""
    missing, files = [], []
    for pkg in packages:
        if pkg not in SOUND_PACKAGES:
            raise ValueError(f"unknown sound package {pkg!r}; known: {', '.join(SOUND_PACKAGES)}")
        found = sorted({os.path.realpath(f) for f in glob.glob(SOUND_PACKAGES[pkg])
                        if os.path.isfile(f) and os.path.getsize(f) > 0})
        if not found:
            missing.append(pkg)
        files += [Path(f) for f in found]
    if missing:
        raise RuntimeError(f"The test split's negative stream mixes in recorded sounds from {', '.join(missing)}, "
                           f"which {'is' if len(missing) == 1 else 'are'} not installed: "
                           f"`apt-get install {' '.join(missing)}`.")
    return sorted(set(files))


def load_sound(path: Path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != SR:
        x = soxr.resample(x, sr, SR).astype(np.float32)
    nz = np.flatnonzero(np.abs(x) > 1e-4)
    return x[nz[0]: nz[-1] + 1] if len(nz) else x


# ------------------------------------------------------------------------------------------------ build
def _item_rng(seed: int, *key: object) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(repr(key).encode())])


def _write(path: Path, x: np.ndarray) -> None:
    from core.fsutil import atomic_path

    with atomic_path(path) as tmp:
        sf.write(str(tmp), to_int16(x) if x.dtype != np.int16 else x, SR, subtype="PCM_16")


def _mic_eq(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, dict]:
    """A different microphone/loudspeaker: high-pass, low-pass and a resonance at random."""
    lo, hi = float(rng.uniform(60, 350)), float(rng.uniform(3800, 7600))
    y = _bandpass(x, lo, hi, order=2)
    f0, gain = float(rng.uniform(700, 4000)), float(rng.uniform(-0.5, 1.5))
    b, a = signal.iirpeak(f0, float(rng.uniform(1.0, 4.0)), fs=SR)
    y = y + gain * signal.lfilter(b, a, y).astype(np.float32)
    return y.astype(np.float32), {"eq": [round(lo), round(hi), round(f0), round(gain, 2)]}


def _augment(rng: np.random.Generator, x: np.ndarray, rirs: list[np.ndarray],
             noise: Callable[[np.random.Generator, int], np.ndarray], eq: bool = False) -> tuple[np.ndarray, dict]:
    """Room (70%), band limit (15%), [mic colouring (60%)], noise at 5-20 dB SNR over the padded item,
    level -28..-3 dBFS."""
    info: dict = {}
    if rng.random() < 0.7:
        k = int(rng.integers(len(rirs)))
        x = apply_rir(x, rirs[k])
        info["rir"] = k
    if rng.random() < 0.15:
        x = _bandpass(x, 300, 3400)
        info["band"] = "telephone"
    if eq and rng.random() < 0.6:
        x, more = _mic_eq(rng, x)
        info.update(more)
    pad = np.zeros(SR, np.float32)
    x = np.concatenate([pad, x, pad])
    snr = float(rng.uniform(5, 20))
    bg = noise(rng, len(x))
    speech_rms = _rms(x[SR:-SR]) * 1.5  # speech-active level, roughly
    x = x + bg * speech_rms / 10 ** (snr / 20)
    info["snr_db"] = round(snr, 1)
    return set_peak(x, float(rng.uniform(-28, -3))), info


def _clean_pad(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    x = set_peak(x, float(rng.uniform(-20, -3)))
    pad = lambda: np.zeros(int(SR * rng.uniform(0.95, 1.1)), np.float32)  # noqa: E731
    y = np.concatenate([pad(), x, pad()])
    return y + coloured_noise(rng, len(y), 1.0) * 10 ** (rng.uniform(-72, -60) / 20)


def _missing_voices_error(missing: list[str]) -> RuntimeError:
    pkgs = sorted({VOICE_PACKAGES.get(v, "?") for v in missing} | ({"festival"} if any(
        v.startswith("festival:") for v in missing) else set()))
    return RuntimeError(f"Held-out voice(s) {missing} are not installed: `apt-get install {' '.join(pkgs)}`. "
                        f"{APT_HINT}")


_BABBLE_POOLS: dict[tuple, list[np.ndarray]] = {}


class Builder:
    def __init__(self, cache: Path, spec: Spec, workers: int = 2, log: Callable[[str], None] = print,
                 negatives: Path | None = None) -> None:
        self.cache, self.spec, self.workers, self.log = Path(cache), spec, workers, log
        if spec.split not in SPLITS:
            raise ValueError(f"unknown split {spec.split!r}; expected one of {', '.join(SPLIT_NAMES)}")
        self.split = SPLITS[spec.split]
        self.word = wake_word(spec.word)
        self.negatives = Path(negatives) if negatives is not None else self.cache
        self.neg_terms: tuple[str, ...] = ()  # terms kept out of this build's negative stream beyond SHARED_TERMS
        self._voices: list[Voice] | None = None
        self._neg_voices: list[Voice] | None = None
        self._rirs: list[np.ndarray] | None = None
        self._speech_pool: list[np.ndarray] = []
        self._sounds: list[tuple[str, np.ndarray]] | None = None
        self._effects: list[np.ndarray] = []
        self._recorded_music: list[np.ndarray] = []

    # ---- voices, rooms, sounds
    def _resolve_voices(self) -> None:
        english = [f"flite:{v}" for v in FLITE_VOICES] + [f"festival:{v}" for v in FESTIVAL_VOICES]
        neg_only = list(self.split.negative_voices)
        if self.spec.voices:
            # in the canonical order (the babble and the negative stream's voice draws depend on it)
            want_pos = [v for v in english if v in self.spec.voices] + \
                [v for v in self.spec.voices if v not in english and v not in neg_only]
            want_neg = [v for v in neg_only if v in self.spec.voices]
            required = list(self.spec.voices)
        else:
            want_pos, want_neg = english, neg_only
            required = english + neg_only if self.split.frozen else []
        found = available_voices(want_pos + want_neg)
        ids = {v.id for v in found}
        missing = [v for v in required if v not in ids]
        if missing:
            raise _missing_voices_error(missing)
        self._voices = [v for v in found if v.id in want_pos]
        if not self._voices:
            raise RuntimeError(f"No held-out voice for the wake word. {APT_HINT}")
        self._neg_voices = self._voices + [v for v in found if v.id in want_neg]

    @property
    def voices(self) -> list[Voice]:
        """Voices of the positives and near misses (and of the negative stream)."""
        if self._voices is None:
            self._resolve_voices()
        assert self._voices is not None
        return self._voices

    @property
    def neg_voices(self) -> list[Voice]:
        """Voices of the negative stream: :attr:`voices` and the split's negative-only voices."""
        if self._neg_voices is None:
            self._resolve_voices()
        assert self._neg_voices is not None
        return self._neg_voices

    @property
    def rirs(self) -> list[np.ndarray]:
        if self._rirs is None:
            self._rirs = rir_bank(self.spec.seed + 7, self.spec.rooms)
        return self._rirs

    @property
    def sounds(self) -> list[tuple[str, np.ndarray]]:
        """Recorded sounds of the spec's packages: (file, audio)."""
        if self._sounds is None:
            loaded = [(str(f), load_sound(f)) for f in sound_files(self.spec.sounds)] if self.spec.sounds else []
            self._sounds = [(f, x) for f, x in loaded if len(x) > SR // 50]
            self._effects = [x for _, x in self._sounds if len(x) <= 6 * SR]
            self._recorded_music = [x for _, x in self._sounds if len(x) > 6 * SR]
        return self._sounds

    @property
    def effects(self) -> list[np.ndarray]:
        """Short recorded sounds (<= 6 s): chimes, alerts, clicks, spoken channel tests."""
        if not self.spec.sounds:
            return []
        _ = self.sounds
        return self._effects

    @property
    def recorded_music(self) -> list[np.ndarray]:
        """Longer recorded sounds (> 6 s): ringtones, log-in jingles."""
        if not self.spec.sounds:
            return []
        _ = self.sounds
        return self._recorded_music

    def _noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        r = rng.random()
        if r < 0.2:
            return music_segment(rng, n / SR + 0.1)[:n]
        seg, _ = noise_segment(rng, n / SR + 0.1, speech=self._babble_speech(rng))
        return seg[:n]

    def _babble_speech(self, rng: np.random.Generator) -> Callable[[], np.ndarray]:
        if not self._speech_pool:
            flites = [v for v in self.voices if v.engine == "flite"] or self.voices
            key = (self.split.name, self.spec.seed, tuple(v.id for v in flites), self.neg_terms)
            if key not in _BABBLE_POOLS:  # 40 paragraphs, ~12 s of synthesis: once per process
                prng = np.random.default_rng(self.spec.seed + 3)
                if self.split.name == "dev":
                    texts = _templates(prng, 40)
                else:
                    texts = _templates(prng, 40, self.split.names, TEST_VOCAB)
                texts = redact(texts, terms_pattern(SHARED_TERMS + self.neg_terms))
                _BABBLE_POOLS[key] = [trim(synth(flites[i % len(flites)], t, float(prng.uniform(0.85, 1.2))))
                                      for i, t in enumerate(texts)]
            self._speech_pool = _BABBLE_POOLS[key]
        return lambda: self._speech_pool[int(rng.integers(len(self._speech_pool)))]

    # ---- items
    def _key(self, *key: object) -> tuple:
        """Item key: as before for dev "hey jarvis", with the word in front for every other set."""
        return key if self.spec.legacy else (self.word.slug, *key)

    def _prosody(self, rng: np.random.Generator, voice: Voice) -> tuple[float, float, float | None]:
        s = self.split
        stretch, factor = float(rng.uniform(*s.stretch)), float(rng.uniform(*s.pitch))
        f0 = VOICE_F0[voice.id] * float(rng.uniform(*s.f0)) if s.f0 and voice.id in VOICE_F0 else None
        return stretch, factor, f0

    def _finish(self, rng: np.random.Generator, x: np.ndarray, group: str) -> tuple[np.ndarray, dict]:
        if group == "clean":
            return _clean_pad(rng, x), {}
        return _augment(rng, x, self.rirs, self._noise, eq=self.split.mic_eq)

    def _positive(self, voice: Voice, j: int, group: str) -> dict:
        rng = _item_rng(self.spec.seed, *self._key("pos", voice.id, j, group))
        text = str(rng.choice(self.word.forms))
        if group == "command":
            text = f"{self.word.spoken}, {rng.choice(self.split.commands)}"
        stretch, factor, f0 = self._prosody(rng, voice)
        x = trim(vary(synth(voice, text, stretch, f0), factor))
        y, info = self._finish(rng, x, group)
        return {"voice": voice.id, "text": text, "group": group, "stretch": round(stretch, 3),
                "pitch": round(factor, 3), **({"f0": round(f0, 1)} if f0 is not None else {}), **info, "audio": y}

    def _near(self, voice: Voice, phrase: str, rep: int, group: str) -> dict:
        rng = _item_rng(self.spec.seed, *self._key("near", voice.id, phrase, rep, group))
        stretch, factor, f0 = self._prosody(rng, voice)
        x = trim(vary(synth(voice, phrase, stretch, f0), factor))
        y, info = self._finish(rng, x, group)
        return {"voice": voice.id, "text": phrase, "group": group, **info, "audio": y}

    def _effect(self, rng: np.random.Generator) -> np.ndarray:
        fx = self.effects
        return set_peak(fx[int(rng.integers(len(fx)))], float(rng.uniform(-24, -3)))

    def _speech_part(self, rng: np.random.Generator, seconds: float, corpus: list[str],
                     cursor: int) -> tuple[np.ndarray, int]:
        out, total, k, n_fx = [], 0, cursor, 0
        voices = self.neg_voices
        while total < seconds * SR:
            text = corpus[k % len(corpus)]
            k += 1
            voice = voices[int(rng.integers(len(voices)))]
            try:
                x = synth(voice, text, float(rng.uniform(*self.split.neg_stretch)))
            except (RuntimeError, subprocess.TimeoutExpired):
                continue
            if len(x) < SR // 10:  # a voice that said nothing for this text (e.g. only symbols)
                continue
            x = set_peak(vary(x, float(rng.uniform(*self.split.neg_pitch))), float(rng.uniform(-12, -2)))
            out += [x, np.zeros(int(rng.uniform(0.2, 1.5) * SR), np.float32)]
            total += len(x) + len(out[-1])
            if self.effects and rng.random() < 0.3:  # a recorded sound between two utterances
                out += [self._effect(rng), np.zeros(int(rng.uniform(0.2, 1.5) * SR), np.float32)]
                total += len(out[-2]) + len(out[-1])
                n_fx += 1
        return np.concatenate(out)[: int(seconds * SR)], n_fx

    def _music(self, rng: np.random.Generator, seconds: float) -> np.ndarray:
        """Synthetic music; in a split with recorded sounds, half the time recorded pieces (unit RMS)."""
        rec = self.recorded_music
        if not rec or rng.random() < 0.5:
            return music_segment(rng, seconds)
        pieces: list[np.ndarray] = []
        while sum(map(len, pieces)) < seconds * SR:
            x = rec[int(rng.integers(len(rec)))]
            pieces += [x / (_rms(x) + 1e-9) * rng.uniform(0.5, 1.0), np.zeros(int(rng.uniform(0, 1.0) * SR))]
        y = np.concatenate(pieces).astype(np.float32)[: int(seconds * SR)]
        return y / (_rms(y) + 1e-12)

    def _negative(self, p: int, corpus: list[str]) -> dict:
        rng = _item_rng(self.spec.seed, "neg", p)
        secs = self.spec.part_seconds
        r = float(rng.random())
        kind = "speech" if r < 0.6 else "speech_over_music" if r < 0.7 else "music" if r < 0.84 else "noise"
        cursor = p * 40
        extra: dict = {}
        if kind.startswith("speech"):
            x, n_fx = self._speech_part(rng, secs, corpus, cursor)
            sub = str(rng.choice(["clean", "room", "noisy"])) if kind == "speech" else "music"
            if sub == "room":
                x = apply_rir(x, self.rirs[int(rng.integers(len(self.rirs)))])[: len(x)]
            if sub in ("noisy", "music"):
                bg = self._music(rng, secs) if sub == "music" else self._noise_mix(rng, secs)
                x = x + bg[: len(x)] * _rms(x) / 10 ** (rng.uniform(5, 20) / 20)
            kind = f"speech_{sub}"
            if self.effects:
                extra["sounds"] = n_fx
        elif kind == "music":
            pieces = []
            while sum(map(len, pieces)) < secs * SR:
                pieces.append(self._music(rng, float(rng.uniform(30, 90))) * rng.uniform(0.3, 1.0))
            x = np.concatenate(pieces)[: int(secs * SR)]
        else:
            x = self._noise_mix(rng, secs)
        x = set_peak(x, float(rng.uniform(-10, -1)))
        x = x + coloured_noise(rng, len(x), 1.0) * 10 ** (-70 / 20)
        return {"kind": kind, **extra, "audio": x}

    def _noise_mix(self, rng: np.random.Generator, seconds: float) -> np.ndarray:
        segs = []
        while sum(map(len, segs)) < seconds * SR:
            s, _ = noise_segment(rng, float(rng.uniform(15, 60)), speech=self._babble_speech(rng))
            segs.append(s * rng.uniform(0.2, 1.0))
        y = np.concatenate(segs)[: int(seconds * SR)]
        if self.effects:  # recorded sounds over the noise, ~one per 20 s
            level = _rms(y)
            for _ in range(int(rng.poisson(seconds / 20))):
                fx = self._effect(rng)
                at = int(rng.integers(0, max(1, len(y) - len(fx))))
                m = min(len(fx), len(y) - at)
                y[at:at + m] += fx[:m] / (_rms(fx) + 1e-9) * level * rng.uniform(0.5, 3.0)
        return y

    # ---- negative stream: shared per split unless the word occurs in its text
    def _corpus_record(self, root: Path, terms: tuple[str, ...]) -> dict:
        """The read-aloud and babble texts of the stream in ``root`` (``corpus.json``, written when computed)."""
        spec = self.spec
        key = {"split": spec.split, "seed": spec.seed, "corpus": spec.corpus, "terms": list(terms),
               "definition": split_fingerprint(spec.split)}
        path = root / "corpus.json"
        if path.is_file():
            rec = json.loads(path.read_text())
            if all(rec.get(k) == v for k, v in key.items()):
                return rec
        self.log(f"reading the {spec.split} split's negative-stream text ...")
        rec = {**key, "texts": split_corpus(spec.split, spec.seed, spec.corpus == "small", terms),
               "babble": babble_texts(spec.split, spec.seed, terms)}
        from core.fsutil import atomic_write_text

        root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(rec))
        return rec

    def _choose_negative_root(self) -> Path:
        covered = bool(terms_pattern(SHARED_TERMS).search(self.word.spoken)
                       or terms_pattern(SHARED_TERMS).search(self.word.label))
        if covered:  # the table's words never occur in any stream
            return self.negatives
        if self.negatives != self.cache:
            rec = self._corpus_record(self.negatives, ())
            if not phrase_in_texts(self.word, rec["texts"] + rec["babble"]):
                return self.negatives
            self.log(f"'{self.word.label}' occurs in the shared {self.spec.split} negative text: building a negative "
                     f"stream of its own in {self.cache} with it taken out")
        self.neg_terms = self.word.terms + (_phrase_regex(self.word.spoken),)
        return self.cache

    # ---- driver
    def build(self) -> dict:
        """Build missing items, write the manifest and return it."""
        spec, cache = self.spec, self.cache
        if self.split.frozen and spec.seed != self.split.seed:
            self.log(f"warning: the {spec.split} split is frozen with seed {self.split.seed}; seed {spec.seed} "
                     "makes another set")
        neg_root = self._choose_negative_root()
        roots = {"negative": os.path.relpath(neg_root, cache)}
        cache.mkdir(parents=True, exist_ok=True)
        neg_root.mkdir(parents=True, exist_ok=True)
        self._check_definition(neg_root, split_fingerprint(spec.split))
        if cache != neg_root:
            self._check_definition(cache, split_fingerprint(spec.split, self.word.label))
        manifest_path = cache / "manifest.json"
        if manifest_path.is_file():
            old = json.loads(manifest_path.read_text())
            if (old.get("spec") == _spec_dict(spec) and old.get("version") == VERSION
                    and old.get("roots", {"negative": "."}) == roots and self._complete(old)):
                return old
        started = time.monotonic()
        jobs: list[tuple[str, Path, str, Callable[[], dict]]] = []
        seed = spec.seed
        for v in self.voices:
            vslug = v.id.replace(":", "-")
            for j in range(spec.positives_per_voice):
                for group in ("clean", "augmented"):
                    jobs.append(("positive", cache, f"positive/{vslug}_{j:03d}_{group}_{seed}.wav",
                                 lambda v=v, j=j, g=group: self._positive(v, j, g)))
            for j in range(spec.commands_per_voice if self.word.commands else 0):
                jobs.append(("positive", cache, f"positive/{vslug}_{j:03d}_command_{seed}.wav",
                             lambda v=v, j=j: self._positive(v, j, "command")))
        for v in self.voices:
            vslug = v.id.replace(":", "-")
            for phrase in spec.near_miss or self.word.near_miss(spec.split):
                pslug = re.sub(r"[^a-z]+", "-", phrase.lower()).strip("-")
                for rep in range(spec.near_miss_reps):
                    for group in ("clean", "augmented"):
                        jobs.append(("near_miss", cache, f"near_miss/{vslug}_{pslug}_{rep}_{group}_{seed}.wav",
                                     lambda v=v, ph=phrase, r=rep, g=group: self._near(v, ph, r, g)))
        n_parts = int(np.ceil(spec.negative_minutes * 60 / spec.part_seconds))
        neg_name = [f"negative/part{p:03d}_{int(spec.part_seconds)}s_{seed}.wav" for p in range(n_parts)]
        corpus: list[str] = []
        if any(not (neg_root / f).is_file() for f in neg_name):
            corpus = self._corpus_record(neg_root, self.neg_terms)["texts"]
        for p in range(n_parts):
            jobs.append(("negative", neg_root, neg_name[p], lambda p=p: self._negative(p, corpus)))

        metas: dict[Path, dict[str, dict]] = {}
        for root in (cache, neg_root):
            mp = root / "items_meta.json"
            metas[root] = json.loads(mp.read_text()) if mp.is_file() else {}
        todo = [(c, r, f, fn) for c, r, f, fn in jobs if not ((r / f).is_file() and f in metas[r])]
        self.log(f"held-out set '{self.word.label}' ({spec.split}): {len(jobs)} items, {len(todo)} to build, "
                 f"voices: {', '.join(v.id for v in self.voices)}"
                 + (f"; negative stream also: {', '.join(v.id for v in self.neg_voices[len(self.voices):])}"
                    if len(self.neg_voices) > len(self.voices) else ""))
        if todo:
            _ = self.rirs  # build the room bank (and load the sounds) before threads share them
            _ = self.sounds if spec.sounds else None
            self._babble_speech(np.random.default_rng(0))

        def run(job: tuple[str, Path, str, Callable[[], dict]]) -> tuple[Path, str, dict]:
            _, root, f, fn = job
            item = fn()
            audio = item.pop("audio")
            _write(root / f, audio)
            item["seconds"] = round(len(audio) / SR, 3)
            return root, f, item

        def save_meta() -> None:
            from core.fsutil import atomic_write_text

            for root, meta in metas.items():
                atomic_write_text(root / "items_meta.json", json.dumps(meta))

        done = 0
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            for root, f, item in pool.map(run, todo):
                metas[root][f] = item
                done += 1
                if done % 25 == 0 or done == len(todo):
                    self.log(f"  built {done}/{len(todo)} ({time.monotonic() - started:.0f} s)")
                    save_meta()
        items: dict[str, list[dict]] = {"positive": [], "near_miss": [], "negative": []}
        for cat, root, f, _ in jobs:
            items[cat].append({"file": f, **metas[root][f]})
        neg_hours = sum(it["seconds"] for it in items["negative"]) / 3600
        try:
            n_sounds: int | None = len(sound_files(spec.sounds)) if spec.sounds else 0
        except RuntimeError:  # uninstalled since the stream was built
            n_sounds = None
        manifest = {"version": VERSION, "spec": _spec_dict(spec), "word": self.word.label,
                    "spoken": self.word.spoken, "split": spec.split, "frozen": self.split.frozen,
                    "reference": self.word.reference, "definition": split_fingerprint(spec.split, self.word.label), "roots": roots, "voices": [v.id for v in self.voices],
                    "negative_voices": [v.id for v in self.neg_voices],
                    "sounds": {"packages": list(spec.sounds), "files": n_sounds},
                    "build_seconds": round(time.monotonic() - started, 1), "negative_hours": round(neg_hours, 4),
                    "counts": {k: len(v) for k, v in items.items()}, "items": items}
        from core.fsutil import atomic_write_text
        atomic_write_text(manifest_path, json.dumps(manifest, indent=1))
        return manifest

    def _check_definition(self, root: Path, fingerprint: str) -> None:
        """A folder of the frozen split remembers the definition it was built under and refuses another."""
        if not self.split.frozen or self.spec.seed != self.split.seed:
            return
        path = root / "definition.txt"
        if path.is_file():
            old = path.read_text().strip()
            if old != fingerprint:
                raise RuntimeError(f"{root} was built under another definition of the frozen {self.spec.split} split "
                                   f"({old}, now {fingerprint}): delete the folder and build it again.")
        else:
            from core.fsutil import atomic_write_text

            atomic_write_text(path, fingerprint + "\n")

    def _complete(self, manifest: dict) -> bool:
        return all(item_path(self.cache, manifest, cat, it["file"]).is_file()
                   for cat, its in manifest["items"].items() for it in its)


def _spec_dict(spec: Spec) -> dict:
    d = json.loads(json.dumps(asdict(spec)))
    if spec.legacy and not spec.sounds:  # recorded as before words and splits existed: old manifests stay valid
        for k in ("word", "split", "sounds"):
            d.pop(k)
    return d


def category_root(cache: Path, manifest: dict, cat: str) -> Path:
    """The folder that ``manifest``'s ``cat`` item files are relative to."""
    rel = manifest.get("roots", {}).get(cat, ".")
    return Path(cache) if rel == "." else Path(os.path.normpath(Path(cache) / rel))


def item_path(cache: Path, manifest: dict, cat: str, file: str) -> Path:
    return category_root(cache, manifest, cat) / file


def default_cache(split: str = "dev", word: str = "hey jarvis", quick: bool = False) -> Path:
    """The word's folder: ``heldout`` for dev "hey jarvis" (as before), else ``heldout_<split>_<word>``."""
    w = wake_word(word)
    if split == "dev" and w.label == "hey jarvis":
        return CACHE_ROOT / ("heldout_quick" if quick else "heldout")
    return CACHE_ROOT / f"heldout_{split}_{w.slug}{'_quick' if quick else ''}"


def default_negatives(split: str = "dev", quick: bool = False) -> Path:
    """The split's shared negative stream: in ``heldout`` for dev (as before), ``heldout_test_negatives``."""
    if split == "dev":
        return CACHE_ROOT / ("heldout_quick" if quick else "heldout")
    return CACHE_ROOT / f"heldout_{split}_negatives{'_quick' if quick else ''}"


def load_manifest(cache: Path) -> dict:
    path = Path(cache) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"No held-out set at {cache}; build it with `python bench/heldout.py --cache {cache}`.")
    return json.loads(path.read_text())


def build_heldout(cache: Path | None = None, spec: Spec | None = None, workers: int = 2,
                  log: Callable[[str], None] = print, negatives: Path | None = None) -> dict:
    """Build (or reuse) the held-out set in ``cache``; returns the manifest.

    ``cache`` defaults to :func:`default_cache` of the spec's split and word, with the split's shared negative
    stream in :func:`default_negatives`; a given ``cache`` holds its own negatives unless ``negatives`` is given.
    """
    spec = spec or Spec()
    if cache is None:
        cache = default_cache(spec.split, spec.word)
        negatives = negatives or default_negatives(spec.split)
    return Builder(Path(cache), spec, workers, log, negatives).build()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--word", default="hey jarvis", help='wake word: "hey jarvis" (default), "alexa", "hey mycroft" '
                    "or any phrase")
    ap.add_argument("--split", choices=SPLIT_NAMES, default="test",
                    help="dev: the set recipes are tuned on; test (default): frozen, for reporting only")
    ap.add_argument("--cache", type=Path, default=None, help="the word's folder (default bench/.cache/heldout_<split>_<word>)")
    ap.add_argument("--negatives", type=Path, default=None,
                    help="the split's shared negative stream (default bench/.cache/heldout_<split>_negatives; "
                         "with --cache alone, inside --cache)")
    ap.add_argument("--quick", action="store_true", help="a small set for trying the plumbing")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    spec = Spec.quick(args.split, args.word) if args.quick else Spec.for_split(args.split, args.word)
    cache = args.cache or default_cache(args.split, args.word, args.quick)
    negatives = args.negatives or (cache if args.cache else default_negatives(args.split, args.quick))
    m = build_heldout(cache, spec, args.workers, negatives=negatives)
    print(json.dumps({k: m[k] for k in ("word", "split", "counts", "negative_hours", "build_seconds", "voices",
                                        "negative_voices", "sounds", "roots")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
