"""The Piper voice catalog, voice choice and installs, against a local Hub-like server."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest
from click.testing import CliRunner

from core.assets import net_errors
from core.assets import voice_catalog as vc
from core.project.workspace import Workspace
from easy_oww_tui.cli import main
from tests.http_fixture import closed_port, running_server

REPO = "rhasspy/piper-voices"
LANGS = {
    "en_US": ("en", "US", "United States"),
    "en_GB": ("en", "GB", "Great Britain"),
    "de_DE": ("de", "DE", "Germany"),
}
# (locale, name, quality, speakers)
VOICES = [
    ("en_US", "amy", "low", 1), ("en_US", "amy", "medium", 1), ("en_US", "lessac", "medium", 1),
    ("en_US", "lessac", "high", 1), ("en_US", "ryan", "medium", 1), ("en_US", "joe", "medium", 1),
    ("en_US", "kristin", "medium", 1), ("en_US", "bryce", "medium", 1), ("en_US", "sam", "medium", 1),
    ("en_US", "libritts_r", "medium", 904), ("en_US", "libritts", "high", 904), ("en_US", "l2arctic", "medium", 24),
    ("en_GB", "alan", "low", 1), ("en_GB", "alan", "medium", 1), ("en_GB", "alba", "medium", 1),
    ("en_GB", "vctk", "medium", 109), ("en_GB", "northern_english_male", "medium", 1),
    ("en_GB", "cori", "high", 1), ("en_GB", "southern_english_female", "low", 1),
    ("de_DE", "thorsten", "medium", 1),
]


def voice_files(locale: str, name: str, quality: str, speakers: int) -> dict[str, bytes]:
    family, region, country = LANGS[locale]
    key = f"{locale}-{name}-{quality}"
    base = f"{family}/{locale}/{name}/{quality}/{key}"
    model = hashlib.sha256(key.encode()).digest() * 300  # 9.6 KB stand-in for the ONNX model
    config = json.dumps({
        "audio": {"sample_rate": 22050, "quality": quality}, "num_speakers": speakers, "dataset": name,
        "language": {"code": locale, "family": family, "region": region, "name_english": "English",
                     "country_english": country},
    }).encode()
    return {f"{base}.onnx": model, f"{base}.onnx.json": config, f"{family}/{locale}/{name}/{quality}/MODEL_CARD": b"card"}


def build_catalog(srv, voices=VOICES, corrupt: str | None = None) -> dict:
    catalog = {}
    for locale, name, quality, speakers in voices:
        family, region, country = LANGS[locale]
        key = f"{locale}-{name}-{quality}"
        files = voice_files(locale, name, quality, speakers)
        for path, data in files.items():
            served = b"corrupted" + data if key == corrupt and path.endswith(".onnx") else data
            srv.add_hub_file(REPO, path, served, lfs=path.endswith(".onnx"))
        catalog[key] = {
            "key": key, "name": name, "quality": quality, "num_speakers": speakers,
            "speaker_id_map": {f"p{i}": i for i in range(speakers)} if speakers > 1 else {},
            "language": {"code": locale, "family": family, "region": region, "name_native": "English",
                         "name_english": "English" if family == "en" else "German", "country_english": country},
            "files": {p: {"size_bytes": len(d) if not (key == corrupt and p.endswith(".onnx")) else len(d) + 9,
                          "md5_digest": hashlib.md5(d).hexdigest()} for p, d in files.items()},
            "aliases": [],
        }
    srv.add_hub_file(REPO, "voices.json", json.dumps(catalog).encode(), lfs=False)
    return catalog


@pytest.fixture
def hub(monkeypatch):
    with running_server() as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.base)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield srv


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.setenv("EASY_OWW_HOME", str(tmp_path / "ws"))
    return Workspace(tmp_path / "ws").ensure()


def parsed(srv=None) -> dict[str, vc.Voice]:
    with running_server() as s:
        return vc.parse_catalog(build_catalog(srv or s))


# ----------------------------------------------------------------------------- parsing & choice


def test_catalog_parses_real_format():
    cat = parsed()
    v = cat["en_US-libritts_r-medium"]
    assert (v.name, v.language, v.family, v.region, v.quality, v.num_speakers) == (
        "libritts_r", "en_US", "en", "US", "medium", 904)
    assert len(v.speaker_id_map) == 904 and v.sex == "mixed"
    assert v.model_file.path == "en/en_US/libritts_r/medium/en_US-libritts_r-medium.onnx"
    assert v.config_file.path.endswith(".onnx.json") and len(v.model_file.md5) == 32
    assert cat["en_GB-alba-medium"].sex == "female" and cat["en_GB-alan-low"].sex == "male"
    assert cat["en_US-sam-medium"].sex is None
    with pytest.raises(vc.VoiceCatalogError, match="malformed"):
        vc.parse_catalog({"x": {"name": "x"}})


def test_choose_prefers_multi_speaker_and_never_repeats():
    cat = parsed()
    two = vc.choose_voices(cat, "en_US", 2)
    assert [v.key for v in two] == ["en_US-libritts_r-medium", "en_US-l2arctic-medium"]  # never libritts too
    six = vc.choose_voices(cat, "en_US", 6)
    names = [v.name for v in six]
    assert len(set(names)) == 6 and "libritts" not in names
    singles = [v.sex for v in six[2:]]
    assert singles.count("female") == 2 and singles.count("male") == 2  # both sexes, balanced
    everything = vc.choose_voices(cat, "en_US", 50)
    assert len({v.name for v in everything}) == len(everything) == 9  # one entry per voice (libritts merged)
    assert all(v.quality == "medium" for v in everything)  # each voice at medium when it has it


def test_choose_regions_and_quality_fallback():
    cat = parsed()
    two = vc.choose_voices(cat, "en", 2)
    assert {v.region for v in two} == {"US", "GB"}
    assert [v.num_speakers > 1 for v in two] == [True, True]
    gb = vc.choose_voices(cat, "en_GB", 10)
    by_name = {v.name: v.quality for v in gb}
    assert by_name["cori"] == "high" and by_name["southern_english_female"] == "low" and by_name["alan"] == "medium"
    assert vc.choose_voices(cat, "en_GB", 2, exclude=["vctk"])[0].name not in ("vctk",)
    assert vc.choose_voices(cat, "de_DE", 3) == [cat["de_DE-thorsten-medium"]]
    with pytest.raises(vc.VoiceCatalogError, match="No Piper voice for language 'xx_YY'"):
        vc.choose_voices(cat, "xx_YY", 2)
    assert vc.find_voice(cat, "alan").key == "en_GB-alan-medium"
    assert vc.find_voice(cat, "en_GB-alan-low").key == "en_GB-alan-low"
    with pytest.raises(vc.VoiceCatalogError, match="No Piper voice named 'alanx'"):
        vc.find_voice(cat, "alanx")


# ----------------------------------------------------------------------------- cache


def test_catalog_is_cached_refreshed_and_used_offline(hub, ws, monkeypatch):
    build_catalog(hub)
    cat = vc.load_catalog(ws)
    assert "en_GB-vctk-medium" in cat and vc.catalog_path(ws).is_file()
    vc.load_catalog(ws)
    assert len(hub.gets("/voices.json")) == 1  # fresh cache: no request
    old = time.time() - 2 * 24 * 3600
    os.utime(vc.catalog_path(ws), (old, old))
    vc.load_catalog(ws)
    assert len(hub.gets("/voices.json")) == 2  # older than a day: refreshed

    os.utime(vc.catalog_path(ws), (old, old))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    events = []
    assert vc.load_catalog(ws, report=events.append) == cat  # offline: the cache, with a warning
    assert any(getattr(e, "level", "") == "warning" and "cached voice catalog" in e.message for e in events)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert vc.load_catalog(ws) == cat
    vc.catalog_path(ws).unlink()
    with pytest.raises(net_errors.OfflineError, match="What still works offline"):
        vc.load_catalog(ws)


# ----------------------------------------------------------------------------- installs & CLI


def test_download_voices_cli_installs_two_distinct_en_gb_voices(hub, ws):
    build_catalog(hub)
    result = CliRunner().invoke(main, ["download-voices", "--language", "en_GB", "--count", "2"],
                                env={"HF_ENDPOINT": hub.base, "EASY_OWW_HOME": str(ws.root)})
    assert result.exit_code == 0, result.output
    assert "Voices to download:" in result.output
    chosen = ["en_GB-vctk-medium", "en_GB-alan-medium"]  # multi-speaker first, then a different voice
    assert result.output.index("Voices to download:") < result.output.index(chosen[0])
    for key in chosen:
        assert key in result.output
        model, config = ws.voices_dir / f"{key}.onnx", ws.voices_dir / f"{key}.onnx.json"
        name = key.split("-")[1]
        files = voice_files("en_GB", name, "medium", 109 if name == "vctk" else 1)
        assert model.read_bytes() == files[f"en/en_GB/{name}/medium/{key}.onnx"]
        assert json.loads(config.read_text())["language"]["code"] == "en_GB"
    assert sorted(p.name for p in ws.voices_dir.iterdir()) == sorted(
        [f"{k}.onnx" for k in chosen] + [f"{k}.onnx.json" for k in chosen])
    installed = {v.key: v for v in vc.list_installed_voices(ws)}
    assert installed["en_GB-vctk-medium"].num_speakers == 109 and installed["en_GB-vctk-medium"].quality == "medium"
    assert installed["en_US-joe-medium"].bundled  # the bundled voice is always listed

    again = CliRunner().invoke(main, ["download-voices", "--language", "en_GB", "--count", "2"],
                               env={"HF_ENDPOINT": hub.base, "EASY_OWW_HOME": str(ws.root)})
    assert again.exit_code == 0, again.output  # installed voices are skipped: two more
    assert "en_GB-vctk-medium" not in again.output and len(list(ws.voices_dir.glob("*.onnx"))) == 4


def test_md5_mismatch_installs_nothing(hub, ws):
    build_catalog(hub, corrupt="en_GB-alan-medium")
    cat = vc.load_catalog(ws)
    with pytest.raises(net_errors.DownloadError, match="md5"):
        vc.install_voices(ws, [cat["en_GB-alan-medium"]])
    assert not list(ws.voices_dir.glob("en_GB-alan-medium.onnx*"))


def test_list_voices_cli(hub, ws):
    build_catalog(hub)
    env = {"HF_ENDPOINT": hub.base, "EASY_OWW_HOME": str(ws.root), "COLUMNS": "200"}
    r = CliRunner().invoke(main, ["list-voices"], env=env)
    assert r.exit_code == 0, r.output
    assert "en_US-joe-medium" in r.output and "bundled" in r.output
    r = CliRunner().invoke(main, ["list-voices", "--available", "--language", "en_GB"], env=env)
    assert r.exit_code == 0, r.output
    assert "en_GB-vctk-medium" in r.output and "en_US-amy-medium" not in r.output


def test_download_voices_offline_fails_fast(ws):
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}", "EASY_OWW_HOME": str(ws.root)}
    t0 = time.monotonic()
    r = CliRunner().invoke(main, ["download-voices", "--language", "en_GB"], env=env)
    assert time.monotonic() - t0 < 5
    assert r.exit_code == 1
    assert "offline" in r.output and "bundled joe voice, simulated rooms, generated noise" in r.output
    assert "Traceback" not in r.output


def test_train_offers_the_recommended_multi_speaker_voice(hub, ws, capsys):
    """`train --get-voice` fetches en_US-libritts_r-medium (checked download from the hub); without the flag a
    non-interactive run only prints a tip; once installed nothing is offered again."""
    from core.project.config import TrainingConfig
    from easy_oww_tui.cli.pipeline_cmds import offer_recommended_voice

    build_catalog(hub)
    cfg = TrainingConfig(wake_word="hey jarvis", project_name="p")
    assert not vc.has_multi_speaker_voice(ws)
    assert offer_recommended_voice(ws, cfg, None, interactive=False) is False
    assert "--get-voice" in capsys.readouterr().out and not list(ws.voices_dir.glob("*.onnx"))
    assert offer_recommended_voice(ws, cfg, True, interactive=False) is True
    model = ws.voices_dir / f"{vc.RECOMMENDED_VOICE}.onnx"
    files = voice_files("en_US", "libritts_r", "medium", 904)
    assert model.read_bytes() == files[f"en/en_US/libritts_r/medium/{vc.RECOMMENDED_VOICE}.onnx"]
    assert vc.has_multi_speaker_voice(ws)
    n_requests = len(hub.requests) if hasattr(hub, "requests") else None
    assert offer_recommended_voice(ws, cfg, None, interactive=True) is True  # installed: no question asked
    if n_requests is not None:
        assert len(hub.requests) == n_requests


def test_get_voice_offline_trains_on(ws, monkeypatch, capsys):
    from core.project.config import TrainingConfig
    from easy_oww_tui.cli.pipeline_cmds import offer_recommended_voice

    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    cfg = TrainingConfig(wake_word="hey jarvis", project_name="p")
    assert offer_recommended_voice(ws, cfg, True, interactive=False) is False
    out = capsys.readouterr().out
    assert "Could not download en_US-libritts_r-medium" in out and "training with the installed voices" in out
