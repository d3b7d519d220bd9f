"""Feature models, openWakeWord features, splits by source clip, resumable feature phase."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from core.assets.feature_models import EMBEDDING_NAME, MELSPEC_NAME, locate_feature_models, verify_model_file
from core.errors import EasyOWWError
from core.events import PhaseFinished, Progress, null_report
from core.pipeline.p3_features import embedder, phase, store, windows
from core.pipeline.p3_features import plan as feature_plan
from tests.model_fixtures import clip_bank, featured_project, new_project, small_cfg


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp()


@pytest.fixture(scope="module")
def featured(tmp_path_factory, base):
    return featured_project(tmp_path_factory.mktemp("featured"), base)


# --------------------------------------------------------------------------- feature models
def test_feature_models_package_and_workspace(tmp_path):
    pkg = locate_feature_models(None)
    assert pkg.source == "package" and pkg.melspec.name == MELSPEC_NAME and not pkg.warning
    ws = tmp_path / "fm"
    ws.mkdir()
    shutil.copy(pkg.melspec, ws / MELSPEC_NAME)
    shutil.copy(pkg.embedding, ws / EMBEDDING_NAME)
    assert locate_feature_models(ws).source == "workspace"
    # a damaged download: clear error naming the file, and the packaged copy is used meanwhile
    (ws / EMBEDDING_NAME).write_bytes(b"not a model")
    with pytest.raises(EasyOWWError, match=r"embedding_model\.onnx.*download"):
        verify_model_file(ws / EMBEDDING_NAME)
    fallback = locate_feature_models(ws)
    assert fallback.source == "package" and "embedding_model.onnx" in fallback.warning


# --------------------------------------------------------------------------- extraction
def test_embed_stream_matches_openwakeword_streaming():
    AudioFeatures = pytest.importorskip("openwakeword.utils", reason="openwakeword (dev extra, Python 3.11)").AudioFeatures

    fm = locate_feature_models(None)
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 5) / 16000
    audio = (rng.standard_normal(len(t)) * 3000 * np.sin(2 * np.pi * 0.7 * t) ** 2).astype(np.int16)
    af = AudioFeatures(inference_framework="onnx", **fm.as_kwargs())
    for i in range(0, len(audio), embedder.CHUNK):
        af(audio[i : i + embedder.CHUNK])
    emb = embedder.embed_stream(audio, fm)
    assert emb.shape == (len(audio) // embedder.CHUNK - 9, 96) and emb.dtype == np.float32
    # past the warm-up, every frame equals what a live openWakeWord stream computes
    np.testing.assert_allclose(emb[-40:], af.feature_buffer[-40:], atol=1e-5)
    wins = embedder.stream_windows(emb)
    assert wins.shape == (len(emb) - 15, 16, 96)
    np.testing.assert_array_equal(wins[7], emb[7:23])
    assert embedder.stream_windows(emb, stride=4).shape[0] == (len(emb) - 15 + 3) // 4


def test_place_clip_puts_speech_end_near_window_end():
    rng = np.random.default_rng(1)
    clip = np.zeros(16000, np.int16)
    clip[4000:10000] = (rng.standard_normal(6000) * 8000).astype(np.int16)
    total = embedder.MEL_CONTEXT + embedder.WINDOW_SAMPLES
    for seed in range(5):
        w = windows.place_clip(clip, windows.clip_rng(seed, "x.wav"), "end")
        assert w.shape == (total,)
        loud = np.flatnonzero(np.abs(w) > 1000)
        assert total - int(windows.END_JITTER_S * 16000) - 1200 <= loud[-1] <= total
        assert np.abs(w[: loud[0]]).max() < 30  # very low noise padding
    a = windows.place_clip(clip, windows.clip_rng(3, "x.wav"), "random")
    b = windows.place_clip(clip, windows.clip_rng(3, "x.wav"), "random")
    np.testing.assert_array_equal(a, b)
    long_clip = np.ones(50000, np.int16) * 100
    assert windows.place_clip(long_clip, windows.clip_rng(0, "y"), "end").shape == (total,)
    assert windows.place_clip(long_clip, windows.clip_rng(0, "y"), "random").shape == (total,)


# --------------------------------------------------------------------------- splits
def test_source_id_and_assign_splits():
    assert feature_plan.source_id("positive_augmented/synth_00042_a0.wav") == "synth_00042"
    assert feature_plan.source_id("synth_00042_a13.wav") == "synth_00042"
    assert feature_plan.source_id("real_007.wav") == "real_007"
    ids = [f"synth_{i:05d}" for i in range(200)] + [f"real_{i:03d}" for i in range(10)]
    s1 = feature_plan.assign_splits(ids, seed=5, fraction=0.15)
    assert s1 == feature_plan.assign_splits(list(reversed(ids)), seed=5, fraction=0.15)  # deterministic
    assert s1 != feature_plan.assign_splits(ids, seed=6, fraction=0.15)
    real_val = sum(s1[f"real_{i:03d}"] == "val" for i in range(10))
    synth_val = sum(s1[f"synth_{i:05d}"] == "val" for i in range(200))
    assert 1 <= real_val <= 9 and synth_val == 30
    two_real = feature_plan.assign_splits(["real_000", "real_001"], seed=0, fraction=0.15)
    assert sorted(two_real.values()) == ["train", "val"]


def test_plan_keeps_augmented_copies_with_their_source(base, tmp_path):
    project, cfg = new_project(tmp_path, base)
    plan = feature_plan.plan_features(project.clips_dir(cfg), cfg)
    assert plan.total == sum(len(v) for v in feature_plan.list_clips(project.clips_dir(cfg)).values())
    for cls in feature_plan.CLASSES:
        train = {feature_plan.source_id(f) for f in plan.rows[f"train_{cls}"]}
        val = {feature_plan.source_id(f) for f in plan.rows[f"val_{cls}"]}
        assert train and val and not train & val
    aug_val = [f for f in plan.rows["val_positive"] if f.startswith("positive_augmented/")]
    assert aug_val, "expected augmented copies in the validation split"
    real = [f for k in ("train_positive", "val_positive") for f in plan.rows[k] if "/real_" in f]
    assert any("/real_" in f for f in plan.rows["train_positive"]) and any(
        "/real_" in f for f in plan.rows["val_positive"]
    )
    assert len(real) == 6


# --------------------------------------------------------------------------- the phase
def test_feature_phase_outputs(featured):
    project, cfg = featured
    fdir = project.features_dir(cfg)
    manifest = json.loads((fdir / "manifest.json").read_text())
    total = 0
    for split in feature_plan.SPLITS:
        for cls in feature_plan.CLASSES:
            arr = store.load_features(fdir, split, cls)
            assert isinstance(arr, np.memmap) and arr.dtype == np.float32 and arr.shape[1:] == (16, 96)
            assert len(arr) > 0 and np.isfinite(arr).all()
            side = store.load_sidecar(fdir, split, cls)
            assert len(side["files"]) == len(side["sources"]) == len(arr)
            assert manifest["arrays"][f"{split}_{cls}"][0] == len(arr)
            total += len(arr)
    assert total == feature_plan.plan_features(project.clips_dir(cfg), cfg).total
    assert not (fdir / ".partial").exists()
    # a second run has nothing to do
    events = []
    out = phase.run_feature_phase(project, cfg, events.append, None)
    assert out["skipped"] is True and isinstance(events[-1], PhaseFinished) and events[-1].ok


def test_features_agree_with_pretrained_hey_jarvis(featured):
    """The real openWakeWord hey_jarvis head separates our features: the feature path is right."""
    pytest.importorskip("pyopen_wakeword")
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    import pyopen_wakeword

    project, cfg = featured
    path = Path(pyopen_wakeword.__file__).parent / "models" / "hey_jarvis.tflite"
    it = litert.Interpreter(model_path=str(path))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]

    def scores(arr: np.ndarray) -> np.ndarray:
        res = []
        for x in arr:
            it.set_tensor(inp["index"], np.asarray(x[None], dtype=np.float32))
            it.invoke()
            res.append(float(it.get_tensor(out["index"]).ravel()[0]))
        return np.array(res)

    fdir = project.features_dir(cfg)
    pos = np.concatenate([scores(store.load_features(fdir, s, "positive")) for s in feature_plan.SPLITS])
    neg = np.concatenate([scores(store.load_features(fdir, s, "negative")) for s in feature_plan.SPLITS])
    assert np.median(pos) > 0.9 and np.mean(pos > 0.5) > 0.9
    assert np.max(neg) < 0.5


def test_feature_phase_resumes_after_cancel_with_identical_arrays(base, featured, tmp_path, monkeypatch):
    monkeypatch.setattr(phase, "CHUNK_CLIPS", 24)  # several chunks per array, so a cancel lands mid-phase
    project, cfg = new_project(tmp_path, base)
    cancel = threading.Event()

    def report(ev):
        if isinstance(ev, Progress) and ev.done >= 48:
            cancel.set()

    from core.errors import Cancelled

    with pytest.raises(Cancelled):
        phase.run_feature_phase(project, cfg, report, cancel)
    fdir = project.features_dir(cfg)
    assert not (fdir / "manifest.json").exists() and not list(fdir.glob("*.npy"))
    chunks = list((fdir / ".partial").rglob("*.npy"))
    assert 2 <= len(chunks) < 10
    out = phase.run_feature_phase(project, cfg, null_report, None)
    assert out["skipped"] is False and out["computed"] < feature_plan.plan_features(project.clips_dir(cfg), cfg).total
    ref_project, ref_cfg = featured
    for split in feature_plan.SPLITS:
        for cls in feature_plan.CLASSES:
            got = store.load_features(fdir, split, cls)
            ref = store.load_features(ref_project.features_dir(ref_cfg), split, cls)
            assert store.load_sidecar(fdir, split, cls) == store.load_sidecar(
                ref_project.features_dir(ref_cfg), split, cls
            )
            np.testing.assert_allclose(got, ref, atol=1e-5)


def test_feature_phase_without_clips_is_a_clear_error(tmp_path):
    from core.project.workspace import Workspace

    cfg = small_cfg()
    project = Workspace(tmp_path / "ws").create_project(cfg)
    with pytest.raises(EasyOWWError, match="No positive clips"):
        phase.run_feature_phase(project, cfg, null_report, None)


# --------------------------------------------------------------------------- big memory-mapped banks
def test_feature_bank_windows_stream_and_bad_dtype(tmp_path):
    rng = np.random.default_rng(0)
    win = rng.normal(size=(300, 16, 96)).astype(np.float16)
    np.save(tmp_path / "win.npy", win)
    bank = store.FeatureBank(tmp_path / "win.npy")
    assert bank.kind == "windows" and len(bank) == 300
    blk = bank.block(290, 50)
    assert blk.dtype == np.float32 and blk.shape == (10, 16, 96)
    np.testing.assert_array_equal(blk, win[290:].astype(np.float32))
    stream = rng.normal(size=(100, 96)).astype(np.float32)
    np.save(tmp_path / "stream.npy", stream)
    sb = store.FeatureBank(tmp_path / "stream.npy")
    assert sb.kind == "stream" and len(sb) == 85
    assert sum(len(b) for b in sb.iter_blocks(40)) == 85
    np.testing.assert_array_equal(sb.block(10, 3)[2], stream[12:28])
    np.save(tmp_path / "bad.npy", np.zeros((10, 16, 96), np.int16))
    with pytest.raises(EasyOWWError, match="dtype int16"):
        store.FeatureBank(tmp_path / "bad.npy")
    np.save(tmp_path / "shape.npy", np.zeros((10, 12), np.float32))
    with pytest.raises(EasyOWWError, match="shape"):
        store.FeatureBank(tmp_path / "shape.npy")


def test_clip_bank_is_real_audio(base):
    import soundfile as sf

    clips = clip_bank(base)
    info = sf.info(str(next((clips / "positive").glob("synth_*.wav"))))
    assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"


# --------------------------------------------------------------------------- negative speech streams
def _write_passages(project, cfg, n: int = 4) -> list[str]:
    """Long 'passages' made of the bank's negative speech clips (clean + one augmented copy each)."""
    from core.audio.files import load_clip, write_wav

    clips_dir = project.clips_dir(cfg)
    negs = sorted((clips_dir / "negative").glob("synth_neg_*.wav"))
    names = []
    for i in range(n):
        parts = [load_clip(p) for p in negs[i * 6 : i * 6 + 6]]
        x = np.concatenate(parts)
        write_wav(clips_dir / "negative_speech" / f"speech_{i:05d}.wav", x)
        write_wav(clips_dir / "negative_speech_augmented" / f"speech_{i:05d}_a0.wav", x * 0.5)
        names.append(f"speech_{i:05d}")
    return names


def test_negative_speech_is_embedded_as_streams(base, tmp_path, monkeypatch):
    monkeypatch.setattr(phase, "STREAM_CHUNK_FILES", 2)
    project, cfg = new_project(tmp_path / "a", base)
    _write_passages(project, cfg)
    plan = feature_plan.plan_features(project.clips_dir(cfg), cfg)
    train = {feature_plan.source_id(f) for f in plan.rows["train_negative_speech"]}
    val = {feature_plan.source_id(f) for f in plan.rows["val_negative_speech"]}
    assert len(train) == 3 and len(val) == 1 and not train & val  # split by passage, copies follow
    assert len(plan.rows["train_negative_speech"]) == 6

    # killed part-way (cancel after the first stream chunk), then resumed
    cancel = threading.Event()

    def report(ev):
        if isinstance(ev, Progress) and "negative_speech" in ev.message:
            cancel.set()

    from core.errors import Cancelled

    with pytest.raises(Cancelled):
        phase.run_feature_phase(project, cfg, report, cancel)
    phase.run_feature_phase(project, cfg, null_report, None)
    fdir = project.features_dir(cfg)
    manifest = json.loads((fdir / "manifest.json").read_text())
    ext = embedder.FeatureExtractor(locate_feature_models(None), threads=1)
    for split in feature_plan.SPLITS:
        arr = store.load_features(fdir, split, "negative_speech")
        files = store.load_sidecar(fdir, split, "negative_speech")["files"]
        want = np.concatenate([windows.stream_file_windows(ext, project.clips_dir(cfg) / f, cfg.seed, f) for f in files])
        assert arr.shape == want.shape == tuple(manifest["arrays"][f"{split}_negative_speech"])
        np.testing.assert_allclose(arr, want, atol=1e-5)
    # 6 s passages (+1.5 s of padding) at a 3-frame stride: about 23 windows each
    n_train = len(store.load_features(fdir, "train", "negative_speech"))
    assert 6 * 15 < n_train < 6 * 35

    # the same arrays without the interruption
    project2, cfg2 = new_project(tmp_path / "b", base)
    _write_passages(project2, cfg2)
    phase.run_feature_phase(project2, cfg2, null_report, None)
    for split in feature_plan.SPLITS:
        np.testing.assert_array_equal(store.load_features(fdir, split, "negative_speech"),
                                      store.load_features(project2.features_dir(cfg2), split, "negative_speech"))


def test_stream_windows_slice_embed_stream():
    ext = embedder.FeatureExtractor(locate_feature_models(None), threads=1)
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(16000 * 4) * 2000).astype(np.int16)
    emb = ext.embed_stream(audio)
    wins = embedder.stream_windows(emb, 3)
    assert wins.shape == ((len(emb) - 16) // 3 + 1, 16, 96)
    np.testing.assert_array_equal(wins[2], emb[6:22])


def test_feature_pool_gives_the_same_arrays(base, featured, tmp_path, monkeypatch):
    """Two worker processes (the default for big projects) write the same arrays as one process."""
    monkeypatch.setattr(phase, "CHUNK_CLIPS", 24)
    project, cfg = new_project(tmp_path, base)
    events: list = []
    out = phase.run_feature_phase(project, cfg, events.append, None, workers=2)
    assert out["skipped"] is False and isinstance(events[-1], PhaseFinished) and events[-1].ok
    assert any("2 process(es)" in getattr(e, "message", "") for e in events)
    dones = [e.done for e in events if isinstance(e, Progress)]
    assert dones == sorted(dones) and dones[-1] == feature_plan.plan_features(project.clips_dir(cfg), cfg).total
    ref_project, ref_cfg = featured
    for split in feature_plan.SPLITS:
        for cls in feature_plan.CLASSES:
            assert store.load_sidecar(project.features_dir(cfg), split, cls) == store.load_sidecar(
                ref_project.features_dir(ref_cfg), split, cls)
            np.testing.assert_allclose(store.load_features(project.features_dir(cfg), split, cls),
                                       store.load_features(ref_project.features_dir(ref_cfg), split, cls), atol=1e-5)


def test_batched_melspectrogram_equals_one_call_per_chunk():
    """The per-row-clamp melspectrogram gives exactly what openWakeWord's one-call-per-80-ms-chunk does."""
    fm = locate_feature_models(None)
    ext = embedder.FeatureExtractor(fm, threads=1)
    assert ext._mel_batched is not None
    rng = np.random.default_rng(1)
    n = 16000 * 12
    level = np.repeat(rng.random(n // embedder.CHUNK + 1) ** 3, embedder.CHUNK)[:n]  # loud and near-silent chunks
    audio = np.round(rng.standard_normal(n) * 8000 * level)
    batched = ext.mel_stream(audio)
    ext._mel_batched = None
    np.testing.assert_array_equal(batched, ext.mel_stream(audio))


def test_sequence_embedding_equals_one_window_at_a_time():
    """The speech-embedding model run over whole stretches of frames gives exactly what each 76-frame window gives
    (and a batch of clips' melspectrograms in one call what one call per chunk gives)."""
    fm = locate_feature_models(None)
    ext = embedder.FeatureExtractor(fm, threads=1)
    assert ext._emb_seq is not None
    windowed = embedder.FeatureExtractor(fm, threads=1)
    windowed._emb_seq = windowed._mel_batched = None  # one window per embedding call, one chunk per melspectrogram call
    rng = np.random.default_rng(2)
    n = 16000 * 11 + 700  # several sequence calls and a ragged end
    level = np.repeat(rng.random(n // embedder.CHUNK + 1) ** 2, embedder.CHUNK)[:n]
    audio = np.round(rng.standard_normal(n) * 6000 * level)
    seq = ext.embed_stream(audio)
    assert len(seq) > embedder.SEQUENCE_WINDOWS and seq.shape == (n // embedder.CHUNK - 9, 96)
    np.testing.assert_array_equal(seq, windowed.embed_stream(audio))
    clips = np.round(rng.standard_normal((5, embedder.MEL_CONTEXT + embedder.WINDOW_SAMPLES)) * 3000)
    np.testing.assert_array_equal(ext.clip_windows(clips), windowed.clip_windows(clips))
    assert ext.clip_windows(clips[:0]).shape == (0, 16, 96)
    # a graph that is not the convolutional embedding model is refused, not rewritten
    assert embedder.sequence_embedding_bytes(fm.melspec) is None


def test_unseen_calibration_passages_are_embedded_once_each(tmp_path):
    """Calibration passages: the augmented copy replaces the clean one where there is one; wake words keep both."""
    import soundfile as sf

    from core.pipeline.p1_clips.generator import passage_is_augmented
    from tests.model_fixtures import small_cfg

    clips = tmp_path / "clips"
    for sub in ("unseen/negative", "unseen/negative_augmented", "unseen/positive", "unseen/positive_augmented"):
        (clips / sub).mkdir(parents=True)
    x = np.zeros(16000, np.int16)
    names = [f"cal_{k:05d}" for k in range(6)]
    for n in names:
        sf.write(clips / "unseen/negative" / f"{n}.wav", x, 16000, subtype="PCM_16")
        if passage_is_augmented(n + ".wav"):
            sf.write(clips / "unseen/negative_augmented" / f"{n}_a0.wav", x, 16000, subtype="PCM_16")
    sf.write(clips / "unseen/positive/unseen_00000.wav", x, 16000, subtype="PCM_16")
    sf.write(clips / "unseen/positive_augmented/unseen_00000_a0.wav", x, 16000, subtype="PCM_16")
    (clips / "positive").mkdir()
    rows = feature_plan.plan_features(clips, small_cfg()).rows
    neg = rows["unseen_negative"]
    assert sorted(feature_plan.source_id(f) for f in neg) == names
    assert all(("augmented" in f) == passage_is_augmented(feature_plan.source_id(f) + ".wav") for f in neg)
    assert len(rows["unseen_positive"]) == 2


def test_unseen_items_are_streamed_from_quiet_only_when_clean():
    """A clean unseen item is streamed after low noise (a quiet room, then someone speaks); a copy in a room or over
    noise carries its own noise around it and is streamed as it is, so the jump from near-silence into a noisy
    room (never heard by a home microphone) is not counted as a false accept."""
    from core.pipeline.p3_features.windows import unseen_padding

    lead, tail = unseen_padding(3, "unseen/negative/cal_00001.wav", False)
    assert len(lead) == 16000 and len(tail) == 8000 and 1.0 < np.std(lead) < 5.0
    lead, tail = unseen_padding(3, "unseen/positive/unseen_00001.wav", True)
    assert len(lead) == len(tail) == 16000
    for rel in ("unseen/negative_augmented/cal_00001_a0.wav", "unseen/positive_augmented/unseen_00001_a0.wav"):
        assert [len(p) for p in unseen_padding(3, rel, "positive" in rel)] == [0, 0]
