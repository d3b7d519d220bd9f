"""Formatting helpers: numbers, and paths shown relative to the workspace (never a raw tmp path)."""

from __future__ import annotations

from pathlib import Path


def display_path(path: str | Path, root: Path) -> str:
    """``path`` relative to the workspace ``root`` when inside it, else with the home folder as ``~``."""
    p = Path(path)
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        pass
    home = str(Path.home())
    text = str(p)
    if home not in ("", "/") and text.startswith(home + "/"):
        return "~" + text[len(home):]
    return text


def scrub(text: str, root: Path, label: str = "") -> str:
    """Replace the workspace folder inside ``text`` (e.g. an error message) by a relative form."""
    r = str(root)
    if r and r != "/":
        text = text.replace(r + "/", label + "/" if label else "").replace(r, label or ".")
        resolved = str(Path(r).resolve())
        if resolved != r:
            text = text.replace(resolved + "/", label + "/" if label else "").replace(resolved, label or ".")
    home = str(Path.home())
    if home not in ("", "/"):
        text = text.replace(home + "/", "~/")
    return text


def fmt_float(value: float | None, digits: int = 2, none: str = "-") -> str:
    return none if value is None else f"{value:.{digits}f}"


def fmt_size(n_bytes: int | float | None) -> str:
    if not n_bytes:
        return "-"
    size = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
