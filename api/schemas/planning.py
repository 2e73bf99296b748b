"""Answers of the planning routes: changesets, validation reports, history, lineage."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from api.schemas import Answer, DateTimeText, FeatureCollection, Row

CHANGESET_EXAMPLE: dict[str, Any] = {
    "id": 7, "area_code": "140213001001", "reason": "新建小区拆分网格 (split for a new estate)",
    "author": "planner li", "status": "draft", "kind": "edit",
    "base_at": "2026-11-01T02:00:00+00:00", "created_at": "2026-11-01T02:00:00+00:00",
    "published_at": None, "inverse_of": None, "report": None}


class Changeset(Answer):
    """A planning changeset: a draft, published or discarded redrawing of an area."""

    model_config = ConfigDict(json_schema_extra={"examples": [CHANGESET_EXAMPLE]})

    id: int
    area_code: str = Field(description="the community (or street) it redraws")
    reason: str = Field(description="why, e.g. 新建小区拆分网格 (split for a new estate)")
    author: str
    status: str = Field(description="draft, published or discarded")
    created_at: DateTimeText
    published_at: DateTimeText | None


class ValidationReport(Answer):
    """Validation of an area's grids: coverage gaps and overlaps, codes, balance."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"area_code": "140213001001", "changeset_id": None, "ok": True,
         "counts": {"grids": 4, "problems": 0}, "problems": [], "grids": []}]})

    area_code: str
    changeset_id: int | None = Field(description="the draft validated, null: as published")
    ok: bool = Field(description="true when no problem is an error")
    counts: dict[str, Any]
    problems: list[Row] = Field(description="kind, severity, codes, message, geometry "
                                "(GeoJSON lon/lat), area_m2")
    grids: list[Row] = Field(description="per grid: households, area (m²), balance")


class ValidatedDraft(Answer):
    """A draft made for the caller, with the validation of its result."""

    changeset: Changeset
    validation: ValidationReport


class ChangesetWithDraft(Changeset):
    """A changeset and its draft grids (GeoJSON, lon/lat EPSG:4326)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **CHANGESET_EXAMPLE, "draft": {"type": "FeatureCollection", "features": [{
            "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [
                [[113.300, 40.085], [113.305, 40.085], [113.305, 40.090],
                 [113.300, 40.085]]]},
            "properties": {"code": "140213001001005", "name": "向阳五网格 (grid 5)"}}]}}]})

    draft: FeatureCollection


class Published(Answer):
    """What publishing did: grid versions closed and opened, units re-assigned."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"changeset_id": 7, "published_at": "2026-11-02T01:00:00+00:00", "closed": 1,
         "opened": 2, "reassigned": {"events": 3, "buildings": 12}}]})

    changeset_id: int
    published_at: DateTimeText
    closed: int = Field(description="grid versions ended")
    opened: int = Field(description="grid versions started")
    reassigned: dict[str, int] = Field(description="units moved to a new grid, per layer")


class GridVersion(Row):
    """One version of a grid (without geometry): valid from ``valid_from`` to ``valid_to``."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "140213001001001", "name": "第一网格 (grid 1)", "version": 2,
         "valid_from": "2026-11-02T01:00:00+00:00", "valid_to": None, "area_m2": 48210.5}]})

    code: str
    version: int
    valid_from: DateTimeText
    valid_to: DateTimeText | None = Field(description="null: in force")
    area_m2: float = Field(description="area in m² (geodesic)")


class Lineage(Answer):
    """Ancestors and descendants of a grid, with dates, kinds, reasons and shares."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "140213001001001", "current": False, "versions": [], "ancestors": [],
         "descendants": [
            {"code": "140213001001005", "kind": "split", "reason": "拆分 (split)",
             "area_share": 0.42, "household_share": 0.4}]}]})

    code: str = Field(description="the grid asked about")
    current: bool = Field(description="whether the grid is in force today")
    versions: list[Row] = Field(description="version, name, valid_from, valid_to")
    ancestors: list[Row] = Field(description="grids it came from, transitively")
    descendants: list[Row] = Field(description="grids it became, transitively")


class Impact(Answer):
    """The impact of publishing a draft: per grid ``before``/``after`` counts (buildings,
    households, population, sites, cameras, open_events, workers) and ``state``; what moves
    between grids; the households balance before and after; old and new shapes (GeoJSON)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"changeset_id": 7, "level": "grid", "grids": [
            {"code": "140213001001005", "state": "new", "before": None,
             "after": {"households": 310}}],
         "transfers": [{"from": "140213001001001", "to": "140213001001005",
                        "households": 310}],
         "balance": {}, "features": []}]})

    changeset_id: int
    level: str = Field(description="grid or micro_grid")
    grids: list[Row]
    transfers: list[Row]
    balance: dict[str, Any]
    features: list[Row] = Field(description="GeoJSON Features, lon/lat EPSG:4326")
