"""Heads and training: learning on real Piper features, events, checkpoints, exact resume."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import Cancelled, ConfigError, EasyOWWError
from core.events import Metric, PhaseFinished, Progress, null_report
from core.pipeline.p3_features.store import load_features
from core.pipeline.p4_training import batches, checkpoints, loop, phase
from core.pipeline.p4_training.heads import DNNHead, TemporalHead, build_head
from core.project.config import TrainingConfig
from tests.model_fixtures import featured_project, small_cfg


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp()


# --------------------------------------------------------------------------- heads
@pytest.mark.parametrize("kind", ["dnn", "temporal"])
def test_heads_contract(kind):
    cfg = small_cfg(model_type=kind, layer_size=32, n_blocks=2)
    head = build_head(cfg).eval()
    x = torch.randn(5, 16, 96)
    y = head(x)
    assert y.shape == (5, 1) and torch.all((y >= 0) & (y <= 1))
    torch.testing.assert_close(y, torch.sigmoid(head.logits(x)))
    # rows are scored independently (no batch mixing in eval mode)
    torch.testing.assert_close(head(x[2:3]), y[2:3], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("size,width,blocks", [("tiny", 32, 1), ("small", 128, 1), ("large", 512, 3)])
def test_model_size_chooses_the_head_unless_layer_size_is_set(size, width, blocks):
    def shape(head: torch.nn.Module) -> tuple[int, int]:
        linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
        return linears[0].out_features, len(linears) - 2  # first layer's width; hidden blocks between in and out

    cfg = TrainingConfig(wake_word="hey jarvis", project_name="p", model_size=size)
    assert cfg.layer_size == 0 and shape(build_head(cfg)) == (width, blocks)
    cfg.layer_size, cfg.n_blocks = 48, 2  # explicit values win (configs written before model_size did anything)
    assert shape(build_head(cfg)) == (48, 2)
    cfg.layer_size = 4
    assert any(e.startswith("layer_size:") for e in cfg.validate()[1])


def test_dnn_head_is_openwakeword_shaped():
    head = DNNHead(layer_size=128, n_blocks=1, dropout=0.3)
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(1536, 128), (128, 128), (128, 1)]
    assert sum(isinstance(m, torch.nn.LayerNorm) for m in head.modules()) == 2
    assert isinstance(TemporalHead(64), torch.nn.Module)
    with pytest.raises(ConfigError, match="model_type"):
        build_head({"model_type": "lstm", "layer_size": 8, "n_blocks": 1, "dropout": 0.0})


@pytest.mark.parametrize("kind", ["dnn", "temporal"])
def test_input_dropout_zeroes_features_in_training_only_and_keeps_saved_weights_loadable(kind):
    cfg = small_cfg(model_type=kind, layer_size=32, n_blocks=1, input_dropout=0.5)
    head = build_head(cfg)
    seen: list[torch.Tensor] = []
    first = next(m for m in head.modules() if isinstance(m, torch.nn.Linear))
    first.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    x = torch.rand(64, 16, 96) + 0.5  # no zero features of its own
    head.train()(x)
    zeroed = float((seen[-1] == 0).float().mean())
    assert 0.4 < zeroed < 0.6  # about half the features dropped (and the rest scaled up)
    head.eval()
    torch.testing.assert_close(head(x), head(x))
    assert float((seen[-1] == 0).float().mean()) == 0.0  # scoring sees every feature
    # a head saved before input dropout existed (spec without it, same weights) loads into the new code
    old_spec = {k: v for k, v in loop.head_spec(cfg).items() if k != "input_dropout"}
    assert build_head(old_spec).load_state_dict(head.state_dict()) is not None
    assert loop.training_fingerprint(cfg, "f") != loop.training_fingerprint(small_cfg(model_type=kind, layer_size=32,
                                                                                         n_blocks=1), "f")


def test_rng_state_roundtrip_is_weights_only_safe(tmp_path):
    import random

    state = checkpoints.rng_state()
    a = (random.random(), np.random.random(), torch.rand(1).item())
    checkpoints.save_torch_atomic({"rng": state}, tmp_path / "s.pt")
    checkpoints.set_rng_state(checkpoints.load_torch(tmp_path / "s.pt")["rng"])
    assert (random.random(), np.random.random(), torch.rand(1).item()) == a


def test_lr_schedule_warms_up_and_decays():
    f = [loop.lr_factor(s, 1000) for s in range(1000)]
    assert f[0] < f[49] == pytest.approx(1.0) and f[-1] < 0.05 and min(f) > 0


# --------------------------------------------------------------------------- training
def test_training_learns_and_reports(base, tmp_path):
    project, cfg = featured_project(tmp_path, base, small_cfg(max_steps=300, batch_size=64))
    events = []
    out = phase.run_training_phase(project, cfg, events.append, None)
    losses = [e for e in events if isinstance(e, Metric) and e.name == "loss"]
    assert [e.step for e in losses][:3] == [25, 50, 75]
    assert losses[-1].value < losses[0].value
    names = {e.name for e in events if isinstance(e, Metric)}
    assert names == {"loss", "val_loss", "recall", "false_accept_rate"}
    assert all(e.step is not None for e in events if isinstance(e, Metric))
    assert sum(isinstance(e, Progress) for e in events) >= 12
    assert isinstance(events[-1], PhaseFinished) and events[-1].ok
    assert out["steps"] == 300 and out["steps_per_second"] > 0 and out["best_step"] > 0
    fm = out["final_metrics"]
    assert fm["recall"] >= 0.8 and fm["false_accept_rate"] <= 0.2  # far above chance (0.5 / 0.5)
    assert out["real_positives"] > 0
    for name in (checkpoints.FINAL_NAME, checkpoints.BEST_NAME, checkpoints.CHECKPOINT_NAME):
        assert torch.load(project.checkpoints_dir / name, weights_only=True)
    model, info = phase.load_trained_head(project)
    assert not model.training and info["summary"]["steps"] == 300
    # running the phase again finds the finished model
    again = phase.run_training_phase(project, cfg, null_report, None)
    assert again["skipped"] is True


def test_ensemble_trains_heads_with_their_own_seeds_and_resumes_per_head(base, tmp_path):
    from core.pipeline.p4_training.heads import EnsembleHead
    from core.pipeline.p5_export.tflite_writer import head_to_tflite

    project, cfg = featured_project(tmp_path, base, small_cfg(max_steps=200, ensemble_size=2))
    events = []
    out = phase.run_training_phase(project, cfg, events.append, None)
    assert out["ensemble_size"] == 2 and out["steps"] == 400 and len(out["members"]) == 2
    # One phase: one start, one finish, one progress bar over both heads, one metric axis.
    assert sum(isinstance(e, PhaseFinished) for e in events) == 1 and events[-1].ok
    progress = [e for e in events if isinstance(e, Progress)]
    assert {e.total for e in progress} == {400} and progress[-1].done == 400
    assert "head 2/2" in progress[-1].message
    steps = [e.step for e in events if isinstance(e, Metric) and e.name == "loss"]
    assert steps == sorted(steps) and steps[-1] == 400
    model, info = phase.load_trained_head(project)
    assert isinstance(model, EnsembleHead) and len(model.members) == 2 and not model.training
    a, b = (m.net[1].weight for m in model.members)
    assert not torch.allclose(a, b)  # different seeds, different heads
    x = torch.randn(3, 16, 96)
    torch.testing.assert_close(model.logits(x), (model.members[0].logits(x) + model.members[1].logits(x)) / 2)
    assert out["final_metrics"]["recall"] >= 0.8
    assert head_to_tflite(model)  # Home Assistant's format takes the ensemble too
    # A run killed after the first head keeps it: only the second is trained again.
    (project.checkpoints_dir / checkpoints.FINAL_NAME).unlink()
    for p in (project.checkpoints_dir / "head2").iterdir():
        p.unlink()
    again = phase.run_training_phase(project, cfg, null_report, None)
    assert again["members"][0]["skipped"] is True and not again["members"][1].get("skipped")
    torch.testing.assert_close(phase.load_trained_head(project)[0].members[0].net[1].weight, a)
    assert phase.run_training_phase(project, cfg, null_report, None)["skipped"] is True


def _weights(project) -> dict[str, torch.Tensor]:
    return torch.load(project.checkpoints_dir / checkpoints.FINAL_NAME, weights_only=True)["model"]


@pytest.mark.parametrize("model_type", ["dnn", "temporal"])
def test_resume_gives_identical_weights(base, tmp_path, model_type, monkeypatch):
    # hard-negative mining re-scores every 10 steps from step 12: resumes land between refreshes
    monkeypatch.setattr(batches, "HARD_EVERY", 10)
    monkeypatch.setattr(batches, "HARD_SHARE", 0.25)
    cfg = small_cfg(max_steps=60, checkpoint_every=20, batch_size=64, model_type=model_type, layer_size=64,
                    feature_noise=0.3)  # its noise draws too must resume exactly
    ref, _ = featured_project(tmp_path / "ref", base, cfg)
    phase.run_training_phase(ref, cfg, null_report, None, resume=False, val_every=10)
    expected = _weights(ref)

    # 1) cancelled with the cancel event at step 25: a checkpoint is written at the cancel
    p1, _ = featured_project(tmp_path / "cancel", base, cfg)
    cancel = threading.Event()

    def on_event(ev):
        if isinstance(ev, Progress) and ev.done >= 25:
            cancel.set()

    with pytest.raises(Cancelled):
        phase.run_training_phase(p1, cfg, on_event, cancel, val_every=10)
    assert torch.load(p1.checkpoints_dir / checkpoints.CHECKPOINT_NAME, weights_only=True)["step"] == 25
    out = phase.run_training_phase(p1, cfg, null_report, None, val_every=10)
    assert out["resumed_from"] == 25 and out["steps"] == 60

    # 2) killed at step 30 (no chance to save): resumes from the step-20 checkpoint
    p2, _ = featured_project(tmp_path / "kill", base, cfg)

    class Killed(BaseException):
        pass

    def kill(ev):
        if isinstance(ev, Metric) and ev.step == 30:
            raise Killed

    with pytest.raises(Killed):
        phase.run_training_phase(p2, cfg, kill, None, val_every=10)
    assert torch.load(p2.checkpoints_dir / checkpoints.CHECKPOINT_NAME, weights_only=True)["step"] == 20
    out2 = phase.run_training_phase(p2, cfg, null_report, None, val_every=10)
    assert out2["resumed_from"] == 20

    for p in (p1, p2):
        got = _weights(p)
        assert got.keys() == expected.keys()
        for k in expected:
            assert torch.equal(got[k], expected[k]), k


def test_changed_settings_restart_training(base, tmp_path):
    cfg = small_cfg(max_steps=40, checkpoint_every=20, batch_size=32)
    project, _ = featured_project(tmp_path, base, cfg)
    phase.run_training_phase(project, cfg, null_report, None)
    cfg2 = small_cfg(max_steps=40, checkpoint_every=20, batch_size=32, learning_rate=0.002)
    events = []
    out = phase.run_training_phase(project, cfg2, events.append, None)
    assert out.get("skipped") is None and out["resumed_from"] is None


def test_acav_bank_negatives_are_drawn(base, tmp_path, monkeypatch):
    monkeypatch.setattr(batches, "BANK_BLOCK", 256)
    monkeypatch.setattr(batches, "BANK_REFRESH", 10)
    cfg = small_cfg(max_steps=40, batch_size=32)
    project, _ = featured_project(tmp_path, base, cfg)
    path = project.workspace.acav100m_features_path
    path.parent.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.save(path, rng.normal(1.5, 1.0, size=(1000, 16, 96)).astype(np.float16))
    data = batches.load_train_data(project, cfg)
    sampler = batches.BatchSampler(data, 32, 0, torch.device("cpu"))
    assert sampler.n_bank == 8 and sampler.n_pos == 16
    x, y = sampler.batch(0)
    bank_rows = x[-8:]
    assert x.shape == (32, 16, 96) and y[:16].sum() == 16 and y[16:].sum() == 0
    assert torch.allclose(bank_rows.mean(), torch.tensor(1.5), atol=0.1)
    out = phase.run_training_phase(project, cfg, null_report, None)
    assert out["bank_negatives"] is True


def test_negative_speech_windows_are_drawn(base, tmp_path):
    cfg = small_cfg(max_steps=40, batch_size=32)
    project, _ = featured_project(tmp_path, base, cfg)
    fdir = project.features_dir(cfg)
    rng = np.random.default_rng(0)
    np.save(fdir / "train_negative_speech.npy", rng.normal(-1.5, 1.0, size=(300, 16, 96)).astype(np.float32))
    np.save(fdir / "val_negative_speech.npy", rng.normal(-1.5, 1.0, size=(50, 16, 96)).astype(np.float32))
    data = batches.load_train_data(project, cfg)
    assert data.speech is not None and len(data.speech) == 300
    assert len(data.val_neg) == len(load_features(fdir, "val", "negative")) + 50
    sampler = batches.BatchSampler(data, 32, 0, torch.device("cpu"))
    assert sampler.n_pos == 16 and sampler.n_speech == 8 and sampler.n_neg == 8
    x, y = sampler.batch(0)
    assert torch.allclose(x[24:].mean(), torch.tensor(-1.5), atol=0.1)
    assert y[24:].sum() == 0
    out = phase.run_training_phase(project, cfg, null_report, None)
    assert out["negative_speech_windows"] == 300


def test_feature_noise_is_scaled_per_feature_seeded_and_changes_training(base, tmp_path):
    cfg = small_cfg(max_steps=40, batch_size=32, feature_noise=0.3)
    project, _ = featured_project(tmp_path, base, cfg)
    data = batches.load_train_data(project, cfg)
    # Make one feature 10x as spread as the rest: its noise must follow.
    data.pos = torch.as_tensor(np.asarray(data.pos)).clone()
    data.neg = torch.as_tensor(np.asarray(data.neg)).clone()
    data.pos[..., 5] *= 10
    data.neg[..., 5] *= 10
    spread = batches.feature_spread(data)
    assert spread.shape == (96,) and spread[5] > 5 * spread.median()
    assert batches.feature_noise_bank(data, 0.0, 1, torch.device("cpu")) is None
    a = batches.feature_noise_bank(data, 0.3, 1, torch.device("cpu"))
    assert a.shape == (batches.FEATURE_NOISE_ROWS, 16, 96)
    torch.testing.assert_close(a.reshape(-1, 96).std(0), 0.3 * spread, rtol=0.05, atol=1e-3)
    assert torch.equal(a, batches.feature_noise_bank(data, 0.3, 1, torch.device("cpu")))
    assert not torch.equal(a, batches.feature_noise_bank(data, 0.3, 2, torch.device("cpu")))
    # Training with noise ends elsewhere than without (same seed and data).
    quiet = small_cfg(max_steps=40, batch_size=32, feature_noise=0.0)
    p0, _ = featured_project(tmp_path / "quiet", base, quiet)
    p1, _ = featured_project(tmp_path / "noisy", base, cfg)
    phase.run_training_phase(p0, quiet, null_report, None)
    phase.run_training_phase(p1, cfg, null_report, None)
    assert not torch.equal(_weights(p0)["net.1.weight"], _weights(p1)["net.1.weight"])


def test_input_dropout_is_applied_once_by_the_sampler_seeded_by_step(base, tmp_path, monkeypatch):
    monkeypatch.setattr(batches, "INPUT_MASK_ROWS", 256)
    cfg = small_cfg(max_steps=40, batch_size=64, input_dropout=0.25)
    project, _ = featured_project(tmp_path, base, cfg)
    data = batches.load_train_data(project, cfg)
    data.pos = torch.as_tensor(np.asarray(data.pos)).clone().abs_() + 1.0  # no zero features of their own
    data.neg = torch.as_tensor(np.asarray(data.neg)).clone().abs_() + 1.0
    plain = batches.BatchSampler(data, 64, 3, torch.device("cpu"))
    dropped = batches.BatchSampler(data, 64, 3, torch.device("cpu"), input_dropout=0.25)
    x0 = plain.batch(0)[0].clone()
    x1 = dropped.batch(0)[0].clone()
    zero = x1 == 0
    assert 0.22 < float(zero.float().mean()) < 0.28  # a quarter of the features dropped ...
    torch.testing.assert_close(x1[~zero], x0[~zero] / 0.75)  # ... the same rows, the rest scaled up
    # each row a mask drawn for it; the same seed and step draw the same, a later mask set other masks
    assert len({tuple(r.flatten().tolist()) for r in zero[:32]}) >= 26  # of 256 masks
    again = batches.BatchSampler(data, 64, 3, torch.device("cpu"), input_dropout=0.25)
    assert torch.equal(again.batch(0)[0], x1)
    masks = batches.input_dropout_masks(0.25, 3, 0, torch.device("cpu"))
    assert torch.equal(masks, batches.input_dropout_masks(0.25, 3, 0, torch.device("cpu")))
    assert not torch.equal(masks, batches.input_dropout_masks(0.25, 3, 1, torch.device("cpu")))
    # In training the head's own input dropout is off (the sampler's is the only one) and back on afterwards.
    seen: list[float] = []

    def watch(module, args):
        if module.training:
            seen.append(float((args[0] == 0).float().mean()))

    from core.pipeline.p4_training import heads

    built: list[torch.nn.Module] = []

    def build(spec):
        head = heads.build_head(spec)
        first = next(m for m in head.modules() if isinstance(m, torch.nn.Linear))
        first.register_forward_pre_hook(watch)
        built.append(head)
        return head

    monkeypatch.setattr(loop, "build_head", build)
    monkeypatch.setattr(loop, "load_train_data", lambda *a, **k: data)
    phase.run_training_phase(project, cfg, null_report, None, resume=False)
    assert len(seen) == 40 and 0.22 < float(np.mean(seen)) < 0.28  # 0.44 if both dropped
    assert built[0].input_dropout() == 0.25


class _MeanScorer(torch.nn.Module):
    """Scores a window by its mean value: a known ranking for the hard-negative test."""

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2))[:, None]


def test_hard_negatives_are_the_highest_scoring(base, tmp_path, monkeypatch):
    monkeypatch.setattr(batches, "HARD_POOL", 20)
    monkeypatch.setattr(batches, "HARD_SHARE", 0.5)
    cfg = small_cfg(max_steps=40, batch_size=64)
    project, _ = featured_project(tmp_path, base, cfg)
    fdir = project.features_dir(cfg)
    speech = np.full((300, 16, 96), -5.0, np.float32)
    speech[[7, 70, 170, 270]] = 9.0  # four speech windows score highest, then the clip negatives
    np.save(fdir / "train_negative_speech.npy", speech)
    data = batches.load_train_data(project, cfg)
    sampler = batches.BatchSampler(data, 64, 0, torch.device("cpu"))
    assert sampler.n_hard == 16
    neg_means = data.neg.mean(dim=(1, 2))
    sampler.refresh_hard(_MeanScorer())
    hard = set(sampler.hard.tolist())
    n_neg = len(data.neg)
    assert {n_neg + i for i in (7, 70, 170, 270)} <= hard and len(hard) == 20
    top_clips = set(torch.topk(neg_means, 16).indices.tolist())
    assert hard - {n_neg + i for i in (7, 70, 170, 270)} == top_clips
    x, y = sampler.batch(0)
    start = sampler.n_pos + sampler.n_neg + sampler.n_speech
    rows = x[start : start + sampler.n_hard]
    threshold = neg_means[sorted(top_clips)].min()
    assert all(r.mean() >= threshold - 1e-5 for r in rows) and y[start : start + sampler.n_hard].sum() == 0


def test_training_needs_features(tmp_path):
    from core.project.workspace import Workspace

    cfg = small_cfg()
    project = Workspace(tmp_path / "ws").create_project(cfg)
    with pytest.raises(EasyOWWError, match="features phase"):
        phase.run_training_phase(project, cfg, null_report, None)


def test_early_stop_on_plateau(base, tmp_path):
    cfg = small_cfg(max_steps=400, batch_size=64, checkpoint_every=100)
    project, _ = featured_project(tmp_path, base, cfg)
    events = []
    out = phase.run_training_phase(project, cfg, events.append, None, patience=2, min_fraction=0.0, val_every=10)
    assert out["early_stopped"] is True and out["steps"] < 400
    assert out["best_step"] <= out["steps"] - 20  # two validations without improvement
    assert (project.checkpoints_dir / checkpoints.FINAL_NAME).is_file()
    assert any(getattr(e, "message", "").startswith("validation loss stopped improving") for e in events)


def test_auto_threads_is_sane():
    from core.pipeline.p3_features.embedder import auto_threads

    assert 1 <= auto_threads() <= 2 and auto_threads(cap=1) == 1


def test_busy_cpus_are_measured_now_not_averaged_over_a_minute():
    import subprocess
    import sys

    from core.pipeline.p3_features.embedder import _busy_cpus_now

    base = _busy_cpus_now()
    assert base is not None and 0.0 <= base <= (__import__("os").cpu_count() or 1) + 0.01
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.3)
        busy = _busy_cpus_now(0.5)
    finally:
        spin.kill()
        spin.wait()
    assert busy is not None and busy >= 0.8  # one spinning process shows as about one busy CPU


def test_earlier_windows_are_rows_moved_earlier():
    rng = np.random.default_rng(3)
    pos = rng.normal(size=(20, 16, 96)).astype(np.float32)
    frames = batches.UNFINISHED_FRAMES
    out = batches.earlier_windows(pos, 50, 7, frames)
    assert out.shape == (50, 16, 96)
    np.testing.assert_array_equal(out, batches.earlier_windows(pos, 50, 7, frames))  # seeded
    assert not np.array_equal(out, batches.earlier_windows(pos, 50, 8, frames))
    assert not np.array_equal(out, batches.earlier_windows(pos, 50, 7, frames, stream=43))
    shifts = set()
    for row in out:  # each row: some positive k frames earlier, its first frame repeated in front
        k, src = next((k, p) for p in pos for k in range(1, 16) if np.array_equal(row[k:], p[: 16 - k]))
        assert np.array_equal(row[:k], np.repeat(src[:1], k, axis=0))
        shifts.add(k)
    assert shifts == set(range(frames[0], frames[1] + 1)) == {3, 4, 5, 6, 7, 8}
    assert batches.earlier_windows(pos, 0, 7, frames).shape == (0, 16, 96)


def test_moved_negatives_are_unfinished_wake_words_then_earlier_clip_negatives():
    rng = np.random.default_rng(4)
    tp = rng.normal(size=(30, 16, 96)).astype(np.float32)
    tn = rng.normal(size=(40, 16, 96)).astype(np.float32)
    out = batches.moved_negatives(tp, tn, seed=5)
    n_unf = int(round(batches.UNFINISHED_SHARE * len(tn)))
    assert len(out) == n_unf + int(round(batches.EARLIER_NEGATIVE_SHARE * len(tn))) == 80
    lo, hi = batches.EARLIER_NEGATIVE_FRAMES
    assert (lo, hi) == (1, 12)
    for row in out[:n_unf]:  # a positive, 3-8 frames earlier
        assert any(np.array_equal(row[k:], p[: 16 - k]) for p in tp for k in range(3, 9))
    shifts = set()
    for row in out[n_unf:]:  # a clip negative, 1-12 frames earlier: never a positive
        k = next(k for p in tn for k in range(1, 16) if np.array_equal(row[k:], p[: 16 - k]))
        assert not any(np.array_equal(row[k:], p[: 16 - k]) for p in tp)
        shifts.add(k)
    assert min(shifts) >= lo and max(shifts) <= hi and len(shifts) >= 8


def test_moved_negatives_join_the_clip_negatives_in_ram_and_memory_mapped(base, tmp_path, monkeypatch):
    cfg = small_cfg(max_steps=40, batch_size=32)
    project, _ = featured_project(tmp_path, base, cfg)
    fdir = project.features_dir(cfg)
    tp, tn = load_features(fdir, "train", "positive"), load_features(fdir, "train", "negative")
    want = batches.moved_negatives(tp, tn, cfg.seed)
    assert len(want) == 2 * len(tn) > 0
    data = batches.load_train_data(project, cfg)
    assert data.in_ram and len(data.neg) == len(tn) + len(want)
    np.testing.assert_array_equal(np.asarray(data.neg[: len(tn)]), np.asarray(tn))
    np.testing.assert_array_equal(np.asarray(data.neg[len(tn):]), want)

    monkeypatch.setattr(batches, "RAM_FRACTION", 0.0)  # too big for RAM: read memory-mapped, the same rows
    mapped = batches.load_train_data(project, cfg)
    assert not mapped.in_ram and isinstance(mapped.neg, batches.StackedRows) and len(mapped.neg) == len(data.neg)
    idx = np.array([0, len(tn) - 1, len(tn), len(mapped.neg) - 1, 3])
    np.testing.assert_array_equal(mapped.neg[idx], np.asarray(data.neg)[idx])
    np.testing.assert_array_equal(mapped.neg[len(tn) - 2 : len(tn) + 2], np.asarray(data.neg)[len(tn) - 2 : len(tn) + 2])
    sampler = batches.BatchSampler(mapped, 32, 0, torch.device("cpu"))
    x, y = sampler.batch(0)
    assert x.shape == (32, 16, 96) and torch.isfinite(x).all()
    out = phase.run_training_phase(project, cfg, null_report, None)
    assert out["negatives"] == len(data.neg)

    monkeypatch.setattr(batches, "MOVED_MAX_ROWS", 7)  # a cap per kind, for projects too big for RAM
    assert len(batches.load_train_data(project, cfg).neg) == len(tn) + 14
    monkeypatch.setattr(batches, "UNFINISHED_SHARE", 0.0)  # each kind turns off on its own
    assert len(batches.load_train_data(project, cfg).neg) == len(tn) + 7
    monkeypatch.setattr(batches, "EARLIER_NEGATIVE_SHARE", 0.0)
    assert len(batches.load_train_data(project, cfg).neg) == len(tn)


def test_an_unfinished_window_is_the_streams_own_state_frames_earlier():
    """The speech embedding looks back only: the features of a window ending k x 80 ms earlier in the same audio
    are the later window's features moved k frames (bar the k oldest, and the mel model's level clamp)."""
    from core.assets.feature_models import locate_feature_models
    from core.pipeline.p3_features import embedder

    ext = embedder.FeatureExtractor(locate_feature_models(None), threads=1)
    rng = np.random.default_rng(5)
    n = embedder.MEL_CONTEXT + embedder.WINDOW_SAMPLES
    audio = rng.normal(0, 3, 3 * n)
    t = np.arange(16000) / 16000
    audio[n + 8000 : n + 24000] += 6000 * np.sin(2 * np.pi * (200 + 300 * t) * t) * np.hanning(16000)
    end = 2 * n
    late = ext.clip_windows(audio[None, end - n : end])[0]
    for k in (1, 4, 8, 12):
        early = ext.clip_windows(audio[None, end - n - k * 1280 : end - k * 1280])[0]
        moved = batches.earlier_windows(late[None], 1, 0, (k, k))[0]
        np.testing.assert_allclose(moved[k:], early[k:], atol=1e-3)  # every frame both windows hold whole
        assert not np.allclose(late[k:], early[k:], atol=0.05)
