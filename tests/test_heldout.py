"""The quality benchmark's streaming scorer and held-out set builder (bench/)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import heldout  # noqa: E402
import stream_score as ss  # noqa: E402

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="needs the Debian flite package")


def _random_head(path: Path, seed: int = 0, dynamic: bool = True) -> Path:
    """A randomly initialised flat head (16x96 -> 128 -> 1, sigmoid) exported to ONNX like easy-oww's."""
    import torch

    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16 * 96, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 1), torch.nn.Sigmoid()).eval()
    axes = {"x": {0: "batch"}, "y": {0: "batch"}} if dynamic else None
    torch.onnx.export(model, torch.zeros(1, 16, 96), str(path), input_names=["x"], output_names=["y"],
                      dynamo=False, dynamic_axes=axes)
    return path


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = heldout.music_segment(rng, seconds) * 0.1
    x[: heldout.SR] *= 0.01  # a quiet start, where streaming and batch melspectrograms differ most
    return heldout.to_int16(x)


def test_streaming_scorer_matches_openwakeword_model(tmp_path):
    head = _random_head(tmp_path / "rand.onnx", seed=1)
    audio = _speechlike(4.0)
    assert ss.verify_against_openwakeword(head, audio, tol=1e-4) <= 1e-4


def test_fixed_batch_onnx_head_and_tflite_reference_give_frame_scores(tmp_path):
    emb = ss.StreamingEmbedder().embed(_speechlike(3.0, seed=2))
    assert emb.shape == (ss.INIT_ROWS + 3 * ss.SAMPLE_RATE // ss.FRAME, 96)
    dyn = ss.frame_scores(ss.load_head(_random_head(tmp_path / "a.onnx", 3)), emb)
    fixed = ss.frame_scores(ss.load_head(_random_head(tmp_path / "b.onnx", 3, dynamic=False)), emb)
    np.testing.assert_allclose(dyn, fixed, atol=1e-6)
    assert np.all(dyn[: ss.IGNORE_FRAMES] == 0) and np.all(dyn[ss.IGNORE_FRAMES:] > 0)
    ref = ss.frame_scores(ss.load_head(ss.reference_model_path()), emb)
    assert ref.shape == dyn.shape and np.all((ref >= 0) & (ref <= 1))
    with pytest.raises(ValueError, match="onnx or .tflite"):
        (tmp_path / "x.pt").write_bytes(b"0")
        ss.load_head(tmp_path / "x.pt")


def test_triggers_use_a_two_second_refractory():
    s = np.zeros(200, np.float32)
    s[[10, 11, 20, 34, 35, 36, 100]] = [0.9, 0.95, 0.6, 0.7, 0.99, 0.4, 0.55]
    assert ss.count_triggers(s, 0.5) == 3  # 10 (11, 20, 34 inside 2 s), 35, 100
    assert ss.count_triggers(s, 0.8) == 2  # 10, 35
    assert ss.count_triggers(s, 0.999) == 0


def test_curve_and_recall_under_false_accept_target():
    pos = np.array([0.3, 0.6, 0.92, 0.97, 0.999])
    neg = np.zeros(int(3600 * ss.SAMPLE_RATE / ss.FRAME), np.float32)  # exactly one hour
    neg[[1000, 5000]] = [0.955, 0.6]  # two accepts at 0.5, one at 0.9, none above 0.95
    c = ss.curve(pos, [neg], np.array([0.2, 0.55]))
    i = ss.at_threshold(c, 0.5)
    assert c.negative_hours == pytest.approx(1.0, rel=1e-3)
    assert c.recall[i] == pytest.approx(0.8) and c.fa_per_hour[i] == pytest.approx(2.0, rel=1e-3)
    assert c.near_miss_rate[i] == pytest.approx(0.5)
    best = ss.best_under_fa(c, 0.5)
    assert c.thresholds[best] == pytest.approx(0.96) and c.recall[best] == pytest.approx(0.4)
    assert ss.best_under_fa(ss.curve(pos, [np.ones(100, np.float32)], pos), 0.5) is None


def test_operating_point_is_exact_not_a_grid_step():
    neg = np.zeros(int(3600 * ss.SAMPLE_RATE / ss.FRAME), np.float32)  # one hour
    neg[[1000, 5000, 9000]] = [0.9537, 0.9512, 0.2]
    t = ss.lowest_threshold_under_fa([neg], 1.0)  # one accept per hour allowed: just above 0.9512
    assert 0.9512 < t <= 0.9512 + 1e-6
    assert ss.count_triggers(neg, t) == 1
    assert ss.lowest_threshold_under_fa([neg], 0.5) == pytest.approx(0.9537, abs=1e-6)
    assert ss.lowest_threshold_under_fa([neg], 5.0) < 1e-6  # every threshold meets a loose target
    assert ss.lowest_threshold_under_fa([np.ones(100, np.float32)], 0.5) is None


@needs_flite
def test_builder_writes_a_resumable_cached_set_the_reference_detects(tmp_path):
    spec = heldout.Spec(positives_per_voice=2, commands_per_voice=0, near_miss_reps=1, negative_minutes=0.5,
                        part_seconds=15.0, voices=("flite:slt", "flite:rms"), near_miss=("hey there",), rooms=3,
                        corpus="small")
    logs: list[str] = []
    m = heldout.build_heldout(tmp_path, spec, workers=1, log=logs.append)
    assert m["counts"] == {"positive": 8, "near_miss": 4, "negative": 2}
    assert m["negative_hours"] == pytest.approx(30 / 3600, rel=0.01)
    for cat in m["items"].values():
        for it in cat:
            info = sf.info(str(tmp_path / it["file"]))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert {it["group"] for it in m["items"]["positive"]} == {"clean", "augmented"}
    assert json.loads((tmp_path / "manifest.json").read_text())["counts"] == m["counts"]

    # interrupted build: a missing item is rebuilt identically, the rest are kept
    victim = tmp_path / m["items"]["positive"][1]["file"]
    before = victim.read_bytes()
    kept = tmp_path / m["items"]["positive"][0]["file"]
    mtime = kept.stat().st_mtime_ns
    victim.unlink()
    heldout.build_heldout(tmp_path, spec, workers=1, log=logs.append)
    assert victim.read_bytes() == before and kept.stat().st_mtime_ns == mtime

    # the pretrained reference finds clean flite "hey jarvis" clips, and never the negatives
    sys.path.insert(0, str(BENCH))
    import quality

    embs = quality.load_embeddings(tmp_path, m, log=logs.append)
    res = quality.evaluate(ss.load_head(ss.reference_model_path()), m, embs, "ref")
    assert res["recall_by_group_at_0.5"]["clean"] >= 0.5
    assert res["negative_hours"] == pytest.approx(30 / 3600, abs=1e-3)
    assert (tmp_path / "embeddings").is_dir()
    again = quality.load_embeddings(tmp_path, m, log=logs.append)  # from the cache
    np.testing.assert_array_equal(again["positive"][0], embs["positive"][0])
