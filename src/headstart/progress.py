"""Progress bars and status lines on stderr (rich), silent unless asked for.

On a terminal a task shows as a live bar; piped into a file or another program, the same output is plain lines,
one per message, never wrapped at 80 columns, with no blank lines and no carriage-return redraws: a task writes
one line when it starts and one when it ends (and, for a long one, a line at each quarter).
"""

from __future__ import annotations

import math
import time
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
# When not on a terminal, a task that runs this long also gets a line at 25%, 50% and 75%.
MILESTONE_AFTER_SECONDS = 30.0


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Reporter:
    """Shows progress bars and one-line messages when ``verbose``; does nothing otherwise.

    ``console`` is where they go (stderr by default); when it is not a terminal the output is plain lines.
    """

    def __init__(self, verbose: bool = False, console: Console | None = None) -> None:
        self.verbose = verbose
        self._console = console

    @property
    def console(self) -> Console:
        return self._console or console

    def track(self, iterable: Iterable[T], total: int | None, description: str) -> Iterator[T]:
        if not self.verbose:
            yield from iterable
        elif self.console.is_terminal or self.console.is_jupyter:
            yield from self._bar(iterable, total, description)
        else:
            yield from self._lines(iterable, total, description)

    def _bar(self, iterable: Iterable[T], total: int | None, description: str) -> Iterator[T]:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
        )
        with Progress(*columns, console=self.console, transient=True) as progress:
            task = progress.add_task(description, total=total, status="")
            for item in iterable:
                yield item
                progress.advance(task)

    def _lines(self, iterable: Iterable[T], total: int | None, description: str) -> Iterator[T]:
        """A start line, an end line, and for a long task a line at each quarter done."""
        start = last = time.monotonic()
        of = f" of {total}" if total else ""
        self._line(f"{description}: started{f' ({total} steps)' if total else ''}")
        quarters = [math.ceil(total * q / 4) for q in (1, 2, 3)] if total else []
        done = 0
        for item in iterable:
            yield item
            done += 1
            if quarters and done >= quarters[0]:
                quarters = [q for q in quarters if q > done]
                now = time.monotonic()
                if now - last >= MILESTONE_AFTER_SECONDS and done < total:
                    self._line(f"{description}: {done}{of} ({100 * done // total}%) in {_duration(now - start)}")
                    last = now
        self._line(f"{description}: done, {done}{of} in {_duration(time.monotonic() - start)}")

    def _line(self, message: str) -> None:
        self.console.print(message, soft_wrap=True, markup=False, highlight=False)

    def say(self, message: str) -> None:
        if self.verbose:
            # A terminal wraps long lines at its width; a log file gets each message on one line, however long.
            self.console.print(message, soft_wrap=not self.console.is_terminal)
