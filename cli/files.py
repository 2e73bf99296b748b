"""``gridlink import`` and ``gridlink export``: layer files in and out of the database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from cli.audit import cli_actor
from cli.output import console, fail
from cli.progress import row_progress
from geo.catalog import LAYERS
from geo.db import transaction
from geo.errors import GridlinkError

if TYPE_CHECKING:  # the importer and exporter are imported by the command that runs
    from geo.importer import ImportReport
    from geo.planning.grid_imports import GridChange

files_app = typer.Typer()
LAYER_HELP = f"one of: {', '.join(LAYERS)}"


def _print_mapping(report: ImportReport) -> None:
    mapping = Table("field", "from column", title="field mapping")
    for field_name, column in report.mapping.items():
        mapping.add_row(field_name, column)
    for column in report.unknown_columns:
        mapping.add_row("[yellow](not imported)[/]", column)
    console.print(mapping)


def _print_problems(report: ImportReport) -> None:
    table = Table("row", "line", "id", "field", "problem", title="problems")
    for p in report.problems:
        table.add_row(*("" if p.get(k) is None else str(p.get(k))
                        for k in ("row", "line", "id", "field", "problem")))
    console.print(table)


def _print_report(report: ImportReport, rejects: Path | None) -> None:
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    if report.dry_run:
        _print_mapping(report)
        if report.problems:
            _print_problems(report)
        console.print(f"dry run: {report.rows} row(s), {len(report.problems)} problem(s); "
                      f"would insert {report.inserted}, update {report.updated}; nothing "
                      "was written")
        return
    renamed = {f: c for f, c in report.mapping.items() if c != f}
    if renamed:  # the mapping is visible whenever a column was not named as its field
        console.print("fields: " + ", ".join(f"{f} ← {c}" for f, c in renamed.items()))
    table = Table("layer", "rows", "inserted", "updated", "rejected")
    table.add_row(report.layer, str(report.rows), str(report.inserted), str(report.updated),
                  str(report.rejected))
    console.print(table)
    if report.rejected and rejects is not None:
        console.print(f"{len(report.problems)} problem(s) written to {rejects}")


@files_app.command("import")
def import_command(
    layer: str = typer.Argument(..., help=LAYER_HELP),
    file: Path = typer.Argument(..., help=".geojson, .gpkg, .zip (Shapefile), .shp or .csv"),
    crs: str | None = typer.Option(None, help="4326, EPSG:4490, EPSG:4547, gcj02, bd09 ... "
                                   "(overrides the file's CRS)"),
    encoding: str | None = typer.Option(None, help="text encoding, e.g. GB18030 (default: "
                                        "detected)"),
    skip_invalid: bool = typer.Option(False, help="import the good rows, reject the others"),
    rejects: Path | None = typer.Option(None, help="CSV for rejected rows (with "
                                        "--skip-invalid; default FILE.rejects.csv)"),
    reason: str | None = typer.Option(None, help="grids and micro-grids: why they change "
                                      "(kept with each new version; default 'import of FILE')"),
    field_map: list[str] | None = typer.Option(
        None, "--map", help="SRC=DST: file column SRC feeds layer field DST (repeatable; "
        "SRC= leaves the column out)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the field mapping, the row "
                                 "count and every problem; write nothing"),
    make_valid: bool = typer.Option(False, help="repair self-intersecting polygons and drop "
                                    "degenerate rings, reporting each repaired row"),
) -> None:
    """Import a layer file: validate every row, then upsert by code (all or nothing)."""
    from geo.importer import import_file
    from geo.importer.fields import parse_map

    if skip_invalid and rejects is None and not dry_run:
        rejects = file.with_name(file.name + ".rejects.csv")
    try:
        with row_progress(f"importing {file.name} into {layer}") as progress, \
                transaction() as session:
            actor = cli_actor(session, f"import {layer}")
            report = import_file(session, layer, file, crs=crs, encoding=encoding,
                                 skip_invalid=skip_invalid, rejects_path=rejects,
                                 field_map=parse_map(field_map), dry_run=dry_run,
                                 change=_grid_change(layer, actor.actor, reason, file),
                                 make_valid=make_valid, progress=progress,
                                 defer_indexes=True)
            if dry_run:
                session.rollback()
    except GridlinkError as exc:
        raise fail(exc) from exc
    _print_report(report, rejects)
    if report.indexes_pending:  # committed: the rest of a first load's indexes
        from cli.db import build_indexes

        build_indexes()


def _grid_change(layer: str, actor: str, reason: str | None, file: Path) -> GridChange | None:
    """Who changes grids and why, for a grids or micro-grids import (None for the other
    layers, which then never load the planning modules)."""
    if layer not in ("grids", "micro_grids"):
        return None
    from geo.planning.grid_imports import GridChange

    return GridChange(actor, reason or f"import of {file.name}")


@files_app.command("export")
def export_command(
    layer: str = typer.Argument(..., help=LAYER_HELP),
    fmt: str = typer.Option("geojson", "--format", help="geojson, gpkg or csv"),
    out: Path | None = typer.Option(None, help="output file (default LAYER.FORMAT)"),
    bbox: str | None = typer.Option(None, help="minlon,minlat,maxlon,maxlat (EPSG:4326)"),
    parent: str | None = typer.Option(None, help="parent code (community for grids...)"),
    kind: str | None = typer.Option(None, help="grid kind, area level, site category..."),
) -> None:
    """Export a layer to GeoJSON (RFC 7946), GeoPackage or CSV (WKT geometry column)."""
    from geo.exporter import ExportFilter, check_export, export_file, parse_bbox

    if fmt not in ("geojson", "gpkg", "csv"):
        console.print(f"[bold red]error:[/] unknown format {fmt!r}: geojson, gpkg or csv")
        raise typer.Exit(code=2)
    out = out or Path(f"{layer}.{fmt}")
    try:
        flt = ExportFilter(parse_bbox(bbox), parent, kind)
        check_export(layer, flt)
        with row_progress(f"exporting {layer} to {out.name}") as progress, \
                transaction() as session:
            count = export_file(session, layer, out, fmt, flt,  # type: ignore[arg-type]
                                progress=progress)
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print(f"wrote {count} feature(s) to {out}")
