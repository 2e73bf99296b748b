"""Export layers: streamed RFC 7946 GeoJSON, and GeoPackage/CSV files via pyogrio.

GeoJSON is composed by PostGIS row by row (``ST_AsGeoJSON(geom, 7)``, polygons forced to
counter-clockwise exteriors, 7 decimals, lon/lat WGS 84) and read through a server-side
cursor in batches, so memory stays flat however large the layer. Each feature carries the
layer key as its top-level ``id`` and the layer fields (docs/catalog.md) as properties; the
collection has no ``crs`` member. Exported files re-import unchanged with geo.importer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.catalog import LINES, POINT, Layer, get_layer
from geo.errors import ValidationFailed
from geo.roles import EVENT_IN_AREA, key_area_params

BATCH_ROWS = 2000
FILE_BATCH_ROWS = 50_000
Format = Literal["geojson", "gpkg", "csv"]


@dataclass(frozen=True)
class ExportFilter:
    """Row filters: ``bbox`` (minlon, minlat, maxlon, maxlat, EPSG:4326 degrees) keeps rows
    whose geometry intersects it; ``parent`` keeps rows whose parent code (or, for layers
    without one, grid code) equals it; ``kind`` matches the layer's kind field (grid kind,
    area level, site category, camera type, worker role, event category); ``keys`` keeps
    the rows whose layer key is one of them (the change feed, geo.changes); ``area`` (the
    area of a key limited to one, geo.roles) keeps the rows inside that admin area
    (:func:`_area_sql`)."""

    bbox: tuple[float, float, float, float] | None = None
    parent: str | None = None
    kind: str | None = None
    keys: tuple[str | int, ...] | None = None
    area: str | None = None


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """``"minlon,minlat,maxlon,maxlat"`` → tuple; raises ValidationFailed when malformed."""
    if value is None or value.strip() == "":
        return None
    try:
        parts = tuple(float(p) for p in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or not (-180 <= parts[0] <= parts[2] <= 180
                               and -90 <= parts[1] <= parts[3] <= 90):
        raise ValidationFailed(
            f"bbox {value!r} must be minlon,minlat,maxlon,maxlat in degrees (EPSG:4326)",
            [{"field": "bbox", "value": value}])
    return parts  # type: ignore[return-value]


def _where(layer: Layer, flt: ExportFilter) -> tuple[str, dict[str, Any]]:
    """WHERE clause (registry identifiers only) and its bound parameters."""
    clauses: list[str] = [layer.filter_sql]
    params: dict[str, Any] = {}
    if flt.bbox is not None and layer.geometry is not None:
        clauses.append("t.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) AND "
                       "ST_Intersects(t.geom, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))")
        params.update(zip(("x0", "y0", "x1", "y1"), flt.bbox, strict=True))
    if flt.parent is not None:
        clauses.append(_parent_sql(layer))
        params["parent"] = flt.parent
    if flt.area is not None:
        clauses.append(_area_sql(layer))
        params.update(key_area_params(flt.area))
    if flt.keys is not None:
        clauses.append(f"t.{layer.key} = ANY(:keys)")
        params["keys"] = list(flt.keys)
    if flt.kind is not None:
        if layer.kind_field is None:
            raise ValidationFailed(f"layer {layer.name!r} has no kind to filter on",
                                   [{"field": "kind"}])
        clauses.append(f"t.{layer.kind_field} = :kind")
        params["kind"] = flt.kind
    return " AND ".join(clauses), params


def _parent_sql(layer: Layer) -> str:
    """The ``:parent`` condition over alias ``t``: the layer's parent field, else its grid
    code (events: the grid of their ``event_assignments`` row, so a never-assigned event
    matches no parent). Raises ValidationFailed for a layer with neither."""
    if layer.parent_field is not None:
        return f"t.{layer.parent_field} = :parent"
    if layer.table == "events":
        return ("EXISTS (SELECT 1 FROM event_assignments a WHERE a.event_id = t.id"
                " AND a.reported_at = t.reported_at AND a.grid_code = :parent)")
    if layer.name in ("buildings", "sites", "workers", "cameras"):
        return "t.grid_code = :parent"
    if layer.table == "entrances":
        return "t.site_code = :parent"
    raise ValidationFailed(f"layer {layer.name!r} has no parent to filter on",
                           [{"field": "parent"}])


def _area_sql(layer: Layer) -> str:
    """The condition over alias ``t`` of rows inside the area ``:key_area``: events by their
    assignment (:data:`geo.roles.EVENT_IN_AREA`), areas and grids by their code, the others
    by their grid code (codes nest by prefix)."""
    if layer.table == "events":
        return EVENT_IN_AREA.format(event="t")
    if layer.table in ("admin_areas", "grids"):
        return "t.code LIKE :key_area_prefix"
    if layer.table == "roads":  # roads have no grid: those crossing the area's grids
        return ("EXISTS (SELECT 1 FROM grids g WHERE g.valid_to IS NULL AND g.level = 'grid'"
                " AND g.code LIKE :key_area_prefix AND ST_Intersects(g.geom, t.geom))")
    if layer.table == "entrances":  # an entrance belongs where its site is
        return ("EXISTS (SELECT 1 FROM sites s WHERE s.code = t.site_code"
                " AND s.grid_code LIKE :key_area_prefix)")
    return "t.grid_code LIKE :key_area_prefix"


def _property_sql(layer: Layer) -> str:
    pairs = ", ".join(f"'{name}', t.{name}" for name in layer.fields)
    return f"json_build_object({pairs})"


def geojson_geometry(layer: Layer) -> str:
    """The SQL of ``t.geom`` as RFC 7946 wants it: polygons with counter-clockwise exterior
    rings. Only polygons: PostGIS 3.3's ``ST_ForcePolygonCCW`` also reverses a LineString
    (a road would come out drawn backwards), so line and point layers are left as stored."""
    if layer.geometry is not None and layer.geometry <= LINES | POINT:
        return "t.geom"
    return "CASE WHEN ST_Dimension(t.geom) = 2 THEN ST_ForcePolygonCCW(t.geom) ELSE t.geom END"


def feature_sql(layer: Layer, flt: ExportFilter) -> tuple[str, dict[str, Any]]:
    """SELECT one GeoJSON Feature text per row, ordered by key."""
    where, params = _where(layer, flt)
    geometry = (f"ST_AsGeoJSON({geojson_geometry(layer)}, 7)::json"
                if layer.geometry is not None else "NULL::json")
    sql = (f"SELECT json_build_object('type', 'Feature', 'id', t.{layer.key}, "  # noqa: S608
           f"'geometry', {geometry}, 'properties', {_property_sql(layer)})::text "
           f"FROM {layer.table} t WHERE {where} ORDER BY t.{layer.key}")
    return sql, params


def _feature_texts(session: Session, layer: Layer, flt: ExportFilter) -> Iterator[str]:
    sql, params = feature_sql(layer, flt)
    result = session.execute(text(sql), params,
                             execution_options={"stream_results": True,
                                                "yield_per": BATCH_ROWS})
    for partition in result.partitions(BATCH_ROWS):
        yield ",\n".join(row[0] for row in partition)


def export_geojson(session: Session, layer: str, flt: ExportFilter | None = None
                   ) -> Iterator[str]:
    """Stream ``layer`` as an RFC 7946 FeatureCollection, in text chunks.

    A generator: rows are fetched from a server-side cursor ``BATCH_ROWS`` at a time, so
    memory does not grow with the layer. Raises UnknownLayer / ValidationFailed (bad
    filter) at the first ``next()``; call :func:`check_export` first to fail early.
    """
    spec = get_layer(layer)
    flt = flt or ExportFilter()
    _where(spec, flt)
    yield '{"type": "FeatureCollection", "features": [\n'
    first = True
    for chunk in _feature_texts(session, spec, flt):
        if not chunk:
            continue
        yield chunk if first else ",\n" + chunk
        first = False
    yield "\n]}\n"


def check_export(layer: str, flt: ExportFilter) -> None:
    """Raise UnknownLayer / ValidationFailed now for a bad layer or filter."""
    _where(get_layer(layer), flt)


def _frames(session: Session, spec: Layer, flt: ExportFilter) -> Iterator[pd.DataFrame]:
    """The layer in DataFrames of FILE_BATCH_ROWS rows (geometry as WKB, lon/lat)."""
    where, params = _where(spec, flt)
    geom = ", ST_AsBinary(t.geom) AS geom" if spec.geometry is not None else ""
    columns = ", ".join(f"t.{c}" for c in spec.fields)
    sql = (f"SELECT {columns}{geom} FROM {spec.table} t WHERE {where} "  # noqa: S608
           f"ORDER BY t.{spec.key}")
    result = session.execute(text(sql), params, execution_options={
        "stream_results": True, "yield_per": FILE_BATCH_ROWS})
    names = list(result.keys())
    for partition in result.partitions(FILE_BATCH_ROWS):
        yield pd.DataFrame([tuple(r) for r in partition], columns=names)


def _to_file_frame(frame: pd.DataFrame, spec: Layer, fmt: Format) -> pd.DataFrame:
    """Dates/times → ISO text, geometry → shapely (GPKG) or WKT column (CSV)."""
    for name, kind in spec.fields.items():
        if kind in ("date", "datetime"):
            frame[name] = [None if v is None else v.isoformat() for v in frame[name]]
    if spec.geometry is None:
        return frame if fmt == "csv" else gpd.GeoDataFrame(frame)
    geoms = shapely.from_wkb(frame.pop("geom").to_numpy(object))
    if fmt == "csv":
        frame["wkt"] = shapely.to_wkt(geoms, rounding_precision=7, trim=True)
        return frame
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms), crs="EPSG:4326")


def export_file(session: Session, layer: str, path: Path, fmt: Format = "geojson",
                flt: ExportFilter | None = None,
                progress: Callable[[int, int, int], None] | None = None) -> int:
    """Write ``layer`` to ``path`` as GeoJSON (streamed), GeoPackage or CSV (WKT column).

    GPKG/CSV are written with pyogrio in batches of FILE_BATCH_ROWS (appending), so memory
    stays bounded. Returns the number of features written. Codes are written as text.
    ``progress`` is called with (rows written, rows in all, 0) after each batch.
    """
    spec, flt = get_layer(layer), flt or ExportFilter()
    check_export(layer, flt)
    total = _count(session, spec, flt)
    if fmt == "geojson":
        with open(path, "w", encoding="utf-8") as fh:
            for number, chunk in enumerate(export_geojson(session, layer, flt)):
                fh.write(chunk)
                if progress is not None and number > 0:  # each later chunk: one batch
                    progress(min(number * BATCH_ROWS, total), total, 0)
        return total
    path.unlink(missing_ok=True)
    written = 0
    for frame in _frames(session, spec, flt):
        out = _to_file_frame(frame, spec, fmt)
        if fmt == "csv":
            out.to_csv(path, mode="a", header=written == 0, index=False, encoding="utf-8")
        else:
            pyogrio.write_dataframe(out, path, layer=spec.name, driver="GPKG",
                                    append=written > 0)
        written += len(out)
        if progress is not None:
            progress(written, total, 0)
    if written == 0:
        _write_empty(spec, path, fmt)
    return written


def _write_empty(spec: Layer, path: Path, fmt: Format) -> None:
    """An empty layer still gets a file with its columns (header-only CSV, empty GPKG)."""
    columns = {name: pd.Series(dtype=object) for name in spec.fields}
    if fmt == "csv":
        pd.DataFrame(columns | ({"wkt": pd.Series(dtype=object)} if spec.geometry else {})
                     ).to_csv(path, index=False)
    elif spec.geometry is None:
        pyogrio.write_dataframe(gpd.GeoDataFrame(columns), path, layer=spec.name, driver="GPKG")
    else:
        frame = gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs="EPSG:4326"))
        pyogrio.write_dataframe(frame, path, layer=spec.name, driver="GPKG")


def _count(session: Session, spec: Layer, flt: ExportFilter) -> int:
    where, params = _where(spec, flt)
    sql = f"SELECT count(*) FROM {spec.table} t WHERE {where}"  # noqa: S608
    return int(session.execute(text(sql), params).scalar_one())
