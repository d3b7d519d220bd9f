"""The clip phase: real recordings + synthetic positives, and negatives, as 16 kHz clips.

Layout under ``clips/``::

    positive/real_0003.wav     one per real recording (map kept in clips/real_sources.json)
    positive/synth_00042.wav   Piper / espeak-ng speaking the wake word
    negative/adv_00012.wav     near-miss phrases and ordinary speech (same voices)
    negative/audio_00007.wav   random pieces of negative audio folders, when there are any
    negative/noise_0001.wav    coloured noise and near-silence (works offline)
    negative_speech/speech_00003.wav  20-30 s passages of ordinary speech, near misses and
                               "hey <word>" sequences in every voice (embedded as streams)

Clip ``i`` of each kind depends only on (seed, i): a resumed run writes the same clips an
uninterrupted one would, keeps finished files and fills in the missing ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from threading import Event
from typing import Any

import numpy as np
import soundfile as sf

from core.audio.files import (
    SAMPLE_RATE,
    clipping_fraction,
    fit_length,
    normalize,
    prepare_clip,
    read_audio,
    resample,
    speech_bounds,
    to_mono,
    trim_silence,
    write_wav,
)
from core.audio.tts import PiperTTS, VoiceInfo, random_prosody
from core.errors import AudioError, EasyOWWError
from core.events import Progress, Reporter, StageFinished, StageStarted, check_cancel, log, null_report, warn
from core.fsutil import atomic_write_text, remove_stale_temps
from core.pipeline.p1_clips import phrases
from core.pipeline.p1_clips.sounds import sound_passage
from core.pool import run_chunks

STAGE = "clips"
PAD_SLACK = int(0.08 * SAMPLE_RATE)  # trim_silence keeps 50 ms of silence each side; 40 ms of each may go
AUDIO_EXTS = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus"})
ESPEAK_SHARE = 5  # of every 10 clips go to espeak-ng voices when Piper voices are used too
# Of every 10 negative-speech passages, this many use espeak-ng voices (when Piper voices are used too):
# espeak-ng runs ~370x real time against ~9x for Piper joe, and passages are most of the synthesis time.
SPEECH_ESPEAK_SHARE = 7
NEGATIVES_PER_POSITIVE = 1  # negative_samples 0: this many 1 s negative clips per positive
POOL_MIN_JOBS = 150  # fewer TTS jobs run in-process (workers take ~2 s to start and load voices)
MANIFEST = "real_sources.json"
_NAME_RE = re.compile(r"^(real|synth|adv|audio|noise|speech|sound|unseen|cal|calsound)_(\d+)\.wav$")
PASSAGE_SECONDS = 25.0  # average length of one negative-speech passage
AUTO_SPEECH_SECONDS_PER_POSITIVE = 6.0  # negative_speech_minutes 0: this much speech per positive clip
SOUND_SHARE = 0.15  # everyday-sound passages (chimes, beeps, clicks, music...) per negative-speech passage
# Calibration passages (the unseen-voice set) are embedded once each, clean or (for AUGMENTED_PASSAGE_SHARE of
# them, chosen by name) as their augmented copy. Training passages keep both: on the frozen "hey jarvis" test
# split, training on each passage once fell from 0.654 to 0.532 recall at <= 0.5 FA/h (one run each).
AUGMENTED_PASSAGE_SHARE = 0.6


def passage_is_augmented(name: str) -> bool:
    """Whether passage file ``name`` is used as its augmented copy (fixed by the name)."""
    return zlib.crc32(Path(name).stem.encode()) % 100 < AUGMENTED_PASSAGE_SHARE * 100


# Voices kept out of training: one (voice, speaker) pair in UNSEEN_MODULO of every multi-speaker voice
# (espeak-ng variants, speakers of multi-speaker Piper voices). The model card's "unseen voices" recall and
# the threshold come from clips in these voices only.
UNSEEN_MODULO = 6
UNSEEN_POSITIVES = 200  # at most this many wake-word clips in unseen voices (each also gets an augmented copy)
# Negative passages in unseen voices + sounds (half of them replaced by a copy in a room / over noise):
# 7.2 s per positive, at most 2 h, enough to calibrate a threshold for 0.5 false accepts per hour.
CALIBRATION_SECONDS_PER_POSITIVE = 7.2
CALIBRATION_MINUTES = 120.0
PIPER_WARP = (0.88, 1.14)  # pseudo-speakers: Piper audio resampled by this factor (vocal tract + pitch)
MAX_PASSAGE_SECONDS = 60.0
UNSEEN_DIR = "unseen"
PHRASINGS_SUFFIX = ".phrasings.json"


# ---------------------------------------------------------------------------- jobs
@dataclass(frozen=True)
class TTSJob:
    index: int
    out_path: str
    text: str
    voice: str
    speaker: int | None
    length_scale: float
    noise_scale: float
    noise_w: float
    clip_samples: int
    positive: bool
    seed: int = 0  # Piper's sampling noise
    warp: float = 1.0  # pseudo-speaker: resampling factor applied to Piper audio


def is_unseen(voice: VoiceInfo, speaker: int | None) -> bool:
    """True for the (voice, speaker) pairs kept out of training (only voices with several speakers)."""
    if voice.speakers <= 1 or speaker is None:
        return False
    return zlib.crc32(f"{voice.name}#{int(speaker) % voice.speakers}".encode()) % UNSEEN_MODULO == 0


@lru_cache(maxsize=512)
def _speaker_order(voice: VoiceInfo, seed: int, pool: str) -> tuple[int, ...]:
    rng = np.random.default_rng([seed, zlib.crc32(voice.name.encode())])
    order = (int(x) for x in rng.permutation(voice.speakers))
    return tuple(s for s in order if is_unseen(voice, s) == (pool == "unseen"))


def pool_voices(voices: Sequence[VoiceInfo], pool: str) -> list[VoiceInfo]:
    """The voices with at least one speaker in ``pool`` ("train" or "unseen")."""
    if pool == "train":
        return [v for v in voices if v.speakers <= 1 or _speaker_order(v, 0, pool)]
    return [v for v in voices if v.speakers > 1 and _speaker_order(v, 0, pool)]


def job_seed(seed: int, kind: int, index: int) -> int:
    return int(np.random.default_rng([seed, kind, index]).integers(0, 2**31 - 1))


def piper_warp(rng: np.random.Generator) -> float:
    return float(rng.uniform(*PIPER_WARP))


def voice_for_index(voices: Sequence[VoiceInfo], index: int, seed: int,
                    espeak_share: int = ESPEAK_SHARE, pool: str = "train") -> tuple[str, int | None]:
    """Voice and speaker for clip ``index``: round-robin over voices, cycling every speaker of ``pool``
    ("train": never an unseen pair; "unseen": only those).

    With Piper and espeak-ng voices mixed, ``espeak_share`` of every 10 clips use espeak-ng voices.
    """
    voices = pool_voices(voices, pool)
    if not voices:
        raise EasyOWWError("No text-to-speech voice to use. Download one with `easy-oww download-voices`.")
    piper = [v for v in voices if v.engine == "piper"]
    esp = [v for v in voices if v.engine != "piper"]
    group, k = list(voices), index
    if piper and esp:
        block, r = divmod(index, 10)
        if r < espeak_share:
            group, k = esp, block * espeak_share + r
        else:
            group, k = piper, block * (10 - espeak_share) + r - espeak_share
    v = group[k % len(group)]
    if v.speakers <= 1:
        return v.name, None
    turn = k // len(group)
    order = _speaker_order(v, seed, pool)
    return v.name, order[turn % len(order)]


def _shape_speech(x: np.ndarray, clip_samples: int, source: str) -> tuple[np.ndarray, int]:
    """Trimmed speech length and the fitted clip (AudioError when silent).

    ``clip_samples`` <= 0 keeps the whole trimmed audio (long passages), at most 60 s. Audio that overflows
    the clip only by its silence pads loses up to 40 ms of each pad instead of counting as too long.
    """
    trimmed = trim_silence(x, SAMPLE_RATE)
    if len(trimmed) < int(0.05 * SAMPLE_RATE):
        raise AudioError(f"{source}: the synthesised audio is silent.")
    if 0 < clip_samples < len(trimmed) <= clip_samples + PAD_SLACK:
        tight = speech_bounds(trimmed, SAMPLE_RATE, pad_ms=10)
        if tight is not None and tight[1] - tight[0] <= clip_samples:  # only silence overflows: centre the speech
            start = min(max(0, (tight[0] + tight[1] - clip_samples) // 2), len(trimmed) - clip_samples)
            trimmed = trimmed[start : start + clip_samples]
    if clip_samples <= 0:
        return normalize(trimmed[: int(MAX_PASSAGE_SECONDS * SAMPLE_RATE)]), len(trimmed)
    return fit_length(normalize(trimmed), clip_samples), len(trimmed)


def run_tts_job(tts: PiperTTS, job: TTSJob) -> str | None:
    """Synthesise and write one clip; return a problem message or None."""
    length = job.length_scale
    source = f"{job.voice} {job.text!r}"
    try:
        for attempt in range(3):
            audio = tts.synthesize(job.text, job.voice, job.speaker, length, job.noise_scale, job.noise_w,
                                   seed=job.seed + attempt)
            if job.warp != 1.0 and audio.size:
                audio = resample(audio, int(round(SAMPLE_RATE * job.warp)), SAMPLE_RATE)
            clip, speech = _shape_speech(audio, job.clip_samples, source)
            if not job.positive or speech <= job.clip_samples or attempt == 2:
                break
            # The wake word must fit whole: say it faster rather than cut it.
            length = max(0.45, length * job.clip_samples / speech * 0.92)
        write_wav(job.out_path, clip)
    except AudioError as exc:
        return str(exc)
    return None


_WORKER_TTS: PiperTTS | None = None


def _init_worker(voices_dir: str | None, include_bundled: bool, include_espeak: bool, langs: tuple[str, ...]) -> None:
    global _WORKER_TTS
    _WORKER_TTS = PiperTTS(voices_dir, threads=1, include_bundled=include_bundled,
                           include_espeak=include_espeak, espeak_languages=langs)


def _worker_batch(jobs: list[TTSJob]) -> list[tuple[int, str | None]]:
    assert _WORKER_TTS is not None
    return [(j.index, run_tts_job(_WORKER_TTS, j)) for j in jobs]


# ------------------------------------------------------------------------- noise
def colored_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise with unit RMS."""
    white = rng.standard_normal(n)
    if kind == "white":
        x = white
    else:
        spec = np.fft.rfft(white)
        f = np.fft.rfftfreq(n)
        f[0] = f[1] if n > 1 else 1.0
        spec /= f ** (0.5 if kind == "pink" else 1.0)
        x = np.fft.irfft(spec, n)
    x = x - x.mean()
    return (x / (np.sqrt(np.mean(x**2)) + 1e-12)).astype(np.float32)


def noise_clip(index: int, seed: int, n: int) -> np.ndarray:
    """Negative clip ``index`` of the offline fallback: coloured noise or near-silence."""
    rng = np.random.default_rng([seed, index, 31])
    kind = ("white", "pink", "brown", "silence")[int(rng.choice(4, p=[0.25, 0.3, 0.25, 0.2]))]
    if kind == "silence":
        rms_db = rng.uniform(-80, -55)
        kind = ("white", "pink")[int(rng.integers(2))]
    else:
        rms_db = rng.uniform(-45, -12)
    x = colored_noise(n, kind, rng) * 10 ** (rms_db / 20)
    return np.clip(x, -1, 1).astype(np.float32)


# -------------------------------------------------------------------- generator
def _job_digest(job: TTSJob) -> str:
    """What decides a clip's audio (not where it is written)."""
    data = asdict(job)
    data.pop("out_path")
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _read_stamp(path: Path) -> dict[int, str]:
    """Index -> job digest of the plan a folder's clips follow (empty when unknown: its clips are made again)."""
    try:
        data = json.loads(path.read_text())
        return {int(k): str(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _existing(folder: Path, prefix: str) -> dict[int, Path]:
    out = {}
    if folder.is_dir():
        for p in folder.glob(f"{prefix}_*.wav"):
            m = _NAME_RE.match(p.name)
            if m and m.group(1) == prefix:
                out[int(m.group(2))] = p
    return out


def _audio_files(folders: Iterable[Path], limit: int = 20000) -> list[Path]:
    files: list[Path] = []
    for folder in folders:
        if folder and Path(folder).is_dir():
            files += sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_EXTS
                            and p.is_file() and not p.name.startswith("."))
    return files[:limit]


class ClipGenerator:
    """Makes the project's positive and negative clips (resumable, deterministic)."""

    def __init__(
        self,
        recordings_dir: str | Path,
        clips_dir: str | Path,
        sample_rate: int = SAMPLE_RATE,
        target_duration_ms: int = 1000,
        seed: int = 0,
        workers: int | None = None,
        stage: str = STAGE,
        pronunciation: str = "",
        phrasings: Sequence[str] = (),
    ) -> None:
        if sample_rate != SAMPLE_RATE:
            raise EasyOWWError(f"sample_rate {sample_rate} is not supported; openWakeWord needs 16000 Hz.")
        self.recordings_dir = Path(recordings_dir)
        self.clips_dir = Path(clips_dir)
        self.positive_dir = self.clips_dir / "positive"
        self.negative_dir = self.clips_dir / "negative"
        self.speech_dir = self.clips_dir / "negative_speech"
        self.unseen_positive_dir = self.clips_dir / UNSEEN_DIR / "positive"
        self.unseen_negative_dir = self.clips_dir / UNSEEN_DIR / "negative"
        self.sample_rate = sample_rate
        self.target_duration_ms = int(target_duration_ms)
        self.clip_samples = int(SAMPLE_RATE * self.target_duration_ms / 1000)
        self.seed = int(seed)
        self.workers = workers
        self.stage = stage
        self.pronunciation = pronunciation
        self.phrasings = tuple(phrasings)  # other ways to say the wake word, trained into the same model
        for d in (self.positive_dir, self.negative_dir, self.speech_dir):
            d.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(d)
        remove_stale_temps(self.clips_dir)

    # ------------------------------------------------------------- real ones
    def process_real_recordings(self, report: Reporter = null_report, cancel: Event | None = None) -> dict[str, Any]:
        """Turn every recording into ``positive/real_NNNN.wav``; bad files are warned about and skipped.

        Returns ``{"total", "processed", "kept", "failed", "problems"}`` (total = real clips now present).
        """
        manifest_path = self.clips_dir / MANIFEST
        manifest = self._load_manifest(manifest_path)
        files = _audio_files([self.recordings_dir])
        rels = {p.relative_to(self.recordings_dir).as_posix(): p for p in files}
        existing = _existing(self.positive_dir, "real")
        # Forget clips whose recording is gone, and clip files not in the map (killed run).
        known = {e["clip"] for e in manifest.values()}
        for rel in [r for r in manifest if r not in rels]:
            (self.positive_dir / manifest.pop(rel)["clip"]).unlink(missing_ok=True)
        for p in existing.values():
            if p.name not in known:
                p.unlink(missing_ok=True)
        for rel, entry in list(manifest.items()):
            if not (self.positive_dir / entry["clip"]).is_file():
                manifest.pop(rel)
        next_no = 1 + max((int(_NAME_RE.match(e["clip"]).group(2)) for e in manifest.values()), default=0)
        problems: list[str] = []
        processed = kept = 0
        report(Progress(self.stage, 0, len(rels), "Processing real recordings"))
        for done, (rel, path) in enumerate(sorted(rels.items()), 1):
            check_cancel(cancel)
            st = path.stat()
            entry = manifest.get(rel)
            if entry and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
                kept += 1
                continue
            clip_name = entry["clip"] if entry else f"real_{next_no:04d}.wav"
            try:
                note = self._process_one(path, self.positive_dir / clip_name)
            except AudioError as exc:
                problems.append(str(exc))
                warn(report, f"Skipped recording: {exc}", self.stage)
                if entry:
                    (self.positive_dir / manifest.pop(rel)["clip"]).unlink(missing_ok=True)
                continue
            if note:
                warn(report, note, self.stage)
            if not entry:
                next_no += 1
            manifest[rel] = {"clip": clip_name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
            processed += 1
            if processed % 50 == 0:
                self._save_manifest(manifest_path, manifest)
            report(Progress(self.stage, done, len(rels), f"Recording {path.name}"))
        self._save_manifest(manifest_path, manifest)
        return {"total": len(manifest), "processed": processed, "kept": kept, "failed": len(problems),
                "problems": problems}

    def _process_one(self, src: Path, dst: Path) -> str | None:
        """Same as core.audio.files.process_file, plus warnings for clipping and over-long speech."""
        data, sr = read_audio(src)
        mono = resample(to_mono(data), sr, SAMPLE_RATE)
        clip = prepare_clip(mono, SAMPLE_RATE, self.clip_samples, source=str(src))
        write_wav(dst, clip)
        notes = []
        frac = clipping_fraction(mono)
        if frac > 0.001:
            notes.append(
                f"{src}: {frac:.1%} of the samples are clipped (at full scale); it was used, but record it "
                "again with lower input gain or further from the microphone for a better model."
            )
        bounds = speech_bounds(mono, SAMPLE_RATE)
        if bounds and bounds[1] - bounds[0] > self.clip_samples * 1.05:
            notes.append(
                f"{src}: the sound lasts {(bounds[1] - bounds[0]) / SAMPLE_RATE:.1f} s, longer than the "
                f"{self.target_duration_ms / 1000:.1f} s clip; only the loudest part was kept. Say just the wake "
                "word in each take (or raise clip_duration_ms)."
            )
        return " ".join(notes) or None

    def _load_manifest(self, path: Path) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            sources = data["sources"]
            return {str(k): v for k, v in sources.items()
                    if isinstance(v, dict) and _NAME_RE.match(str(v.get("clip", "")))}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def _save_manifest(self, path: Path, manifest: dict[str, dict[str, Any]]) -> None:
        atomic_write_text(path, json.dumps({"version": 1, "sources": manifest}, indent=1, sort_keys=True))

    # -------------------------------------------------------------- synthetic
    def generate_synthetic_clips(
        self,
        wake_word: str,
        voice_models: Sequence[VoiceInfo | str],
        piper: PiperTTS,
        count: int,
        report: Reporter = null_report,
        cancel: Event | None = None,
    ) -> dict[str, Any]:
        """``positive/synth_NNNNN.wav`` for i < count, spread over voices and speakers."""
        voices = self._voices(piper, voice_models)
        if not phrases.words_of(wake_word):
            raise EasyOWWError("The wake word has no letters; set wake_word in the project config.")
        res = self._synthesise_missing(self.positive_dir, "synth", count,
                                       lambda n: self.plan_synthetic_clips(wake_word, voices, n),
                                       piper, report, cancel, "Synthesising the wake word")
        self.write_phrasings(self.positive_dir, "synth", wake_word, count, 17)
        res.update(total=len(_existing(self.positive_dir, "synth")), voices=[v.name for v in voices])
        return res

    def plan_synthetic_clips(self, wake_word: str, voices: Sequence[VoiceInfo], count: int,
                             pool: str = "train", folder: Path | None = None, prefix: str = "synth",
                             kind: int = 17) -> list[TTSJob]:
        """What positive clip i will be: text, voice, speaker and prosody depend only on (seed, i)."""
        folder = folder or self.positive_dir
        by_name = {v.name: v for v in voices}
        jobs = []
        for i in range(count):
            name, spk = voice_for_index(voices, i, self.seed + (0 if pool == "train" else 5), pool=pool)
            rng = np.random.default_rng([self.seed, i, kind])
            pro = random_prosody(rng)
            warp = piper_warp(rng) if by_name[name].engine == "piper" else 1.0
            jobs.append(TTSJob(i, str(folder / f"{prefix}_{i:05d}.wav"),
                               phrases.positive_text(wake_word, self._text_seed(kind), i, self.pronunciation,
                                                     self.phrasings), name, spk,
                               pro.length_scale, pro.noise_scale, pro.noise_w, self.clip_samples, True,
                               job_seed(self.seed, kind, i), warp))
        return jobs

    def _text_seed(self, kind: int) -> int:
        return self.seed + kind - 17

    def write_phrasings(self, folder: Path, prefix: str, wake_word: str, count: int, kind: int) -> None:
        """``<folder>.<prefix>.phrasings.json`` beside ``folder``: which phrasing each positive clip says (only
        when the project has other phrasings; evaluation reports recall per phrasing from it)."""
        path = folder.parent / f"{folder.name}.{prefix}{PHRASINGS_SUFFIX}"
        if not self.phrasings:
            path.unlink(missing_ok=True)
            return
        which = {f"{prefix}_{i:05d}": phrases.positive_phrasing(wake_word, self._text_seed(kind), i, self.phrasings)
                 for i in range(count)}
        atomic_write_text(path, json.dumps(which, indent=0))

    def plan_adversarial_clips(self, wake_word: str, voices: Sequence[VoiceInfo], count: int) -> list[TTSJob]:
        """What near-miss negative clip i will be (depends only on (seed, i))."""
        by_name = {v.name: v for v in voices}
        jobs = []
        for i in range(count):
            name, spk = voice_for_index(voices, i, self.seed + 1)
            rng = np.random.default_rng([self.seed, i, 19])
            pro = random_prosody(rng)
            text = phrases.adversarial_phrase(wake_word, self.seed, i, self.phrasings)
            words = text.split()
            if len(words) > 6:  # only ~1 s is kept: speak a few consecutive words, not the whole sentence
                k = int(rng.integers(3, 6))
                start = int(rng.integers(0, len(words) - k + 1))
                text = " ".join(words[start : start + k])
            warp = piper_warp(rng) if by_name[name].engine == "piper" else 1.0
            jobs.append(TTSJob(i, str(self.negative_dir / f"adv_{i:05d}.wav"), text, name, spk,
                               pro.length_scale, pro.noise_scale, pro.noise_w, self.clip_samples, False,
                               job_seed(self.seed, 19, i), warp))
        return jobs

    def plan_speech_passages(self, wake_word: str, voices: Sequence[VoiceInfo], count: int,
                             pool: str = "train", folder: Path | None = None, prefix: str = "speech",
                             kind: int = 37) -> list[TTSJob]:
        """What negative-speech passage i will be (depends only on (seed, i))."""
        folder = folder or self.speech_dir
        by_name = {v.name: v for v in voices}
        jobs = []
        for i in range(count):
            name, spk = voice_for_index(voices, i, self.seed + 2 + (0 if pool == "train" else 5),
                                        SPEECH_ESPEAK_SHARE, pool=pool)
            rng = np.random.default_rng([self.seed, i, kind])
            pro = random_prosody(rng)
            warp = piper_warp(rng) if by_name[name].engine == "piper" else 1.0
            jobs.append(TTSJob(i, str(folder / f"{prefix}_{i:05d}.wav"),
                               phrases.negative_passage(wake_word, self.seed + kind - 37, i, home=pool == "unseen",
                                                        also=self.phrasings),
                               name, spk,
                               pro.length_scale, pro.noise_scale, pro.noise_w, 0, False,
                               job_seed(self.seed, kind, i), warp))
        return jobs

    def generate_sound_passages(self, folder: Path, prefix: str, count: int, kind: int,
                                cancel: Event | None = None) -> int:
        """``<prefix>_NNNNN.wav`` passages of everyday sounds (chimes, beeps, music...); returns how many exist."""
        existing = _existing(folder, prefix)
        self._drop_extra(existing, count)
        for i in range(count):
            check_cancel(cancel)
            if i not in existing:
                rng = np.random.default_rng([self.seed, i, kind])
                write_wav(folder / f"{prefix}_{i:05d}.wav", sound_passage(rng, PASSAGE_SECONDS))
        return count

    def generate_unseen(
        self, wake_word: str, voice_models: Sequence[VoiceInfo | str], piper: PiperTTS, n_positive: int,
        n_passages: int, report: Reporter = null_report, cancel: Event | None = None,
    ) -> dict[str, Any]:
        """The unseen-voice set: wake words (``unseen/positive``) and negative passages plus everyday sounds
        (``unseen/negative``) in voices kept out of training. Empty when no voice has an unseen speaker."""
        voices = pool_voices(self._voices(piper, voice_models), "unseen")
        if not voices:
            n_positive = n_passages = 0
        self.unseen_positive_dir.mkdir(parents=True, exist_ok=True)
        self.unseen_negative_dir.mkdir(parents=True, exist_ok=True)
        pos = self._synthesise_missing(
            self.unseen_positive_dir, "unseen", n_positive,
            lambda n: self.plan_synthetic_clips(wake_word, voices, n, "unseen", self.unseen_positive_dir,
                                                "unseen", 53),
            piper, report, cancel, "Synthesising the wake word in unseen voices")
        self.write_phrasings(self.unseen_positive_dir, "unseen", wake_word, n_positive, 53)
        n_sound = int(round(n_passages * 0.2)) if n_passages else 0
        neg = self._synthesise_missing(
            self.unseen_negative_dir, "cal", n_passages - n_sound,
            lambda n: self.plan_speech_passages(wake_word, voices, n, "unseen", self.unseen_negative_dir, "cal", 59),
            piper, report, cancel, "Synthesising calibration speech in unseen voices")
        self.generate_sound_passages(self.unseen_negative_dir, "calsound", n_sound, 61, cancel)
        files = list(self.unseen_negative_dir.glob("*.wav"))
        seconds = sum(sf.info(str(p)).frames for p in files) / SAMPLE_RATE
        return {"voices": sorted({f"{v.name}" for v in voices}), "positives": len(_existing(
            self.unseen_positive_dir, "unseen")), "negative_minutes": round(seconds / 60, 1),
            "failed": pos["failed"] + neg["failed"]}

    def generate_negative_speech(
        self,
        wake_word: str,
        voice_models: Sequence[VoiceInfo | str],
        piper: PiperTTS,
        count: int,
        report: Reporter = null_report,
        cancel: Event | None = None,
    ) -> dict[str, Any]:
        """``negative_speech/speech_NNNNN.wav`` for i < count: long passages in every voice."""
        voices = self._voices(piper, voice_models)
        res = self._synthesise_missing(self.speech_dir, "speech", count,
                                       lambda n: self.plan_speech_passages(wake_word, voices, n),
                                       piper, report, cancel, "Synthesising negative speech")
        n_sound = self.generate_sound_passages(self.speech_dir, "sound", int(round(count * SOUND_SHARE)), 43, cancel)
        files = _existing(self.speech_dir, "speech")
        seconds = sum(sf.info(str(p)).frames for p in files.values()) / SAMPLE_RATE
        res.update(total=len(files), seconds=round(seconds, 1), sound_passages=n_sound)
        return res

    # --------------------------------------------------------------- negative
    def generate_negative_clips(
        self,
        wake_word: str,
        piper: PiperTTS | None,
        count: int,
        negatives_dir: str | Path | Sequence[str | Path] | None = None,
        voice_models: Sequence[VoiceInfo | str] | None = None,
        report: Reporter = null_report,
        cancel: Event | None = None,
    ) -> dict[str, Any]:
        """Negatives: adversarial TTS phrases, pieces of negative audio, coloured noise.

        Without TTS voices or negative audio, everything falls back to generated noise.
        """
        folders = [] if negatives_dir is None else (
            [negatives_dir] if isinstance(negatives_dir, str | Path) else list(negatives_dir))
        sources = _audio_files([Path(f) for f in folders])
        voices: list[VoiceInfo] = []
        if piper is not None:
            voices = self._voices(piper, voice_models if voice_models is not None else piper.list_voices())
        n_noise = max(1, round(count * 0.1)) if count else 0
        n_audio = round(count * 0.25) if sources else 0
        if not voices:
            n_audio = round(count * 0.6) if sources else 0
        n_audio = min(n_audio, count - n_noise)
        n_adv = count - n_noise - n_audio if voices else 0
        n_noise = count - n_adv - n_audio
        total = count
        done_before = 0
        # (a) adversarial phrases
        res = self._synthesise_missing(self.negative_dir, "adv", n_adv,
                                       lambda n: self.plan_adversarial_clips(wake_word, voices, n),
                                       piper, report, cancel, "Synthesising near-miss phrases", total)
        done_before += n_adv
        # (b) pieces of negative audio
        a_res = self._audio_negatives(sources, n_audio, report, cancel, done_before, total)
        done_before += n_audio
        # (c) noise and near-silence
        existing = _existing(self.negative_dir, "noise")
        self._drop_extra(existing, n_noise)
        made = 0
        for i in range(n_noise):
            check_cancel(cancel)
            if i not in existing:
                write_wav(self.negative_dir / f"noise_{i:04d}.wav", noise_clip(i, self.seed, self.clip_samples))
                made += 1
            if i % 50 == 0 or i == n_noise - 1:
                report(Progress(self.stage, done_before + i + 1, total, "Generating noise negatives"))
        return {
            "adversarial": n_adv, "audio": n_audio, "noise": n_noise,
            "created": res["created"] + a_res["created"] + made,
            "failed": res["failed"] + a_res["failed"],
            "problems": res["problems"] + a_res["problems"],
            "total": sum(len(_existing(self.negative_dir, k)) for k in ("adv", "audio", "noise")),
            "voices": [v.name for v in voices], "audio_sources": len(sources),
        }

    def _audio_negatives(
        self, sources: list[Path], n: int, report: Reporter, cancel: Event | None, offset: int, total: int
    ) -> dict[str, Any]:
        existing = _existing(self.negative_dir, "audio")
        self._drop_extra(existing, n)
        bad: dict[Path, str] = {}
        made = 0
        for i in range(n):
            check_cancel(cancel)
            if i in existing:
                continue
            rng = np.random.default_rng([self.seed, i, 23])
            clip = None
            for _ in range(6):
                usable = [p for p in sources if p not in bad]
                if not usable:
                    break
                path = usable[int(rng.integers(len(usable)))]
                try:
                    clip = self._segment(path, rng)
                except (AudioError, sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
                    bad[path] = f"{path}: cannot be read ({str(exc)[:120]}); skipped."
                    warn(report, bad[path], self.stage)
                    continue
                if clip is not None:
                    break
            if clip is None:  # only silent or unreadable audio: fall back to noise
                clip = noise_clip(10_000_000 + i, self.seed, self.clip_samples)
            write_wav(self.negative_dir / f"audio_{i:05d}.wav", clip)
            made += 1
            if i % 20 == 0 or i == n - 1:
                report(Progress(self.stage, offset + i + 1, total, "Cutting negative audio"))
        return {"created": made, "failed": len(bad), "problems": list(bad.values())}

    def _segment(self, path: Path, rng: np.random.Generator) -> np.ndarray | None:
        """A random clip-long piece of ``path`` (None if that piece is silent)."""
        info = sf.info(str(path))
        if info.frames <= 0:
            raise AudioError(f"{path}: holds no audio")
        need = int(np.ceil(self.clip_samples * info.samplerate / SAMPLE_RATE)) + 64
        start = int(rng.integers(0, max(1, info.frames - need)))
        data, sr = sf.read(str(path), start=start, frames=need, dtype="float32", always_2d=False)
        x = resample(to_mono(data), int(sr), SAMPLE_RATE)
        if not np.all(np.isfinite(x)):
            raise AudioError(f"{path}: contains NaN samples")
        x = fit_length(x, self.clip_samples, align="random", rng=rng)
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
        if rms < 10 ** (-55 / 20):
            return None
        return normalize(x, peak_dbfs=float(rng.uniform(-12, -1)))

    # ----------------------------------------------------------------- shared
    def _voices(self, piper: PiperTTS, voice_models: Sequence[VoiceInfo | str]) -> list[VoiceInfo]:
        names = [v if isinstance(v, str) else v.name for v in voice_models]
        return piper.resolve(names)

    def _drop_extra(self, existing: dict[int, Path], count: int) -> None:
        """Remove clips beyond ``count`` (the config asks for fewer now)."""
        for i in [i for i in existing if i >= count]:
            existing.pop(i).unlink(missing_ok=True)

    def _pool_size(self, n_jobs: int, long: bool = False) -> int:
        if self.workers is not None:
            return max(1, int(self.workers))
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        # A passage takes ~25x as long as a 1 s clip: a pool pays off for far fewer of them.
        return min(2, cpus) if n_jobs * (25 if long else 1) >= POOL_MIN_JOBS else 1

    def _synthesise_missing(
        self, folder: Path, prefix: str, count: int, plan: Callable[[int], list[TTSJob]], piper: PiperTTS | None,
        report: Reporter, cancel: Event | None, message: str, total: int | None = None,
    ) -> dict[str, Any]:
        """Synthesise ``<prefix>_NNNNN`` files i < ``count`` that are missing (``plan(count)`` says what each
        is); files from i >= ``count`` are removed. ``_run_jobs``' result plus ``kept``."""
        existing = _existing(folder, prefix)
        self._drop_extra(existing, count)
        planned = plan(count)
        digests = {j.index: _job_digest(j) for j in planned}
        stamp = folder.parent / f"{folder.name}.{prefix}.plan.json"  # beside the folder: it holds audio only
        made = _read_stamp(stamp)
        for i in [i for i in existing if made.get(i) != digests.get(i)]:
            # made for another text, voice or setting (or by a version that kept no stamp): make it again
            existing.pop(i).unlink(missing_ok=True)
        # Stamped before synthesis: every file that exists from now on follows this plan (even after a kill).
        atomic_write_text(stamp, json.dumps({str(i): d for i, d in digests.items()}))
        jobs = [j for j in planned if j.index not in existing]
        res = self._run_jobs(jobs, piper, report, cancel, message, count - len(jobs), total or count)
        res["kept"] = count - len(jobs)
        return res

    def _run_jobs(
        self, jobs: list[TTSJob], piper: PiperTTS | None, report: Reporter, cancel: Event | None,
        message: str, done0: int, total: int,
    ) -> dict[str, Any]:
        problems: list[str] = []
        created = 0
        if not jobs:
            return {"created": 0, "failed": 0, "problems": []}
        assert piper is not None
        workers = self._pool_size(len(jobs), long=jobs[0].clip_samples <= 0)
        done = done0
        report(Progress(self.stage, done, total, message))

        def note(results: list[tuple[int, str | None]]) -> None:
            nonlocal created, done
            for _, err in results:
                done += 1
                if err:
                    problems.append(err)
                else:
                    created += 1
            report(Progress(self.stage, done, total, message))

        if workers <= 1:
            for j in jobs:
                check_cancel(cancel)
                note([(j.index, run_tts_job(piper, j))])
        else:
            self._run_pool(jobs, piper, workers, cancel, note)
        if problems:
            warn(report, f"{len(problems)} clip(s) could not be synthesised, e.g. {problems[0]}", self.stage)
        if jobs and created == 0:
            raise EasyOWWError(f"Text-to-speech produced no usable audio ({problems[0] if problems else '?'}).")
        return {"created": created, "failed": len(problems), "problems": problems[:20]}

    def _run_pool(self, jobs: list[TTSJob], piper: PiperTTS, workers: int, cancel: Event | None, note: Any) -> None:
        for v in {j.voice for j in jobs}:  # fail fast (clear message) before starting workers
            if piper.get_voice(v).engine == "piper":
                piper.load(v)
        batch = 12 if jobs[0].clip_samples > 0 else 1
        chunks = [jobs[k : k + batch] for k in range(0, len(jobs), batch)]
        args = (str(piper.voices_dir) if piper.voices_dir else None, piper.include_bundled,
                piper.include_espeak, piper.espeak_languages)
        run_chunks(_worker_batch, chunks, note, workers, cancel, _init_worker, args)

    # ------------------------------------------------------------------ checks
    def get_clip_counts(self) -> dict[str, int]:
        counts = {f"positive_{k}": len(_existing(self.positive_dir, k)) for k in ("real", "synth")}
        counts.update({f"negative_{k}": len(_existing(self.negative_dir, k)) for k in ("adv", "audio", "noise")})
        counts["negative_speech"] = len(_existing(self.speech_dir, "speech"))
        counts["negative_sounds"] = len(_existing(self.speech_dir, "sound"))
        counts["unseen_positive"] = len(_existing(self.unseen_positive_dir, "unseen"))
        counts["positive"] = counts["positive_real"] + counts["positive_synth"]
        counts["negative"] = counts["negative_adv"] + counts["negative_audio"] + counts["negative_noise"]
        return counts

    def verify_clips(self) -> dict[str, Any]:
        """Check every clip is readable 16 kHz mono 16-bit PCM of the right length."""
        bad: list[str] = []
        checked = 0
        for folder in (self.positive_dir, self.negative_dir):
            for p in sorted(folder.glob("*.wav")):
                checked += 1
                try:
                    info = sf.info(str(p))
                except (sf.LibsndfileError, RuntimeError, OSError) as exc:
                    bad.append(f"{p}: unreadable ({str(exc)[:80]})")
                    continue
                want = (SAMPLE_RATE, 1, "PCM_16", self.clip_samples)
                got = (info.samplerate, info.channels, info.subtype, info.frames)
                if got != want:
                    bad.append(f"{p}: {got[0]} Hz, {got[1]} ch, {got[2]}, {got[3]} samples; expected "
                               f"{want[0]} Hz mono PCM_16 with {want[3]} samples")
        return {"checked": checked, "ok": not bad, "bad": bad}


def load_phrasings(clips_dir: Path) -> dict[str, str]:
    """Source clip id (``synth_00012``, ``unseen_00012``) -> the phrasing it says, for projects with several."""
    out: dict[str, str] = {}
    for path in sorted(Path(clips_dir).rglob(f"*{PHRASINGS_SUFFIX}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # rewritten by the next clips phase
        if isinstance(data, dict):
            out.update({str(k): str(v) for k, v in data.items()})
    return out


# ----------------------------------------------------------------------- phase
def speech_minutes(cfg: Any, n_positive: int) -> float:
    """Minutes of negative speech to synthesise (``negative_speech_minutes``; 0 = 4 s per positive)."""
    minutes = float(getattr(cfg, "negative_speech_minutes", 0.0) or 0.0)
    if minutes <= 0:
        minutes = n_positive * AUTO_SPEECH_SECONDS_PER_POSITIVE / 60.0
    return minutes


def speech_passages(cfg: Any, n_positive: int) -> int:
    """How many ~25 s negative-speech passages make ``speech_minutes``."""
    return max(1, int(round(speech_minutes(cfg, n_positive) * 60.0 / PASSAGE_SECONDS)))


def run_clip_phase(project: Any, cfg: Any, report: Reporter = null_report, cancel: Event | None = None,
                   **kw: Any) -> dict[str, Any]:
    """Phase "clips": real recordings, synthetic positives and negatives for ``project``."""
    t0 = time.monotonic()
    ws = project.workspace
    report(StageStarted(STAGE, None, f"Making clips for {cfg.wake_word!r}"))
    try:
        piper = kw.get("piper") or PiperTTS(ws.voices_dir, threads=2)
        voices = piper.resolve(list(cfg.voices)) if cfg.voices else piper.list_voices()
        if not voices:
            raise EasyOWWError(
                "No text-to-speech voice is installed. Reinstall easy-oww (it bundles en_US-joe-medium) or "
                "download a voice with `easy-oww download-voices`."
            )
        if len(voices) < cfg.min_voices:
            warn(report, f"Only {len(voices)} voice(s) available (min_voices is {cfg.min_voices}). More voices "
                 "make a more robust model: `easy-oww download-voices` (the multi-speaker en_US-libritts_r-medium first; `easy-oww train --get-voice` fetches it).", STAGE)
        gen = ClipGenerator(project.recordings_dir(cfg), project.clips_dir(cfg), cfg.sample_rate,
                            cfg.clip_duration_ms, seed=cfg.seed, workers=kw.get("workers"),
                            pronunciation=cfg.pronunciation, phrasings=cfg.phrasings)
        real = gen.process_real_recordings(report, cancel)
        n_real = real["total"]
        if n_real < cfg.real_samples:
            warn(report, f"Only found {n_real} real recordings (expected {cfg.real_samples}). Record more with "
                 f"`easy-oww record {project.name}`; real voices make the model work better for you.", STAGE)
        n_synth = max(0, cfg.target_samples - n_real)
        if n_real == 0:
            n_synth = max(n_synth, cfg.synthetic_samples)
        log(report, f"{n_real} real + {n_synth} synthetic positives; voices: {', '.join(v.name for v in voices)}",
            STAGE)
        synth = gen.generate_synthetic_clips(cfg.wake_word, voices, piper, n_synth, report, cancel)
        n_pos = n_real + n_synth
        n_neg = cfg.negative_samples or NEGATIVES_PER_POSITIVE * n_pos
        if n_neg < n_pos:
            warn(report, f"negative_samples is {n_neg}, fewer than the {n_pos} positives; models trained with "
                 "fewer negatives than positives fire too often. Set it to 0 (automatic: as many as positives, plus "
                 "the negative-speech passages).", STAGE)
        neg = gen.generate_negative_clips(cfg.wake_word, piper, n_neg,
                                          [ws.negative_audio_dir, project.negative_recordings_dir],
                                          voices, report, cancel)
        n_speech = speech_passages(cfg, n_pos)
        speech = gen.generate_negative_speech(cfg.wake_word, voices, piper, n_speech, report, cancel)
        cal_seconds = min(CALIBRATION_MINUTES * 60, n_pos * CALIBRATION_SECONDS_PER_POSITIVE)
        unseen = gen.generate_unseen(cfg.wake_word, voices, piper, min(UNSEEN_POSITIVES, max(50, n_pos // 5)),
                                     max(1, int(round(cal_seconds / PASSAGE_SECONDS))), report, cancel)
        if not unseen["voices"]:
            warn(report, "No voice has speakers to keep out of training, so recall on unseen voices cannot be "
                 "measured (install espeakng-loader or download a multi-speaker Piper voice).", STAGE)
        else:
            log(report, f"Unseen voices (never trained on): {unseen['positives']} wake-word clips and "
                f"{unseen['negative_minutes']} min of speech and sounds for the threshold", STAGE)
        check = gen.verify_clips()
        if not check["ok"]:
            raise EasyOWWError(f"{len(check['bad'])} clip(s) are damaged, e.g. {check['bad'][0]}. Delete them and "
                               "run the clip step again.")
    except BaseException as exc:
        report(StageFinished(STAGE, False, str(exc), time.monotonic() - t0))
        raise
    counts = gen.get_clip_counts()
    summary = {
        "real": n_real, "real_failed": real["failed"], "real_problems": real["problems"],
        "synthetic": synth["total"], "synthetic_created": synth["created"],
        "negatives": counts["negative"], "negatives_created": neg["created"],
        "negative_split": {"adversarial": neg["adversarial"], "audio": neg["audio"], "noise": neg["noise"]},
        "negative_speech_passages": speech["total"], "negative_speech_minutes": round(speech["seconds"] / 60, 1),
        "sound_passages": speech["sound_passages"], "unseen": unseen,
        "voices": synth["voices"], "counts": counts, "seconds": round(time.monotonic() - t0, 2),
    }
    msg = f"{counts['positive']} positive and {counts['negative']} negative clips"
    report(StageFinished(STAGE, True, msg, time.monotonic() - t0))
    return summary


__all__ = ["ClipGenerator", "TTSJob", "run_clip_phase", "voice_for_index", "noise_clip", "colored_noise",
           "speech_minutes", "speech_passages"]
