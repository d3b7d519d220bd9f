"""Held-out audio for the "hey jarvis" quality benchmark, built once and cached.

Everything comes from sources the training pipeline never uses (it uses Piper and espeak-ng):

* positives: "hey jarvis" from flite (kal, kal16, awb, rms, slt) and festival (kal/ked diphone, slt HTS)
  voices, at varied speed and pitch; a clean copy and a "realistic" copy (simulated rooms from a room
  set unlike training's, noise 5-20 dB SNR, varied level); some followed by a command. Each item is padded
  with ~1 s of low noise before and after.
* near misses: "hey jarvin", "hey marvis", "jarvis", "a jar of peas", ... in the same voices.
* negative stream (>= 1 h by default): read-aloud text (Python docstrings, licence texts, Debian copyright
  notes, templated conversation incl. "hey <name>", random word strings) in those voices, clean, in rooms,
  over noise or music; synthetic music (chords, bass, melody, drums); noise (fan, hum, babble, rain,
  typing, traffic, coloured noise). Stored as ~5 min parts, each streamed on its own.

Output (``cache``): ``positive/*.wav``, ``near_miss/*.wav``, ``negative/*.wav`` (16 kHz int16 mono) and
``manifest.json``. Items are deterministic per index, written atomically and skipped when present, so an
interrupted build continues. Needs the Debian packages ``flite`` (required) and ``festival
festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts`` (optional).
"""

from __future__ import annotations

import argparse
import ast
import glob
import json
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

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

SR = 16000
VERSION = 1
DEFAULT_CACHE = Path(__file__).resolve().parent / ".cache" / "heldout"
APT_HINT = ("Install them with `apt-get install flite festival festvox-kallpc16k festvox-kdlpc16k "
            "festvox-us-slt-hts` (flite is required, festival voices add variety).")

FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
WAKE_FORMS = ["hey jarvis", "hey jarvis", "hey, jarvis", "Hey Jarvis.", "hey jarvis!", "hey jarvis?"]
COMMANDS = ["turn on the lights", "what time is it", "play some music", "what's the weather like",
            "set a timer for ten minutes", "stop", "open the garage door"]
NEAR_MISS = ["hey jarvin", "hey marvis", "hey travis", "jarvis", "hey harvest", "hey service", "hey there",
             "a jar of peas", "hey jar", "hey davis", "hey mavis", "hey carvings", "hey jarred", "hi darvis",
             "hey starfish", "jars and jars"]
NAMES = ["john", "mary", "alex", "sarah", "mike", "linda", "tom", "anna", "david", "emma", "chris", "kate",
         "peter", "lucy", "mark", "jane", "steve", "olivia", "paul", "grace", "siri", "google", "computer"]


@dataclass(frozen=True)
class Spec:
    """What to build; a cache built with another spec is rebuilt."""

    positives_per_voice: int = 22  # clean; each also gets an augmented copy
    commands_per_voice: int = 3  # "hey jarvis, <command>" clips per voice (augmented)
    near_miss_reps: int = 1  # each near-miss phrase per voice, clean + augmented copy
    negative_minutes: float = 120.0  # 2 h: at 0.5 FA/h one trigger is allowed (1.25 h would allow none)
    part_seconds: float = 300.0
    seed: int = 20250917
    voices: tuple[str, ...] = ()  # voice ids ("flite:slt"); empty = every installed held-out voice
    near_miss: tuple[str, ...] = ()  # phrases; empty = NEAR_MISS
    rooms: int = 24  # simulated rooms in the held-out RIR bank
    corpus: str = "full"  # "full" (docstrings, licences, templates, word strings) | "small" (no docstrings)

    @classmethod
    def quick(cls) -> Spec:
        return cls(positives_per_voice=3, commands_per_voice=1, near_miss_reps=1, negative_minutes=6.0,
                   part_seconds=120.0, near_miss=tuple(NEAR_MISS[:6]))


# ------------------------------------------------------------------------------------------------ TTS
@dataclass(frozen=True)
class Voice:
    engine: str  # flite | festival
    name: str

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}"


def available_voices() -> list[Voice]:
    """Installed held-out voices (each checked by synthesising a word)."""
    voices: list[Voice] = []
    if shutil.which("flite"):
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
        voices += [Voice("flite", v) for v in FLITE_VOICES if v in listed.split()]
    if shutil.which("text2wave"):
        for v in FESTIVAL_VOICES:
            try:
                if len(synth(Voice("festival", v), "test")) > 1000:
                    voices.append(Voice("festival", v))
            except RuntimeError:
                pass
    if not any(v.engine == "flite" for v in voices):
        raise RuntimeError(f"The held-out set needs the flite speech synthesiser, which is not installed. {APT_HINT}")
    return voices


def synth(voice: Voice, text: str, stretch: float = 1.0) -> np.ndarray:
    """float32 16 kHz speech for ``text``; ``stretch`` > 1 speaks slower."""
    with tempfile.TemporaryDirectory(prefix="heldout_tts_") as tmp:
        txt, wav = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
        txt.write_text(text + "\n", encoding="utf-8")
        if voice.engine == "flite":
            cmd = ["flite", "-voice", voice.name, "-f", str(txt), "-o", str(wav),
                   "--setf", f"duration_stretch={stretch:.3f}"]
        else:
            cmd = ["text2wave", "-eval", f"(voice_{voice.name})",
                   "-eval", f"(Parameter.set 'Duration_Stretch {stretch:.3f})", str(txt), "-o", str(wav)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
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
    """Simulated room impulse responses (pyroomacoustics), a room set of this benchmark's own."""
    import pyroomacoustics as pra

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


def _paragraphs(blocks: list[str], max_words: int = 90) -> list[str]:
    out = []
    for block in blocks:
        words = _clean(block).split()
        for i in range(0, len(words), max_words):
            chunk = " ".join(words[i:i + max_words])
            if _prose_ok(chunk) and "jarvis" not in chunk.lower():
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
    files = sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(glob.glob("/usr/share/doc/*/copyright"))[:400]
    for f in files:
        try:
            text = Path(f).read_text(encoding="utf-8", errors="ignore")
        except OSError:
            continue
        blocks.extend(b for b in re.split(r"\n\s*\n", text) if _prose_ok(" ".join(b.split())))
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


def _templates(rng: np.random.Generator, n: int) -> list[str]:
    out = []
    for _ in range(n):
        sents = []
        for _ in range(int(rng.integers(3, 7))):
            r = rng.random()
            if r < 0.45:
                s = f"{rng.choice(_SUBJ)} {rng.choice(_VERB)} {rng.choice(_OBJ)} {rng.choice(_WHEN)}."
            elif r < 0.8:
                s = str(rng.choice(_Q)).format(v=rng.choice(_VB), o=rng.choice(_OBJ), w=rng.choice(_WHEN))
            else:
                s = f"hey {rng.choice(NAMES)}, {str(rng.choice(_Q)).format(v=rng.choice(_VB), o=rng.choice(_OBJ), w=rng.choice(_WHEN))}"
            sents.append(s[0].upper() + s[1:])
        out.append(" ".join(sents))
    return out


def _word_strings(rng: np.random.Generator, n: int) -> list[str]:
    import pronouncing

    pronouncing.init_cmu()
    words = [w for w in pronouncing.lookup if w.isalpha() and 3 <= len(w) <= 9]  # type: ignore[attr-defined]
    words = [w for w in words if "jarv" not in w]
    return [" ".join(rng.choice(words, int(rng.integers(8, 25)))) for _ in range(n)]


def text_corpus(seed: int, small: bool = False) -> list[str]:
    """Read-aloud paragraphs, shuffled: docstrings, licences, templated talk, word strings.

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


# ------------------------------------------------------------------------------------------------ build
def _item_rng(seed: int, *key: object) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(repr(key).encode())])


def _write(path: Path, x: np.ndarray) -> None:
    from core.fsutil import atomic_path

    with atomic_path(path) as tmp:
        sf.write(str(tmp), to_int16(x) if x.dtype != np.int16 else x, SR, subtype="PCM_16")


def _augment(rng: np.random.Generator, x: np.ndarray, rirs: list[np.ndarray],
             noise: Callable[[np.random.Generator, int], np.ndarray]) -> tuple[np.ndarray, dict]:
    """Room (70%), band limit (15%), noise at 5-20 dB SNR over the padded item, level -28..-3 dBFS."""
    info: dict = {}
    if rng.random() < 0.7:
        k = int(rng.integers(len(rirs)))
        x = apply_rir(x, rirs[k])
        info["rir"] = k
    if rng.random() < 0.15:
        x = _bandpass(x, 300, 3400)
        info["band"] = "telephone"
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


class Builder:
    def __init__(self, cache: Path, spec: Spec, workers: int = 2, log: Callable[[str], None] = print) -> None:
        self.cache, self.spec, self.workers, self.log = Path(cache), spec, workers, log
        self._voices: list[Voice] | None = None
        self._rirs: list[np.ndarray] | None = None
        self._speech_pool: list[np.ndarray] = []

    @property
    def voices(self) -> list[Voice]:
        if self._voices is None:
            found = available_voices()
            if self.spec.voices:
                missing = sorted(set(self.spec.voices) - {v.id for v in found})
                if missing:
                    raise RuntimeError(f"Held-out voice(s) {missing} are not installed. {APT_HINT}")
                found = [v for v in found if v.id in self.spec.voices]
            self._voices = found
        return self._voices

    @property
    def rirs(self) -> list[np.ndarray]:
        if self._rirs is None:
            self._rirs = rir_bank(self.spec.seed + 7, self.spec.rooms)
        return self._rirs

    def _noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        r = rng.random()
        if r < 0.2:
            return music_segment(rng, n / SR + 0.1)[:n]
        seg, _ = noise_segment(rng, n / SR + 0.1, speech=self._babble_speech(rng))
        return seg[:n]

    def _babble_speech(self, rng: np.random.Generator) -> Callable[[], np.ndarray]:
        if not self._speech_pool:
            prng = np.random.default_rng(self.spec.seed + 3)
            texts = _templates(prng, 40)
            flites = [v for v in self.voices if v.engine == "flite"] or self.voices
            self._speech_pool = [trim(synth(flites[i % len(flites)], t, float(prng.uniform(0.85, 1.2))))
                                 for i, t in enumerate(texts)]
        return lambda: self._speech_pool[int(rng.integers(len(self._speech_pool)))]

    # ---- items
    def _positive(self, voice: Voice, j: int, group: str) -> dict:
        rng = _item_rng(self.spec.seed, "pos", voice.id, j, group)
        text = str(rng.choice(WAKE_FORMS))
        if group == "command":
            text = f"hey jarvis, {rng.choice(COMMANDS)}"
        stretch, factor = float(rng.uniform(0.8, 1.3)), float(rng.uniform(0.9, 1.12))
        x = trim(vary(synth(voice, text, stretch), factor))
        if group == "clean":
            y, info = _clean_pad(rng, x), {}
        else:
            y, info = _augment(rng, x, self.rirs, self._noise)
        return {"voice": voice.id, "text": text, "group": group, "stretch": round(stretch, 3),
                "pitch": round(factor, 3), **info, "audio": y}

    def _near(self, voice: Voice, phrase: str, rep: int, group: str) -> dict:
        rng = _item_rng(self.spec.seed, "near", voice.id, phrase, rep, group)
        stretch, factor = float(rng.uniform(0.8, 1.3)), float(rng.uniform(0.9, 1.12))
        x = trim(vary(synth(voice, phrase, stretch), factor))
        if group == "clean":
            y, info = _clean_pad(rng, x), {}
        else:
            y, info = _augment(rng, x, self.rirs, self._noise)
        return {"voice": voice.id, "text": phrase, "group": group, **info, "audio": y}

    def _speech_part(self, rng: np.random.Generator, seconds: float, corpus: list[str], cursor: int) -> np.ndarray:
        out, total, k = [], 0, cursor
        while total < seconds * SR:
            text = corpus[k % len(corpus)]
            k += 1
            voice = self.voices[int(rng.integers(len(self.voices)))]
            try:
                x = synth(voice, text, float(rng.uniform(0.85, 1.25)))
            except (RuntimeError, subprocess.TimeoutExpired):
                continue
            x = set_peak(vary(x, float(rng.uniform(0.9, 1.12))), float(rng.uniform(-12, -2)))
            out += [x, np.zeros(int(rng.uniform(0.2, 1.5) * SR), np.float32)]
            total += len(x) + len(out[-1])
        return np.concatenate(out)[: int(seconds * SR)]

    def _negative(self, p: int, corpus: list[str]) -> dict:
        rng = _item_rng(self.spec.seed, "neg", p)
        secs = self.spec.part_seconds
        r = float(rng.random())
        kind = "speech" if r < 0.6 else "speech_over_music" if r < 0.7 else "music" if r < 0.84 else "noise"
        cursor = p * 40
        if kind.startswith("speech"):
            x = self._speech_part(rng, secs, corpus, cursor)
            sub = str(rng.choice(["clean", "room", "noisy"])) if kind == "speech" else "music"
            if sub == "room":
                x = apply_rir(x, self.rirs[int(rng.integers(len(self.rirs)))])[: len(x)]
            if sub in ("noisy", "music"):
                bg = music_segment(rng, secs) if sub == "music" else self._noise_mix(rng, secs)
                x = x + bg[: len(x)] * _rms(x) / 10 ** (rng.uniform(5, 20) / 20)
            kind = f"speech_{sub}"
        elif kind == "music":
            pieces = []
            while sum(map(len, pieces)) < secs * SR:
                pieces.append(music_segment(rng, float(rng.uniform(30, 90))) * rng.uniform(0.3, 1.0))
            x = np.concatenate(pieces)[: int(secs * SR)]
        else:
            x = self._noise_mix(rng, secs)
        x = set_peak(x, float(rng.uniform(-10, -1)))
        x = x + coloured_noise(rng, len(x), 1.0) * 10 ** (-70 / 20)
        return {"kind": kind, "audio": x}

    def _noise_mix(self, rng: np.random.Generator, seconds: float) -> np.ndarray:
        segs = []
        while sum(map(len, segs)) < seconds * SR:
            s, _ = noise_segment(rng, float(rng.uniform(15, 60)), speech=self._babble_speech(rng))
            segs.append(s * rng.uniform(0.2, 1.0))
        return np.concatenate(segs)[: int(seconds * SR)]

    # ---- driver
    def build(self) -> dict:
        """Build missing items, write the manifest and return it."""
        spec, cache = self.spec, self.cache
        cache.mkdir(parents=True, exist_ok=True)
        manifest_path = cache / "manifest.json"
        if manifest_path.is_file():
            old = json.loads(manifest_path.read_text())
            if old.get("spec") == _spec_dict(spec) and old.get("version") == VERSION and self._complete(old):
                return old
        started = time.monotonic()
        jobs: list[tuple[str, str, Callable[[], dict]]] = []
        seed = spec.seed
        for v in self.voices:
            vslug = v.id.replace(":", "-")
            for j in range(spec.positives_per_voice):
                for group in ("clean", "augmented"):
                    jobs.append(("positive", f"positive/{vslug}_{j:03d}_{group}_{seed}.wav",
                                 lambda v=v, j=j, g=group: self._positive(v, j, g)))
            for j in range(spec.commands_per_voice):
                jobs.append(("positive", f"positive/{vslug}_{j:03d}_command_{seed}.wav",
                             lambda v=v, j=j: self._positive(v, j, "command")))
        for v in self.voices:
            vslug = v.id.replace(":", "-")
            for phrase in spec.near_miss or NEAR_MISS:
                pslug = re.sub(r"[^a-z]+", "-", phrase.lower()).strip("-")
                for rep in range(spec.near_miss_reps):
                    for group in ("clean", "augmented"):
                        jobs.append(("near_miss", f"near_miss/{vslug}_{pslug}_{rep}_{group}_{seed}.wav",
                                     lambda v=v, ph=phrase, r=rep, g=group: self._near(v, ph, r, g)))
        n_parts = int(np.ceil(spec.negative_minutes * 60 / spec.part_seconds))
        neg_name = [f"negative/part{p:03d}_{int(spec.part_seconds)}s_{seed}.wav" for p in range(n_parts)]
        corpus: list[str] = []
        if any(not (cache / f).is_file() for f in neg_name):
            corpus = text_corpus(spec.seed, small=spec.corpus == "small")
        for p in range(n_parts):
            jobs.append(("negative", neg_name[p], lambda p=p: self._negative(p, corpus)))

        meta_path = cache / "items_meta.json"
        meta: dict[str, dict] = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        todo = [(c, f, fn) for c, f, fn in jobs if not ((cache / f).is_file() and f in meta)]
        self.log(f"held-out set: {len(jobs)} items, {len(todo)} to build, voices: "
                 f"{', '.join(v.id for v in self.voices)}")
        if todo:
            _ = self.rirs  # build the room bank before threads share it
            self._babble_speech(np.random.default_rng(0))

        def run(job: tuple[str, str, Callable[[], dict]]) -> tuple[str, dict]:
            _, f, fn = job
            item = fn()
            audio = item.pop("audio")
            _write(cache / f, audio)
            item["seconds"] = round(len(audio) / SR, 3)
            return f, item

        done = 0
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            for f, item in pool.map(run, todo):
                meta[f] = item
                done += 1
                if done % 25 == 0 or done == len(todo):
                    self.log(f"  built {done}/{len(todo)} ({time.monotonic() - started:.0f} s)")
                    from core.fsutil import atomic_write_text
                    atomic_write_text(meta_path, json.dumps(meta))
        items: dict[str, list[dict]] = {"positive": [], "near_miss": [], "negative": []}
        for cat, f, _ in jobs:
            items[cat].append({"file": f, **meta[f]})
        neg_hours = sum(it["seconds"] for it in items["negative"]) / 3600
        manifest = {"version": VERSION, "spec": _spec_dict(spec), "voices": [v.id for v in self.voices],
                    "build_seconds": round(time.monotonic() - started, 1), "negative_hours": round(neg_hours, 4),
                    "counts": {k: len(v) for k, v in items.items()}, "items": items}
        from core.fsutil import atomic_write_text
        atomic_write_text(manifest_path, json.dumps(manifest, indent=1))
        return manifest

    def _complete(self, manifest: dict) -> bool:
        return all((self.cache / it["file"]).is_file() for cat in manifest["items"].values() for it in cat)


def _spec_dict(spec: Spec) -> dict:
    return json.loads(json.dumps(asdict(spec)))


def load_manifest(cache: Path) -> dict:
    path = Path(cache) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"No held-out set at {cache}; build it with `python bench/heldout.py --cache {cache}`.")
    return json.loads(path.read_text())


def build_heldout(cache: Path = DEFAULT_CACHE, spec: Spec | None = None, workers: int = 2,
                  log: Callable[[str], None] = print) -> dict:
    """Build (or reuse) the held-out set in ``cache``; returns the manifest."""
    return Builder(Path(cache), spec or Spec(), workers, log).build()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="a small set for trying the plumbing")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    spec = Spec.quick() if args.quick else Spec()
    cache = args.cache or (DEFAULT_CACHE.with_name("heldout_quick") if args.quick else DEFAULT_CACHE)
    m = build_heldout(cache, spec, args.workers)
    print(json.dumps({k: m[k] for k in ("counts", "negative_hours", "build_seconds", "voices")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
