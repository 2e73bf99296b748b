"""``gridlink import`` and ``gridlink export``: layer files in and out of the database."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cli.output import console, fail
from geo.catalog import LAYERS
from geo.db import transaction
from geo.errors import GridlinkError
from geo.exporter import ExportFilter, check_export, export_file, parse_bbox
from geo.importer import ImportReport, import_file

files_app = typer.Typer()
LAYER_HELP = f"one of: {', '.join(LAYERS)}"




def _print_report(report: ImportReport, rejects: Path | None) -> None:
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
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
    make_valid: bool = typer.Option(False, help="repair self-intersecting polygons and drop "
                                    "degenerate rings, reporting each repaired row"),
) -> None:
    """Import a layer file: validate every row, then upsert by code (all or nothing)."""
    if skip_invalid and rejects is None:
        rejects = file.with_name(file.name + ".rejects.csv")
    try:
        with console.status(f"importing {file.name} into {layer}..."), transaction() as session:
            report = import_file(session, layer, file, crs=crs, encoding=encoding,
                                 skip_invalid=skip_invalid, rejects_path=rejects,
                                 make_valid=make_valid)
    except GridlinkError as exc:
        raise fail(exc) from exc
    _print_report(report, rejects)


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
    if fmt not in ("geojson", "gpkg", "csv"):
        console.print(f"[bold red]error:[/] unknown format {fmt!r}: geojson, gpkg or csv")
        raise typer.Exit(code=2)
    out = out or Path(f"{layer}.{fmt}")
    try:
        flt = ExportFilter(parse_bbox(bbox), parent, kind)
        check_export(layer, flt)
        with console.status(f"exporting {layer} to {out}..."), transaction() as session:
            count = export_file(session, layer, out, fmt, flt)  # type: ignore[arg-type]
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print(f"wrote {count} feature(s) to {out}")
