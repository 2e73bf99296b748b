"""Answers of the assessment routes: the monthly table and media deductions (媒体督办扣分)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from api.schemas import Answer, DateText, DateTimeText, Row


class AssessmentTable(Answer):
    """The monthly assessment table: one row per unit with its figures and score."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"month": "2026-11", "level": "department", "attribution": "assigned", "units": [
            {"unit": "城管局 (urban management bureau)", "accepted": 40, "score": 92.5}]}]})

    month: str = Field(description="YYYY-MM (China Standard Time)")
    level: str = Field(description="department, street, community, grid or district")
    attribution: str = Field(description="assigned, current or historical")
    units: list[Row]


class Deduction(Answer):
    """One unit's media deduction for a month, with who entered it and when."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"unit": "140213001", "month": "2026-11-01", "points": 2.0,
         "note": "电视台曝光 (reported on local TV)", "entered_by": "dispatcher wang",
         "entered_at": "2026-11-20T03:00:00+00:00"}]})

    unit: str = Field(description="unit code or department")
    month: DateText = Field(description="the month's first day")
    points: float = Field(description="points deducted from the score (0-100)")
    note: str | None
    entered_by: str | None
    entered_at: DateTimeText


class Deductions(Answer):
    month: str = Field(description="YYYY-MM as asked")
    deductions: list[Deduction]
