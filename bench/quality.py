"""Model-quality benchmark: an easy-oww wake-word model beside the pretrained openWakeWord reference.

Trains ``--word`` ("hey jarvis" by default; "alexa", "hey mycroft" or any phrase) with the default offline
settings (unless ``--skip-train``), then scores that model, any ``--model`` given and the pretrained reference
of that word from pyopen-wakeword (``hey_jarvis``, ``alexa``, ``hey_mycroft``, ...; none for other phrases) on
the same held-out audio of ``--split`` (bench/heldout.py: voices, rooms, noise, music and text never used in
training), streamed the way a microphone streams (bench/stream_score.py). Prints recall and false accepts per
hour at 0.5, recall at the threshold where false accepts per hour <= 0.5, and near-miss accept rates; writes
the numbers as JSON.

``--split test`` (the default) is frozen: report its numbers, never choose a recipe by them (use ``dev``).

    python bench/quality.py [--word W] [--split dev|test] [--workspace DIR] [--model PATH ...] [--skip-train]
                            [--cache DIR] [--negatives DIR] [--quick] [--require-parity]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import heldout  # noqa: E402
import stream_score as ss  # noqa: E402

CACHE_ROOT = HERE / ".cache"
TARGET_FA = 0.5
CATEGORIES = ("positive", "near_miss", "negative")
REFERENCE_SUFFIX = " (pretrained reference)"
REFERENCE_LABEL = "hey_jarvis" + REFERENCE_SUFFIX


def reference_label(name: str) -> str:
    return name + REFERENCE_SUFFIX


def reference_for(word: str) -> tuple[str, Path] | None:
    """(label, path) of the pretrained pyopen-wakeword model of ``word``, or None when it has none."""
    name = heldout.wake_word(word).reference
    return (reference_label(name), ss.reference_model_path(name)) if name else None


# ----------------------------------------------------------------------------------------------- train
class PrintReporter:
    """Prints pipeline events: phase starts/ends, log lines, progress and metrics at most every 15 s."""

    def __init__(self, every: float = 15.0) -> None:
        self.every = every
        self._last: dict[str, float] = {}

    def _due(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, 0.0) >= self.every:
            self._last[key] = now
            return True
        return False

    def __call__(self, event: Any) -> None:
        from core import events as ev

        if isinstance(event, ev.PhaseStarted):
            print(f"[{event.phase}] started {event.description}".rstrip(), flush=True)
        elif isinstance(event, ev.PhaseFinished):
            secs = f" in {event.seconds:.0f} s" if event.seconds is not None else ""
            print(f"[{event.phase}] {'finished' if event.ok else 'FAILED'}{secs} {event.message}".rstrip(), flush=True)
        elif isinstance(event, ev.LogLine):
            print(f"[{event.phase or 'log'}] {event.level}: {event.message}", flush=True)
        elif isinstance(event, ev.Progress):
            if event.total and event.done >= event.total or self._due(f"p:{event.phase}"):
                total = f"/{event.total}" if event.total else ""
                print(f"[{event.phase}] {event.done}{total} {event.message}".rstrip(), flush=True)
        elif isinstance(event, ev.Metric):
            if self._due(f"m:{event.phase}:{event.name}"):
                step = f" step {event.step}" if event.step is not None else ""
                print(f"[{event.phase}] {event.name}={event.value:.4g}{step}", flush=True)


def project_name(word: str, quick: bool = False) -> str:
    """The benchmark's project for ``word``: the word with spaces as "_" ("hey_jarvis", "alexa")."""
    return heldout.normalise_word(word).replace(" ", "_") + ("_quick" if quick else "")


def train_default(workspace: Path, quick: bool = False, word: str = "hey jarvis", seed: int | None = None) -> Path:
    """Create (or reuse) the ``word`` project with default settings, run the pipeline, return the model."""
    from core.errors import ProjectError
    from core.pipeline.orchestrator import run_training
    from core.project.config import TrainingConfig
    from core.project.workspace import Workspace

    ws = Workspace(Path(workspace)).ensure()
    label = heldout.wake_word(word).label  # the wake word as trained ("hey mycroft", not the spoken "hey my croft")
    name = project_name(label, quick)
    cfg = TrainingConfig.quick(name, label) if quick else TrainingConfig.create_default(name, label)
    if seed is not None:  # another fresh run: different clips, splits and initial weights
        cfg.seed = seed
    try:
        project = ws.project(name)
        if project.load_config().to_dict() != cfg.to_dict():
            print(f"note: project {name} in {ws.root} has non-default settings; using them as they are.")
    except ProjectError:
        project = ws.create_project(cfg)
    print(f"training {name} in {ws.root} ...", flush=True)
    started = time.monotonic()
    summary = run_training(project.path, ws.root, report=PrintReporter())
    print(f"training finished in {time.monotonic() - started:.0f} s", flush=True)
    model = summary.model_path or project.model_path(project.load_config())
    if not Path(model).is_file():
        raise FileNotFoundError(f"Training finished but no model at {model}.")
    return Path(model)


# ------------------------------------------------------------------------------------------- embeddings
def _read_int16(path: Path) -> np.ndarray:
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="int16", always_2d=False)
    if sr != ss.SAMPLE_RATE or x.ndim != 1:
        raise ValueError(f"{path}: expected 16 kHz mono, got {sr} Hz, shape {x.shape}")
    return x


def load_embeddings(cache: Path, manifest: dict, threads: int = 1, log=print) -> dict[str, list[np.ndarray]]:
    """Streaming embeddings of every held-out item, computed once and cached per feature-model version.

    Each category's embeddings live beside its audio (``<root>/embeddings/<key>/<cat>.npz``), so a split's
    shared negative stream is embedded once for every word.
    """
    out: dict[str, list[np.ndarray]] = {}
    embedder = None
    for cat in CATEGORIES:
        root = heldout.category_root(Path(cache), manifest, cat)
        folder = root / "embeddings" / ss.features_key()
        folder.mkdir(parents=True, exist_ok=True)
        files = [it["file"] for it in manifest["items"][cat]]
        path = folder / f"{cat}.npz"
        known: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                offs, emb = z["offsets"], z["emb"]
                known = {str(f): emb[offs[i]:offs[i + 1]] for i, f in enumerate(z["files"])}
            if all(f in known for f in files):
                out[cat] = [known[f] for f in files]
                continue
        started = time.monotonic()
        embs = []
        for i, f in enumerate(files):
            if f not in known:
                if embedder is None:
                    embedder = ss.StreamingEmbedder(threads=threads)
                known[f] = embedder.embed(_read_int16(root / f))
            embs.append(known[f])
            if (i + 1) % 100 == 0 or (cat == "negative" and (i + 1) % 4 == 0):
                log(f"  embedding {cat}: {i + 1}/{len(files)} ({time.monotonic() - started:.0f} s)")
        # keep what other words' sets embedded in a shared folder too (their files first, then these)
        keep = [f for f in known if f not in set(files)] + files
        kept = [known[f] for f in keep]
        offsets = np.concatenate([[0], np.cumsum([len(e) for e in kept])]).astype(np.int64)
        from core.fsutil import atomic_path

        with atomic_path(path) as tmp:
            np.savez(tmp, emb=np.concatenate(kept) if kept else np.zeros((0, 96), np.float32),
                     offsets=offsets, files=np.array(keep, dtype=str))
        log(f"  embedded {len(files)} {cat} items in {time.monotonic() - started:.0f} s")
        out[cat] = embs
    return out


# --------------------------------------------------------------------------------------------- scoring
def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def saved_card(model: Path) -> dict[str, Any]:
    """The evaluation easy-oww saved beside a model (``<name>.json``: threshold, metrics), or {}."""
    card = model.with_suffix(".json")
    try:
        data = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and "threshold" in data else {}


def evaluate(head: ss.Head, manifest: dict, embs: dict[str, list[np.ndarray]], label: str) -> dict[str, Any]:
    """All benchmark numbers for one head."""
    started = time.monotonic()
    items = manifest["items"]
    pos_scores = ss.score_items(head, embs["positive"])
    near_scores = ss.score_items(head, embs["near_miss"])
    neg_scores = ss.score_items(head, embs["negative"])
    pos_max = np.array([s.max() if len(s) else 0.0 for s in pos_scores])
    near_max = np.array([s.max() if len(s) else 0.0 for s in near_scores])
    t_best = ss.lowest_threshold_under_fa(neg_scores, TARGET_FA)
    extra = [t_best] if t_best is not None else []  # the exact operating point joins the curve
    c = ss.curve(pos_max, neg_scores, near_max, np.union1d(ss.default_thresholds(), extra))
    i05 = ss.at_threshold(c, 0.5)
    best = ss.at_threshold(c, t_best) if t_best is not None else None

    def recall_by(key: str, t: float | None) -> dict[str, float]:
        groups: dict[str, list[float]] = {}
        for it, m in zip(items["positive"], pos_max, strict=True):
            groups.setdefault(str(it.get(key)), []).append(float(t is not None and m >= t))
        return {k: round(float(np.mean(v)), 3) for k, v in sorted(groups.items())}

    def fa_by_kind(t: float | None) -> dict[str, float]:
        kinds: dict[str, list[float]] = {}
        for it, s in zip(items["negative"], neg_scores, strict=True):
            trig, hours = kinds.setdefault(it["kind"], [0.0, 0.0])
            kinds[it["kind"]] = [trig + (ss.count_triggers(s, t) if t is not None else 0),
                                 hours + len(s) * ss.FRAME / ss.SAMPLE_RATE / 3600]
        return {k: round(v[0] / v[1], 2) for k, v in sorted(kinds.items()) if v[1] > 0}

    def near_by_phrase(t: float | None) -> dict[str, float]:
        groups: dict[str, list[float]] = {}
        for it, m in zip(items["near_miss"], near_max, strict=True):
            groups.setdefault(it["text"], []).append(float(t is not None and m >= t))
        return {k: round(float(np.mean(v)), 3) for k, v in sorted(groups.items())}

    saved = saved_card(Path(head.path))
    t_saved = saved.get("threshold")
    at_saved: dict[str, Any] = {}
    if t_saved is not None:
        at_saved = {
            "saved_threshold": _r(float(t_saved), 5),
            "recall_at_saved_threshold": _r(float(np.mean(pos_max >= t_saved))),
            "fa_per_hour_at_saved_threshold": _r(sum(ss.count_triggers(s, t_saved) for s in neg_scores)
                                                 / c.negative_hours, 3) if c.negative_hours else None,
            "card_recall_unseen_voices": _r(saved.get("metrics", {}).get("recall_unseen_voices")),
            "card_fa_per_hour": _r(saved.get("metrics", {}).get("false_accepts_per_hour"), 3),
        }
    return {
        "model": label,
        "path": str(head.path),
        **at_saved,
        "recall_at_0.5": _r(c.recall[i05]),
        "fa_per_hour_at_0.5": _r(c.fa_per_hour[i05], 3),
        "near_miss_rate_at_0.5": _r(c.near_miss_rate[i05]),
        "threshold_at_target_fa": _r(t_best, 5),
        "recall_at_target_fa": _r(c.recall[best]) if best is not None else 0.0,
        "fa_per_hour_at_target_fa": _r(c.fa_per_hour[best], 3) if best is not None else None,
        "near_miss_rate_at_target_fa": _r(c.near_miss_rate[best]) if best is not None else None,
        "target_fa_per_hour": TARGET_FA,
        "negative_hours": round(c.negative_hours, 3),
        "positives": len(pos_max),
        "near_misses": len(near_max),
        "recall_by_group_at_0.5": recall_by("group", 0.5),
        "recall_by_group_at_target_fa": recall_by("group", t_best),
        "recall_by_voice_at_0.5": recall_by("voice", 0.5),
        "recall_by_voice_at_target_fa": recall_by("voice", t_best),
        "fa_per_hour_by_kind_at_0.5": fa_by_kind(0.5),
        "near_miss_by_phrase_at_0.5": near_by_phrase(0.5),
        "curve": {"thresholds": [round(float(t), 6) for t in c.thresholds],
                  "recall": [round(float(x), 4) for x in c.recall],
                  "fa_per_hour": [round(float(x), 3) for x in c.fa_per_hour],
                  "near_miss_rate": [round(float(x), 4) for x in c.near_miss_rate]},
        "score_seconds": round(time.monotonic() - started, 2),
    }


def format_table(results: list[dict[str, Any]], title: str | None = None) -> str:
    """Side-by-side table of the headline numbers, under ``title`` when given."""
    head = ["model", "recall@0.5", "FA/h@0.5", f"recall@<={TARGET_FA}FA/h (t)", "near-miss@0.5",
            "near-miss@t", "neg hours"]
    rows = []
    for r in results:
        t = r["threshold_at_target_fa"]
        rows.append([
            r["model"],
            f"{r['recall_at_0.5']:.3f}",
            f"{r['fa_per_hour_at_0.5']:.2f}",
            f"{r['recall_at_target_fa']:.3f} ({t:.5g})" if t is not None else "0.000 (none)",
            f"{r['near_miss_rate_at_0.5']:.3f}",
            f"{r['near_miss_rate_at_target_fa']:.3f}" if r["near_miss_rate_at_target_fa"] is not None else "-",
            f"{r['negative_hours']:.2f}",
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    out = ([title] if title else []) + [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]
    for r in results:
        if r.get("saved_threshold") is not None:
            out.append(f"{r['model']}: at its saved threshold {r['saved_threshold']:.5g}: recall "
                       f"{r['recall_at_saved_threshold']:.3f}, {r['fa_per_hour_at_saved_threshold']:.2f} FA/h here; "
                       f"its model card said unseen-voice recall {r['card_recall_unseen_voices']}, "
                       f"{r['card_fa_per_hour']} FA/h")
    return "\n".join(out)


def table_title(word: str, split: str) -> str:
    frozen = " (frozen: report only, never choose a recipe by it)" if heldout.SPLITS[split].frozen else ""
    return f"Held-out quality: '{heldout.wake_word(word).label}', {split} split{frozen}"


def _unique_labels(paths: list[Path]) -> list[str]:
    stems = [p.stem for p in paths]
    return [str(p) if stems.count(p.stem) > 1 else p.stem for p in paths]


def run(models: list[tuple[str, Path]], cache: Path, spec: heldout.Spec, threads: int = 1,
        workers: int = 2, negatives: Path | None = None) -> list[dict[str, Any]]:
    """Build/load the held-out set and its embeddings, then evaluate each (label, path)."""
    t0 = time.monotonic()
    manifest = heldout.build_heldout(cache, spec, workers, negatives=negatives)
    print(f"held-out set ready ({time.monotonic() - t0:.0f} s): {manifest['counts']}, "
          f"{manifest['negative_hours']:.2f} h of negatives", flush=True)
    t1 = time.monotonic()
    embs = load_embeddings(cache, manifest, threads)
    print(f"embeddings ready ({time.monotonic() - t1:.0f} s)", flush=True)
    results = []
    for label, path in models:
        res = evaluate(ss.load_head(path), manifest, embs, label)
        print(f"scored {label} in {res['score_seconds']:.1f} s", flush=True)
        results.append(res)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Held-out quality benchmark: an easy-oww model beside the pretrained "
                                             "openWakeWord reference of the same word.")
    ap.add_argument("--word", default="hey jarvis",
                    help='wake word: "hey jarvis" (default), "alexa", "hey mycroft" or any phrase (then a pretrained '
                         "reference only if pyopen-wakeword has one of that name)")
    ap.add_argument("--split", choices=heldout.SPLIT_NAMES, default="test",
                    help="test (default): frozen, report only, never choose a recipe by it; dev: for tuning")
    ap.add_argument("--workspace", type=Path, default=CACHE_ROOT / "ws")
    ap.add_argument("--model", type=Path, action="append", default=[], help="extra .onnx/.tflite head(s) to score")
    ap.add_argument("--skip-train", action="store_true", help="do not train; score --model(s) and the reference")
    ap.add_argument("--cache", type=Path, default=None,
                    help="the word's held-out folder (default bench/.cache/heldout_<split>_<word>; "
                         "bench/.cache/heldout for dev 'hey jarvis')")
    ap.add_argument("--negatives", type=Path, default=None,
                    help="the split's shared negative stream (default bench/.cache/heldout_<split>_negatives, "
                         "bench/.cache/heldout for dev; with --cache alone, inside --cache)")
    ap.add_argument("--quick", action="store_true", help="small held-out set and the quick training preset")
    ap.add_argument("--seed", type=int, default=None, help="the project's seed (default: the default setting)")
    ap.add_argument("--no-reference", action="store_true", help="leave out the pretrained reference")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime threads for feature extraction")
    ap.add_argument("--workers", type=int, default=2, help="parallel synthesis jobs when building the set")
    ap.add_argument("--results", type=Path, default=None,
                    help="results JSON (default bench/.cache/quality_results_<split>_<word>.json; "
                         "quality_results.json for dev 'hey jarvis')")
    ap.add_argument("--require-parity", action="store_true",
                    help="exit 1 unless every easy-oww model's recall at <=0.5 FA/h is at least the reference's")
    args = ap.parse_args(argv)

    word = heldout.wake_word(args.word)
    split = args.split
    reference = None if args.no_reference else reference_for(word.label)
    if args.require_parity and reference is None:
        ap.error(f"--require-parity needs a pretrained reference, and '{word.label}' has none"
                 + (" (--no-reference)" if args.no_reference and word.reference else ""))
    spec = heldout.Spec.quick(split, word.label) if args.quick else heldout.Spec.for_split(split, word.label)
    cache = args.cache or heldout.default_cache(split, word.label, args.quick)
    negatives = args.negatives or (cache if args.cache else heldout.default_negatives(split, args.quick))
    legacy = split == "dev" and word.label == "hey jarvis"
    results_path = args.results or CACHE_ROOT / ("quality_results.json" if legacy
                                                 else f"quality_results_{split}_{word.slug}.json")
    if heldout.SPLITS[split].frozen:
        print(f"'{word.label}' on the frozen {split} split: report these numbers; choose recipes on --split dev.",
              flush=True)
    trained: Path | None = None
    train_error = None
    if not args.skip_train:
        try:
            trained = train_default(args.workspace, args.quick, word.label, args.seed)
        except Exception as exc:  # report and still score the other models
            train_error = f"{type(exc).__name__}: {exc}"
            print(f"training failed: {train_error}", file=sys.stderr, flush=True)
    paths = ([trained] if trained else []) + list(args.model)
    labels = _unique_labels(paths)
    if trained is not None:
        labels[0] = f"easy-oww {labels[0]}"
    models = list(zip(labels, paths, strict=True))
    if reference is not None:
        models.append(reference)
    if not models:
        print("nothing to score: give --model or drop --no-reference", file=sys.stderr)
        return 2

    started = time.monotonic()
    results = run(models, cache, spec, args.threads, args.workers, negatives)
    print()
    print(format_table(results, table_title(word.label, split)))
    ref_label = reference[0] if reference else None
    ref = next((r for r in results if r["model"] == ref_label), None)
    ours = [r for r in results if r["model"] != ref_label]
    verdicts = {}
    if ref is not None:
        for r in ours:
            ok = r["recall_at_target_fa"] >= ref["recall_at_target_fa"]
            verdicts[r["model"]] = ok
            print(f"{r['model']}: recall@<={TARGET_FA}FA/h {r['recall_at_target_fa']:.3f} vs reference "
                  f"{ref['recall_at_target_fa']:.3f} -> {'PASS' if ok else 'FAIL'}")
    payload = {"word": word.label, "split": split, "frozen": heldout.SPLITS[split].frozen,
               "reference": word.reference if reference else None, "heldout": str(cache),
               "negatives": str(heldout.category_root(cache, heldout.load_manifest(cache), "negative")),
               "seconds": round(time.monotonic() - started, 1), "train_error": train_error, "parity": verdicts,
               "results": results}
    results_path.parent.mkdir(parents=True, exist_ok=True)
    from core.fsutil import atomic_write_text

    atomic_write_text(results_path, json.dumps(payload, indent=1))
    print(f"results written to {results_path}")
    if train_error:
        return 1
    if args.require_parity and not all(verdicts.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
