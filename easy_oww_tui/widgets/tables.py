"""DataTable variants whose enter key is named in the footer."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable


class ProjectTable(DataTable[object]):
    """The projects list; enter opens the highlighted project (shown in the footer)."""

    BINDINGS = [Binding("enter", "select_cursor", "Open", show=True)]
