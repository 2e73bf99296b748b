"""``gridlink events partitions | archive | restore``: the monthly partitions of events."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.audit import cli_actor
from cli.output import console, fail
from cli.rollups import refresh_with_progress
from geo.db import transaction
from geo.errors import GridlinkError, ValidationFailed
from geo.event_partitions import current_month, ensure_partitions, parse_month
from geo.settings import get_settings


def partitions_command(
    ahead: int | None = typer.Option(None, min=0, max=120, help="months after the current "
                                     "one (default GRIDLINK_EVENT_PARTITIONS_AHEAD, 3)"),
) -> None:
    """Create the coming months' partitions of events and give every month waiting in the
    default partition its own. Safe to run any time (monthly from cron)."""
    try:
        with transaction() as session:
            cli_actor(session, "events partitions")
            created = ensure_partitions(
                session, get_settings().event_partitions_ahead if ahead is None else ahead)
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print(f"created {len(created)} partition(s): {', '.join(created) or 'none needed'}")


def archive_command(
    before: str = typer.Option(..., help="archive every month before this one (YYYY-MM)"),
    to: Path | None = typer.Option(None, help="directory of the GeoParquet files "
                                   "(default GRIDLINK_EVENT_ARCHIVE_DIR or .gridlink/archive)"),
) -> None:
    """Write each month of events before ``--before`` to GeoParquet, verify the file, then
    drop the month's partition. One transaction per month: interrupted, a month keeps its
    rows; run again, it goes on."""
    from geo.event_archive import archive_month, months_before  # pyarrow: only when used

    settings = get_settings()
    directory = to or settings.event_archive_dir or settings.home / "archive"
    try:
        cutoff = parse_month(before)
        if cutoff > current_month():
            raise ValidationFailed(f"--before {before} is after the current month: only past "
                                   "months can be archived", [{"field": "before"}])
        with transaction() as session:
            months = months_before(session, cutoff)
        if months:
            refresh_with_progress()  # a pending day of an archived month could not be recounted
            console.print(f"archive directory: {directory}", soft_wrap=True)
        for partition in months:
            with transaction() as session:
                cli_actor(session, f"events archive {partition.name}")
                done = archive_month(session, partition, directory)
            console.print(f"{partition.name}: {done.rows} events → {done.path.name} "
                          f"(sha256 {done.sha256[:12]}…), partition dropped", soft_wrap=True)
    except GridlinkError as exc:
        raise fail(exc) from exc
    if not months:
        console.print(f"no month before {before} left to archive")


def restore_command(
    file: Path = typer.Argument(..., help="an events_YYYY_MM.parquet written by archive"),
) -> None:
    """Put an archived month back: its events, assignments and linked rows."""
    from geo.event_archive import restore_archive  # pyarrow: only when used

    try:
        with transaction() as session:
            cli_actor(session, f"events restore {file.name}")
            rows = restore_archive(session, file)
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print(f"restored {rows} events from {file}")
