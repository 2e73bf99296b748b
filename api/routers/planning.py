"""Planning routes: validate coverage and balance; draft, preview and publish grid changes.

Readers (any role, viewer included) may validate, list, preview and read history; planners
write drafts and publish (a draft is edited by its author; admins may edit any).
Geometries are GeoJSON in lon/lat (EPSG:4326); areas in m².
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel, Field

from api.auth import Caller, Planner, Reader
from api.bodies import save_upload
from api.deps import SessionDep, SettingsDep
from api.params import ChangesetId, DraftId
from api.schemas import Changed, FeatureCollection
from api.schemas.planning import (
    Changeset,
    ChangesetWithDraft,
    GridVersion,
    Impact,
    Published,
    ValidatedDraft,
    ValidationReport,
)
from api.validation_cache import VALIDATIONS
from geo import tempdir
from geo.fields import Text, Timestamp
from geo.grid_counts import area_grid_codes, grid_counts
from geo.planning import operations as ops
from geo.planning.changesets import (
    changeset_dict,
    discard,
    draft_rows,
    get_changeset,
    hand_over,
    list_changesets,
    open_changeset,
    publish,
)
from geo.planning.history import changeset_diff, diff, grid_history, grids_as_of, undo
from geo.planning.imports import import_draft
from geo.planning.preview import preview
from geo.planning.propose import propose
from geo.planning.repair import repair
from geo.planning.units import move_buildings, split_balanced
from geo.planning.validate import validate_area

GeoJSON = dict[str, Any]


class NewChangeset(BaseModel):
    area_code: Text = Field(description="community (or street) the draft redraws")
    reason: Text = Field(min_length=1, description="why: recorded on every new grid version")


class Handover(BaseModel):
    to: Text = Field(min_length=1, max_length=100, description="the planner taking the draft")


class AreaRequest(BaseModel):
    area_code: Text = Field(description="community code")
    reason: Text | None = Field(None, description="recorded on the new grid versions")


class Reshape(BaseModel):
    code: Text
    geometry: GeoJSON = Field(description="new (Multi)Polygon, lon/lat")


class SplitByLine(BaseModel):
    code: Text
    line: GeoJSON = Field(description="LineString crossing the grid once")
    new_code: Text = Field(description="code of the smaller part (never used before)")
    new_name: Text | None = None


class SplitBalanced(BaseModel):
    code: Text
    parts: int = Field(ge=2, description="number of parts of about equal households")
    new_codes: list[Text] | None = Field(None, description="codes of the other parts "
                                        "(default: the community's next free numbers)")


class MoveBuildings(BaseModel):
    from_code: Text
    to_code: Text = Field(description="adjacent grid receiving the buildings")
    buildings: list[Text] = Field(min_length=1, description="building codes")


class Merge(BaseModel):
    codes: list[Text] = Field(min_length=2)
    into: Text | None = Field(None, description="code kept (default: the first)")


class Create(BaseModel):
    code: Text
    name: Text
    parent_code: Text = Field(description="community code (grid) or grid code (micro-grid)")
    geometry: GeoJSON


class Retire(BaseModel):
    code: Text
    successor: Text = Field(description="adjacent grid taking the area and the workers")


class Rename(BaseModel):
    code: Text
    new_code: Text | None = None
    new_name: Text | None = None


def _admin(caller: Caller) -> bool:
    return caller.role == "admin"


def _changed(codes: list[str]) -> dict[str, list[str]]:
    return {"changed": codes}


def planning_router() -> APIRouter:
    """The /planning router."""
    router = APIRouter(prefix="/planning", tags=["planning"])
    _read_routes(router)
    _draft_routes(router)
    _operation_routes(router)
    _structure_routes(router)
    _history_routes(router)
    _draft_maker_routes(router)
    return router


def _with_validation(session: SessionDep, changeset: Any) -> dict[str, Any]:
    report = validate_area(session, changeset.area_code, changeset_id=changeset.id)
    return {"changeset": changeset_dict(changeset), "validation": report.to_dict()}


def _draft_maker_routes(router: APIRouter) -> None:
    @router.post("/repair", status_code=201,
                 summary="Auto-repair a community's coverage as a draft (with its report)",
                 response_model=ValidatedDraft)
    def auto_repair(body: AreaRequest, session: SessionDep, caller: Planner) -> dict[str, Any]:
        made = repair(session, body.area_code, caller.name,
                      body.reason or "auto-repair of coverage")
        return _with_validation(session, made)

    @router.post("/propose", status_code=201,
                 summary="Propose balanced grids and micro-grids for a community (a draft)",
                 response_model=ValidatedDraft)
    def plan(body: AreaRequest, session: SessionDep, caller: Planner) -> dict[str, Any]:
        made = propose(session, body.area_code, caller.name, body.reason or "proposed grid plan")
        return _with_validation(session, made)

    @router.post("/import-draft", status_code=201,
                 summary="Bring a redrawn grid layer (GeoJSON, GPKG, zipped SHP) in as a draft",
                 response_model=ValidatedDraft)
    def upload(session: SessionDep, caller: Planner, file: UploadFile = File(...),
                     area_code: str = Form(...), reason: str | None = Form(None),
                     encoding: str | None = Form(None), crs: str | None = Form(None)
                     ) -> dict[str, Any]:
        with tempdir.scratch("gridlink-draft-") as tmp:
            path = save_upload(file, Path(tmp))
            made = import_draft(session, area_code, path, caller.name, reason, encoding, crs)
        return _with_validation(session, made)


def _read_routes(router: APIRouter) -> None:
    @router.get("/validate", summary="Validate the grids of an area (coverage, codes, balance)",
                response_model=ValidationReport | FeatureCollection)
    def validate(
        session: SessionDep, settings: SettingsDep, _: Reader,
        area: str = Query(..., description="district, street, community or grid code"),
        changeset: DraftId = None,
        format: Literal["json", "geojson"] = Query("json", description="geojson: problems only"),
    ) -> dict[str, Any]:
        # published grids: kept per layer revision (api/validation_cache.py); drafts: computed
        report = (VALIDATIONS.report(session, area, settings) if changeset is None
                  else validate_area(session, area, changeset_id=changeset, settings=settings))
        return report.to_geojson() if format == "geojson" else report.to_dict()

    @router.get("/counts", summary="Per-grid counts of an area (the numbers every view uses)")
    def counts(
        session: SessionDep, _: Reader,
        area: str = Query(..., description="code prefix: district, street, community or grid"),
        changeset: int | None = Query(None, description="as this draft would publish"),
    ) -> dict[str, dict[str, int]]:
        codes = area_grid_codes(session, area)
        if changeset is not None:
            codes = sorted(set(codes) | {r["code"] for r in draft_rows(
                session, changeset, with_geometry=False) if r["code"].startswith(area)})
        return grid_counts(session, codes, changeset)

    @router.get("/changesets", summary="List changesets, newest first",
                response_model=list[Changeset])
    def changesets(session: SessionDep, _: Reader, area: str | None = None,
                   status: Literal["draft", "published", "discarded"] | None = None
                   ) -> list[dict[str, Any]]:
        return list_changesets(session, area, status)

    @router.get("/changesets/{changeset_id}", summary="A changeset and its draft grids",
                response_model=ChangesetWithDraft)
    def changeset(changeset_id: ChangesetId, session: SessionDep, _: Reader) -> dict[str, Any]:
        found = changeset_dict(get_changeset(session, changeset_id))
        rows = draft_rows(session, changeset_id)
        features = [{"type": "Feature", "geometry": r.pop("geometry"), "properties": r}
                    for r in rows]
        return {**found, "draft": {"type": "FeatureCollection", "features": features}}

    @router.get("/changesets/{changeset_id}/preview",
                summary="Impact of a draft: before/after per grid, transfers, balance",
                response_model=Impact | FeatureCollection)
    def impact(changeset_id: ChangesetId, session: SessionDep, _: Reader,
               format: Literal["json", "geojson"] = "json") -> dict[str, Any]:
        result = preview(session, changeset_id)
        return result.to_geojson() if format == "geojson" else result.to_dict()

    @router.get("/changesets/{changeset_id}/validate", summary="Validate a draft's result",
                response_model=ValidationReport)
    def validate_draft(changeset_id: ChangesetId, session: SessionDep, _: Reader) -> dict[str, Any]:
        area = get_changeset(session, changeset_id).area_code
        return validate_area(session, area, changeset_id=changeset_id).to_dict()


def _draft_routes(router: APIRouter) -> None:
    @router.post("/changesets", status_code=201, summary="Open a draft changeset on an area",
                 response_model=Changeset)
    def new(body: NewChangeset, session: SessionDep, caller: Planner) -> dict[str, Any]:
        return changeset_dict(open_changeset(session, body.area_code, body.reason, caller.name))

    @router.delete("/changesets/{changeset_id}", summary="Discard a draft",
                   response_model=Changeset)
    def drop(changeset_id: ChangesetId, session: SessionDep, caller: Planner) -> dict[str, Any]:
        discard(session, changeset_id, caller.name, _admin(caller))
        return changeset_dict(get_changeset(session, changeset_id))

    @router.post("/changesets/{changeset_id}/handover",
                 summary="Hand a draft over to another planner (recorded in its report)",
                 response_model=Changeset)
    def handover(changeset_id: ChangesetId, body: Handover, session: SessionDep,
                 caller: Planner) -> dict[str, Any]:
        return changeset_dict(hand_over(session, changeset_id, caller.name, body.to,
                                        _admin(caller)))

    @router.post("/changesets/{changeset_id}/publish",
                 summary="Publish a draft (one transaction; 409 if the data changed since)",
                 response_model=Published)
    def go_live(changeset_id: ChangesetId, session: SessionDep, caller: Planner) -> dict[str, Any]:
        return publish(session, changeset_id, caller.name, _admin(caller)).to_dict()

    @router.post("/changesets/{changeset_id}/undo", status_code=201,
                 summary="Open the inverse of a published changeset as a new draft",
                 response_model=Changeset)
    def inverse(changeset_id: ChangesetId, session: SessionDep, caller: Planner) -> dict[str, Any]:
        return changeset_dict(undo(session, changeset_id, caller.name))


def _operation_routes(router: APIRouter) -> None:
    @router.post("/changesets/{changeset_id}/reshape", summary="Give a grid a new shape",
                 response_model=Changed)
    def reshape(changeset_id: ChangesetId, body: Reshape, session: SessionDep, caller: Planner
                ) -> dict[str, list[str]]:
        return _changed(ops.reshape(session, changeset_id, caller.name, body.code,
                                    body.geometry, _admin(caller)))

    @router.post("/changesets/{changeset_id}/split", summary="Split a grid by a line",
                 response_model=Changed)
    def split(changeset_id: ChangesetId, body: SplitByLine, session: SessionDep, caller: Planner
              ) -> dict[str, list[str]]:
        return _changed(ops.split_by_line(session, changeset_id, caller.name, body.code,
                                          body.line, body.new_code, body.new_name,
                                          _admin(caller)))

    @router.post("/changesets/{changeset_id}/split-balanced",
                 summary="Split a grid into N parts of about equal households",
                 response_model=Changed)
    def split_even(changeset_id: ChangesetId, body: SplitBalanced, session: SessionDep,
                   caller: Planner) -> dict[str, list[str]]:
        return _changed(split_balanced(session, changeset_id, caller.name, body.code,
                                       body.parts, body.new_codes, _admin(caller)))

    @router.post("/changesets/{changeset_id}/move-buildings",
                 summary="Move buildings (and their area) to an adjacent grid",
                 response_model=Changed)
    def move(changeset_id: ChangesetId, body: MoveBuildings, session: SessionDep, caller: Planner
             ) -> dict[str, list[str]]:
        return _changed(move_buildings(session, changeset_id, caller.name, body.from_code,
                                       body.to_code, body.buildings, _admin(caller)))



def _structure_routes(router: APIRouter) -> None:
    @router.post("/changesets/{changeset_id}/merge", summary="Merge adjacent grids",
                 response_model=Changed)
    def merge(changeset_id: ChangesetId, body: Merge, session: SessionDep, caller: Planner
              ) -> dict[str, list[str]]:
        return _changed(ops.merge(session, changeset_id, caller.name, body.codes, body.into,
                                  _admin(caller)))

    @router.post("/changesets/{changeset_id}/create", summary="Create a grid or micro-grid",
                 response_model=Changed)
    def create(changeset_id: ChangesetId, body: Create, session: SessionDep, caller: Planner
               ) -> dict[str, list[str]]:
        return _changed(ops.create(session, changeset_id, caller.name, body.code, body.name,
                                   body.parent_code, body.geometry, _admin(caller)))

    @router.post("/changesets/{changeset_id}/retire", summary="Retire a grid into a neighbour",
                 response_model=Changed)
    def retire(changeset_id: ChangesetId, body: Retire, session: SessionDep, caller: Planner
               ) -> dict[str, list[str]]:
        return _changed(ops.retire(session, changeset_id, caller.name, body.code,
                                   body.successor, _admin(caller)))

    @router.post("/changesets/{changeset_id}/rename", summary="Change a grid's code or name",
                 response_model=Changed)
    def rename(changeset_id: ChangesetId, body: Rename, session: SessionDep, caller: Planner
               ) -> dict[str, list[str]]:
        return _changed(ops.rename(session, changeset_id, caller.name, body.code,
                                   body.new_code, body.new_name, _admin(caller)))


def _history_routes(router: APIRouter) -> None:
    @router.get("/history", summary="The grids of an area as of a date (GeoJSON)",
                response_model=FeatureCollection)
    def as_of(session: SessionDep, _: Reader, area: str,
              at: Annotated[Timestamp, Query(description="ISO 8601 time, e.g. "
                                             "2026-01-31T00:00:00Z")]
              ) -> dict[str, Any]:
        return grids_as_of(session, area, at)

    @router.get("/grids/{code}/history", summary="Every version of a grid",
                response_model=list[GridVersion])
    def versions(code: str, session: SessionDep, _: Reader) -> list[dict[str, Any]]:
        return grid_history(session, code)

    @router.get("/diff", summary="What changed in an area between two times (GeoJSON)",
                response_model=FeatureCollection)
    def between(session: SessionDep, _: Reader, area: str,
                from_: Annotated[Timestamp, Query(alias="from")], to: Timestamp
                ) -> dict[str, Any]:
        return diff(session, area, from_, to)

    @router.get("/changesets/{changeset_id}/diff", summary="What a published changeset changed",
                response_model=FeatureCollection)
    def changes(changeset_id: ChangesetId, session: SessionDep, _: Reader) -> dict[str, Any]:
        return changeset_diff(session, changeset_id)
