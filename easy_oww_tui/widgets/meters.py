"""One-line meters for live audio: the microphone level and a wake-word score bar with its threshold."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

LOW_DB = -60.0  # the left end of the level meter (dBFS)
LABEL = 7  # "Mic    ", "Score  "


def bar_cells(fraction: float, width: int) -> int:
    """How many of ``width`` cells a bar filled to ``fraction`` (clamped to 0..1) covers."""
    return max(0, min(width, round(max(0.0, min(1.0, fraction)) * width)))


class LevelMeter(Widget):
    """``Mic    ██████······  -23 dB``: RMS level from -60 to 0 dBFS; red with "CLIP" when clipping."""

    DEFAULT_CSS = "LevelMeter { height: 1; }"
    rms_db: reactive[float | None] = reactive(None)
    clipped: reactive[bool] = reactive(False)

    def show(self, rms_db: float | None, clipped: bool = False) -> None:
        self.rms_db, self.clipped = rms_db, clipped

    def render(self) -> Text:
        width = max(8, self.size.width - LABEL - 12)
        text = Text(no_wrap=True, overflow="crop")
        text.append(f"{'Mic':<{LABEL}}", style="bold")
        if self.rms_db is None:
            text.append("·" * width, style="dim")
            text.append("    - dB", style="dim")
            return text
        n = bar_cells((self.rms_db - LOW_DB) / -LOW_DB, width)
        text.append("█" * n, style="bold red" if self.clipped else "green")
        text.append("·" * (width - n), style="dim")
        text.append(f" {max(self.rms_db, -99.0):5.0f} dB")
        if self.clipped:
            text.append(" CLIP", style="bold red")
        return text


class ScoreBar(Widget):
    """``Score  ████····│······ 0.12  max 0.97``: the model's score, a mark at the threshold.

    The bar turns bold yellow at or above the threshold; ``max`` is the highest score since ``reset``.
    """

    DEFAULT_CSS = "ScoreBar { height: 1; }"
    score: reactive[float | None] = reactive(None)
    best: reactive[float | None] = reactive(None)
    threshold: reactive[float] = reactive(0.5)

    def __init__(self, threshold: float = 0.5, **kwargs: str | None) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.threshold = threshold

    def reset(self) -> None:
        self.score = self.best = None

    def show(self, score: float) -> None:
        self.score = score
        self.best = score if self.best is None else max(self.best, score)

    def render(self) -> Text:
        width = max(8, self.size.width - LABEL - 17)
        text = Text(no_wrap=True, overflow="crop")
        text.append(f"{'Score':<{LABEL}}", style="bold")
        score = self.score
        hit = score is not None and score >= self.threshold
        n = bar_cells(score or 0.0, width)
        mark = min(width - 1, bar_cells(self.threshold, width))
        for i in range(width):
            if i == mark:
                text.append("│", style="bold red" if not hit else "bold yellow")
            elif i < n:
                text.append("█", style="bold yellow" if hit else "cyan")
            else:
                text.append("·", style="dim")
        text.append(f" {score:4.2f}" if score is not None else "    -", style="bold" if hit else "")
        text.append(f"  max {self.best:4.2f}" if self.best is not None else "  max    -", style="dim")
        return text
