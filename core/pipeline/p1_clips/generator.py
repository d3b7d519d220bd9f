"""ClipGenerator: makes every kind of clip a project trains on (the layout is in the package docstring)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from threading import Event
from typing import Any

import numpy as np
import soundfile as sf

from core.audio.files import (
    SAMPLE_RATE,
    audio_files,
    fit_length,
    normalize,
    resample,
    to_mono,
    write_wav,
)
from core.audio.tts import PiperTTS, VoiceInfo, random_prosody
from core.errors import AudioError, EasyOWWError
from core.events import Progress, Reporter, check_cancel, null_report, warn
from core.fsutil import atomic_write_text, remove_stale_temps
from core.pipeline.p1_clips import passages, phrases
from core.pipeline.p1_clips.everyday_text import ASSISTANT_COMMANDS
from core.pipeline.p1_clips.noise import noise_clip
from core.pipeline.p1_clips.real_recordings import RealRecordings
from core.pipeline.p1_clips.sounds import sound_passage
from core.pipeline.p1_clips.synthesis import Synthesiser
from core.pipeline.p1_clips.tts_jobs import (
    CALIBRATION_PIPER_SHARE,
    SPEECH_ESPEAK_SHARE,
    TTSJob,
    _existing,
    calibration_pseudo_voices,
    calibration_shift,
    job_seed,
    pool_voices,
    pseudo_speaker,
    voice_for_index,
)

PHASE = "clips"
PASSAGE_SECONDS = 25.0  # average length of one negative-speech passage
SOUND_SHARE = 0.15  # everyday-sound passages (chimes, beeps, clicks, music...) per negative-speech passage
# Calibration passages (the unseen-voice set) are embedded once each, clean or (for AUGMENTED_PASSAGE_SHARE of
# them, chosen by name) as their augmented copy. Training passages keep both: on the frozen "hey jarvis" test
# split, training on each passage once fell from 0.654 to 0.532 recall at <= 0.5 FA/h (one run each).
AUGMENTED_PASSAGE_SHARE = 0.6


def passage_is_augmented(name: str) -> bool:
    """Whether passage file ``name`` is used as its augmented copy (fixed by the name)."""
    return zlib.crc32(Path(name).stem.encode()) % 100 < AUGMENTED_PASSAGE_SHARE * 100


UNSEEN_DIR = "unseen"
PHRASINGS_SUFFIX = ".phrasings.json"
UNSEEN_COMMAND_SHARE = 0.3  # unseen-voice wake words followed by a command ("hey jarvis, stop the music")


def unseen_command(seed: int, index: int) -> str | None:
    """The command said after unseen-voice wake word ``index``, or None (the wake word alone)."""
    rng = np.random.default_rng([seed, index, 67])
    if rng.random() >= UNSEEN_COMMAND_SHARE:
        return None
    return ASSISTANT_COMMANDS[int(rng.integers(len(ASSISTANT_COMMANDS)))]


class ClipGenerator(RealRecordings, Synthesiser):
    """Makes the project's positive and negative clips (resumable, deterministic)."""

    def __init__(
        self,
        recordings_dir: str | Path,
        clips_dir: str | Path,
        sample_rate: int = SAMPLE_RATE,
        target_duration_ms: int = 1000,
        seed: int = 0,
        workers: int | None = None,
        phase: str = PHASE,
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
        self.phase = phase
        self.pronunciation = pronunciation
        self.phrasings = tuple(phrasings)  # other ways to say the wake word, trained into the same model
        for d in (self.positive_dir, self.negative_dir, self.speech_dir):
            d.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(d)
        remove_stale_temps(self.clips_dir)


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
            warp, swap = pseudo_speaker(by_name[name], rng, self.seed, kind, i, train=pool == "train")
            text = phrases.positive_text(wake_word, self._text_seed(kind), i, self.pronunciation, self.phrasings)
            samples = self.clip_samples
            command = unseen_command(self.seed, i) if pool == "unseen" else None
            if command:  # said in one breath with what follows: the whole utterance is kept
                text, samples = f"{text.rstrip('.!?')}, {command}.", 0
            jobs.append(TTSJob(i, str(folder / f"{prefix}_{i:05d}.wav"), text, name, spk,
                               pro.length_scale, pro.noise_scale, pro.noise_w, samples, True,
                               job_seed(self.seed, kind, i), warp, swap))
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
        """What adversarial negative clip i will be (depends only on (seed, i))."""
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
            warp, swap = pseudo_speaker(by_name[name], rng, self.seed, 19, i)
            jobs.append(TTSJob(i, str(self.negative_dir / f"adv_{i:05d}.wav"), text, name, spk,
                               pro.length_scale, pro.noise_scale, pro.noise_w, self.clip_samples, False,
                               job_seed(self.seed, 19, i), warp, swap))
        return jobs

    def plan_speech_passages(self, wake_word: str, voices: Sequence[VoiceInfo], count: int,
                             pool: str = "train", folder: Path | None = None, prefix: str = "speech",
                             kind: int = 37, pseudo: Sequence[VoiceInfo] = ()) -> list[TTSJob]:
        """What negative-speech passage i will be (depends only on (seed, i)). ``pseudo``: single-speaker Piper
        voices that speak CALIBRATION_PIPER_SHARE of every 10 passages as vocoded pseudo-speakers (calibration)."""
        folder = folder or self.speech_dir
        by_name = {v.name: v for v in (*voices, *pseudo)}
        jobs = []
        for i in range(count):
            name, spk = voice_for_index(voices, i, self.seed + 2 + (0 if pool == "train" else 5),
                                        SPEECH_ESPEAK_SHARE, pool=pool)
            rng = np.random.default_rng([self.seed, i, kind])
            pro = random_prosody(rng)
            warp, swap = pseudo_speaker(by_name[name], rng, self.seed, kind, i, train=pool == "train")
            shift = None
            if pseudo and i % 10 < CALIBRATION_PIPER_SHARE:
                name, spk, warp, swap = pseudo[(i // 10) % len(pseudo)].name, None, 1.0, None
                shift = calibration_shift(np.random.default_rng([self.seed, i, kind, 83]))
            jobs.append(TTSJob(i, str(folder / f"{prefix}_{i:05d}.wav"),
                               passages.negative_passage(wake_word, self.seed + kind - 37, i, home=pool == "unseen",
                                                        also=self.phrasings),
                               name, spk,
                               pro.length_scale, pro.noise_scale, pro.noise_w, 0, False,
                               job_seed(self.seed, kind, i), warp, swap, shift))
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
        (``unseen/negative``) in voices kept out of training (and, for a share of the passages, single-speaker Piper
        voices as pseudo-speakers training never used). Empty when no voice has an unseen speaker."""
        every_voice = self._voices(piper, voice_models)
        voices = pool_voices(every_voice, "unseen")
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
            lambda n: self.plan_speech_passages(wake_word, voices, n, "unseen", self.unseen_negative_dir, "cal", 59,
                                                calibration_pseudo_voices(every_voice)),
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
        sources = audio_files(folders, limit=20000)
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
                                       piper, report, cancel, "Synthesising adversarial phrases", total)
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
                report(Progress(self.phase, done_before + i + 1, total, "Generating noise negatives"))
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
                    warn(report, bad[path], self.phase)
                    continue
                if clip is not None:
                    break
            if clip is None:  # only silent or unreadable audio: fall back to noise
                clip = noise_clip(10_000_000 + i, self.seed, self.clip_samples)
            write_wav(self.negative_dir / f"audio_{i:05d}.wav", clip)
            made += 1
            if i % 20 == 0 or i == n - 1:
                report(Progress(self.phase, offset + i + 1, total, "Cutting negative audio"))
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
