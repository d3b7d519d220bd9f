"""What each synthesised clip will be (a TTSJob: text, voice, speaker, prosody, seed), which voice and speaker clip i gets, and the worker that synthesises a job.

Clip i of each kind depends only on (seed, i), so a resumed run makes the same clips."""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.audio.files import (
    SAMPLE_RATE,
    fit_length,
    normalize,
    resample,
    speech_bounds,
    trim_silence,
    write_wav,
)
from core.audio.tts import PiperTTS, VoiceInfo
from core.audio.vocoder import SexSwap, VoiceShift, log_uniform, swap_sex, vocode
from core.errors import AudioError, EasyOWWError

PAD_SLACK = int(0.08 * SAMPLE_RATE)  # trim_silence keeps 50 ms of silence each side; 40 ms of each may go


ESPEAK_SHARE = 5  # of every 10 clips go to espeak-ng voices when Piper voices are used too


# Of every 10 negative-speech passages, this many use espeak-ng voices (when Piper voices are used too):
# espeak-ng runs ~370x real time against ~9x for Piper joe, and passages are most of the synthesis time.
SPEECH_ESPEAK_SHARE = 7


POOL_MIN_JOBS = 150  # fewer TTS jobs run in-process (workers take ~2 s to start and load voices)


_NAME_RE = re.compile(r"^(real|synth|adv|audio|noise|speech|sound|unseen|cal|calsound)_(\d+)\.wav$")


# Voices kept out of training: one (voice, speaker) pair in UNSEEN_MODULO of every multi-speaker voice
# (espeak-ng variants, speakers of multi-speaker Piper voices). The model card's "unseen voices" recall and
# the threshold come from clips in these voices only.
UNSEEN_MODULO = 6


PIPER_WARP = (0.88, 1.14)  # pseudo-speakers: Piper audio resampled by this factor (vocal tract + pitch)

# Calibration speech (the unseen-voice set's negatives) in single-speaker Piper voices too: CALIBRATION_PIPER_SHARE of
# every 10 passages, re-voiced by the vocoder as pseudo-speakers training never used (pitch and formants moved apart,
# off both training's resampling warp, where they move together, and its other-sex swap; CALIBRATION_PITCH/FORMANT).
# Formant voices alone under-predict what a natural voice's everyday words do: an alexa model fired on "next",
# "excellent", "extra" said by joe or by other engines' recorded-speech voices, never by the held-out espeak-ng
# voices, so its threshold from espeak-ng alone let 31 false accepts per hour through on the benchmark
# (bench/README.md, session 20).
CALIBRATION_PITCH = (0.72, 1.45)
CALIBRATION_FORMANT = (0.86, 1.12)
CALIBRATION_APART = 1.12  # pitch and formant ratios differ by at least this factor
CALIBRATION_PIPER_SHARE = 3

# Share of the training pool's Piper clips (positives, near misses, negative speech) re-made by the vocoder as a
# pseudo-speaker of the other sex (core/audio/vocoder.swap_sex): offline, the only Piper voice is a male one.
# Development benchmark (alexa, 5 heads on fixed features): recall averaged over <= 0.25-2 false accepts/h
# 0.497 -> 0.545; its two held-out female voices 0.07 -> 0.20 and 0.19 -> 0.35 (bench/README.md, session 8).
SEX_SWAP_SHARE = 0.5


MAX_PASSAGE_SECONDS = 60.0


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
    swap: SexSwap | None = None  # pseudo-speaker of the other sex (vocoded), or None
    shift: VoiceShift | None = None  # calibration pseudo-speaker (vocoded), or None


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


def calibration_shift(rng: np.random.Generator) -> VoiceShift:
    """A calibration pseudo-speaker (see CALIBRATION_PITCH): pitch and formants moved apart."""
    while True:
        pitch, formant = log_uniform(rng, *CALIBRATION_PITCH), log_uniform(rng, *CALIBRATION_FORMANT)
        if abs(np.log(pitch / formant)) >= np.log(CALIBRATION_APART):
            return VoiceShift(pitch, float(rng.uniform(0.6, 1.4)), formant, float(rng.uniform(0.03, 0.3)))


def calibration_pseudo_voices(voices: Sequence[VoiceInfo]) -> list[VoiceInfo]:
    """Single-speaker Piper voices, whose calibration passages are spoken by vocoded pseudo-speakers."""
    return [v for v in voices if v.engine == "piper" and v.speakers <= 1]


def job_seed(seed: int, kind: int, index: int) -> int:
    return int(np.random.default_rng([seed, kind, index]).integers(0, 2**31 - 1))


def piper_warp(rng: np.random.Generator) -> float:
    return float(rng.uniform(*PIPER_WARP))


def sex_swap(seed: int, kind: int, index: int) -> SexSwap | None:
    """The other-sex pseudo-speaker of clip ``index`` of ``kind`` (a share ``SEX_SWAP_SHARE`` gets one), drawn
    from its own random stream so the clip's other choices do not depend on it."""
    rng = np.random.default_rng([seed, kind, index, 71])
    return SexSwap.draw(rng) if rng.random() < SEX_SWAP_SHARE else None


def pseudo_speaker(voice: VoiceInfo, rng: np.random.Generator, seed: int, kind: int, index: int,
                   train: bool = True) -> tuple[float, SexSwap | None]:
    """(resampling warp, other-sex swap) of clip ``index`` of ``kind``: Piper clips get a warp (drawn from
    ``rng``) and, in the training pool, a share get a swap; other engines get (1.0, None)."""
    if voice.engine != "piper":
        return 1.0, None
    return piper_warp(rng), sex_swap(seed, kind, index) if train else None


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
            if job.swap is not None and audio.size:
                audio = swap_sex(audio, job.swap, np.random.default_rng(job.seed + attempt))
            if job.shift is not None and audio.size:
                audio = vocode(audio, job.shift, np.random.default_rng(job.seed + attempt))
            clip, speech = _shape_speech(audio, job.clip_samples, source)
            if not job.positive or job.clip_samples <= 0 or speech <= job.clip_samples or attempt == 2:
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


# -------------------------------------------------------------------- generator
def _job_digest(job: TTSJob) -> str:
    """What decides a clip's audio (not where it is written)."""
    data = asdict(job)
    data.pop("out_path")
    for key in ("swap", "shift"):  # clips planned before these pseudo-speakers keep their digest
        if data[key] is None:
            data.pop(key)
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
