"""Assessment routes: the monthly table per unit and media deductions (媒体督办扣分).

``GET /stats/assessment?month=2026-11`` (any reader) answers JSON, CSV or XLSX;
``PUT /stats/deductions`` (dispatchers and admins) stores one unit's deduction for a month,
with who entered it (and an audit row); ``GET /stats/deductions?month=`` lists
them with who and when.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.auth import Dispatcher, Reader
from api.deps import SessionDep, SettingsDep
from api.openapi import CSV, XLSX, also_answers
from api.schemas.assessment import AssessmentTable, Deduction, Deductions
from geo.assessment import (
    assessment,
    assessment_csv,
    assessment_xlsx,
    deduction_rows,
    set_deduction,
)
from geo.roles import readable_units
from geo.stats import Attribution


class DeductionIn(BaseModel):
    """One unit's media deduction for a month (points ≥ 0)."""

    unit: str = Field(min_length=1, max_length=200, description="unit code or department")
    month: str = Field(description="YYYY-MM, e.g. 2026-11")
    points: float = Field(ge=0, le=100, description="points deducted from the score")
    note: str | None = Field(default=None, max_length=2000, description="e.g. the report")


def assessment_router() -> APIRouter:
    router = APIRouter(prefix="/stats", tags=["dispatch"])

    @router.get("/assessment", summary="Monthly assessment table per unit (JSON, CSV, XLSX)",
                responses=also_answers(CSV, XLSX), response_model=AssessmentTable)
    def get_assessment(
        session: SessionDep, settings: SettingsDep, caller: Reader,
        month: str = Query(..., description="YYYY-MM (China Standard Time)"),
        level: Literal["department", "street", "community", "grid", "district"] = "department",
        format: Literal["json", "csv", "xlsx"] = "json",
        attribution: Attribution = Query(
            "assigned", description="level=grid: which grid an event counts for (as /stats)"),
    ) -> Any:
        rows = readable_units(caller.area_code, level,
                              assessment(session, month, level, settings, attribution))
        name = f"assessment_{level}_{month}" + (
            "" if attribution == "assigned" else f"_{attribution}")
        if format == "csv":
            return Response(("\ufeff" + assessment_csv(rows)).encode("utf-8"),
                            media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
        if format == "xlsx":
            return Response(assessment_xlsx(rows, month), media_type=XLSX,
                            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
        return {"month": month, "level": level, "attribution": attribution, "units": rows}

    @router.get("/deductions", summary="The media deductions of a month (who, when)",
                response_model=Deductions)
    def get_deductions(session: SessionDep, _: Reader,
                       month: str = Query(..., description="YYYY-MM")) -> dict[str, Any]:
        return {"month": month, "deductions": deduction_rows(session, month)}

    @router.put("/deductions", summary="Set a unit's media deduction for a month",
                response_model=Deduction)
    def put_deduction(body: DeductionIn, session: SessionDep, caller: Dispatcher
                      ) -> dict[str, Any]:
        return set_deduction(session, body.unit, body.month, body.points, note=body.note,
                             entered_by=caller.name)

    return router
