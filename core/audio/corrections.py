"""Corrections from a live test: false triggers become negative recordings, missed wake words positive takes.

While testing (``easy-oww test`` or the app's Test screen), ``f`` right after a detection saves the ~2 s that
triggered it as a negative recording; ``m`` ("I said it and nothing happened") saves the last ~2.5 s as a positive
take when it passes the usual take checks. With ``--save-detections`` every detection is saved to
``<project>/review/`` for a later verdict: wrong -> a negative recording, right -> a positive take.

Each correction is listed in ``<project>/corrections.json`` (written atomically) with its kind, file, time in the
test, score and the digest of the model that made it; ``easy-oww train --refine`` trains on them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.audio.files import SAMPLE_RATE, write_wav
from core.audio.recording import judge, limits_for, next_sample_path, prepare_sample
from core.audio.take_checks import Verdict
from core.errors import EasyOWWError
from core.fsutil import atomic_write_text

FILE = "corrections.json"
REVIEW_DIR = "review"
KINDS = ("false_trigger", "missed", "unreviewed")  # negative, positive, waiting for a verdict


@dataclass(frozen=True)
class Correction:
    kind: str
    file: str  # relative to the project folder
    time_s: float  # seconds into the test
    score: float | None  # the model's score (None for a miss)
    model: str = ""  # sha256 of the model file (first 16 hex digits)
    created: float = 0.0  # unix time

    @property
    def label(self) -> int | None:
        """1: a positive (the wake word), 0: a negative, None: not reviewed yet."""
        return {"false_trigger": 0, "missed": 1}.get(self.kind)


def path_of(project: Any) -> Path:
    return Path(project.path) / FILE


def load_corrections(project: Any) -> list[Correction]:
    """The project's corrections, oldest first (those whose file was deleted by hand are left out)."""
    path = path_of(project)
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        items = [Correction(**{k: r[k] for k in Correction.__dataclass_fields__ if k in r}) for r in rows]
    except (ValueError, TypeError, KeyError) as exc:
        raise EasyOWWError(f"{path} is damaged ({exc}). Fix or delete it; the recordings it lists are kept.") from None
    return [c for c in items if (Path(project.path) / c.file).is_file()]


def _save(project: Any, items: list[Correction]) -> None:
    atomic_write_text(path_of(project), json.dumps([asdict(c) for c in items], indent=1))


def _add(project: Any, item: Correction) -> Correction:
    _save(project, [*load_corrections(project), item])
    return item


def _rel(project: Any, path: Path) -> str:
    return path.relative_to(Path(project.path)).as_posix()


def _float(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio)
    return x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)


def save_false_trigger(project: Any, audio: np.ndarray, time_s: float, score: float, model: str = "") -> Correction:
    """Keep the audio that triggered a wrong detection as a negative recording (``recordings_negative/``)."""
    x = _float(audio)
    if len(x) < int(0.3 * SAMPLE_RATE):
        raise EasyOWWError("The detection's audio is no longer held (mark a false trigger within a few seconds).")
    folder = Path(project.negative_recordings_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = next_sample_path(folder)
    write_wav(path, x)
    return _add(project, Correction("false_trigger", _rel(project, path), round(time_s, 2), round(score, 4), model,
                                    time.time()))


def save_missed(project: Any, cfg: Any, audio: np.ndarray, time_s: float, model: str = ""
                ) -> tuple[Correction | None, Verdict]:
    """Keep the last seconds as a positive take if they pass the take checks (else nothing is saved)."""
    path, verdict = _keep_take(project, cfg, _float(audio))
    if path is None:
        return None, verdict
    return _add(project, Correction("missed", _rel(project, path), round(time_s, 2), None, model, time.time())), verdict


def _keep_take(project: Any, cfg: Any, x: np.ndarray) -> tuple[Path | None, Verdict]:
    """A positive take in ``recordings/`` (trimmed as recorded takes are) if ``x`` passes the take checks."""
    verdict = judge(x, limits_for(False, None))
    if not verdict.ok:
        return None, verdict
    folder = Path(project.recordings_dir(cfg))
    folder.mkdir(parents=True, exist_ok=True)
    path = next_sample_path(folder)
    write_wav(path, prepare_sample(x, verdict))
    return path, verdict


def save_for_review(project: Any, audio: np.ndarray, time_s: float, score: float, model: str = "") -> Correction:
    """Keep a detection's audio in ``review/`` until it is marked right or wrong."""
    folder = Path(project.path) / REVIEW_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = next_sample_path(folder)
    write_wav(path, _float(audio))
    return _add(project, Correction("unreviewed", _rel(project, path), round(time_s, 2), round(score, 4), model,
                                    time.time()))


def review(project: Any, cfg: Any, item: Correction, right: bool) -> tuple[Correction | None, str]:
    """A verdict on a reviewed detection: wrong -> a negative recording; right -> a positive take (when it
    passes the take checks; otherwise it is dropped and the reason returned)."""
    from core.audio.files import read_audio

    src = Path(project.path) / item.file
    x, _ = read_audio(src)
    rest = [c for c in load_corrections(project) if c != item]
    if right:
        dest, verdict = _keep_take(project, cfg, x)
        if dest is None:
            src.unlink(missing_ok=True)
            _save(project, rest)
            return None, "not kept: " + "; ".join(verdict.reasons)
        new = replace(item, kind="missed", file=_rel(project, dest))
    else:
        dest = next_sample_path(Path(project.negative_recordings_dir))
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_wav(dest, x)
        new = replace(item, kind="false_trigger", file=_rel(project, dest))
    src.unlink(missing_ok=True)
    _save(project, [*rest, new])
    return new, f"kept as a {'positive take' if right else 'negative recording'} ({dest.name})"


def delete(project: Any, item: Correction) -> None:
    """Remove a correction and its audio file."""
    (Path(project.path) / item.file).unlink(missing_ok=True)
    _save(project, [c for c in load_corrections(project) if c != item])


def counts(project: Any) -> dict[str, int]:
    out = dict.fromkeys(KINDS, 0)
    for c in load_corrections(project):
        out[c.kind] = out.get(c.kind, 0) + 1
    return out
