"""`easy-oww test NAME`: listen to the microphone and show wake-word detections live.

Keys (in a terminal): f marks the last detection as a false trigger, q stops. With stdin
not a TTY there is no key handling (the test runs for --duration, or until Ctrl-C).
Heavy modules (numpy, sounddevice, onnxruntime) are imported only when it runs.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from easy_oww_tui.cli.common import friendly_errors, get_workspace, make_console, workspace_option
from easy_oww_tui.cli.keys import KeyReader, stdin_is_pipe

METER_LOW_DB = -60.0
METER_WIDTH = 30




def _default_model(project: Any, cfg: Any) -> Path:
    from core.errors import EasyOWWError
    from core.project.model_card import trained_model

    path = trained_model(project, cfg)
    if path is not None:
        return path
    raise EasyOWWError(
        f"{project.name} has no trained model yet ({project.model_path(cfg)}). "
        f"Train it first: easy-oww train {project.name} (or pass --model PATH)."
    )


def _bar(fraction: float, width: int = METER_WIDTH) -> str:
    n = max(0, min(width, round(fraction * width)))
    return "█" * n + "·" * (width - n)


class _LiveState:
    """What the meter shows; written by the detector thread, read by Rich's refresh thread."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.rms_db = METER_LOW_DB
        self.clipped = False
        self.score = 0.0
        self.time_s = 0.0
        self.detections = 0
        self.false = 0
        self.prompted = 0  # household test: prompts shown so far

    def render(self) -> Any:
        from rich.text import Text

        level = (self.rms_db - METER_LOW_DB) / -METER_LOW_DB
        text = Text()
        text.append(f"{self.time_s:6.1f}s  level ")
        text.append(_bar(level), style="red" if self.clipped else "green")
        text.append(f" {self.rms_db:5.1f} dB   score ")
        text.append(_bar(self.score, 20), style="bold yellow" if self.score >= self.threshold else "cyan")
        text.append(f" {self.score:.2f}  (threshold {self.threshold:.2f})   detections {self.detections}")
        if self.false:
            text.append(f", {self.false} false")
        text.append("   [f] false trigger  [m] missed  [q] stop", style="dim")
        return text


def _key_loop(reader: Any, on_key: Any, stop: threading.Event) -> None:
    """Keys until ``stop`` or the end of input; ``on_key(key)`` returns False to stop reading."""
    with reader:
        while not stop.is_set():
            key = reader.poll_key(0.1) if reader.tty else reader.read_key()
            if key == "eof":
                return
            if key is not None and on_key(key) is False:
                return


class Corrections:
    """f / m while testing: the detection's audio as a negative recording, the last seconds as a positive take;
    with --save-detections every detection (``pending``) is kept for review (``core.audio.corrections``)."""

    def __init__(self, project: Any, cfg: Any, model: Path, console: Any) -> None:
        from core.audio.household import model_digest

        self.project, self.cfg, self.console = project, cfg, console
        self.model = model_digest(model)
        self.pending: list[Any] = []  # detections waiting for their last 0.4 s of audio
        self.saved = {"false_trigger": 0, "missed": 0, "unreviewed": 0}

    def false_trigger(self, detector: Any) -> None:
        from core.audio import corrections

        det = detector.mark_false()
        if det is None:
            self.console.print("[dim]No detection to mark yet.[/]")
            return
        until = time.monotonic() + 1.0  # pressed right after the detection: let its last 0.4 s arrive
        while detector.audio_pending_s(det) > 0 and time.monotonic() < until:
            time.sleep(0.02)
        c = corrections.save_false_trigger(self.project, detector.detection_audio(det), det.time_s, det.score,
                                           self.model)
        self.saved["false_trigger"] += 1
        self.console.print(f"  marked detection #{det.index + 1} ({det.time_s:.1f}s) as a false trigger; "
                           f"its audio is now a negative recording ({c.file})")

    def missed(self, detector: Any) -> None:
        from core.audio import corrections

        c, verdict = corrections.save_missed(self.project, self.cfg, detector.recent_audio(), detector.time_s,
                                             self.model)
        if c is None:
            self.console.print(f"  [yellow]missed wake word not kept:[/] {'; '.join(verdict.reasons)}")
            return
        self.saved["missed"] += 1
        self.console.print(f"  the last seconds are now a positive take ({c.file}): {verdict.summary}")

    def tick(self, detector: Any, time_s: float) -> None:
        """Save the detections whose audio is complete (``--save-detections``)."""
        from core.audio import corrections
        from core.audio.live_test import TRIGGER_AFTER_S

        while self.pending and time_s >= self.pending[0].time_s + TRIGGER_AFTER_S:
            det = self.pending.pop(0)
            corrections.save_for_review(self.project, detector.detection_audio(det), det.time_s, det.score,
                                        self.model)
            self.saved["unreviewed"] += 1

    def line(self) -> str | None:
        parts = [f"{n} {what}" for what, n in (("false trigger(s) -> negative recordings", self.saved["false_trigger"]),
                                               ("missed wake word(s) -> positive takes", self.saved["missed"]),
                                               ("detection(s) saved for review", self.saved["unreviewed"])) if n]
        if not parts:
            return None
        return ("Corrections: " + ", ".join(parts) + f". Review them in the app; `easy-oww train "
                f"{self.project.name} --refine` improves the model with them.")


def _print_summary(console: Any, summary: Any, wake_word: str) -> None:
    n = len(summary.detections)
    n_false = len(summary.false_triggers)
    console.print(
        f"[bold]Summary:[/] {n} detection{'s' if n != 1 else ''} of {wake_word!r}"
        f" ({n_false} marked as false trigger{'s' if n_false != 1 else ''}) in {summary.duration_s:.1f} s; "
        f"highest score {summary.max_score:.2f} (threshold {summary.threshold:.2f})."
    )
    if n == 0:
        console.print("No detections: speak closer to the microphone, check the level meter, "
                      "or try a lower --threshold.")
    elif n_false:
        console.print("False triggers: try a higher --threshold, or add negative recordings "
                      "(easy-oww record-negative) and train again.")


@click.command("test")
@click.argument("name")
@click.option("--duration", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds to listen (0: until q or Ctrl-C).")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Detection threshold (default: the one saved in models/NAME.json, else 0.5).")
@click.option("--device", default=None, help="Input device name or index (list them: python -m sounddevice).")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="An openWakeWord .onnx or .tflite model (default: the project's).")
@click.option("--save-detections", is_flag=True,
              help="Keep every detection's audio in <project>/review for a right/wrong verdict in the app.")
@click.option("--speaker", default=None, help="Household test: who is speaking. Prompts --tries times and keeps "
                                              "recall per speaker across sessions.")
@click.option("--tries", type=click.IntRange(1, 100), default=10, show_default=True,  # household.DEFAULT_TRIES
              help="Household test: how many times to prompt for the wake word.")
@click.option("--every", type=click.FloatRange(2.0, 30.0), default=4.0, show_default=True,
              help="Household test: seconds from one prompt to the next.")
@workspace_option
@friendly_errors
def test_cmd(name: str, duration: float, threshold: float | None, device: str | None,
             model_path: str | None, save_detections: bool, speaker: str | None, tries: int, every: float,
             workspace: str | None) -> None:
    """Say the wake word into the microphone and watch NAME's model detect it.

    Keys: f marks the last detection as a false trigger (its audio becomes a negative recording), m says you
    said it and nothing happened (the last 2.5 s become a positive take), q stops. Keys can be piped, one per
    line. With --speaker, a household test: say the wake word at each prompt; misses and detections are kept
    per speaker.
    """
    from core.audio import household
    from core.audio.live_test import Detection, LiveDetector, Score
    from core.events import Level

    ws = get_workspace(workspace)
    project = ws.project(name)
    cfg = project.load_config()
    path = Path(model_path) if model_path else _default_model(project, cfg)
    console = make_console(highlight=False)
    if threshold is None:
        from core.project.model_card import read_card, saved_threshold

        threshold = saved_threshold(read_card(project.model_path(cfg, ".json")))
        if threshold is None:
            threshold = 0.5
            console.print("[dim]No evaluated threshold saved for this project; using 0.5.[/]")
    interactive = sys.stdin.isatty() and console.is_terminal
    fixes = Corrections(project, cfg, path, console)
    if speaker is not None:
        speaker = household.check_speaker(speaker)
        duration = household.session_seconds(tries, every)
        prompts = household.prompt_times(tries, every)
    state = _LiveState(threshold)
    listening = threading.Event()
    cancel = threading.Event()
    detector_ref: list[Any] = []

    def report(event: Any) -> None:
        if isinstance(event, Level):
            state.rms_db, state.clipped = event.rms_db, event.clipped
            if not listening.is_set():
                listening.set()
                det = detector_ref[0] if detector_ref else None
                where = det.summary().device if det is not None else "the microphone"
                length = f"{duration:g} s" if duration else "until you press q / Ctrl-C"
                console.print(f"Listening on {where} for {length}: say {cfg.wake_word!r}.")
                sys.stdout.flush()
        elif isinstance(event, Score):
            state.score, state.time_s = event.score, event.time_s
            if fixes.pending and detector_ref:
                fixes.tick(detector_ref[0], event.time_s)
            if speaker is not None and state.prompted < tries and event.time_s >= prompts[state.prompted]:
                state.prompted += 1
                console.print(f"[bold]{speaker}: say {cfg.wake_word!r} now[/] ({state.prompted}/{tries})")
                sys.stdout.flush()
        elif isinstance(event, Detection):
            state.detections += 1
            console.print(f"[bold green]Detected[/] {cfg.wake_word!r} #{event.index + 1} at {event.time_s:.1f} s "
                          f"(score {event.score:.2f})")
            sys.stdout.flush()
            if save_detections:
                fixes.pending.append(event)

    console.print(f"Loading {path} (threshold {threshold:.2f})...")
    detector = LiveDetector(path, threshold=threshold, device=device, report=report, cancel=cancel,
                            feature_models_dir=ws.feature_models_dir)
    detector_ref.append(detector)
    stop = threading.Event()
    keys = None
    live = None

    def on_key(key: str) -> bool:
        if key == "f":
            fixes.false_trigger(detector)
            state.false = len(detector.summary().false_triggers)
        elif key == "m":
            fixes.missed(detector)
        elif key == "q":
            cancel.set()
            return False
        sys.stdout.flush()
        return True

    try:
        if interactive:
            from rich.live import Live

            live = Live(get_renderable=state.render, console=console, refresh_per_second=12, transient=True)
            live.start()
        if interactive or stdin_is_pipe():
            keys = threading.Thread(target=_key_loop, args=(KeyReader(), on_key, stop), daemon=True)
            keys.start()
        try:
            summary = detector.run(duration or None)
        except KeyboardInterrupt:
            cancel.set()
            summary = detector.summary()
    finally:
        stop.set()
        if keys is not None and interactive:
            keys.join(1.0)
        if live is not None:
            live.stop()
    fixes.tick(detector, float("inf"))  # detections near the end: saved with what audio there is
    _print_summary(console, summary, cfg.wake_word)
    if fixes.line():
        console.print(fixes.line())
    if speaker is not None:
        _household_result(console, project, cfg, path, summary, speaker, tries, every)


def _household_result(console: Any, project: Any, cfg: Any, path: Path, summary: Any, speaker: str, tries: int,
                      every: float) -> None:
    """Score the prompts, keep the session, print recall per speaker for this model."""
    import datetime as dt

    from rich.markup import escape
    from rich.table import Table

    from core.audio import household

    res = household.finish_session(project, cfg, path, summary, speaker, tries, every,
                                   dt.datetime.now().isoformat(timespec="seconds"))
    if res is None:
        console.print("Household test stopped before the first prompt ended: nothing kept.")
        return
    s = res.session
    console.print(f"{escape(speaker)}: {s.hits} of {s.tries} heard"
                  + ("" if s.tries == tries else f" (stopped after {s.tries} of {tries} prompts)")
                  + (f"; missed prompts: {', '.join(map(str, res.missed))}" if res.missed else "") + ".")
    table = Table(title=f"Household test of {path.name} (threshold {summary.threshold:.2f})")
    for col in ("speaker", "sessions", "heard", "recall", "false triggers"):
        table.add_column(col)
    for r in res.speakers:
        table.add_row(escape(r.speaker), str(r.sessions), f"{r.hits}/{r.tries}", f"{r.recall:.2f}",
                      str(r.false_triggers))
    console.print(table)


COMMANDS: list[click.Command] = [test_cmd]
