"""The monthly assessment table (考核表) per unit, and media deductions (媒体督办扣分).

One row per unit (responsible department by default, or grid/community/street/district)
for the events reported in a calendar month of China Standard Time, in the published
column order::

    应结案数, 结案数, 按期结案率, 结案率, 延期率, 一次性完成率, 媒体督办扣分, 综合得分

Counts, rates and the score come from :func:`geo.stats.unit_stats` (formula there and in
docs/dispatch.md); the deduction is the one stored for the unit and month
(:func:`set_deduction`). Exports: JSON rows (with the counts behind each rate), CSV (UTF-8
with BOM, rates as percentages) and XLSX (openpyxl, rates as percent-formatted numbers).
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed
from geo.settings import Settings
from geo.stats import unit_stats

LOCAL = ZoneInfo("Asia/Shanghai")
COLUMNS: tuple[tuple[str, str], ...] = (
    ("unit", "单位"), ("name", "名称"), ("due", "应结案数"), ("closed", "结案数"),
    ("on_time_rate", "按期结案率"), ("closure_rate", "结案率"),
    ("postponement_rate", "延期率"), ("first_time_rate", "一次性完成率"),
    ("deduction", "媒体督办扣分"), ("score", "综合得分"))
"""The published column order: (JSON key, header)."""
COUNTS = ("closed_on_time", "postponed", "first_time")
"""The counts behind the rates, also in the JSON rows."""
RATES = frozenset({"on_time_rate", "closure_rate", "postponement_rate", "first_time_rate"})


def parse_month(month: str) -> date:
    """``"2026-11"`` → 2026-11-01; ValidationFailed naming the field otherwise."""
    try:
        first = datetime.strptime(month.strip(), "%Y-%m").date()
    except (ValueError, AttributeError):
        raise ValidationFailed(f"month {month!r} is not YYYY-MM (e.g. 2026-11)",
                               [{"field": "month", "value": str(month)}]) from None
    return first


def month_period(first: date) -> tuple[datetime, datetime]:
    """[start, end) of the month in China Standard Time (UTC+8), as aware datetimes."""
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (datetime(first.year, first.month, 1, tzinfo=LOCAL),
            datetime(nxt.year, nxt.month, 1, tzinfo=LOCAL))


def set_deduction(session: Session, unit: str, month: str, points: float, *,
                  note: str | None = None, entered_by: str | None = None) -> dict[str, Any]:
    """Store the media deduction of ``unit`` for ``month`` (replacing an earlier one).

    ``points`` ≥ 0 (0 clears it in effect). Raises ValidationFailed for an empty unit, a bad
    month or negative/non-finite points; records who entered it and when. Never commits.
    """
    first = parse_month(month)
    if not unit or not unit.strip():
        raise ValidationFailed("unit is empty", [{"field": "unit"}])
    if not math.isfinite(points) or points < 0:
        raise ValidationFailed(f"points {points!r} must be a number ≥ 0",
                               [{"field": "points", "value": str(points)}])
    row = session.execute(text(
        "INSERT INTO media_deductions (unit, month, points, note, entered_by) "
        "VALUES (:u, :m, :p, :n, :b) ON CONFLICT (unit, month) DO UPDATE SET "
        "points = EXCLUDED.points, note = EXCLUDED.note, entered_by = EXCLUDED.entered_by, "
        "entered_at = now() RETURNING unit, month, points, note, entered_by, entered_at"),
        {"u": unit.strip(), "m": first, "p": float(points), "n": note, "b": entered_by})
    return dict(row.mappings().one())


def deduction_rows(session: Session, month: str) -> list[dict[str, Any]]:
    """The deductions stored for ``month`` with who entered them and when, by unit."""
    rows = session.execute(text(
        "SELECT unit, month, points, note, entered_by, entered_at FROM media_deductions "
        "WHERE month = :m ORDER BY unit"), {"m": parse_month(month)})
    return [dict(r) for r in rows.mappings()]


def deductions_for(session: Session, month: str) -> dict[str, float]:
    """{unit: points} stored for ``month``."""
    rows = session.execute(text("SELECT unit, points FROM media_deductions WHERE month = :m"),
                           {"m": parse_month(month)})
    return {r.unit: float(r.points) for r in rows}


def assessment(session: Session, month: str, level: str = "department",
               settings: Settings | None = None, attribution: str = "assigned"
               ) -> list[dict[str, Any]]:
    """The assessment rows of ``month`` at ``level``: published columns, then the counts.

    ``attribution``: which grid an event counts for at level grid
    (:data:`geo.stats.ATTRIBUTIONS`). Raises ValidationFailed for a bad month, level or
    attribution. Never writes.
    """
    since, until = month_period(parse_month(month))
    rows = unit_stats(session, level, since, until, attribution=attribution,
                      deductions=deductions_for(session, month), settings=settings)
    return [{key: row[key] for key, _ in COLUMNS} | {c: row[c] for c in COUNTS}
            for row in rows]


def _cell(key: str, value: Any) -> Any:
    if value is None:
        return ""
    return f"{value * 100:.2f}%" if key in RATES else value


def assessment_csv(rows: list[dict[str, Any]]) -> str:
    """The table as CSV text (Chinese headers in the published order; rates as 66.67%)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([header for _, header in COLUMNS])
    for row in rows:
        writer.writerow([_cell(key, row[key]) for key, _ in COLUMNS])
    return out.getvalue()


def assessment_xlsx(rows: list[dict[str, Any]], month: str) -> bytes:
    """The table as an Excel workbook (one sheet named after the month)."""
    from openpyxl import Workbook  # 0.35 s to import: only when a workbook is asked for

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = month
    sheet.append([header for _, header in COLUMNS])
    for row in rows:
        sheet.append([row[key] for key, _ in COLUMNS])
    for column, (key, _) in enumerate(COLUMNS, start=1):
        if key in RATES:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
                cell.number_format = "0.00%"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
