"""The monthly report of one scope for the leaders' meeting (月度报告): an XLSX workbook with
the month's assessment ranking and case figures, each sheet with a native Excel chart.

Sheets: ``考核排名`` (the /stats rows of the scope's child units over the month, best score
first, bar chart of scores), ``每日案件`` (cases per day × category from the daily rollups,
stacked bar chart), ``案件状态`` (the month's cases by current status) and ``说明`` (scope,
period, sources). The month is a China Standard Time calendar month.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.orm import Session

from geo.dashboard import Scope, day_start
from geo.rollups import daily_counts
from geo.settings import Settings
from geo.stats import unit_stats

RANKING_COLUMNS = (("unit", "单位代码"), ("name", "单位名称"), ("accepted", "受理数"),
                   ("valid", "有效数"), ("handled", "处置数"), ("due", "应结案数"),
                   ("closed", "结案数"), ("closed_on_time", "按期结案数"),
                   ("on_time_rate", "按期结案率"), ("closure_rate", "结案率"),
                   ("postponement_rate", "延期率"), ("first_time_rate", "一次完成率"),
                   ("score", "考核得分"))


def month_bounds(month: date) -> tuple[date, date]:
    """First and last day of the month of ``month``."""
    first = month.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, last


def monthly_report_xlsx(session: Session, scope: Scope, month: date,
                        settings: Settings) -> bytes:
    """The report of ``scope`` for the month of ``month`` as XLSX bytes. Never writes."""
    first, last = month_bounds(month)
    since, until = day_start(first), day_start(last + timedelta(days=1))
    book = Workbook()
    ranking = [r for r in unit_stats(session, scope.child_level, since, until, settings=settings)
               if str(r["unit"]).startswith(scope.code)]
    ranking.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0), r["unit"]))
    _ranking_sheet(book.active, ranking)
    _daily_sheet(book.create_sheet("每日案件"),
                 daily_counts(session, scope.code, first, last, ("day", "category")))
    status = book.create_sheet("案件状态")
    status.append(["状态", "案件数"])
    for row in daily_counts(session, scope.code, first, last, ("status",)):
        status.append([row["status"], row["events"]])
    about = book.create_sheet("说明")
    for line in (("范围", f"{scope.name}（{scope.code}）"),
                 ("月份", f"{first:%Y-%m}（{first} 至 {last}，北京时间）"),
                 ("考核排名", f"GET /stats?level={scope.child_level}&since={since.isoformat()}"
                              f"&until={until.isoformat()}"),
                 ("案件数", f"GET /stats/daily?area={scope.code}&since={first}&until={last}")):
        about.append(list(line))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _ranking_sheet(sheet: Worksheet | Any, rows: list[dict[str, Any]]) -> None:
    sheet.title = "考核排名"
    sheet.append([title for _, title in RANKING_COLUMNS])
    for row in rows:
        sheet.append([row[key] for key, _ in RANKING_COLUMNS])
    chart = BarChart()
    chart.type, chart.title, chart.y_axis.title = "bar", "考核得分", "分"
    score_col = len(RANKING_COLUMNS)
    chart.add_data(Reference(sheet, min_col=score_col, min_row=1, max_row=len(rows) + 1),
                   titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=2, min_row=2, max_row=len(rows) + 1))
    sheet.add_chart(chart, "O2")


def _daily_sheet(sheet: Worksheet, rows: list[dict[str, Any]]) -> None:
    categories = sorted({r["category"] for r in rows})
    days = sorted({r["day"] for r in rows})
    counts = {(r["day"], r["category"]): r["events"] for r in rows}
    sheet.append(["日期", *categories])
    for day in days:
        sheet.append([day.isoformat(), *[counts.get((day, c), 0) for c in categories]])
    chart = BarChart()
    chart.type, chart.grouping, chart.overlap, chart.title = "col", "stacked", 100, "每日案件"
    chart.add_data(Reference(sheet, min_col=2, max_col=len(categories) + 1, min_row=1,
                             max_row=len(days) + 1), titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=len(days) + 1))
    sheet.add_chart(chart, f"{chr(ord('B') + len(categories) + 1)}2")
