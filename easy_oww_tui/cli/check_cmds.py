"""`easy-oww check "PHRASE"`: is it a good wake word? Pronunciation, syllables, warnings, sound-alikes, a preview."""

from __future__ import annotations

import json
from pathlib import Path

import click

from easy_oww_tui.cli.common import friendly_errors, get_workspace, make_console, workspace_option


@click.command("check")
@click.argument("phrase")
@click.option("--pronunciation", default="", help='How to say it, if the voices get it wrong, e.g. "my croft".')
@click.option("--play", is_flag=True, help="Play how the installed voices say it.")
@click.option("--save", "save_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write each voice's preview as a WAV file in this folder (to listen on another machine).")
@click.option("--voices", default=3, show_default=True, type=click.IntRange(1, 10), help="Voices to preview.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@workspace_option
@friendly_errors
def check_cmd(phrase: str, pronunciation: str, play: bool, save_dir: Path | None, voices: int, as_json: bool,
              workspace: str | None) -> None:
    """Check PHRASE as a wake word before training: phonemes, syllables, warnings and sound-alike words."""
    from dataclasses import asdict

    from core.project.word_check import check_phrase

    report = check_phrase(phrase, pronunciation)
    if as_json:
        click.echo(json.dumps({**asdict(report), "verdict": report.verdict}, ensure_ascii=False, indent=2))
    else:
        print_report(report)
    if play or save_dir:
        _preview(phrase, pronunciation, voices, play, save_dir, workspace)


def print_report(report) -> None:  # noqa: ANN001 - core.project.word_check.PhraseReport
    from rich.markup import escape
    from rich.table import Table

    console = make_console(highlight=False)
    spoken = f"  (spoken as [bold]{escape(report.spoken)}[/])" if report.spoken != report.phrase else ""
    console.print(f"[bold]{escape(report.phrase)}[/]{spoken}: {report.syllables} syllable{'' if report.syllables == 1 else 's'}")
    table = Table(show_edge=False, pad_edge=False)
    for col in ("word", "dictionary", "the voices say", "syllables", "frequency"):
        table.add_column(col, overflow="fold")
    for w in report.words:
        freq = "rare" if w.zipf == 0 else f"{w.zipf:.1f}" + (" (everyday)" if w.zipf >= 4.0 else "")
        table.add_row(escape(w.word), f"/{w.dictionary}/" if w.dictionary else "[dim]not in it[/]",
                      f"/{w.voices_say}/" if w.voices_say else "[dim]-[/]", str(w.syllables), freq)
    console.print(table)
    for a in report.advice:
        colour = "yellow" if a.level == "warning" else "cyan"
        console.print(f"[{colour}]{a.level}:[/] {escape(a.text)}")
    if report.confusable_words:
        words = ", ".join(w for w, _ in report.confusable_words)
        console.print(f"sounds like (common words, most common first): {escape(words)}")
    else:
        console.print("sounds like: no common word is one sound away")
    console.print(f"sound-alikes it may mistake for the wake word (record them with `easy-oww record-negative` if "
                  f"your home says them), e.g.: {escape(', '.join(report.near_misses))}")
    colour = {"good": "green", "fair": "yellow", "poor": "red"}[report.verdict]
    console.print(f"verdict: [{colour}]{report.verdict}[/]"
                  + ("" if report.verdict == "good" else " - see the warnings above"))


def _preview(phrase: str, pronunciation: str, voices: int, play: bool, save_dir: Path | None,
             workspace: str | None) -> None:
    from core.audio.devices import DeviceError, play_audio
    from core.audio.files import write_wav
    from core.audio.tts import PiperTTS
    from core.errors import EasyOWWError
    from core.project.word_check import preview

    ws = get_workspace(workspace)
    console = make_console(highlight=False)
    clips = preview(phrase, PiperTTS(ws.voices_dir, threads=2), pronunciation, voices)
    for name, audio in clips:
        if save_dir:
            save_dir.mkdir(parents=True, exist_ok=True)
            path = save_dir / f"{name.replace(':', '_').replace('+', '_')}.wav"
            write_wav(path, audio)
            console.print(f"saved {name}: {path}")
    if not play:
        return
    for name, audio in clips:
        console.print(f"playing {name} ({len(audio) / 16000:.1f} s)")
        try:
            play_audio(audio, what="the preview")
        except DeviceError as exc:
            raise EasyOWWError(f"{exc} Or add --save DIR to write the previews as WAV files.") from None


COMMANDS: list[click.Command] = [check_cmd]
