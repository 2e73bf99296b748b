"""The job resource: an import, export, assignment or validation running in the background."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from api.schemas import Answer, DateTimeText, Row


class Job(Answer):
    """A long job (``GET /jobs/{id}``; the 202 answer of the routes that start one)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "5f0c2a9e4b1d4c7e", "kind": "import", "state": "running",
         "params": {"layer": "events", "filename": "12345热线事件.gpkg"},
         "actor": "调度员 (dispatcher) 1", "rows_done": 250000, "rows_total": 1000000,
         "progress": 0.25, "problems_found": 2,
         "problems": [{"row": 1812, "id": "E-1812", "field": "lon",
                       "problem": "outside the service area"}],
         "result": None, "error": None, "cancel_requested": False,
         "created_at": "2026-12-06T03:20:00+00:00", "started_at": "2026-12-06T03:20:01+00:00",
         "finished_at": None, "result_url": None}]})

    id: str
    kind: Literal["import", "export", "assign", "validate"]
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"] = Field(
        description="queued → running → succeeded | failed | cancelled")
    params: dict[str, Any] = Field(description="what the job was asked to do")
    actor: str | None = Field(description="the key's name that started it")
    rows_done: int = Field(description="rows (features, events) processed so far")
    rows_total: int | None = Field(description="rows in all, when known")
    progress: float | None = Field(description="0–1, when the total is known")
    problems_found: int
    problems: list[Row] | None = Field(description="the problems so far (row, id, field)")
    result: Any = Field(description="the finished job's answer (as the synchronous route's)")
    error: Any = Field(description="why a failed job failed (the error body)")
    cancel_requested: bool
    created_at: DateTimeText
    started_at: DateTimeText | None
    finished_at: DateTimeText | None
    result_url: str | None = Field(description="/jobs/{id}/result when the job made a file")


JOB_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"model": Job, "description": "the job started: follow it at the Location header "
          "(/jobs/{id})"}}
"""The ``responses`` entry of a route that answers 202 with a job."""
