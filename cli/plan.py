"""``gridlink plan``: validate grids, and manage planning changesets, from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from cli.output import console, fail
from geo.db import transaction
from geo.errors import GridlinkError
from geo.models import PlanChangeset
from geo.planning.changesets import discard, hand_over, list_changesets, publish
from geo.planning.imports import import_draft
from geo.planning.preview import preview
from geo.planning.propose import propose
from geo.planning.repair import repair
from geo.planning.validate import ValidationReport, validate_area

plan_app = typer.Typer(help="Planning: validate coverage and balance, draft and publish grids.",
                       no_args_is_help=True)




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
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
    else:
        print_report(report)
    if geojson:
        geojson.write_text(json.dumps(report.to_geojson(), ensure_ascii=False))
        console.print(f"wrote {geojson}")
    if not report.ok:
        raise typer.Exit(code=1)


def _print_draft(changeset: PlanChangeset, report: ValidationReport) -> None:
    console.print(f"draft changeset [bold]{changeset.id}[/] ({changeset.kind}) on "
                  f"{changeset.area_code} by {changeset.author}: {changeset.reason}")
    if changeset.report:
        console.print(json.dumps(changeset.report, ensure_ascii=False, default=str)[:4000])
    print_report(report)
    console.print(f"review: gridlink plan preview {changeset.id}; publish: gridlink plan "
                  f"publish {changeset.id} --author {changeset.author!r}")


def _draft_command(make: Callable[[Session], PlanChangeset]) -> None:
    try:
        with transaction() as session:
            changeset = make(session)
            report = validate_area(session, changeset.area_code, changeset_id=changeset.id)
            _print_draft(changeset, report)
    except GridlinkError as exc:
        raise fail(exc) from exc


@plan_app.command("propose")
def propose_cmd(
    community: str = typer.Argument(..., help="community code"),
    author: str = typer.Option("cli", help="planner recorded as the draft's author"),
    reason: str = typer.Option("proposed grid plan", help="why"),
) -> None:
    """Propose balanced grids (~300 households) and micro-grids (~50) as a draft changeset."""
    _draft_command(lambda s: propose(s, community, author, reason))


@plan_app.command("repair")
def repair_cmd(
    community: str = typer.Argument(..., help="community code"),
    author: str = typer.Option("cli", help="planner recorded as the draft's author"),
    reason: str = typer.Option("auto-repair of coverage", help="why"),
) -> None:
    """Snap, clip, remove overlaps and fill sliver gaps, as a draft changeset to review."""
    _draft_command(lambda s: repair(s, community, author, reason))


@plan_app.command("import-draft")
def import_draft_cmd(
    file: Path = typer.Argument(..., help="GeoJSON, GPKG, .shp or zipped Shapefile of grids"),
    community: str = typer.Option(..., help="community the layer redraws"),
    author: str = typer.Option("cli", help="planner recorded as the draft's author"),
    reason: str | None = typer.Option(None, help="why (default: import of FILE)"),
    encoding: str | None = typer.Option(None, help="attribute encoding, e.g. gb18030"),
    crs: str | None = typer.Option(None, help="CRS of the file when it declares none"),
) -> None:
    """Bring a layer redrawn in QGIS in as a draft, with its diff and validation."""
    _draft_command(lambda s: import_draft(s, community, file, author, reason, encoding, crs))


@plan_app.command("preview")
def preview_cmd(changeset: int = typer.Argument(..., help="changeset id")) -> None:
    """Before/after per grid and the transfer matrix of a draft."""
    try:
        with transaction() as session:
            result = preview(session, changeset)
    except GridlinkError as exc:
        raise fail(exc) from exc
    table = Table(title=f"changeset {changeset}: before → after")
    for col in ("grid", "state", "households", "buildings", "sites", "cameras", "events",
                "workers"):
        table.add_column(col)
    for g in result.grids:
        b, a = g["before"], g["after"]
        table.add_row(g["code"], g["state"], *(f"{b[k]} → {a[k]}" for k in (
            "households", "buildings", "sites", "cameras", "open_events", "workers")))
    console.print(table)
    if not result.grids:
        console.print("no grid's counts change (shapes only)")
    for t in result.transfers:
        console.print(f"  {t['kind']}: {t['count']} from {t['from']} to {t['to']}"
                      + (f" ({t['households']} households)" if t["kind"] == "buildings" else ""))


@plan_app.command("publish")
def publish_cmd(
    changeset: int = typer.Argument(..., help="changeset id"),
    author: str = typer.Option("cli", help="the draft's author"),
) -> None:
    """Publish a draft in one transaction (fails if the data changed since it was drafted)."""
    try:
        with transaction() as session:
            result = publish(session, changeset, author)
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print(f"published changeset {changeset} at {result.published_at}: "
                  f"{result.closed} versions closed, {result.opened} opened; "
                  f"re-assigned {result.reassigned}")


@plan_app.command("discard")
def discard_cmd(
    changeset: int = typer.Argument(..., help="changeset id"),
    author: str = typer.Option("cli", help="the draft's author"),
) -> None:
    """Discard a draft (its rows are kept for the record)."""
    try:
        with transaction() as session:
            discard(session, changeset, author)
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print(f"discarded changeset {changeset}")


@plan_app.command("handover")
def handover_cmd(
    changeset: int = typer.Argument(..., help="changeset id"),
    to: str = typer.Option(..., help="the planner who takes the draft over"),
    author: str = typer.Option("cli", help="the draft's current author"),
) -> None:
    """Hand a draft over to another planner (recorded in the changeset's report)."""
    try:
        with transaction() as session:
            hand_over(session, changeset, author, to)
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print(f"changeset {changeset} is now a draft of {to}")


@plan_app.command("list")
def list_cmd(area: str | None = typer.Option(None, help="area code"),
             status: str | None = typer.Option(None, help="draft, published or discarded")
             ) -> None:
    """List changesets, newest first."""
    with transaction() as session:
        rows = list_changesets(session, area, status)
    table = Table()
    for col in ("id", "area", "status", "kind", "author", "reason", "published"):
        table.add_column(col)
    for c in rows:
        table.add_row(str(c["id"]), c["area_code"], c["status"], c["kind"], c["author"],
                      c["reason"], str(c["published_at"] or ""))
    console.print(table)
