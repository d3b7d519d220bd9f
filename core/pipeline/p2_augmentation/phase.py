"""The augmentation phase: every clip gets augmented copies (rooms, noise, pitch, tempo, gain); negative-speech
passages get one; the unseen-voice set also passes through random microphones."""

from __future__ import annotations

import time
from threading import Event
from typing import Any

from core.errors import EasyOWWError
from core.events import PhaseFinished, PhaseStarted, Reporter, log, null_report
from core.pipeline.p1_clips.generator import UNSEEN_DIR, passage_is_augmented
from core.pipeline.p2_augmentation.augment import (
    MIC_PROB,
    PHASE,
    SPEECH_PROBS,
    UNSEEN_PAD_S,
    UNSEEN_POSITIVE_PROBS,
    AudioAugmenter,
)
from core.pool import cpu_count


def run_augmentation_phase(project: Any, cfg: Any, report: Reporter = null_report, cancel: Event | None = None,
                           **kw: Any) -> dict[str, Any]:
    """Phase "augmentation": clips/positive -> positive_augmented, clips/negative -> negative_augmented."""
    t0 = time.monotonic()
    report(PhaseStarted(PHASE, None, "Augmenting clips (rooms, noise, pitch, tempo, gain)"))
    if not cfg.use_augmentation:
        log(report, "Augmentation is off (use_augmentation: false); skipping this step.", PHASE)
        report(PhaseFinished(PHASE, True, "skipped (augmentation off)", time.monotonic() - t0, "skipped"))
        return {"skipped": True}
    try:
        ws = project.workspace
        clips_dir = project.clips_dir(cfg)
        pos = sorted(project.positive_clips_dir(cfg).glob("*.wav"))
        neg = sorted(project.negative_clips_dir(cfg).glob("*.wav"))
        if not pos:
            raise EasyOWWError(f"No positive clips in {project.positive_clips_dir(cfg)}. Run the clip step first "
                               f"(`easy-oww generate {project.name}`).")
        aug = AudioAugmenter(ws.rir_dir, ws.noise_dir, cfg.sample_rate, cfg.seed, ws.rir_bank_path, report,
                             cancel, speech_dir=project.negative_clips_dir(cfg) if neg else None,
                             n_rooms=int(kw.get("n_rooms", 40)))
        log(report, f"Rooms: {aug.rir_source}; noise: {aug.noise_source}.", PHASE)
        probs = {
            "rir_prob": cfg.rir_probability,
            "noise_prob": cfg.noise_probability,
            "pitch_prob": cfg.pitch_probability,
            "stretch_prob": cfg.pitch_probability,
            "gain_prob": cfg.augmentation_probability,
        }
        copies = cfg.augmentations_per_clip
        total = (len(pos) + len(neg)) * copies
        workers = kw.get("workers")
        p = aug.augment_clips(pos, project.augmented_clips_dir(cfg), copies, report, cancel, probs, 0, total,
                              "Augmenting positive clips", workers)
        n = aug.augment_clips(neg, clips_dir / "negative_augmented", copies, report, cancel, probs,
                              len(pos) * copies, total, "Augmenting negative clips", workers)
        # Long negative-speech passages: one augmented copy each (rooms and noise matter most here).
        # Long negative-speech and sound passages: one augmented copy each (both are trained on).
        speech = sorted((clips_dir / "negative_speech").glob("*.wav"))
        long_workers = workers if workers is not None else (2 if cpu_count() >= 2 and len(speech) >= 8 else 1)
        sp = aug.augment_clips(speech, clips_dir / "negative_speech_augmented", 1 if speech else 0, report,
                              cancel, SPEECH_PROBS, 0, len(speech), "Augmenting negative speech", long_workers)
        # The unseen-voice set: one copy each in a room and/or noise, as a microphone in a home hears it.
        for kind in ("positive", "negative"):
            src = sorted((clips_dir / UNSEEN_DIR / kind).glob("*.wav"))
            if kind == "negative":
                src = [p for p in src if passage_is_augmented(p.name)]
            aug.augment_clips(src, clips_dir / UNSEEN_DIR / f"{kind}_augmented", 1 if src else 0, report, cancel,
                              {**(UNSEEN_POSITIVE_PROBS if kind == "positive" else SPEECH_PROBS),
                               "pad_s": UNSEEN_PAD_S, "mic_prob": MIC_PROB}, 0, len(src),
                              f"Augmenting unseen-voice {kind}s", long_workers)
    except BaseException as exc:
        report(PhaseFinished(PHASE, False, str(exc), time.monotonic() - t0))
        raise
    secs = time.monotonic() - t0
    summary = {
        "skipped": False, "positive_augmented": p["total"], "negative_augmented": n["total"],
        "negative_speech_augmented": sp["total"],
        "created": p["created"] + n["created"] + sp["created"], "kept": p["kept"] + n["kept"] + sp["kept"],
        "failed": p["failed"] + n["failed"] + sp["failed"], "rirs": aug.rir_source, "noise": aug.noise_source,
        "copies": copies, "seconds": round(secs, 2),
    }
    report(PhaseFinished(PHASE, True, f"{p['total']} positive and {n['total']} negative augmented clips", secs))
    return summary
