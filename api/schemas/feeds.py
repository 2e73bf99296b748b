"""Answers of the feeds other systems and pages poll: the change feed and the alarm feed."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from api.schemas import Answer, Feature, Row


class ChangePage(Answer):
    """Features of a layer changed after a cursor, each once: its current state (upsert)
    or its removal (delete). Ask again from ``next``."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"layer": "grids", "since": 0, "next": 12, "more": False, "changes": [
            {"seq": 12, "op": "upsert", "id": "140213001001001", "feature": {
                "type": "Feature", "geometry": None,
                "properties": {"name": "第一网格 (grid 1)"}}}]}]})

    layer: str
    since: int | str = Field(description="the cursor asked from (events: a text cursor)")
    next: int | str = Field(description="the cursor to ask from next time: an integer, for "
                            "events a text (snapshots, opaque)")
    more: bool = Field(description="true: more changes wait after next")
    changes: list[Row]


class AlarmFeed(Answer):
    """Alarms newer than ``after`` as GeoJSON Point features (lon/lat EPSG:4326); with
    ``overdue=true`` also ``overdue_patrols``: the grids with overdue patrols today."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"alarms": [{"type": "Feature", "geometry": {
            "type": "Point", "coordinates": [112.5501, 37.8702]},
            "properties": {"id": 1042, "category": "一键报警 (alarm)"}}], "last_id": 1042}]})

    alarms: list[Feature]
    last_id: int = Field(description="ask with after=last_id next time")
