"""`easy-oww check` and core.project.word_check: is a phrase a good wake word? (issue #18)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from core.audio import espeak_lib
from core.errors import EasyOWWError
from core.project.word_check import (
    arpabet_to_ipa,
    check_phrase,
    ipa_syllables,
    preview,
    word_frequencies,
    zipf,
)
from easy_oww_tui.cli import main
from tests.audio_device import audio_device, share_heard  # noqa: F401

needs_espeak = pytest.mark.skipif(not espeak_lib.available(), reason="espeakng-loader is not installed")


def warnings_of(report) -> list[str]:
    return [a.text for a in report.advice if a.level == "warning"]


def test_frequency_list_is_bundled_and_ordered():
    freq = word_frequencies()
    assert len(freq) > 20000
    assert zipf("the") > zipf("computer") > zipf("jarvis") > 0
    assert zipf("rhasspy") == 0.0  # rarer than the list goes


def test_arpabet_and_syllables():
    assert arpabet_to_ipa("JH AA1 R V IH0 S") == "dʒˈɑɹvɪs"
    assert ipa_syllables("hˈeɪ dʒˈɑːɹvɪs") == 3  # a diphthong and a long vowel count once
    assert ipa_syllables("zˈɔːɹbjʊlən") == 3


def test_good_wake_word_has_no_warning():
    r = check_phrase("Hey Jarvis!")
    assert r.phrase == "hey jarvis" and r.syllables == 3
    assert warnings_of(r) == [] and r.verdict == "good"
    assert [w.word for w in r.words] == ["hey", "jarvis"]
    assert r.words[1].dictionary.startswith("dʒ")
    assert r.near_misses and all("jarvis" in p or "hey" in p or "jar" in p for p in r.near_misses)


def test_everyday_word_is_warned_and_its_sound_alikes_listed():
    r = check_phrase("computer")
    assert any("Everyday word" in t and '"computer"' in t for t in warnings_of(r))
    words = [w for w, _ in r.confusable_words]
    assert "computers" in words and "commuter" in words
    zipfs = [z for _, z in r.confusable_words]
    assert zipfs == sorted(zipfs, reverse=True)  # the most common (most likely heard) first
    assert r.verdict == "fair"


def test_greeting_softens_an_everyday_word():
    r = check_phrase("hey computer")
    assert not any("Everyday" in t for t in warnings_of(r))
    assert any(a.level == "note" and "Everyday" in a.text for a in r.advice)


def test_short_word_is_too_short():
    r = check_phrase("hi")
    assert r.syllables == 1
    assert any(t.startswith("Too short: 1 syllable.") for t in warnings_of(r))
    assert r.verdict == "poor"  # too short and everyday


@needs_espeak
def test_made_up_word_gets_the_voices_pronunciation():
    r = check_phrase("zorbulon")
    (w,) = r.words
    assert w.dictionary == "" and w.voices_say.startswith("z") and w.syllables == 3
    notes = [a.text for a in r.advice if a.level == "note"]
    assert any("not in the pronouncing dictionary" in t and w.voices_say in t for t in notes)
    assert r.near_misses  # spelling neighbours still give it sound-alikes to list


@needs_espeak
def test_mispronounced_word_shows_what_the_voices_say_and_the_fix():
    r = check_phrase("hey mycroft")
    mycroft = r.words[1]
    assert "ɪ" in mycroft.voices_say  # espeak-ng says MIH-kroft: the check shows it
    assert mycroft.respellings == ("my croft",)
    assert any('"my croft"' in a.text for a in r.advice)
    fixed = check_phrase("hey mycroft", pronunciation="hey my croft")
    assert fixed.spoken == "hey my croft" and all(w.dictionary for w in fixed.words)
    assert not any("not in the pronouncing dictionary" in a.text for a in fixed.advice)


def test_digits_and_empty_input():
    assert any("Digits" in t for t in warnings_of(check_phrase("hey r2d2")))
    with pytest.raises(EasyOWWError, match="Type the wake word"):
        check_phrase("  ")
    with pytest.raises(EasyOWWError, match="no letters"):
        check_phrase("!!!")


def test_cli_check_four_words_offline(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    runner = CliRunner()
    out = {}
    for phrase in ("hey jarvis", "computer", "hi", "zorbulon"):
        res = runner.invoke(main, ["--workspace", str(tmp_path), "check", phrase])
        assert res.exit_code == 0, res.output
        assert "Traceback" not in res.output
        out[phrase] = res.output
    assert "verdict: good" in out["hey jarvis"]
    assert "Everyday word" in out["computer"] and "sounds like" in out["computer"]
    assert "Too short" in out["hi"] and "verdict: poor" in out["hi"]
    assert "zorbulon" in out["zorbulon"] and "not in it" in out["zorbulon"]


def test_cli_check_json_and_saved_preview(tmp_path: Path):
    res = CliRunner().invoke(main, ["--workspace", str(tmp_path / "ws"), "check", "computer", "--json",
                                    "--save", str(tmp_path / "preview")])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output[: res.output.rindex("}") + 1])
    assert data["verdict"] == "fair" and data["syllables"] == 3
    import soundfile as sf

    wavs = sorted((tmp_path / "preview").glob("*.wav"))
    assert len(wavs) >= 1 + int(espeak_lib.available())  # Piper joe, then espeak-ng voices
    for path in wavs:
        x, sr = sf.read(str(path))
        assert sr == 16000 and 0.3 < len(x) / sr < 3.0 and np.max(np.abs(x)) > 0.1


@pytest.mark.audio
def test_cli_check_plays_the_preview_on_the_sound_device(audio_device, monkeypatch, tmp_path: Path):  # noqa: F811
    import sounddevice as sd

    from core.audio.tts import PiperTTS

    monkeypatch.setenv("PULSE_SINK", audio_device.sink)  # play into the sink the default input records
    heard: list[np.ndarray] = []
    with sd.InputStream(samplerate=16000, channels=1, dtype="float32", latency="high",
                        callback=lambda data, *_: heard.append(data[:, 0].copy())):
        res = CliRunner().invoke(main, ["--workspace", str(tmp_path), "check", "hey jarvis", "--play",
                                        "--voices", "1"])
        sd.sleep(500)
    assert res.exit_code == 0, res.output
    assert "playing en_US-joe-medium" in res.output
    recorded = np.concatenate(heard)
    (_, expected), = preview("hey jarvis", PiperTTS(None), voices=1)
    assert share_heard(recorded, expected) > 0.85  # the word itself, nearly every 50 ms of it clean
