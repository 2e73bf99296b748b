"""The command-centre dashboard (/dashboard: page, figures, each chart's CSV) and the daily
case counts it shares with the API (/stats/daily). Any reader; a key with an area reads that
area only (default: its area; another is 403, geo.roles.readable_area). See
docs/dashboard.md."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from api.auth import Reader
from api.deps import SessionDep, SettingsDep
from api.openapi import CSV, XLSX, also_answers
from api.schemas.dashboard import DailyCounts, DashboardFigures
from geo.dashboard import dashboard_figures, dashboard_scope
from geo.errors import NotFound
from geo.monthly_report import monthly_report_xlsx
from geo.roles import readable_area
from geo.rollups import counts_csv, daily_counts, local_day, today
from geo.stats import FIELDS as STATS_FIELDS
from layers.dashboard import dashboard_html

PANELS: dict[str, tuple[tuple[str, str], tuple[str, ...]]] = {
    "status": (("today", "by_status"), ("status", "events")),
    "overdue": (("today", "overdue"), ("id", "category", "grid_code", "grid_name", "unit",
                                       "hours")),
    "categories": (("trend", "by_day_category"), ("day", "category", "events")),
    "units": (("trend", "by_unit"), ("unit", "name", "events")),
    "rates": (("trend", "rates"), ("day", "handling_rate", "on_time_rate")),
    "ranking": (("ranking", "units"), STATS_FIELDS),
    "cameras": (("cameras", "by_unit"), ("unit", "name", "status", "cameras")),
    "blind_grids": (("cameras", "grids_without_camera"), ("code", "name")),
    "alarm_response": (("alarms", "buckets"), ("label", "alarms", "viewed")),
    "heat": (("heat", "cells"), ("x", "y", "events")),
}
"""Each chart's table: where its rows sit in the figures, and its CSV columns."""


def dashboard_router() -> APIRouter:
    router = APIRouter(tags=["dashboard"])

    @router.get("/dashboard", response_class=HTMLResponse,
                summary="Command-centre dashboard (大屏) of a district, street or community")
    def page(session: SessionDep, caller: Reader, area: str | None = None,
             wall: bool = Query(False, description="wall screen: 1920×1080, no controls, "
                                "cycling through the area and its child areas"),
             cycle_s: int = Query(30, ge=5, le=3600, description="wall: seconds per area"),
             at: datetime | None = Query(None, description="show the figures at this instant "
                                         "(default: now, refreshed live)"),
             ) -> HTMLResponse:
        scope = dashboard_scope(session, readable_area(caller.area_code, area))
        stream = "/alarms/stream" if caller.role in ("dispatcher", "admin") else None
        moment = _instant(at).isoformat() if at else ""
        month = (local_day(_instant(at)) if at else today()).isoformat()
        return HTMLResponse(dashboard_html(scope.code, scope.name, wall, cycle_s, stream,
                                           month, moment))

    @router.get("/dashboard/data", summary="Every figure of the dashboard (JSON)",
                response_model=DashboardFigures)
    def data(session: SessionDep, settings: SettingsDep, caller: Reader,
             area: str | None = None,
             at: datetime | None = Query(None, description="the figures' 'now' (default now)"),
             ) -> dict[str, Any]:
        scope = dashboard_scope(session, readable_area(caller.area_code, area))
        return dashboard_figures(session, scope, _instant(at), settings)

    @router.get("/dashboard/csv/{panel}", summary="One chart's data as CSV",
                response_class=Response, responses=also_answers(CSV, json=False))
    def panel_csv(panel: str, session: SessionDep, settings: SettingsDep, caller: Reader,
                  area: str | None = None, at: datetime | None = None) -> Response:
        if panel not in PANELS:
            raise NotFound(f"no dashboard chart is called {panel!r}",
                           [{"field": "panel", "value": panel, "allowed": list(PANELS)}])
        scope = dashboard_scope(session, readable_area(caller.area_code, area))
        (part, key), columns = PANELS[panel]
        figures = dashboard_figures(session, scope, _instant(at), settings, (part,))
        return _csv(figures[part][key], columns, f"dashboard_{scope.code}_{panel}.csv")

    @router.get("/dashboard/report.xlsx", summary="Monthly report (XLSX with charts): the "
                "month's assessment ranking and case figures of one scope",
                response_class=Response, responses=also_answers(XLSX, json=False))
    def report(session: SessionDep, settings: SettingsDep, caller: Reader,
               area: str | None = None,
               month: date = Query(..., description="any day of the month, e.g. 2026-11-01"),
               ) -> Response:
        scope = dashboard_scope(session, readable_area(caller.area_code, area))
        return Response(monthly_report_xlsx(session, scope, month, settings), media_type=XLSX,
                        headers={"Content-Disposition": 'attachment; filename='
                                 f'"report_{scope.code}_{month:%Y-%m}.xlsx"'})

    @router.get("/stats/daily", summary="Cases per day (CST) from the daily rollups, grouped "
                "by day/area/grid/category/status (JSON or CSV)", responses=also_answers(CSV),
                response_model=DailyCounts)
    def stats_daily(session: SessionDep, caller: Reader, area: str | None = None,
                    since: date | None = Query(None, description="first day (default: "
                                               "29 days before until)"),
                    until: date | None = Query(None, description="last day, included "
                                               "(default: today)"),
                    by: str = Query("day,category,status", description="comma-separated"),
                    category: str | None = Query(None, description="only this category"),
                    format: Literal["json", "csv"] = "json") -> Any:
        last = until or today()
        first = since or date.fromordinal(last.toordinal() - 29)
        columns = tuple(c.strip() for c in by.split(",") if c.strip())
        area = readable_area(caller.area_code, area)
        rows = daily_counts(session, area, first, last, columns, category)
        if format == "csv":
            return Response(counts_csv(rows, columns), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition":
                                     'attachment; filename="stats_daily.csv"'})
        return {"area": area, "since": first, "until": last, "by": columns,
                "category": category, "counts": rows}

    return router


def _instant(at: datetime | None) -> datetime:
    """``at`` (naive: UTC), or now."""
    if at is None:
        return datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})



