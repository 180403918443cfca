"""One rich progress display (bars with ETA) that every long stage can share."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def make_progress(disable: bool = False) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        disable=disable,
        transient=False,
    )


@contextmanager
def progress_or(progress: Progress | None, disable: bool = False) -> Iterator[Progress]:
    """Use the caller's display (one across stages) or open a new one."""
    if progress is not None:
        yield progress
        return
    with make_progress(disable=disable) as p:
        yield p
