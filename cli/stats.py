"""``gridlink stats assessment`` and ``gridlink stats deduct``: the monthly table per unit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.table import Table

from cli.output import console, fail
from geo.assessment import COLUMNS, assessment, assessment_csv, assessment_xlsx, set_deduction
from geo.db import transaction
from geo.errors import GridlinkError

stats_app = typer.Typer(help="Assessment: the monthly table per unit, media deductions.",
                        no_args_is_help=True)


@stats_app.command("assessment")
def assessment_command(
    month: str = typer.Option(..., help="YYYY-MM, e.g. 2026-11 (China Standard Time)"),
    level: str = typer.Option("department", help="department, street, community, grid or "
                              "district"),
    fmt: str = typer.Option("table", "--format", help="table, json, csv or xlsx"),
    out: Path | None = typer.Option(None, help="file to write (csv/xlsx default: "
                                    "assessment_LEVEL_MONTH.FORMAT)"),
) -> None:
    """Print or write the monthly assessment table in the published column order."""
    if fmt not in ("table", "json", "csv", "xlsx"):
        console.print(f"[bold red]error:[/] unknown format {fmt!r}: table, json, csv or xlsx")
        raise typer.Exit(code=2)
    try:
        with transaction() as session:
            rows = assessment(session, month, level)
    except GridlinkError as exc:
        raise fail(exc) from exc
    if fmt == "table":
        table = Table(*(header for _, header in COLUMNS), title=f"{month} ({level})")
        for row in rows:
            table.add_row(*("" if row[k] is None else str(row[k]) for k, _ in COLUMNS))
        console.print(table)
    elif fmt == "json" and out is None:
        typer.echo(json.dumps({"month": month, "level": level, "units": rows},
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
