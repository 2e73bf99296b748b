"""``gridlink stats assessment``, ``gridlink stats units`` and ``gridlink stats deduct``: the
monthly table per unit, the figures of any period (``/stats``), media deductions."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from cli.output import console, fail
from geo.assessment import COLUMNS, assessment, assessment_csv, assessment_xlsx, set_deduction
from geo.db import transaction
from geo.errors import GridlinkError
from geo.stats import FIELDS, events_in_period, stats_csv, unit_stats

ATTRIBUTION_HELP = ("level grid: which grid an event counts for - assigned (its stored "
                    "assignment), current (today's grid at its point) or historical (the "
                    "grid version valid when it was reported)")

stats_app = typer.Typer(help="Assessment: the monthly table per unit, the figures of any "
                        "period, media deductions.",
                        no_args_is_help=True)


@stats_app.command("assessment")
def assessment_command(
    month: str = typer.Option(..., help="YYYY-MM, e.g. 2026-11 (China Standard Time)"),
    level: str = typer.Option("department", help="department, street, community, grid or "
                              "district"),
    fmt: str = typer.Option("table", "--format", help="table, json, csv or xlsx"),
    out: Path | None = typer.Option(None, help="file to write (csv/xlsx default: "
                                    "assessment_LEVEL_MONTH.FORMAT)"),
    attribution: str = typer.Option("assigned", help=ATTRIBUTION_HELP),
) -> None:
    """Print or write the monthly assessment table in the published column order."""
    if fmt not in ("table", "json", "csv", "xlsx"):
        console.print(f"[bold red]error:[/] unknown format {fmt!r}: table, json, csv or xlsx")
        raise typer.Exit(code=2)
    try:
        with transaction() as session:
            rows = assessment(session, month, level, attribution=attribution)
    except GridlinkError as exc:
        raise fail(exc) from exc
    if fmt == "table":
        table = Table(*(header for _, header in COLUMNS),
                      title=f"{month} ({level}, attribution {attribution})")
        for row in rows:
            table.add_row(*("" if row[k] is None else str(row[k]) for k, _ in COLUMNS))
        console.print(table)
    elif fmt == "json" and out is None:
        typer.echo(json.dumps({"month": month, "level": level, "attribution": attribution,
                               "units": rows},
                              ensure_ascii=False, default=str))
    else:
        target = out or Path(f"assessment_{level}_{month}.{fmt}")
        if fmt == "xlsx":
            target.write_bytes(assessment_xlsx(rows, month))
        elif fmt == "csv":
            target.write_text(assessment_csv(rows), encoding="utf-8-sig")
        else:
            target.write_text(json.dumps(rows, ensure_ascii=False, default=str), "utf-8")
        console.print(f"wrote {len(rows)} unit(s) to {target}")


@stats_app.command("units")
def units_command(
    since: datetime = typer.Option(..., help="start of the period (ISO 8601; naive = UTC)"),
    until: datetime = typer.Option(..., help="end of the period, excluded"),
    level: str = typer.Option("grid", help="grid, community, street, district or department"),
    attribution: str = typer.Option("assigned", help=ATTRIBUTION_HELP),
    fmt: str = typer.Option("table", "--format", help="table, json or csv"),
) -> None:
    """The figures per unit of the events reported in a period, as ``GET /stats``."""
    if fmt not in ("table", "json", "csv"):
        console.print(f"[bold red]error:[/] unknown format {fmt!r}: table, json or csv")
        raise typer.Exit(code=2)
    start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (since, until))
    try:
        with transaction() as session:
            rows = unit_stats(session, level, start, end, attribution=attribution)
            events = events_in_period(session, start, end)
    except GridlinkError as exc:
        raise fail(exc) from exc
    unattributed = events - sum(r["accepted"] for r in rows)
    if fmt == "csv":
        typer.echo(stats_csv(rows), nl=False)
    elif fmt == "json":
        typer.echo(json.dumps({"level": level, "attribution": attribution, "since": start,
                               "until": end, "events": events, "unattributed": unattributed,
                               "units": rows}, ensure_ascii=False, default=str))
    else:
        table = Table(*FIELDS[:8], title=f"{level}, attribution {attribution}: {events} "
                      f"event(s), {unattributed} counted for no unit")
        for row in rows:
            table.add_row(*("" if row[k] is None else str(row[k]) for k in FIELDS[:8]))
        console.print(table)


@stats_app.command("deduct")
def deduct_command(
    unit: str = typer.Argument(..., help="unit code or department name"),
    month: str = typer.Option(..., help="YYYY-MM"),
    points: float = typer.Option(..., help="媒体督办扣分: points deducted (≥ 0)"),
    note: str | None = typer.Option(None, help="why (e.g. the media report)"),
) -> None:
    """Set a unit's media-supervision deduction for a month (replaces an earlier one)."""
    who = f"cli:{os.environ.get('USER', 'unknown')}"
    try:
        with transaction() as session:
            row = set_deduction(session, unit, month, points, note=note, entered_by=who)
    except GridlinkError as exc:
        raise fail(exc) from exc
    console.print(f"{row['unit']} {month}: {row['points']:g} point(s) deducted "
                  f"(entered by {who})")
