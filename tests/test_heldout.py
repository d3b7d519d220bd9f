"""The quality benchmark's streaming scorer and held-out set builder (bench/)."""

from __future__ import annotations

import glob
import json
import re
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


# ------------------------------------------------------------------------------- words and splits
def test_word_table_gives_each_split_its_own_near_misses_names_and_commands():
    dev, test = heldout.SPLITS["dev"], heldout.SPLITS["test"]
    assert dev.seed == 20250917 and test.seed != dev.seed
    assert not set(dev.names) & set(test.names) and not set(dev.commands) & set(test.commands)
    assert test.frozen and not dev.frozen
    for label, w in heldout.WORDS.items():
        assert w.label == label and len(w.near_dev) >= 12 and len(w.near_test) >= 12
        assert w.near_miss("dev") != w.near_miss("test")
        assert not set(w.near_dev) & set(w.near_test), label
        # no near miss says the wake word itself
        for phrase in w.near_dev + w.near_test:
            assert not re.search(rf"\b{heldout._phrase_regex(w.spoken)}\b", phrase), phrase
    # dev "hey jarvis" is the set as it was
    jarvis = heldout.wake_word("Hey_Jarvis")
    assert jarvis.forms == heldout.WAKE_FORMS and list(jarvis.near_dev) == heldout.NEAR_MISS
    assert list(dev.names) == heldout.NAMES and list(dev.commands) == heldout.COMMANDS
    # "hey mycroft" is said as "hey my croft" (what the pretrained model heard) but labelled as the word
    myc = heldout.wake_word("hey mycroft")
    assert (myc.label, myc.spoken, myc.slug) == ("hey mycroft", "hey my croft", "hey_mycroft")
    assert all("my croft" in f.lower() for f in myc.forms)


def test_phrases_outside_the_table_get_generated_near_misses_per_split():
    w = heldout.wake_word("  Hey  Computer ")
    assert (w.label, w.spoken, w.reference) == ("hey computer", "hey computer", None)
    assert len(w.near_dev) >= 8 and len(w.near_test) >= 8 and not set(w.near_dev) & set(w.near_test)
    assert "hey computer" not in w.near_dev + w.near_test
    assert heldout.wake_word("okay nabu").reference == "okay_nabu"  # pyopen-wakeword has one of that name


def test_references_and_projects_per_word():
    import quality

    assert quality.reference_for("alexa")[1].name == "alexa.tflite"
    assert quality.reference_for("hey mycroft")[1].name == "hey_mycroft.tflite"
    assert quality.reference_for("hey jarvis") == (quality.REFERENCE_LABEL, ss.reference_model_path("hey_jarvis"))
    assert quality.reference_for("hey computer") is None
    assert quality.project_name("hey mycroft") == "hey_mycroft" and quality.project_name("alexa", True) == "alexa_quick"
    title = quality.table_title("alexa", "test")
    assert "'alexa'" in title and "test split" in title and "frozen" in title
    assert quality.format_table([], title).splitlines()[0] == title


def test_require_parity_without_a_reference_is_refused_before_training(capsys):
    import quality

    with pytest.raises(SystemExit) as exc:
        quality.main(["--word", "hey computer", "--require-parity", "--skip-train"])
    assert exc.value.code == 2 and "has none" in capsys.readouterr().err


def test_cache_layout_and_legacy_spec_record():
    root = heldout.CACHE_ROOT
    assert heldout.default_cache("dev", "hey jarvis") == root / "heldout" == heldout.DEFAULT_CACHE
    assert heldout.default_negatives("dev") == root / "heldout"
    assert heldout.default_cache("dev", "alexa") == root / "heldout_dev_alexa"
    assert heldout.default_cache("test", "hey mycroft") == root / "heldout_test_hey_mycroft"
    assert heldout.default_negatives("test") == root / "heldout_test_negatives"
    # dev "hey jarvis" records its spec as before words and splits existed, so built sets stay valid
    assert set(heldout._spec_dict(heldout.Spec())) == {
        "positives_per_voice", "commands_per_voice", "near_miss_reps", "negative_minutes", "part_seconds", "seed",
        "voices", "near_miss", "rooms", "corpus"}
    assert heldout.Spec.for_split("dev") == heldout.Spec()
    t = heldout.Spec.for_split("test", "alexa")
    assert (t.seed, t.word, t.sounds) == (heldout.SPLITS["test"].seed, "alexa", tuple(heldout.SOUND_PACKAGES))
    assert heldout._spec_dict(t)["split"] == "test"


def test_the_test_split_is_frozen():
    """The test split is only for reporting. Change nothing in its definition: make a new split instead."""
    assert heldout.split_fingerprint("test") == "e0449c65a05c36ca"
    assert {w: heldout.split_fingerprint("test", w) for w in ("hey jarvis", "alexa", "hey mycroft")} == {
        "hey jarvis": "f71ceac5269dd678", "alexa": "3bebc6b1e7119cae", "hey mycroft": "6290ca26cf57912f"}


def test_test_split_phrases_are_not_training_phrases():
    """Training's own adversarial phrases (core.pipeline.p1_clips.phrases) must not name the test split's near misses or names:
    if this fails after a change to core/pipeline/p1_clips/phrases.py, take the phrase out of training (the test split is frozen)."""
    from core.pipeline.p1_clips import phrases

    for w in heldout.WORDS.values():
        trained: set[str] = set()
        for seed in (0, 1234):
            for texts in phrases.adversarial_categories(w.label, seed).values():
                trained |= {phrases.normalize_text(t) for t in texts}
        assert not [p for p in w.near_test if phrases.normalize_text(p) in trained], w.label
        assert not [n for n in heldout.TEST_NAMES if f"hey {n}" in trained], w.label


def test_training_code_never_reads_the_evaluation_only_material():
    root = BENCH.parent
    pattern = re.compile(r"/usr/share/sounds|/usr/share/doc|common-licenses|festvox|text2wave|\bflite\b|"
                         r"pydoc_data|heldout|pyopen_wakeword")
    hits = [f"{p.relative_to(root)}: {m.group(0)}" for d in ("core", "easy_oww_tui") for p in (root / d).rglob("*.py")
            for m in [pattern.search(p.read_text(encoding="utf-8"))] if m]
    assert not hits


def test_a_phrase_in_the_shared_text_gets_a_negative_stream_of_its_own(tmp_path):
    shared = tmp_path / "neg"
    shared.mkdir()
    spec = heldout.Spec.for_split("test", "hey computer", corpus="small")
    record = {"split": "test", "seed": spec.seed, "corpus": "small", "terms": [],
              "definition": heldout.split_fingerprint("test"),
              "texts": ["Hey, computer: what time is it?", "nothing here"], "babble": ["hey james"]}
    (shared / "corpus.json").write_text(json.dumps(record))
    b = heldout.Builder(tmp_path / "w", spec, 1, lambda s: None, shared)
    assert b._choose_negative_root() == tmp_path / "w" and b.neg_terms
    cleaned = heldout.redact(record["texts"], heldout.terms_pattern(heldout.SHARED_TERMS + b.neg_terms))
    assert "computer" not in cleaned[0] and "what time is it?" in cleaned[0] and cleaned[1] == "nothing here"
    other = heldout.Builder(tmp_path / "w2", heldout.Spec.for_split("test", "hey toaster", corpus="small"), 1,
                            lambda s: None, shared)
    assert other._choose_negative_root() == shared and not other.neg_terms
    table = heldout.Builder(tmp_path / "w3", heldout.Spec.for_split("test", "alexa"), 1, lambda s: None, shared)
    assert table._choose_negative_root() == shared  # table words never occur in any stream


@needs_flite
def test_tiny_alexa_test_split_shares_its_negative_stream_with_other_words(tmp_path):
    sounds = ("sound-theme-freedesktop",) if glob.glob(heldout.SOUND_PACKAGES["sound-theme-freedesktop"]) else ()
    kw = {"positives_per_voice": 1, "commands_per_voice": 1, "near_miss_reps": 1, "negative_minutes": 0.5,
          "part_seconds": 15.0, "voices": ("flite:slt",), "rooms": 2, "corpus": "small", "sounds": sounds}
    spec = heldout.Spec.for_split("test", "alexa", near_miss=("alexia",), **kw)
    logs: list[str] = []
    m = heldout.build_heldout(tmp_path / "alexa", spec, workers=1, log=logs.append, negatives=tmp_path / "neg")
    assert (m["word"], m["split"], m["frozen"], m["reference"]) == ("alexa", "test", True, "alexa")
    assert m["counts"] == {"positive": 3, "near_miss": 2, "negative": 2}
    assert m["roots"] == {"negative": "../neg"} and not (tmp_path / "alexa" / "negative").exists()
    assert all("alexa" in it["text"].lower() for it in m["items"]["positive"])
    assert any(it["group"] == "command" and it["text"].split(", ")[1] in heldout.TEST_COMMANDS
               for it in m["items"]["positive"])
    assert all("f0" in it for it in m["items"]["positive"])  # the test split moves the intonation target
    for cat in m["items"]:
        for it in m["items"][cat]:
            assert heldout.item_path(tmp_path / "alexa", m, cat, it["file"]).is_file()
    neg = [heldout.item_path(tmp_path / "alexa", m, "negative", it["file"]) for it in m["items"]["negative"]]
    assert all(it["file"].endswith(f"_{heldout.SPLITS['test'].seed}.wav") for it in m["items"]["negative"])
    mtimes = [p.stat().st_mtime_ns for p in neg]
    assert (tmp_path / "neg" / "definition.txt").read_text().strip() == heldout.split_fingerprint("test")
    assert (tmp_path / "alexa" / "definition.txt").read_text().strip() == heldout.split_fingerprint("test", "alexa")

    # a second word reuses the stream: only its own items are built
    m2 = heldout.build_heldout(tmp_path / "myc", heldout.Spec.for_split("test", "hey mycroft", near_miss=("hey my cat",),
                                                                        **{**kw, "commands_per_voice": 0}),
                               workers=1, log=logs.append, negatives=tmp_path / "neg")
    assert m2["items"]["negative"] == m["items"]["negative"]
    assert [p.stat().st_mtime_ns for p in neg] == mtimes
    assert {it["text"] for it in m2["items"]["positive"]} <= set(heldout.wake_word("hey mycroft").forms)

    # a folder built under another definition of the frozen split is refused
    (tmp_path / "myc" / "definition.txt").write_text("0123456789abcdef\n")
    with pytest.raises(RuntimeError, match="another definition"):
        heldout.build_heldout(tmp_path / "myc", heldout.Spec.for_split("test", "hey mycroft", **kw),
                              workers=1, log=logs.append, negatives=tmp_path / "neg")

    import quality

    embs = quality.load_embeddings(tmp_path / "alexa", m, log=logs.append)
    assert (tmp_path / "neg" / "embeddings").is_dir()  # the shared stream's embeddings live with it
    res = quality.evaluate(ss.load_head(quality.reference_for("alexa")[1]), m, embs, "alexa")
    assert res["positives"] == 3 and set(res["recall_by_voice_at_0.5"]) == {"flite:slt"}
    assert res["negative_hours"] == pytest.approx(30 / 3600, abs=1e-3)
