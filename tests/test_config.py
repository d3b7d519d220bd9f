"""TrainingConfig: defaults, validation and YAML round trips with clear errors."""

import pytest

from core.errors import ConfigError
from core.project.config import ConfigManager, TrainingConfig, name_problem


def test_defaults_match_seed():
    cfg = TrainingConfig.create_default("hey_jarvis", "hey jarvis")
    assert (cfg.target_samples, cfg.real_samples, cfg.synthetic_samples) == (1000, 20, 980)
    assert (cfg.max_steps, cfg.batch_size, cfg.learning_rate) == (10000, 512, 0.001)
    assert (cfg.sample_rate, cfg.clip_duration_ms, cfg.min_voices) == (16000, 1000, 2)
    assert cfg.use_augmentation and cfg.augmentation_probability == 0.8
    assert cfg.noise_probability == 0.5 and cfg.rir_probability == 0.5
    assert cfg.negative_speech_minutes == 0.0  # automatic: scales with the positives
    assert cfg.augmentations_per_clip == 4  # copies after the first are noisy/reverberant more often
    assert TrainingConfig.quick("q", "hey jarvis").augmentations_per_clip == 2
    assert cfg.validate() == (True, [])


def test_negative_speech_minutes_range():
    cfg = TrainingConfig.create_default("hey_jarvis", "hey jarvis")
    cfg.negative_speech_minutes = -1.0
    ok, errors = cfg.validate()
    assert not ok and any(e.startswith("negative_speech_minutes:") for e in errors)
    cfg.negative_speech_minutes = 90
    assert cfg.validate() == (True, [])


def test_save_load_roundtrip(tmp_path):
    cfg = TrainingConfig.create_default("hey_jarvis", "hey jarvis", tmp_path)
    loaded = TrainingConfig.load(tmp_path / "config.yaml")
    assert loaded == cfg
    assert loaded.fingerprint() == cfg.fingerprint()


@pytest.mark.parametrize(
    "text, needle",
    [
        ("wake_word: [unclosed\n", "not valid YAML at line"),
        ("- just\n- a list\n", "expected a mapping"),
        ("wake_word: hi\nproject_name: p\nbogus_key: 1\n", "unknown key(s) bogus_key"),
        ("wake_word: hi\nproject_name: p\nmax_steps: lots\n", "max_steps: expected int"),
        ("wake_word: hi\nproject_name: p\nbatch_size: 0\n", "batch_size: 0 is out of range; allowed 2"),
        ("wake_word: hi\nproject_name: p\nlearning_rate: 5\n", "learning_rate: 5.0 is out of range"),
        ("wake_word: hi\nproject_name: p\nsample_rate: 8000\n", "sample_rate: 8000 is not allowed; use one of 16000"),
        ("wake_word: hi\nproject_name: p\nuse_augmentation: maybe\n", "use_augmentation: expected bool"),
        ("wake_word: hi\nproject_name: ../evil\n", "project_name:"),
        ("wake_word: hi\nproject_name: p\nclips_dir: ../../etc\n", "clips_dir"),
        ("project_name: p\n", "missing required key 'wake_word'"),
        ("wake_word: '  '\nproject_name: p\n", "wake_word: is empty"),
        ("wake_word: hi\nproject_name: p\nvoices: joe\n", "voices: expected a list"),
        ("wake_word: hi\nproject_name: p\ndropout: .nan\n", "NaN is not allowed"),
    ],
)
def test_bad_yaml_and_values_name_the_key(tmp_path, text, needle):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        TrainingConfig.load(path)
    assert needle in str(err.value)
    assert str(path) in str(err.value)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("wake_word: !!python/object/apply:os.system ['echo pwned']\nproject_name: p\n")
    with pytest.raises(ConfigError):
        TrainingConfig.load(path)


def test_validate_lists_every_problem():
    cfg = TrainingConfig.create_default("p", "hi")
    cfg.batch_size = 1
    cfg.noise_probability = 2.0
    ok, errors = cfg.validate()
    assert not ok and len(errors) == 2
    assert any("batch_size" in e for e in errors) and any("noise_probability" in e for e in errors)


@pytest.mark.parametrize("name", ["", "..", "a/b", "a b", "x" * 100, "-rf", "héllo", "a\\b", "a\x00b"])
def test_unsafe_names_refused(name):
    assert name_problem(name)


@pytest.mark.parametrize("name", ["hey_jarvis", "Computer-2", "a"])
def test_safe_names(name):
    assert name_problem(name) is None


def test_config_manager(tmp_path):
    mgr = ConfigManager(tmp_path)
    assert mgr.list_projects() == []
    mgr.save(TrainingConfig.create_default("one", "hey one"))
    mgr.save(TrainingConfig.create_default("two", "hey two"))
    assert mgr.list_projects() == ["one", "two"]
    assert mgr.load("two").wake_word == "hey two"


def test_pronunciation_changes_the_clip_phase_only_once_set() -> None:
    """Projects made before the setting existed keep their finished phases; setting it redoes the clips."""
    import hashlib
    import json

    from core.pipeline.orchestrator import _LATER_KEYS, _PHASE_KEYS, phase_fingerprint
    from core.pipeline.phases import PHASES

    cfg = TrainingConfig(wake_word="hey mycroft", project_name="m")
    keys = [k for p in PHASES[: PHASES.index("clips") + 1] for k in _PHASE_KEYS[p] if k not in _LATER_KEYS]
    data = cfg.to_dict()
    before = hashlib.sha256(json.dumps({k: data[k] for k in keys}, sort_keys=True).encode()).hexdigest()[:16]
    assert phase_fingerprint(cfg, "clips") == before  # as the version without the setting computed it
    cfg.pronunciation = "hey my croft"
    assert phase_fingerprint(cfg, "clips") != before
    cfg.pronunciation, cfg.phrasings = "", ["ok mycroft"]  # other phrasings (issue #18): the same rule
    assert phase_fingerprint(cfg, "clips") != before


def test_feature_noise_retrains_only_once_set_to_another_value() -> None:
    """A model trained before the setting existed stays finished; setting it redoes training, not the features."""
    from core.pipeline.orchestrator import phase_fingerprint

    cfg = TrainingConfig(wake_word="hey mycroft", project_name="m")
    base = {p: phase_fingerprint(cfg, p) for p in ("features", "training", "evaluation")}
    cfg.feature_noise = 0.3
    assert phase_fingerprint(cfg, "features") == base["features"]
    assert phase_fingerprint(cfg, "training") != base["training"]
    assert phase_fingerprint(cfg, "evaluation") != base["evaluation"]
