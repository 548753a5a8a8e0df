"""Progress bars (rich) that stay quiet when output is not a terminal or progress is off."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def enabled() -> bool:
    """Bars are shown on a terminal unless KWSLAB_PROGRESS=0."""
    flag = os.environ.get("KWSLAB_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "no")
    return sys.stderr.isatty()


def make_progress(transient: bool = True):
    """A rich Progress with bar, counts, elapsed and remaining time, on stderr."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=transient, disable=not enabled(),
    )


def track(items: Iterable[T], total: int | None = None, description: str = "") -> Iterator[T]:
    """Iterate with a progress bar (a no-op wrapper when bars are off)."""
    with make_progress() as progress:
        yield from progress.track(items, total=total, description=description)
