"""A progress bar for long command-line work (rollups, batch renders), quiet off a terminal.

Library functions never print; commands wrap their loops::

    for step in progress_iter(write_rollup_steps(lf, out), total=ROLLUP_STEPS,
                              description="telemetry rollup"):
        ...

The bar is drawn with rich on stderr, and only when both stdout and stderr are terminals, so
piped output (JSON, paths for scripts), CI logs and notebooks stay clean. It is transient: it
disappears when the loop ends.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

T = TypeVar("T")


def interactive() -> bool:
    """True when stdout and stderr are both terminals (a person is watching)."""
    return sys.stdout.isatty() and sys.stderr.isatty()


def progress_iter(
    iterable: Iterable[T],
    total: int | None = None,
    description: str = "",
    *,
    enabled: bool | None = None,
) -> Iterator[T]:
    """Yield the items of ``iterable`` unchanged, showing a progress bar of ``total`` items
    (a spinner when ``total`` is None) labelled ``description``. The bar advances when the
    caller asks for the next item, i.e. once an item has been handled. ``enabled`` forces it on
    or off; by default it is on only on an interactive terminal (``interactive()``)."""
    show = interactive() if enabled is None else enabled
    if not show:
        yield from iterable
        return
    columns = [
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    console = Console(stderr=True)
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in iterable:
            yield item
            bar.advance(task)
