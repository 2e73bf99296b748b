"""Import and export of layers: ``POST /import/{layer}``, ``GET /export/{layer}``.

Uploads are multipart/form-data with the file in field ``file``, streamed to a temporary
directory removed on every path (the size limit is :mod:`api.request_guard`'s). Exports stream
GeoJSON from a server-side cursor (memory stays flat however large the layer).
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.audit import actor_of
from api.auth import Importer, Reader
from api.bodies import FILE_BODY, require_media_type, save_upload
from api.deps import ReadStreamSessionDep, SessionDep, SettingsDep
from api.routers.jobs import AnyKey, Work, accepted, job_folder, start_job
from api.schemas.files import ImportReport
from api.schemas.jobs import JOB_ACCEPTED
from geo import tempdir
from geo.audit import Actor, act_as
from geo.catalog import get_layer
from geo.errors import UnreadableFile
from geo.exporter import ExportFilter, check_export, export_file, export_geojson, parse_bbox
from geo.importer import import_file
from geo.importer.fields import parse_map
from geo.importer.pending_indexes import indexes_built_after_commit
from geo.importer.streaming import streams
from geo.jobs import JobOutcome, JobProgress, create_job
from geo.planning.grid_imports import GridChange
from geo.roles import check_import

PREFER_HELP = ("'respond-async' runs the import as a job (202 + /jobs/{id}); a file of more "
               "than 5,000 features always does")


async def receive_upload(request: Request, folder: Path) -> Path:
    """Save the multipart field ``file`` under ``folder`` (its own base name)."""
    require_media_type(request, ("multipart/form-data",),
                       "the file in the form field 'file' (curl -F file=@grids.geojson)")
    parser = MultiPartParser(request.headers, request.stream(), max_files=1, max_fields=10)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UnreadableFile(f"malformed multipart upload: {exc.message}",
                             [{"field": "file"}]) from exc
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise UnreadableFile("no file in the field 'file' of the upload",
                                 [{"field": "file"}])
        return await run_in_threadpool(save_upload, upload, folder)
    finally:
        await form.close()


def _stream(chunks: Iterator[str]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.encode("utf-8")


def _wants_job(prefer: str | None, path: Path, layer: str) -> bool:
    """A job when the client prefers ``respond-async`` (RFC 7240) or the file streams."""
    asked = prefer is not None and "respond-async" in prefer.replace(" ", "").split(",")
    return asked or streams(path, get_layer(layer))


def _import_work(actor: Actor, layer: str, path: Path, options: dict[str, Any]) -> Work:
    """The import as a job's work (rows stream through the job's progress)."""
    def work(session: Session, progress: JobProgress) -> JobOutcome:
        act_as(session, actor)
        report = asdict(import_file(session, layer, path, progress=progress,
                                    defer_indexes=True, **options))
        engine = session.get_bind()
        after = (lambda: indexes_built_after_commit(engine)) if report["indexes_pending"] \
            and isinstance(engine, Engine) else None
        return JobOutcome(report, report.pop("problems"), after_commit=after)
    return work


def _export_work(layer: str, flt: ExportFilter, target: Path) -> Work:
    def work(session: Session, progress: JobProgress) -> JobOutcome:
        rows = export_file(session, layer, target, "geojson", flt, progress=progress)
        return JobOutcome({"rows": rows, "layer": layer, "format": "geojson"},
                          result_path=str(target))
    return work


def files_router() -> APIRouter:
    router = APIRouter(tags=["import/export"])

    @router.post("/import/{layer}", summary="Import a layer file (GeoJSON, GPKG, zipped "
                 "Shapefile, CSV); all-or-nothing upsert by code; grids and micro-grids "
                 "become new versions (planner; 409 when an open draft touches them)",
                 openapi_extra=FILE_BODY, response_model=ImportReport, responses=JOB_ACCEPTED)
    async def import_layer(
        layer: str, request: Request, session: SessionDep, settings: SettingsDep,
        caller: Importer,
        crs: str | None = Query(None, description="4326, EPSG:4490, EPSG:4547, gcj02, bd09..."
                                " (overrides the file's CRS)"),
        encoding: str | None = Query(None, description="text encoding, e.g. GB18030"),
        skip_invalid: bool = Query(False, description="import good rows, report the rest"),
        reason: str | None = Query(None, min_length=1, description="grids and micro-grids: "
                                   "why they change (kept with each new version; default "
                                   "'import of <file name>')"),
        field_map: list[str] = Query([], alias="map", description="SRC=DST: file column "
                                     "SRC feeds layer field DST (repeat; SRC= leaves it out)"),
        dry_run: bool = Query(False, description="map and validate only: report the "
                              "mapping, row count and every problem; write nothing"),
        make_valid: bool = Query(False, description="repair self-intersecting polygons, drop "
                                 "degenerate rings; each repair is a note naming its row"),
        prefer: str | None = Header(None, description=PREFER_HELP),
    ) -> Any:
        get_layer(layer)
        check_import(layer, caller.role)
        explicit = parse_map(field_map)
        with tempdir.scratch("gridlink-upload-") as tmp:
            path = await receive_upload(request, Path(tmp))
            change = GridChange(caller.name, reason or f"import of {path.name}")
            options: dict[str, Any] = {"crs": crs, "encoding": encoding,
                                       "skip_invalid": skip_invalid,
                                       "field_map": explicit, "dry_run": dry_run,
                                       "change": change, "make_valid": make_valid,
                                       "settings": settings}
            if await run_in_threadpool(_wants_job, prefer, path, layer):
                return await run_in_threadpool(
                    _start_import, request, session, caller, layer, path, options)
            report = await run_in_threadpool(import_file, session, layer, path, **options)
        return asdict(report)  # a dry run only reads: nothing to roll back

    def _start_import(request: Request, session: Session, caller: Any, layer: str,
                      path: Path, options: dict[str, Any]) -> JSONResponse:
        params = {"layer": layer, "file": path.name, "crs": options["crs"],
                  "skip_invalid": options["skip_invalid"], "dry_run": options["dry_run"]}
        sessions = request.app.state.sessions
        job_id = create_job(sessions, "import", params, caller.name, caller.key_prefix,
                            caller.role)
        folder = job_folder(request.app.state.settings, job_id)
        kept = Path(shutil.move(path, folder / path.name))
        start_job(sessions, job_id, _import_work(actor_of(request, caller), layer, kept,
                                                 options), cleanup=folder)
        return accepted(session, job_id)

    @router.post("/export/{layer}", summary="Export a layer as a job (202 + /jobs/{id}); "
                 "the GeoJSON file is kept at /jobs/{id}/result", status_code=202,
                 responses=JOB_ACCEPTED)
    def export_job(
        layer: str, request: Request, session: SessionDep, caller: AnyKey,
        bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat (EPSG:4326)"),
        parent: str | None = Query(None, description="parent code"),
        kind: str | None = Query(None, description="grid kind, area level, site category..."),
    ) -> JSONResponse:
        flt = ExportFilter(parse_bbox(bbox), parent, kind, area=caller.area_code)
        check_export(layer, flt)
        sessions = request.app.state.sessions
        job_id = create_job(sessions, "export", {"layer": layer, "bbox": bbox,
                                                 "parent": parent, "kind": kind,
                                                 "area": caller.area_code},
                            caller.name, caller.key_prefix, caller.role)
        target = job_folder(request.app.state.settings, job_id) / f"{layer}.geojson"
        start_job(sessions, job_id, _export_work(layer, flt, target))
        return accepted(session, job_id)

    @router.get("/export/{layer}", summary="Stream a layer as an RFC 7946 FeatureCollection",
                response_class=StreamingResponse)
    def export_layer(
        layer: str, session: ReadStreamSessionDep, caller: Reader,
        bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat (EPSG:4326)"),
        parent: str | None = Query(None, description="parent code (community for grids, grid "
                                   "for micro-grids and assets)"),
        kind: str | None = Query(None, description="grid kind, area level, site category..."),
    ) -> StreamingResponse:
        flt = ExportFilter(parse_bbox(bbox), parent, kind, area=caller.area_code)
        check_export(layer, flt)
        chunks = export_geojson(session, layer, flt)
        # The second chunk runs the first query: a database failure is still an error status
        # here (503), not a 200 whose stream is cut.
        head = [next(chunks), next(chunks)]
        return StreamingResponse(
            _stream(itertools.chain(head, chunks)), media_type="application/geo+json",
            headers={"Content-Disposition": f'attachment; filename="{layer}.geojson"'})

    return router
