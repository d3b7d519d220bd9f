"""Household test: each person says the wake word when prompted; recall is kept per speaker across sessions.

A session is ``tries`` prompts, one every ``every_s`` seconds of audio after a short lead-in. A prompt is a hit
when the model detects the wake word (a detection not marked false) before the next prompt. Sessions are kept in
``<project>/household.json`` with the model's digest, so figures for a retrained model start afresh while the
earlier ones stay on file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.errors import EasyOWWError
from core.fsutil import atomic_write_text, file_digest

HOUSEHOLD_FILE = "household.json"
LEAD_S = 1.5  # seconds of audio before the first prompt
DEFAULT_TRIES = 10
DEFAULT_EVERY_S = 4.0
MAX_SPEAKER_LEN = 40
_SPEAKER_RE = re.compile(r"^[\w][\w .'-]*$")


@dataclass(frozen=True)
class SpeakerSession:
    speaker: str
    tries: int
    hits: int
    false_triggers: int
    threshold: float
    model: str  # file name
    model_digest: str  # first 16 hex of the model file's sha256
    started: str = ""  # ISO date-time, for the record (never shown in the app's snapshots)

    @property
    def recall(self) -> float:
        return self.hits / self.tries if self.tries else 0.0


@dataclass(frozen=True)
class SpeakerRecall:
    speaker: str
    sessions: int
    tries: int
    hits: int
    false_triggers: int

    @property
    def recall(self) -> float:
        return self.hits / self.tries if self.tries else 0.0


def check_speaker(name: str) -> str:
    """The speaker's name, trimmed; EasyOWWError when it cannot be one."""
    name = " ".join(str(name).split())
    if not name or len(name) > MAX_SPEAKER_LEN or not _SPEAKER_RE.match(name):
        raise EasyOWWError(f"Speaker name {name!r}: use letters, digits, spaces, '.', ''' and '-' (at most "
                           f"{MAX_SPEAKER_LEN} characters), e.g. --speaker Anna.")
    return name


def prompt_times(tries: int, every_s: float, lead_s: float = LEAD_S) -> list[float]:
    """Seconds of audio at which each prompt starts."""
    return [lead_s + k * every_s for k in range(tries)]


def score_prompts(detection_times: Sequence[float], tries: int, every_s: float, lead_s: float = LEAD_S
                  ) -> list[bool]:
    """For each prompt, whether a (true) detection fell between it and the next one."""
    starts = prompt_times(tries, every_s, lead_s)
    hit = [False] * tries
    for t in detection_times:
        k = int((t - lead_s) // every_s)
        if 0 <= k < tries and t >= starts[k]:
            hit[k] = True
    return hit


def model_digest(path: str | Path) -> str:
    """First 16 hex digits of the model file's sha256 (sessions are filed under it)."""
    return file_digest(path)[:16]


def load_sessions(project_path: str | Path) -> list[SpeakerSession]:
    path = Path(project_path) / HOUSEHOLD_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [SpeakerSession(**s) for s in data.get("sessions", [])]
    except (ValueError, TypeError, AttributeError) as exc:
        raise EasyOWWError(f"{path} is damaged ({exc}); move it aside to start the household figures afresh "
                           "(the model is not affected).") from None


def save_session(project_path: str | Path, session: SpeakerSession) -> list[SpeakerSession]:
    """Append ``session`` to the project's household file (atomically); returns every session now kept."""
    sessions = load_sessions(project_path) + [session]
    atomic_write_text(Path(project_path) / HOUSEHOLD_FILE,
                      json.dumps({"version": 1, "sessions": [asdict(s) for s in sessions]}, indent=1))
    return sessions


def recall_by_speaker(sessions: Sequence[SpeakerSession], model_digest_: str | None = None) -> list[SpeakerRecall]:
    """Totals per speaker (first-seen order), only for ``model_digest_`` when given."""
    out: dict[str, list[int]] = {}
    for s in sessions:
        if model_digest_ is not None and s.model_digest != model_digest_:
            continue
        t = out.setdefault(s.speaker, [0, 0, 0, 0])
        t[0] += 1
        t[1] += s.tries
        t[2] += s.hits
        t[3] += s.false_triggers
    return [SpeakerRecall(name, *t) for name, t in out.items()]


def project_model_digest(project: Any, cfg: Any) -> str | None:
    """The digest household sessions of the project's own model are filed under (its .onnx, else .tflite)."""
    for suffix in (".onnx", ".tflite"):
        path = project.model_path(cfg, suffix)
        if path.is_file():
            return model_digest(path)
    return None


def household_summary(project: Any, cfg: Any, sessions: Sequence[SpeakerSession] | None = None,
                      digest: str | None = None) -> dict[str, Any]:
    """What the project view and the model card show: recall per speaker for the project's current model
    (``sessions`` and ``digest``: already at hand, else read and computed here)."""
    sessions = load_sessions(project.path) if sessions is None else sessions
    digest = digest or project_model_digest(project, cfg)
    rows = recall_by_speaker(sessions, digest) if digest else []
    return {
        "speakers": [{"speaker": r.speaker, "sessions": r.sessions, "tries": r.tries, "hits": r.hits,
                      "recall": round(r.recall, 3), "false_triggers": r.false_triggers} for r in rows],
        "sessions_for_other_models": sum(1 for s in sessions if s.model_digest != digest),
    }


@dataclass(frozen=True)
class SessionResult:
    session: SpeakerSession
    hits: tuple[bool, ...]  # per prompt heard
    speakers: tuple[SpeakerRecall, ...]  # every speaker of this model, this session included
    own_model: bool  # the project's own model (then the card was updated)

    @property
    def missed(self) -> tuple[int, ...]:
        """1-based numbers of the prompts nobody detected."""
        return tuple(i + 1 for i, h in enumerate(self.hits) if not h)


def session_seconds(tries: int, every_s: float) -> float:
    return LEAD_S + tries * every_s


def finish_session(project: Any, cfg: Any, model_path: str | Path, summary: Any, speaker: str, tries: int,
                   every_s: float, started: str = "") -> SessionResult | None:
    """Score a finished live test (``core.audio.live_test.LiveSummary``) as a household session, keep it, and refresh
    the card when it tested the project's own model. None when it stopped before the first prompt ended."""
    model_path = Path(model_path)
    done = sum(1 for t in prompt_times(tries, every_s) if t + every_s <= summary.duration_s + 0.2)
    if done == 0:
        return None
    times = [d.time_s for d in summary.detections if d.index not in summary.false_triggers]
    hits = tuple(score_prompts(times, done, every_s))
    own_path = project.model_path(cfg)
    own = model_path.parent == own_path.parent and model_path.stem == own_path.stem
    digest = (project_model_digest(project, cfg) if own else None) or model_digest(model_path)
    session = SpeakerSession(check_speaker(speaker), done, sum(hits), len(summary.false_triggers),
                             float(summary.threshold), model_path.name, digest, started)
    sessions = save_session(project.path, session)
    if own:
        from core.project.model_card import update_card_section

        update_card_section(project, cfg, "household", household_summary(project, cfg, sessions, digest))
    rows = tuple(recall_by_speaker(sessions, digest))
    return SessionResult(session, hits, rows, own)
