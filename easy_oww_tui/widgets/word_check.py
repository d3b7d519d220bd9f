"""The wake-word check panel: phonemes, syllables, warnings and sound-alikes (core.project.word_check)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual.widgets import Static

VERDICT_STYLE = {"good": "green", "fair": "yellow", "poor": "red"}


def report_markup(report: Any, max_sounds_like: int = 6) -> str:
    """A few lines of Rich markup for a ``core.project.word_check.PhraseReport``."""
    said = " ".join(w.voices_say or w.dictionary or w.word for w in report.words)
    verdict = report.verdict
    lines = [f"[b]{report.syllables}[/] syllable{'' if report.syllables == 1 else 's'} · voices say "
             f"/{escape(said)}/ · [{VERDICT_STYLE[verdict]}]{verdict}[/]"]
    for advice in report.advice:
        colour = "yellow" if advice.level == "warning" else "cyan"
        lines.append(f"[{colour}]{advice.level}:[/] {escape(advice.text)}")
    sounds = [w for w, _ in report.confusable_words[:max_sounds_like]]
    lines.append("sounds like: " + (escape(", ".join(sounds)) if sounds else "no common word is one sound away"))
    return "\n".join(lines)


class WordCheckPanel(Static):
    """Shows the check of the phrase typed above it; empty until there is one."""

    DEFAULT_CSS = """
    WordCheckPanel {
        height: auto;
        max-height: 8;
        color: $text-muted;
        margin-bottom: 1;
    }
    """

    def show_report(self, report: Any) -> None:
        self.update(report_markup(report))
        self.set_class(True, "checked")

    def show_message(self, text: str, checked: bool = True) -> None:
        self.update(escape(text))
        self.set_class(checked, "checked")
