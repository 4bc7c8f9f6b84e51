"""Progress bars and status lines on stderr (rich), silent unless asked for."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
console = Console(stderr=True, highlight=False)


class Reporter:
    """Shows progress bars and one-line messages when ``verbose``; does nothing otherwise."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose

    def track(self, iterable: Iterable[T], total: int | None, description: str) -> Iterator[T]:
        if not self.verbose:
            yield from iterable
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(description, total=total, status="")
            for item in iterable:
                yield item
                progress.advance(task)

    def say(self, message: str) -> None:
        if self.verbose:
            console.print(message)
