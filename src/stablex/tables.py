"""Terminal tables that fit an 80-column terminal: cells fold instead of being cut with an
ellipsis (a number is never shown as `[+0.4…`), and long headers are abbreviated with a
legend under the table saying what each abbreviation means."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from rich.console import JustifyMethod
from rich.table import Table


def table(title: str | None, columns: Sequence[str | tuple[str, str]], legend: str = "") -> Table:
    """A rich Table; `columns`: header (right-justified) or (header, justify); `legend`: the caption."""
    t = Table(title=title, caption=legend or None, caption_justify="left")
    for col in columns:
        name, justify = (col, "right") if isinstance(col, str) else col
        t.add_column(name, justify=cast(JustifyMethod, justify), overflow="fold")
    return t
