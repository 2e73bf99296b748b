"""``gridlink rollups status | refresh``: the rollups a bulk assignment left pending refresh."""

from __future__ import annotations

import typer

from cli.output import console, fail
from geo.db import transaction
from geo.errors import GridlinkError
from geo.rollup_refresh import (
    REFRESH_STEPS,
    RefreshSummary,
    pending_refreshes,
    refresh_rollups,
)

rollups_app = typer.Typer(help="Rollups (the daily, monthly and per-area counts): refresh "
                          "what a bulk assignment left pending.", no_args_is_help=True)


def refresh_with_progress() -> RefreshSummary:
    """Refresh every pending mark in a transaction of its own (committed), showing its steps;
    nothing pending: nothing shown. What ``gridlink assign`` runs after committing."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with transaction() as session:
        if not pending_refreshes(session):
            return RefreshSummary(0, 0, 0.0)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[step]}", style="cyan"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar, \
            transaction() as session:
        task = bar.add_task("refreshing rollups", total=REFRESH_STEPS, step="taking the marks")
        summary = refresh_rollups(session, lambda name: bar.update(task, advance=1, step=name))
    if summary.marks:
        console.print(f"rollups refreshed: {summary.marks} pending job(s), {summary.days} local "
                      f"day(s) recounted in {summary.seconds:.2f} s")
    return summary


@rollups_app.command("refresh")
def refresh_command() -> None:
    """Refresh the rollups of every bulk assignment still pending (e.g. after a crash
    between its commit and its refresh). Writers of the rollups wait meanwhile."""
    try:
        summary = refresh_with_progress()
    except GridlinkError as exc:
        raise fail(exc) from exc
    if not summary.marks:
        console.print("no rollups pending refresh")


@rollups_app.command("status")
def status_command() -> None:
    """List the bulk assignments whose rollups are pending refresh."""
    with transaction() as session:
        marks = pending_refreshes(session)
    for mark in marks:
        console.print(f"#{mark.id} {mark.created_at:%Y-%m-%d %H:%M:%S %Z}: {mark.job}, "
                      f"{len(mark.days)} local day(s)")
    if not marks:
        console.print("no rollups pending refresh")
