"""Answers of the patrol routes (巡查): rules, tasks, check-ins, figures, routes."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from api.schemas import Answer, DateText, DateTimeText, Row

TASK_EXAMPLE: dict[str, Any] = {
    "id": 88, "layer": "sites", "unit_code": "S-0012", "unit_name": "幸福小学 (a school)",
    "category": "school", "frequency": "daily", "period_start": "2026-11-03",
    "due_date": "2026-11-03", "grid_code": "140213001001001", "micro_grid_code": None,
    "worker_code": "W001", "checked_in_at": None, "distance_m": None,
    "lon": 112.5512, "lat": 37.8698}


class PatrolRule(Answer):
    """How often the units of a layer (and site category) are patrolled."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"layer": "sites", "category": "school", "frequency": "daily",
         "updated_at": "2026-11-01T02:00:00+00:00"}]})

    layer: str = Field(description="sites or buildings")
    category: str = Field(description="a site category (e.g. school 学校), or * for all")
    frequency: str = Field(description="daily, weekly or monthly")
    updated_at: DateTimeText


class PatrolRules(Answer):
    rules: list[PatrolRule]


class PatrolTask(Answer):
    """One patrol task of a unit for a period, with its check-in (null: not yet)."""

    model_config = ConfigDict(json_schema_extra={"examples": [TASK_EXAMPLE]})

    id: int
    layer: str
    unit_code: str
    frequency: str
    period_start: DateText
    due_date: DateText = Field(description="last day of the period (CST)")
    grid_code: str | None
    checked_in_at: DateTimeText | None
    distance_m: float | None = Field(description="check-in distance to the unit, metres")
    lon: float | None = Field(description="the unit's point, degrees, EPSG:4326")
    lat: float | None = Field(description="the unit's point, degrees, EPSG:4326")


class PatrolTasks(Answer):
    date: DateText = Field(description="the day asked about (CST)")
    tasks: list[PatrolTask]


class Generated(Answer):
    """What generating did (a second run on the same day creates nothing)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"day": "2026-11-03", "created": 42, "existed": 0, "outside": 1}]})

    day: DateText
    created: int = Field(description="tasks created")
    existed: int = Field(description="tasks there already")
    outside: int = Field(description="units outside every grid (no task)")


class GridPatrolFigures(Answer):
    grid_code: str
    grid_name: str | None
    due: int
    done: int
    open: int
    overdue: int = Field(description="periods ended without a check-in")


class PatrolStats(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"date": "2026-11-03", "grids": [
            {"grid_code": "140213001001001", "grid_name": "第一网格 (grid 1)", "due": 5,
             "done": 3, "open": 2, "overdue": 1}]}]})

    date: DateText
    grids: list[GridPatrolFigures]


class PatrolRoute(Answer):
    """A grid's due units in walking order: straight legs in metres, measured in a
    projected CRS of the district (``srid``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"grid_code": "140213001001001", "grid_name": "第一网格 (grid 1)",
         "day": "2026-11-03", "srid": 4547, "length_m": 812.4, "stops": [
             {"unit_code": "S-0012", "leg_m": 0.0, "overdue": False}]}]})

    grid_code: str
    grid_name: str
    day: DateText
    srid: int = Field(description="the projected CRS the legs were measured in")
    stops: list[Row] = Field(description="in walking order; leg_m from the previous stop")
    length_m: float = Field(description="route length, metres")
