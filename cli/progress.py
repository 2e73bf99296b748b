"""A rich progress bar for long CLI jobs: rows done of all, rows/s, time left, problems."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from cli.output import console

RowProgress = Callable[[int, int, int], None]
"""(rows done, rows in all, problems so far): the callback geo's importer/exporter take."""


class RowsPerSecond(ProgressColumn):
    """Rows per second over the task so far."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("– rows/s" if speed is None else f"{speed:,.0f} rows/s", style="cyan")


@contextmanager
def row_progress(description: str) -> Iterator[RowProgress]:
    """A progress bar for the ``with`` block; yields the callback that advances it."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               RowsPerSecond(), TimeRemainingColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[problems]}", style="yellow"))
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=None, problems="")

        def advance(done: int, total: int, problems: int) -> None:
            bar.update(task, completed=done, total=total,
                       problems=f"{problems} problem(s)" if problems else "")

        yield advance


@contextmanager
def partition_progress(description: str) -> Iterator[Callable[[int, int, int], None]]:
    """A progress bar of partitions done (Dask jobs) with the events done so far; yields the
    callback ``(partitions done, partitions in all, events done)``."""
    columns = (TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
               TextColumn("partitions, {task.fields[events]:,} events", style="cyan"),
               TimeRemainingColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=None, events=0)

        def advance(done: int, total: int, events: int) -> None:
            bar.update(task, completed=done, total=total, events=events)

        yield advance
