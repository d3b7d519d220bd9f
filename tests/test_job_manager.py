"""The app's job bookkeeping, without the app: start, cancel, messages folded in, the state on disk."""

from __future__ import annotations

from core.project.config import TrainingConfig
from core.project.workspace import Workspace
from easy_oww_tui.job_manager import JobManager
from easy_oww_tui.jobs import JobKind
from easy_oww_tui.messages import JobDone, JobPhaseStarted


def test_a_job_runs_is_cancelled_and_ends(tmp_path):
    jobs = JobManager(Workspace(tmp_path))
    assert not jobs.is_running("p") and not jobs.cancel("p")  # nothing to cancel yet
    cancel = jobs.begin("p")
    other = jobs.begin("@downloads", JobKind.DOWNLOAD.detail("catalog"), [])
    assert jobs.is_running("p") and {j.project for j in jobs.running()} == {"p", "@downloads"}
    assert JobKind.of(jobs.jobs["@downloads"].kind) is JobKind.DOWNLOAD
    assert jobs.apply(JobPhaseStarted("p", "clips", 10, "Making clips")) is jobs.jobs["p"]
    assert jobs.state("p").phases["clips"].status == "running"
    assert jobs.apply(JobPhaseStarted("gone", "clips", 1, "")) is None  # a deleted project's late message
    assert jobs.cancel("p") and cancel.is_set() and jobs.jobs["p"].cancel_requested and not other.is_set()
    jobs.apply(JobDone("p", JobKind.TRAINING, "cancelled"))
    jobs.finished("p")
    assert not jobs.is_running("p") and jobs.state("p").outcome == "cancelled"
    assert [j.project for j in jobs.cancel_all()] == ["@downloads"] and other.is_set()
    jobs.forget("p")
    assert "p" not in jobs.jobs


def test_idle_state_reads_the_phases_done_on_disk(tmp_path):
    from core.pipeline.orchestrator import ProjectState, phase_fingerprint

    ws = Workspace(tmp_path)
    cfg = TrainingConfig.create_default("demo", "hey jarvis")
    project = ws.create_project(cfg)
    state = ProjectState(project.state_path)
    state.mark_done("clips", phase_fingerprint(cfg, "clips"), 12.5, {})
    idle = JobManager(ws).state("demo")
    assert idle.phases["clips"].status == "done" and idle.phases["clips"].seconds == 12.5
    assert idle.phases["augmentation"].status == "waiting" and not idle.running
    assert JobManager(ws).state("no-such-project").phases["clips"].status == "waiting"
