"""The clips phase: real recordings, synthetic wake words, near misses, negative speech and sounds, and the unseen-voice set, in the amounts the settings ask for."""

from __future__ import annotations

import json
import time
from pathlib import Path
from threading import Event
from typing import Any

from core.audio.tts import PiperTTS
from core.errors import EasyOWWError
from core.events import PhaseFinished, PhaseStarted, Reporter, log, null_report, warn
from core.pipeline.p1_clips.generator import PASSAGE_SECONDS, PHASE, PHRASINGS_SUFFIX, ClipGenerator

NEGATIVES_PER_POSITIVE = 1  # negative_samples 0: this many 1 s negative clips per positive


# negative_speech_minutes 0: this much speech per positive clip (100 minutes for the default 1,000 positives).
# Dev split, alexa, same recipe otherwise, single heads: 200 minutes scored 0.508 (5 seeds, sd 0.053) against
# 0.497 (5 seeds, sd 0.041) in recall averaged over <= 0.25/0.5/1/2 false accepts per hour: within the noise,
# for ~3.5 more minutes end to end and more memory, so the default stays at 100.
AUTO_SPEECH_SECONDS_PER_POSITIVE = 6.0


UNSEEN_POSITIVES = 200  # at most this many wake-word clips in unseen voices (each also gets an augmented copy)


# Negative passages in unseen voices + sounds (half of them replaced by a copy in a room / over noise):
# 8.4 s per positive, at most 140 min, to calibrate a threshold for 0.5 false accepts per hour on at least 2 h
# (passages come out a little shorter than planned; under 2 h a single false accept is already over 0.5 per hour,
# and the threshold would jump to wherever none is left).
CALIBRATION_SECONDS_PER_POSITIVE = 8.4


CALIBRATION_MINUTES = 140.0


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
    """Minutes of negative speech to synthesise (``negative_speech_minutes``; 0 = 6 s per positive)."""
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
    report(PhaseStarted(PHASE, None, f"Making clips for {cfg.wake_word!r}"))
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
                 "make a more robust model: `easy-oww download-voices` (the multi-speaker en_US-libritts_r-medium first; `easy-oww train --get-voice` fetches it).", PHASE)
        gen = ClipGenerator(project.recordings_dir(cfg), project.clips_dir(cfg), cfg.sample_rate,
                            cfg.clip_duration_ms, seed=cfg.seed, workers=kw.get("workers"),
                            pronunciation=cfg.pronunciation, phrasings=cfg.phrasings)
        real = gen.process_real_recordings(report, cancel)
        n_real = real["total"]
        if n_real < cfg.real_samples:
            warn(report, f"Only found {n_real} real recordings (expected {cfg.real_samples}). Record more with "
                 f"`easy-oww record {project.name}`; real voices make the model work better for you.", PHASE)
        n_synth = max(0, cfg.target_samples - n_real)
        if n_real == 0:
            n_synth = max(n_synth, cfg.synthetic_samples)
        log(report, f"{n_real} real + {n_synth} synthetic positives; voices: {', '.join(v.name for v in voices)}",
            PHASE)
        synth = gen.generate_synthetic_clips(cfg.wake_word, voices, piper, n_synth, report, cancel)
        n_pos = n_real + n_synth
        n_neg = cfg.negative_samples or NEGATIVES_PER_POSITIVE * n_pos
        if n_neg < n_pos:
            warn(report, f"negative_samples is {n_neg}, fewer than the {n_pos} positives; models trained with "
                 "fewer negatives than positives fire too often. Set it to 0 (automatic: as many as positives, plus "
                 "the negative-speech passages).", PHASE)
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
                 "measured (install espeakng-loader or download a multi-speaker Piper voice).", PHASE)
        else:
            log(report, f"Unseen voices (never trained on): {unseen['positives']} wake-word clips and "
                f"{unseen['negative_minutes']} min of speech and sounds for the threshold", PHASE)
        check = gen.verify_clips()
        if not check["ok"]:
            raise EasyOWWError(f"{len(check['bad'])} clip(s) are damaged, e.g. {check['bad'][0]}. Delete them and "
                               "run the clip step again.")
    except BaseException as exc:
        report(PhaseFinished(PHASE, False, str(exc), time.monotonic() - t0))
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
    report(PhaseFinished(PHASE, True, msg, time.monotonic() - t0))
    return summary
