"""``gridlink events import FILE`` and ``gridlink assign``: bulk events and (re)assignment."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.event_months import archive_command, partitions_command, restore_command
from cli.output import console, fail
from cli.progress import partition_progress, row_progress
from cli.rollups import refresh_with_progress
from geo.assign import AssignSummary, assign_events, assign_units
from geo.assign_on_import import area_wkt
from geo.assignment_index import grid_code_index_off
from geo.db import database_url, get_engine, transaction
from geo.distributed.targets import Targets
from geo.errors import GridlinkError
from geo.events import fill_missing_due
from geo.settings import get_settings

events_app = typer.Typer(help="Events: import files of reported events; monthly partitions, "
                         "archive and restore.", no_args_is_help=True)


def _print_summary(summary: AssignSummary) -> None:
    console.print(
        f"assigned {summary.events} events in {summary.seconds:.2f} s: "
        f"{summary.covered} inside a grid, {summary.snapped} snapped "
        f"(≤ {get_settings().gps_tolerance_m:g} m), {summary.unassigned} unassigned; "
        f"{summary.with_cameras} with at least one covering camera; {summary.changed} rows "
        f"changed, {summary.events - summary.changed - summary.superseded} unchanged"
        + (f", {summary.superseded} left as another writer rewrote them meanwhile"
           if summary.superseded else ""))


@events_app.command("import")
def import_events(
    file: Path = typer.Argument(..., help="GeoJSON, GeoPackage, Shapefile (.zip) or CSV"),
    crs: str | None = typer.Option(None, help="4326, 4490, gcj02, bd09 or EPSG code"),
    encoding: str | None = typer.Option(None, help="e.g. gb18030 (default: detect)"),
    skip_invalid: bool = typer.Option(False, help="write the good rows, list the bad ones"),
    rejects: Path | None = typer.Option(None, help="CSV of rejected rows (with --skip-invalid)"),
    field_map: list[str] | None = typer.Option(
        None, "--map", help="SRC=DST: file column SRC feeds field DST (repeatable)"),
) -> None:
    """Import events and assign them to grids and cameras, all in one transaction.

    All-or-nothing by default: any bad row fails the import and nothing is written.
    Events already known by ``client_id`` are updated, not duplicated.
    """
    from geo.importer import import_file
    from geo.importer.fields import parse_map

    try:
        with transaction() as session:
            report = import_file(session, "events", file, crs=crs, encoding=encoding,
                                 skip_invalid=skip_invalid, rejects_path=rejects,
                                 field_map=parse_map(field_map))
            summary = assign_events(session, "unassigned")
            fill_missing_due(session, get_settings().event_due_hours)
        refresh_with_progress()
    except GridlinkError as exc:
        raise fail(exc) from exc
    for note in report.notes:
        console.print(f"note: {note}")
    console.print(f"{report.rows} rows: {report.inserted} inserted, {report.updated} updated, "
                  f"{report.rejected} rejected")
    _print_summary(summary)


def assign(
    all_events: bool = typer.Option(False, "--all", help="reassign every event"),
    unassigned: bool = typer.Option(False, "--unassigned",
                                    help="only events never assigned or outside every grid"),
    area: str | None = typer.Option(None, "--area", help="events inside this area/grid code"),
    units: bool = typer.Option(False, "--units", help="buildings, sites and cameras instead "
                               "of events (everywhere, or inside --area)"),
    k: int | None = typer.Option(None, help="cameras stored per event "
                                 "(default GRIDLINK_LOCATE_K, 3)"),
    dask: bool = typer.Option(False, "--dask", help="with --all: run on a Dask cluster "
                              "(--scheduler, else GRIDLINK_DASK_SCHEDULER, else a "
                              "LocalCluster on this machine; docs/scale.md)"),
    scheduler: str | None = typer.Option(None, "--scheduler", metavar="ADDRESS",
                                         help="with --dask: the scheduler, tcp://host:8786"),
    from_parquet: str | None = typer.Option(
        None, "--from-parquet", metavar="DATASET", help="with --dask: the events of this "
        "GeoParquet file or folder (e.g. the events archive) instead of the database"),
    to_parquet: str | None = typer.Option(
        None, "--to-parquet", metavar="FOLDER", help="with --dask: also write the "
        "assignments there, one GeoParquet file per partition (a new or empty folder)"),
    database: bool = typer.Option(True, "--database/--no-database", help="with --dask: "
                                  "write event_assignments (--no-database: files only)"),
    shuffle: bool = typer.Option(False, "--spatial-shuffle", help="with --from-parquet: "
                                 "regroup the events by space first (files that each span "
                                 "the whole area, like the monthly archive)"),
) -> None:
    """(Re)assign events to grid, micro-grid, admin chain and covering cameras (set-based SQL).

    Exactly one of --all, --unassigned or --area CODE; with --units, buildings, sites and
    cameras get their grid and micro-grid (everywhere, or inside --area CODE). --all --dask
    [--scheduler ADDRESS] runs the same job on a Dask cluster (same answers), reading the
    events from GeoParquet with --from-parquet and writing GeoParquet with --to-parquet.
    """
    if units:
        _assign_units(area)
        return
    chosen = [name for name, on in (("all", all_events), ("unassigned", unassigned),
                                    ("area", area is not None)) if on]
    if len(chosen) != 1:
        console.print("[bold red]error:[/] give exactly one of --all, --unassigned, --area CODE")
        raise typer.Exit(code=2)
    if dask:
        _assign_on_dask(chosen[0], scheduler, k, Targets(from_parquet, to_parquet, database,
                                                              spatial_shuffle=shuffle))
        return
    if from_parquet or to_parquet or not database or shuffle:
        console.print("[bold red]error:[/] --from-parquet, --to-parquet, --no-database and "
                      "--spatial-shuffle run on Dask: add --all --dask")
        raise typer.Exit(code=2)
    try:
        with grid_code_index_off(get_engine(), chosen[0]):  # built after the commit
            with row_progress(f"assigning events ({chosen[0]})") as progress, \
                    transaction() as session:
                summary = assign_events(session, chosen[0], area_code=area, k=k,
                                        progress=progress)
        refresh_with_progress()  # committed above: a second transaction (geo.rollup_refresh)
    except GridlinkError as exc:
        raise fail(exc) from exc
    _print_summary(summary)
    console.print("steps (s): " + ", ".join(f"{name} {secs:.2f}"
                                            for name, secs in summary.steps.items()))


def _assign_on_dask(scope: str, address: str | None, k: int | None,
                    targets: Targets) -> None:
    """``gridlink assign --all --dask [ADDRESS]`` (geo.distributed.assign)."""
    if scope != "all":
        console.print("[bold red]error:[/] --dask runs --all only")
        raise typer.Exit(code=2)
    if not (targets.to_database or targets.to_parquet):
        console.print("[bold red]error:[/] --no-database writes nothing without --to-parquet")
        raise typer.Exit(code=2)
    from geo.distributed.assign import assign_events_dask, dask_client

    settings = get_settings()
    address = address or settings.dask_scheduler
    console.print(f"assigning the events of {targets.from_parquet or 'the database'} on "
                  f"Dask ({address or 'a LocalCluster'})")
    try:
        with partition_progress("on Dask") as progress, dask_client(address) as client:
            summary = assign_events_dask(client, database_url(settings), k=k,
                                         settings=settings, targets=targets,
                                         progress=progress)
    except GridlinkError as exc:
        raise fail(exc) from exc
    _print_summary(summary)
    slowest = max((p["seconds"] for p in summary.partitions), default=0.0)
    console.print(f"{len(summary.partitions)} partitions on "
                  f"{len({p['worker'] for p in summary.partitions})} workers (slowest "
                  f"{slowest:.2f} s); steps (s): "
                  + ", ".join(f"{name} {secs:.2f}" for name, secs in summary.steps.items()))
    if targets.to_parquet:
        console.print(f"wrote {sum(p['events'] for p in summary.partitions)} assignments in "
                      f"{len(summary.partitions)} GeoParquet files to {targets.to_parquet}")


def _assign_units(area: str | None) -> None:
    """``gridlink assign --units [--area CODE]``: grid and micro-grid of every unit."""
    try:
        with transaction() as session:
            counts = assign_units(session, area_wkt(session, area) if area else None)
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print("assigned " + ", ".join(f"{n} {table}" for table, n in counts.items())
                  + (f" inside {area}" if area else ""))


# the monthly partition commands live in cli/event_months.py, under `gridlink events`
events_app.command("partitions")(partitions_command)
events_app.command("archive")(archive_command)
events_app.command("restore")(restore_command)
