"""Long jobs over HTTP: ``GET /jobs/{id}``, ``GET /jobs/{id}/result``, ``DELETE /jobs/{id}``.

A job is started by the route of its work (``POST /import/{layer}`` with ``Prefer:
respond-async`` or a file of more than 5,000 features; ``POST /export/{layer}``;
``POST /jobs/assign`` for a bulk assignment, ``POST /jobs/validate`` for an area's
validation), which answers ``202 Accepted`` with the job and a ``Location: /jobs/{id}``
header. The work runs in a thread of the serving process (:func:`start_job`), its state in ``jobs``
(:mod:`geo.jobs`). Only the key that started a job, or an admin, sees or cancels it.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.audit import actor_of
from api.auth import READ_ROLES, Caller, Dispatcher, Reader, require_roles
from api.deps import SessionDep
from api.schemas.jobs import JOB_ACCEPTED, Job
from geo.assign import assign_events
from geo.assignment_index import after_bulk_assignment, before_bulk_assignment
from geo.audit import Actor, act_as
from geo.errors import Forbidden, NotFound
from geo.importer.pending_indexes import build_pending_indexes
from geo.jobs import (
    JobOutcome,
    JobProgress,
    SessionFactory,
    create_job,
    fail_orphans,
    job_view,
    request_cancel,
    run_job,
)
from geo.planning.validate import validate_area
from geo.rollup_refresh import refresh_pending
from geo.settings import Settings

AnyKey = Annotated[Caller, Depends(require_roles(*READ_ROLES), scope="function")]
"""Any role with a key (an audited write: cancelling a job)."""
Work = Callable[[Session, JobProgress], JobOutcome]
_RESULT = text("SELECT result_path FROM jobs WHERE id = :id AND state = 'succeeded'")


def job_folder(settings: Settings, job_id: str) -> Path:
    """Where a job keeps its input while it runs and its result file after."""
    folder = settings.home / "jobs" / job_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def start_job(sessions: SessionFactory, job_id: str, work: Work,
              cleanup: Path | None = None) -> None:
    """Run ``work`` as job ``job_id`` in a background thread; ``cleanup`` is removed after."""
    def run() -> None:
        try:
            run_job(sessions, job_id, work)
            refresh_pending(sessions)  # rollups a bulk assignment left (geo.rollup_refresh)
        finally:
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)

    threading.Thread(target=run, name=f"gridlink-job-{job_id[:8]}", daemon=True).start()


def refresh_rollups_in_background(sessions: SessionFactory) -> threading.Thread:
    """At start-up: refresh the rollups a bulk assignment left pending (its process died
    between its commit and its refresh: geo.rollup_refresh) in a background thread, so the
    app starts at once; readers stay exact meanwhile. A database not reachable yet leaves
    them for the next start, job or ``gridlink rollups refresh``; then the indexes a bulk
    assignment left pending (geo.assignment_index), built concurrently."""
    def run() -> None:
        try:
            refresh_pending(sessions)
            with sessions() as session:
                engine = session.get_bind()
            if isinstance(engine, Engine):  # indexes a bulk job left (geo.assignment_index)
                build_pending_indexes(engine)
        except SQLAlchemyError:
            return

    thread = threading.Thread(target=run, name="gridlink-rollup-refresh", daemon=True)
    thread.start()
    return thread


async def fail_orphan_jobs(sessions: SessionFactory) -> None:
    """At start-up: jobs whose process died are marked failed (:func:`geo.jobs.fail_orphans`);
    a database not reachable yet leaves them for the next start (the app still starts)."""
    try:
        await run_in_threadpool(fail_orphans, sessions)
    except SQLAlchemyError:
        return


def accepted(session: Session, job_id: str) -> JSONResponse:
    """The 202 answer of a started job: the job resource and its Location."""
    view = job_view(session, job_id)
    return JSONResponse(_public(view), status_code=202,
                        headers={"Location": f"/jobs/{job_id}"})


def _public(view: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in view.items() if k not in ("key_prefix", "has_file")}
    for stamp in ("created_at", "started_at", "finished_at"):
        out[stamp] = out[stamp].isoformat() if out[stamp] is not None else None
    out["result_url"] = f"/jobs/{view['id']}/result" if view["has_file"] else None
    return out


def _own(session: Session, job_id: str, caller: Caller) -> dict[str, Any]:
    view = job_view(session, job_id)
    if caller.role != "admin" and (caller.key_prefix is None
                                   or caller.key_prefix != view["key_prefix"]):
        raise Forbidden("only the key that started a job, or an admin, may see it",
                        [{"field": "job_id", "value": job_id}])
    return view


def jobs_router() -> APIRouter:
    router = APIRouter(tags=["jobs"])

    @router.get("/jobs/{job_id}", response_model=Job,
                summary="A long job: state, progress, rows done, problems "
                "so far, result (and result_url for a file)")
    def get_job(job_id: str, session: SessionDep, caller: Reader) -> dict[str, Any]:
        return _public(_own(session, job_id, caller))

    @router.get("/jobs/{job_id}/result", summary="The result file of a finished job",
                response_class=FileResponse)
    def job_result(job_id: str, session: SessionDep, caller: Reader) -> FileResponse:
        _own(session, job_id, caller)
        path = session.execute(_RESULT, {"id": job_id}).scalar()
        if path is None or not Path(path).is_file():
            raise NotFound(f"job {job_id} has no result file (not finished, or no file)",
                           [{"field": "job_id", "value": job_id}])
        return FileResponse(path, media_type="application/geo+json",
                            filename=Path(path).name)

    @router.delete("/jobs/{job_id}", response_model=Job,
                   summary="Cancel a job: queued ones at once, running "
                   "ones at their next batch (nothing of them is written)")
    async def cancel_job(job_id: str, request: Request, session: SessionDep,
                         caller: AnyKey) -> dict[str, Any]:
        await run_in_threadpool(_own, session, job_id, caller)
        view = await run_in_threadpool(request_cancel, request.app.state.sessions, job_id)
        return _public(view)

    _work_routes(router)
    return router


def _assign_work(actor: Actor, scope: str, area: str | None, k: int | None) -> Work:
    def work(session: Session, progress: JobProgress) -> JobOutcome:
        engine = session.get_bind()  # before the job's first statement (geo.assignment_index)
        off = isinstance(engine, Engine) and before_bulk_assignment(engine, scope)
        index_back = (lambda: after_bulk_assignment(engine)) if off else None  # type: ignore[arg-type]
        if index_back is not None:  # failed or cancelled: the index comes back too
            progress.on_rollback(index_back)
        act_as(session, actor)
        summary = assign_events(session, scope, area_code=area, k=k, progress=progress)
        return JobOutcome({"rows": summary.events, **asdict(summary)}, after_commit=index_back)
    return work


def _validate_work(area: str, changeset: int | None) -> Work:
    def work(session: Session, progress: JobProgress) -> JobOutcome:
        report = validate_area(session, area, changeset_id=changeset).to_dict()
        return JobOutcome(report)
    return work


def _work_routes(router: APIRouter) -> None:
    @router.post("/jobs/assign", status_code=202, responses=JOB_ACCEPTED,
                 summary="(Re)assign events to grids and "
                 "cameras as a job (the bulk assignment of `gridlink assign`)")
    def assign_job(
        request: Request, session: SessionDep, caller: Dispatcher,
        scope: str = Query("unassigned", description="all, unassigned or area"),
        area: str | None = Query(None, description="with scope=area: area or grid code"),
        k: int | None = Query(None, ge=0, le=50, description="cameras stored per event"),
    ) -> JSONResponse:
        job_id = _create(request, caller, "assign", {"scope": scope, "area": area, "k": k})
        start_job(request.app.state.sessions, job_id,
                  _assign_work(actor_of(request, caller), scope, area, k))
        return accepted(session, job_id)

    @router.post("/jobs/validate", status_code=202, responses=JOB_ACCEPTED,
                 summary="Validate the grids of an area "
                 "as a job (the answer of GET /planning/validate, kept as its result)")
    def validate_job(
        request: Request, session: SessionDep, caller: AnyKey,
        area: str = Query(..., description="district, street, community or grid code"),
        changeset: int | None = Query(None, description="as this draft would publish"),
    ) -> JSONResponse:
        job_id = _create(request, caller, "validate", {"area": area, "changeset": changeset})
        start_job(request.app.state.sessions, job_id, _validate_work(area, changeset))
        return accepted(session, job_id)


def _create(request: Request, caller: Caller, kind: str, params: dict[str, Any]) -> str:
    return create_job(request.app.state.sessions, kind, params, caller.name,
                      caller.key_prefix, caller.role)

