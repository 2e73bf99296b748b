"""Grid routes for every reader: ``GET /grids/{code}/lineage`` (what a grid came from and
became, with dates, kinds, reasons and shares; see docs/planning.md "Lineage")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.auth import Reader
from api.deps import SessionDep
from api.schemas.planning import Lineage
from geo.planning.lineage import lineage


def grids_router() -> APIRouter:
    router = APIRouter(prefix="/grids", tags=["planning"])

    @router.get("/{code}/lineage",
                summary="Ancestors and descendants of a grid: split, merge, reshape, retire, "
                        "create, rename, with shares of area (m²) and households",
                response_model=Lineage)
    def grid_lineage(code: str, session: SessionDep, _: Reader) -> dict[str, Any]:
        return lineage(session, code)

    return router
