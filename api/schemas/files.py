"""Answers of the import route (exports stream GeoJSON and are described as such)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from api.schemas import Answer, Row


class ImportReport(Answer):
    """What an import did (or, with ``dry_run``, would do): rows read, written, refused."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"layer": "grids", "rows": 2, "inserted": 1, "updated": 1, "rejected": 0,
         "problems": [], "notes": ["编码 (code) ← column 网格编码"], "mapping": {
             "code": "网格编码", "name": "网格名称"}, "unknown_columns": [], "dry_run": False}]})

    layer: str = Field(description="grids, micro_grids, areas, buildings, sites, cameras...")
    rows: int = Field(description="features or rows read from the file")
    inserted: int
    updated: int
    rejected: int = Field(description="rows refused (skip_invalid=true), each in problems")
    problems: list[Row] = Field(description="row, feature or field and what is wrong")
    notes: list[str] = Field(description="repairs and mapping notes, each naming its row")
    mapping: dict[str, Any] = Field(description="layer field -> the file column that fed it")
    unknown_columns: list[str] = Field(description="columns neither mapped nor known")
    import_id: int | None = Field(None, description="events: the import's number, kept on "
                                  "each event written (events.import_id) and in its audit "
                                  "row (entity event_imports)")
    indexes_pending: list[str] = Field([], description="events: indexes a first load left "
                                       "for after its commit (built then; answers are the "
                                       "same meanwhile, slower); a job's result adds "
                                       "indexes_built and indexes_done_at")
