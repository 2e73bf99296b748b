"""``gridlink plan``: validate grids, and manage planning changesets, from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from geo.db import transaction
from geo.errors import GridlinkError
from geo.planning.validate import ValidationReport, validate_area

plan_app = typer.Typer(help="Planning: validate coverage and balance, draft and publish grids.",
                       no_args_is_help=True)
console = Console()


def _fail(exc: GridlinkError) -> typer.Exit:
    from cli.main import fail  # cli.main imports this module: import lazily

    return fail(exc)


def print_report(report: ValidationReport, limit: int = 200) -> None:
    """A table of the report's problems, then the counts per kind."""
    table = Table(title=f"validation of {report.area_code}"
                  + (f" (changeset {report.changeset_id})" if report.changeset_id else ""))
    for col in ("kind", "severity", "level", "grids", "area m²", "lon, lat", "message"):
        table.add_column(col)
    for p in report.problems[:limit]:
        area = f"{p.area_m2:.2f}" if p.area_m2 is not None else ""
        loc = f"{p.location[0]:.6f}, {p.location[1]:.6f}" if p.location else ""
        table.add_row(p.kind, p.severity, p.level, " ".join(p.codes), area, loc, p.message)
    console.print(table)
    if len(report.problems) > limit:
        console.print(f"... and {len(report.problems) - limit} more problems")
    console.print(f"{len(report.grids)} grids checked; problems: {report.counts() or 'none'}")
    console.print("[green]coverage and codes OK[/]" if report.ok
                  else f"[bold red]{len(report.errors)} error(s)[/]")


@plan_app.command("validate")
def validate(
    area: str = typer.Argument(..., help="district, street, community or grid code"),
    changeset: int | None = typer.Option(None, help="validate as this draft would publish"),
    geojson: Path | None = typer.Option(None, help="write the problems as GeoJSON here"),
    as_json: bool = typer.Option(False, "--json", help="print the full report as JSON"),
) -> None:
    """Check coverage (gaps, overlaps, outside parent), slivers, codes and balance.

    Exit code 1 when an error (not just a warning) is found.
    """
    try:
        with transaction() as session:
            report = validate_area(session, area, changeset_id=changeset)
    except GridlinkError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
    else:
        print_report(report)
    if geojson:
        geojson.write_text(json.dumps(report.to_geojson(), ensure_ascii=False))
        console.print(f"wrote {geojson}")
    if not report.ok:
        raise typer.Exit(code=1)
