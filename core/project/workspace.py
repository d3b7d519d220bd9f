"""The workspace (datasets, voices, projects) and each project's folder layout."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import ProjectError
from core.project.config import CONFIG_FILENAME, ConfigManager, TrainingConfig, name_problem

ENV_HOME = "EASY_OWW_HOME"


def default_workspace() -> Path:
    """``EASY_OWW_HOME`` if set, else the platform's user data folder for easy-oww."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("easy-oww", appauthor=False))


def resolve_workspace(path: str | os.PathLike[str] | None = None) -> Workspace:
    return Workspace(Path(path).expanduser() if path else default_workspace())


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def projects_dir(self) -> Path:
        return self.root / "projects"

    @property
    def voices_dir(self) -> Path:
        return self.root / "voices"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    # Downloaded datasets (core.assets.downloads installs them here; the pipeline uses them when present).
    @property
    def rir_dir(self) -> Path:
        """Real room impulse responses (*.wav), e.g. the MIT set."""
        return self.datasets_dir / "rir"

    @property
    def noise_dir(self) -> Path:
        """Background noise / music audio files (any format soundfile reads)."""
        return self.datasets_dir / "noise"

    @property
    def negative_audio_dir(self) -> Path:
        """General negative audio (speech, sounds) cut into negative clips."""
        return self.datasets_dir / "negatives"

    @property
    def feature_models_dir(self) -> Path:
        """Downloaded openWakeWord feature models (melspectrogram.onnx, embedding_model.onnx)."""
        return self.datasets_dir / "feature_models"

    @property
    def validation_features_path(self) -> Path:
        """openWakeWord false-positive validation features (~11 h), shape (N, 16, 96)."""
        return self.datasets_dir / "validation_features" / "validation_set_features.npy"

    @property
    def acav100m_features_path(self) -> Path:
        """ACAV100M negative features (~17 GB, memory-mapped, never read whole)."""
        return self.datasets_dir / "acav100m" / "openwakeword_features_ACAV100M_2000_hrs_16bit.npy"

    @property
    def rir_bank_path(self) -> Path:
        """Cached bank of simulated room impulse responses (made once, offline)."""
        return self.cache_dir / "simulated_rirs.npy"

    def ensure(self) -> Workspace:
        for d in (self.projects_dir, self.voices_dir, self.datasets_dir, self.cache_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def configs(self) -> ConfigManager:
        return ConfigManager(self.projects_dir)

    def list_projects(self) -> list[str]:
        return self.configs.list_projects()

    def project(self, name: str) -> Project:
        """An existing project; a clear error if the name is unsafe or unknown."""
        problem = name_problem(name)
        if problem:
            raise ProjectError(problem)
        path = self.projects_dir / name
        if not (path / CONFIG_FILENAME).is_file():
            known = self.list_projects()
            hint = f" Known projects: {', '.join(known)}." if known else ""
            raise ProjectError(
                f"No project named {name!r} in {self.root}. Create it with "
                f"`easy-oww create {name} --wake-word \"...\"`.{hint}"
            )
        return Project(path=path, workspace=self)

    def create_project(self, config: TrainingConfig, exist_ok: bool = False) -> Project:
        problem = name_problem(config.project_name)
        if problem:
            raise ProjectError(problem)
        config.check()
        path = self.projects_dir / config.project_name
        if (path / CONFIG_FILENAME).exists() and not exist_ok:
            raise ProjectError(
                f"A project named {config.project_name!r} exists already ({path}). "
                "Pick another name or delete it first."
            )
        self.ensure()
        project = Project(path=path, workspace=self)
        project.make_layout(config)
        config.save(path / CONFIG_FILENAME)
        return project

    def delete_project(self, name: str) -> None:
        project = self.project(name)
        shutil.rmtree(project.path)


@dataclass(frozen=True)
class Project:
    path: Path
    workspace: Workspace

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILENAME

    def load_config(self) -> TrainingConfig:
        return TrainingConfig.load(self.config_path)

    def _sub(self, rel: str) -> Path:
        return self.path / rel

    # Layout (kept identical to the seed's "File Organization").
    def recordings_dir(self, cfg: TrainingConfig | None = None) -> Path:
        return self._sub(cfg.recordings_dir if cfg else "recordings")

    @property
    def negative_recordings_dir(self) -> Path:
        return self.path / "recordings_negative"

    def clips_dir(self, cfg: TrainingConfig | None = None) -> Path:
        return self._sub(cfg.clips_dir if cfg else "clips")

    def positive_clips_dir(self, cfg: TrainingConfig | None = None) -> Path:
        return self.clips_dir(cfg) / "positive"

    def augmented_clips_dir(self, cfg: TrainingConfig | None = None) -> Path:
        return self.clips_dir(cfg) / "positive_augmented"

    def negative_clips_dir(self, cfg: TrainingConfig | None = None) -> Path:
        return self.clips_dir(cfg) / "negative"

    def negative_augmented_clips_dir(self, cfg: TrainingConfig | None = None) -> Path:
        return self.clips_dir(cfg) / "negative_augmented"

    def features_dir(self, cfg: TrainingConfig | None = None) -> Path:
        return self._sub(cfg.features_dir if cfg else "features")

    def models_dir(self, cfg: TrainingConfig | None = None) -> Path:
        return self._sub(cfg.models_dir if cfg else "models")

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def state_path(self) -> Path:
        """Where the orchestrator records finished phases."""
        return self.path / "state.json"

    def model_path(self, cfg: TrainingConfig | None = None, suffix: str = ".onnx") -> Path:
        return self.models_dir(cfg) / f"{self.name}{suffix}"

    def make_layout(self, cfg: TrainingConfig | None = None) -> None:
        for d in (
            self.recordings_dir(cfg),
            self.negative_recordings_dir,
            self.positive_clips_dir(cfg),
            self.augmented_clips_dir(cfg),
            self.negative_clips_dir(cfg),
            self.features_dir(cfg),
            self.models_dir(cfg),
            self.checkpoints_dir,
            self.logs_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)
