"""Answers of the dashboard routes: every figure of the 大屏 and the daily case counts."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from api.schemas import Answer, DateText, DateTimeText, Row


class Scope(Answer):
    code: str = Field(description="district, street or community code")
    name: str = Field(description="e.g. 迎泽区 (Yingze district)")
    level: str
    child_level: str | None = Field(description="the level of its child areas; null: none")


class DashboardFigures(Answer):
    """Every figure of the dashboard of one area at ``now``: one member per panel (today,
    trend, ranking, cameras, alarms, heat...), rows as in the panels' CSVs."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"scope": {"code": "140213", "name": "迎泽区 (Yingze district)", "level": "district",
                   "child_level": "street"},
         "now": "2026-11-03T08:15:00+00:00", "today": {"by_status": [
             {"status": "reported", "events": 4}], "overdue": []}, "cycle": []}]})

    scope: Scope
    now: DateTimeText
    cycle: list[Row] = Field(description="the wall screen's areas, in showing order")


class DailyCounts(Answer):
    """Cases per day (China Standard Time) from the daily rollups, counted per ``by``."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"area": "140213", "since": "2026-10-05", "until": "2026-11-03",
         "by": ["day", "category"], "category": None, "counts": [
             {"day": "2026-11-03", "category": "占道经营 (street vending)", "events": 3}]}]})

    area: str | None = Field(description="the area asked about; null: the whole city")
    since: DateText
    until: DateText = Field(description="last day, included")
    by: list[str] = Field(description="the columns counted per")
    category: str | None
    counts: list[Row] = Field(description="one row per group: the by columns and events")
