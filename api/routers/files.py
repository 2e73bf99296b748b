"""Import and export of layers: ``POST /import/{layer}``, ``GET /export/{layer}``.

Uploads are multipart/form-data with the file in field ``file``. The body is streamed to a
temporary file while counting bytes, so an upload over ``GRIDLINK_MAX_UPLOAD_MB`` is refused
with 413 even when it is sent chunked without Content-Length. Exports stream GeoJSON from a
server-side cursor (memory stays flat however large the layer).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncGenerator, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.auth import Importer, Reader
from api.deps import SessionDep, SettingsDep
from geo.catalog import get_layer
from geo.errors import TooLarge, UnreadableFile
from geo.exporter import ExportFilter, check_export, export_geojson, parse_bbox
from geo.importer import import_file

CHUNK_BYTES = 1024 * 1024


async def _limited(stream: AsyncGenerator[bytes, None], limit: int) -> AsyncGenerator[bytes]:
    """Pass the request body through, raising TooLarge once it exceeds ``limit`` bytes."""
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"upload exceeds the limit of {limit} bytes (GRIDLINK_MAX_UPLOAD_MB)",
                           [{"limit_bytes": limit, "received_bytes": total}])
        yield chunk


async def _receive_upload(request: Request, folder: Path, limit: int) -> Path:
    """Save the multipart field ``file`` under ``folder`` (its own name); bounded by ``limit``."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UnreadableFile("send the file as multipart/form-data in the field 'file' "
                             "(curl -F file=@grids.geojson)", [{"field": "file"}])
    parser = MultiPartParser(request.headers, _limited(request.stream(), limit),
                             max_files=1, max_fields=10)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UnreadableFile(f"malformed multipart upload: {exc.message}",
                             [{"field": "file"}]) from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise UnreadableFile("no file in the field 'file' of the upload", [{"field": "file"}])
    name = Path(upload.filename.replace("\\", "/")).name
    if name in ("", ".", ".."):
        raise UnreadableFile(f"unusable file name {upload.filename!r}", [{"field": "file"}])
    target = folder / name
    with open(target, "wb") as out:
        while chunk := await upload.read(CHUNK_BYTES):
            out.write(chunk)
    await upload.close()
    return target


def _stream(chunks: Iterator[str]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.encode("utf-8")


def files_router() -> APIRouter:
    router = APIRouter(tags=["import/export"])

    @router.post("/import/{layer}", summary="Import a layer file (GeoJSON, GPKG, zipped "
                 "Shapefile, CSV); all-or-nothing upsert by code")
    async def import_layer(
        layer: str, request: Request, session: SessionDep, settings: SettingsDep, _: Importer,
        crs: str | None = Query(None, description="4326, EPSG:4490, EPSG:4547, gcj02, bd09..."
                                " (overrides the file's CRS)"),
        encoding: str | None = Query(None, description="text encoding, e.g. GB18030"),
        skip_invalid: bool = Query(False, description="import good rows, report the rest"),
        make_valid: bool = Query(False, description="repair self-intersecting polygons, drop "
                                 "degenerate rings; each repair is a note naming its row"),
    ) -> dict[str, Any]:
        get_layer(layer)
        limit = int(settings.max_upload_mb * 1024 * 1024)
        with tempfile.TemporaryDirectory(prefix="gridlink-upload-") as tmp:
            path = await _receive_upload(request, Path(tmp), limit)
            report = await run_in_threadpool(import_file, session, layer, path, crs=crs,
                                             encoding=encoding, skip_invalid=skip_invalid,
                                             make_valid=make_valid)
        return asdict(report)

    @router.get("/export/{layer}", summary="Stream a layer as an RFC 7946 FeatureCollection",
                response_class=StreamingResponse)
    def export_layer(
        layer: str, session: SessionDep, _: Reader,
        bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat (EPSG:4326)"),
        parent: str | None = Query(None, description="parent code (community for grids, grid "
                                   "for micro-grids and assets)"),
        kind: str | None = Query(None, description="grid kind, area level, site category..."),
    ) -> StreamingResponse:
        flt = ExportFilter(parse_bbox(bbox), parent, kind)
        check_export(layer, flt)
        return StreamingResponse(
            _stream(export_geojson(session, layer, flt)), media_type="application/geo+json",
            headers={"Content-Disposition": f'attachment; filename="{layer}.geojson"'})

    return router
