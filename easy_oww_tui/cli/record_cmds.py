"""`easy-oww record`, `easy-oww record-negative` and `easy-oww import`.

Keys: Space/Enter records the next take (and, while recording, stops it early), r re-records
the last one, p plays it, d deletes it, q quits. In a terminal single keys are read in
cbreak mode; when stdin is not a TTY each input line is one key (an empty line = Enter),
so a session can be scripted: ``printf '\\n\\nq\\n' | easy-oww record NAME``.
sounddevice / numpy are imported only when a command runs.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import click

from easy_oww_tui.cli.common import friendly_errors, get_workspace, make_console, workspace_option
from easy_oww_tui.cli.keys import KeyReader

KEYS_HELP = "Space/Enter: record · r: re-record last · p: play last · d: delete last · q: quit"
METER_LOW_DB = -60.0
METER_WIDTH = 40


# --------------------------------------------------------------------------- keys


# --------------------------------------------------------------------------- level meter


class LevelMeter:
    """Turns core events into a one-line meter (bar, peak hold, clip mark) or plain lines."""

    def __init__(self, console: Any, live: bool) -> None:
        self.console = console
        self.live = live
        self.lock = threading.Lock()
        self.phase = "idle"
        self.countdown = ""
        self.rms_db = -120.0
        self.peak_db = -120.0
        self.hold_db = -120.0
        self.hold_t = 0.0
        self.clip_t = -10.0
        self.loudest_db = -120.0
        self.levels = 0
        self.description = ""

    def __call__(self, event: Any) -> None:
        from core.audio.recording import COUNTDOWN_PHASE, TAKE_PHASE
        from core.events import Level, LogLine, PhaseStarted, Progress

        with self.lock:
            if isinstance(event, Level):
                now = time.monotonic()
                self.rms_db, self.peak_db = event.rms_db, event.peak_db
                if event.peak_db >= self.hold_db or now - self.hold_t > 1.5:
                    self.hold_db, self.hold_t = event.peak_db, now
                if event.clipped:
                    self.clip_t = now
                if self.phase == "recording":
                    self.levels += 1
                    self.loudest_db = max(self.loudest_db, event.peak_db)
            elif isinstance(event, PhaseStarted) and event.phase == COUNTDOWN_PHASE:
                self.phase = "countdown"
            elif isinstance(event, Progress) and event.phase == COUNTDOWN_PHASE:
                self.countdown = event.message
                if not self.live and event.message != "0":
                    self.console.print(f"{event.message}…", end=" ")
            elif isinstance(event, PhaseStarted) and event.phase == TAKE_PHASE:
                self.phase, self.description = "recording", event.description
                self.loudest_db, self.levels = -120.0, 0
                if not self.live:
                    self.console.print(f"{event.description} (recording)")
            elif isinstance(event, LogLine) and event.level != "info":
                self.console.print(f"[yellow]{event.message}[/]")

    def render(self) -> Any:
        from rich.text import Text

        with self.lock:
            if self.phase == "countdown":
                return Text.assemble(("Get ready… ", "bold"), (self.countdown or "", "bold yellow"),
                                     "   (say it after the countdown)")
            if self.phase != "recording":
                return Text("")
            return self._bar()

    def _bar(self) -> Any:
        from rich.text import Text

        def pos(value: float) -> int:
            frac = (min(0.0, max(METER_LOW_DB, value)) - METER_LOW_DB) / -METER_LOW_DB
            return int(round(frac * METER_WIDTH))

        fill, hold = pos(self.peak_db), min(METER_WIDTH - 1, pos(self.hold_db))
        cells = []
        for i in range(METER_WIDTH):
            style = "green" if i < METER_WIDTH * 0.7 else ("yellow" if i < METER_WIDTH * 0.9 else "red")
            if i == hold and self.hold_db > METER_LOW_DB:
                cells.append(("│", "bold white"))
            elif i < fill:
                cells.append(("█", style))
            else:
                cells.append(("░", "grey37"))
        clipped = time.monotonic() - self.clip_t < 1.0
        return Text.assemble(("● REC ", "bold red"), "[", *cells, "]",
                             f" {self.rms_db:6.1f} dB  peak {self.hold_db:6.1f} dB ",
                             ("CLIP" if clipped else "    ", "bold white on red" if clipped else ""),
                             "   Space: stop  q: quit")


# --------------------------------------------------------------------------- running a take


def _run_take(action: Callable[[], Any], session: Any, cancel: threading.Event, keys: KeyReader,
              meter: LevelMeter, console: Any) -> Any:
    """Run ``action`` (record_take / rerecord_last) in a thread; meter + keys in this one."""
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["take"] = action()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            result["error"] = exc

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        if meter.live:
            from rich.live import Live

            with Live(meter.render(), console=console, refresh_per_second=20, transient=True) as live:
                while worker.is_alive():
                    key = keys.poll_key(0.05)
                    if key in ("space", "enter"):
                        session.stop_take()
                    elif key in ("q", "eof"):
                        cancel.set()
                    live.update(meter.render())
        else:
            while worker.is_alive():
                worker.join(0.1)
    except KeyboardInterrupt:
        cancel.set()
        worker.join(5)
        raise
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["take"]


def _print_take(console: Any, take: Any, meter: LevelMeter) -> None:
    from rich.markup import escape

    v = take.verdict
    if take.ok:
        console.print(f"[green]✓ take {take.number}: saved {take.path.name}[/] — {escape(v.summary)}")
    else:
        console.print(f"[red]✗ take {take.number} rejected:[/]")
        for reason in v.reasons:
            console.print(f"   • {escape(reason)}")
    if not meter.live:
        console.print(f"   (input peak {meter.loudest_db:.1f} dBFS, {meter.levels} level readings, "
                      f"stopped by {take.stopped_by})")


def _session_loop(session: Any, count: int, console: Any, keys: KeyReader, cancel: threading.Event,
                  meter: LevelMeter, suggestions: list[str]) -> None:
    from rich.markup import escape

    from core.audio.devices import DeviceError
    from core.errors import Cancelled, EasyOWWError

    while len(session.accepted) < count:
        n = len(session.accepted)
        if suggestions:
            hint = escape(suggestions[len(session.takes) % len(suggestions)])
            console.print(f"Next, say for example: [bold]{hint}[/]")
        console.print(f"[bold][{n}/{count}][/] {KEYS_HELP}")
        key = keys.read_key()
        if key in ("q", "eof"):
            break
        try:
            if key in ("space", "enter"):
                take = _run_take(session.record_take, session, cancel, keys, meter, console)
                _print_take(console, take, meter)
            elif key == "r":
                take = _run_take(session.rerecord_last, session, cancel, keys, meter, console)
                _print_take(console, take, meter)
            elif key == "p":
                last = session.last
                console.print(f"Playing {last.path.name if last else 'the last take'}…")
                session.play_last()
            elif key == "d":
                path = session.delete_last()
                console.print(f"[yellow]Deleted {path.name}[/]")
            else:
                console.print(f"Unknown key {key!r}.")
        except Cancelled:
            console.print("[yellow]Take discarded; stopping.[/]")
            break
        except DeviceError:
            if key == "p":
                console.print("[yellow]No audio output to play on; listen to the file with another player.[/]")
                continue
            raise
        except EasyOWWError as exc:
            if key in ("space", "enter", "r"):
                raise
            console.print(f"[yellow]{exc}[/]")


def _run_session(name: str | None, count: int, duration: float, device: str | None, countdown: int,
                 list_devices: bool, workspace: str | None, negative: bool) -> None:
    from rich.markup import escape

    console = make_console(highlight=False)
    if list_devices:
        _print_devices(console)
        return
    if not name:
        raise click.UsageError("Give the project NAME (or --list-devices).")
    from core.audio.recording import RecordingSession
    from core.pipeline.p1_clips.phrases import suggest_negative_phrases

    ws = get_workspace(workspace)
    project = ws.project(name)
    cfg = project.load_config()
    from core.project.locking import ProjectLock

    cancel = threading.Event()
    interactive_out = console.is_terminal
    with ProjectLock(project.path, "record-negative" if negative else "record"), KeyReader() as keys:
        meter = LevelMeter(console, live=interactive_out and keys.tty)
        session = RecordingSession(project, negative=negative, device=device, max_seconds=duration,
                                   countdown=countdown, report=meter, cancel=cancel)
        before = session.saved_total
        what = "negative phrases (NOT the wake word)" if negative else f"the wake word {cfg.wake_word!r}"
        takes = f"{count} take is" if count == 1 else f"{count} takes are"
        console.print(f"Recording {escape(what)} until {takes} accepted, with "
                      f"[bold]{escape(session.device.name)}[/], into {session.out_dir} ({before} there already).")
        suggestions: list[str] = []
        if negative:
            suggestions = suggest_negative_phrases(cfg.wake_word)
            console.print("Say phrases that are close to, but not, the wake word, e.g.: "
                          + escape(", ".join(f"“{s}”" for s in suggestions)))
        else:
            console.print(f"Each take: {countdown} s countdown, then say “{escape(cfg.wake_word)}” once; "
                          "the take stops by itself after you finish.")
        _session_loop(session, count, console, keys, cancel, meter, suggestions)
    saved = len(session.accepted)
    total = session.saved_total
    style = "green" if saved >= count else "yellow"
    console.print(f"[{style}]{saved} of {count} takes saved in this session[/]; {total} samples in "
                  f"{session.out_dir}.")
    if saved:
        console.print(f"Next: `easy-oww train {name}` uses them (or record more with `easy-oww record {name}`).")


def _print_devices(console: Any) -> None:
    from core.audio.devices import list_input_devices

    devices = list_input_devices()
    console.print("Input devices (use the index or part of the name with --device):")
    for d in devices:
        console.print(f"  {d}", markup=False)


def _record_options(default_count: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for opt in reversed([
            click.argument("name", required=False),
            click.option("--count", type=click.IntRange(1, 1000), default=default_count, show_default=True,
                         help="Stop after this many accepted takes."),
            click.option("--duration", type=click.FloatRange(0.5, 30.0), default=3.0, show_default=True,
                         help="Longest take in seconds (a take ends earlier when you stop speaking)."),
            click.option("--device", default=None, help="Input device: index or (part of) its name."),
            click.option("--countdown", type=click.IntRange(0, 10), default=3, show_default=True,
                         help="Seconds of countdown before each take."),
            click.option("--list-devices", is_flag=True, help="List input devices and exit."),
            workspace_option,
        ]):
            fn = opt(fn)
        return fn

    return deco


@click.command("record")
@_record_options(20)
@friendly_errors
def record_cmd(name: str | None, count: int, duration: float, device: str | None, countdown: int,
               list_devices: bool, workspace: str | None) -> None:
    """Record real samples of the wake word for project NAME (interactive)."""
    _run_session(name, count, duration, device, countdown, list_devices, workspace, negative=False)


@click.command("record-negative")
@_record_options(10)
@friendly_errors
def record_negative_cmd(name: str | None, count: int, duration: float, device: str | None, countdown: int,
                        list_devices: bool, workspace: str | None) -> None:
    """Record phrases that are NOT the wake word (near misses) for project NAME."""
    _run_session(name, count, duration, device, countdown, list_devices, workspace, negative=True)


@click.command("import")
@click.argument("name")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--negative", is_flag=True, help="They are negative phrases (not the wake word).")
@workspace_option
@friendly_errors
def import_cmd(name: str, files: tuple[str, ...], negative: bool, workspace: str | None) -> None:
    """Import recordings made elsewhere (WAV/FLAC/OGG) into project NAME, with the same checks.

    Exit code 0 when at least one file was imported, 1 when none was.
    """
    from rich.markup import escape

    from core.audio.recording import import_files

    console = make_console(highlight=False)
    from core.project.locking import ProjectLock

    project = get_workspace(workspace).project(name)
    with ProjectLock(project.path, "import"):
        result = import_files(project, list(files), negative=negative)
    for path in result.imported:
        console.print(f"[green]✓[/] {escape(path.name)}")
    for _path, message in result.rejected:
        console.print(f"[red]✗[/] {escape(message)}")
    folder = result.imported[0].parent if result.imported else None
    console.print(f"{len(result.imported)} imported, {len(result.rejected)} rejected"
                  + (f" (into {folder})." if folder else "."))
    if not result.imported:
        sys.exit(1)


COMMANDS: list[click.Command] = [record_cmd, record_negative_cmd, import_cmd]
