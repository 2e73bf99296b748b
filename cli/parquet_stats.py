"""``gridlink parquet-stats DATASET``: /stats' figures per unit and month from a GeoParquet
archive of events, on Dask (geo.distributed.stats)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cli.output import console, fail
from geo.errors import GridlinkError
from geo.settings import get_settings

SHOWN = ("accepted", "valid", "handled", "due", "closed", "closed_on_time", "postponed",
         "first_time", "on_time_rate", "score")
"""The columns of the printed table (the CSV has every /stats field)."""


def parquet_stats(
    dataset: str = typer.Argument(..., help="GeoParquet file or folder of events (the "
                                  "archive of `gridlink events archive`), or an fsspec URL"),
    level: str = typer.Option("grid", help="grid, community, street, district or department"),
    scheduler: str | None = typer.Option(None, "--scheduler", metavar="ADDRESS", help="the "
                                         "Dask scheduler (default GRIDLINK_DASK_SCHEDULER, "
                                         "else a LocalCluster on this machine)"),
    csv: Path | None = typer.Option(None, "--csv", help="write every row and field to this "
                                    "CSV file instead of printing a table"),
) -> None:
    """Count /stats' figures per unit and month from a GeoParquet archive of events, on Dask.

    The same counts, rates and score as /stats for each local month while the events were in
    the database (attribution assigned; no names, grid counts or reassignments).
    """
    from geo.distributed.assign import dask_client
    from geo.distributed.stats import month_stats
    from geo.stats import FIELDS, stats_csv

    address = scheduler or get_settings().dask_scheduler
    try:
        with console.status(f"counting {dataset} on Dask ({address or 'LocalCluster'}) ..."), \
                dask_client(address) as client:
            rows = month_stats(client, dataset, level)
    except GridlinkError as exc:
        raise fail(exc) from exc
    if csv is not None:
        csv.write_text(stats_csv(rows, ("month", *FIELDS)), encoding="utf-8")
        console.print(f"wrote {len(rows)} rows to {csv}")
        return
    table = Table("month", level, *SHOWN, title=f"{dataset} ({level})")
    for row in rows:
        table.add_row(row["month"], row["unit"], *("" if row[c] is None else str(row[c])
                                                   for c in SHOWN))
    console.print(table)
