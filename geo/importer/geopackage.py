"""GeoPackage room: a large GeoPackage's feature table streamed with SQLite, without GDAL.

A GeoPackage is an SQLite database: its one feature table is read here in batches of rows
(Python's ``sqlite3``, in the table's ``fid`` order, as GDAL reads it), each batch handed
over as the Arrow record batch GDAL's Arrow stream (``pyogrio.open_arrow``) gives for it:
the same columns, Arrow types and values, the geometries as WKB (the GeoPackage binary
header cut off). GDAL itself costs ~40 MiB of a streamed import's peak RSS (its library's
pages and drivers, and its reader's buffers), which is what kept a 10^7-row GeoPackage
import at the 300 MB limit (bench/RESULTS.md, "A GeoPackage read without GDAL").

Types, as GDAL 3.12 maps the GeoPackage's declared column types to Arrow: INTEGER/INT
int64, MEDIUMINT int32, SMALLINT int16, TINYINT int8, BOOLEAN bool, REAL/DOUBLE float64,
FLOAT float32, DATE date32, DATETIME timestamp[ms, UTC] (a value without an offset is read as
UTC, as GDAL does), BLOB binary, TEXT and anything else text. A value of another type than
its column's (SQLite does not enforce them) becomes its text in a text column, as with GDAL,
and null in a number, date or time column, where GDAL gives 0 or 1970-01-01 (a value the
validation could not tell from a real one).

Only a GeoPackage of exactly one feature table, of a simple-features geometry type, with an
integer ``fid``, is read here; :func:`feature_table` answers None for any other (several
layers, curves, an unknown extension), and GDAL reads it (geo.importer.streaming).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from geo.errors import UnreadableFile
from geo.importer.problems import short_error

SIMPLE_TYPES = {"GEOMETRY", "POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING",
                "MULTIPOLYGON", "GEOMETRYCOLLECTION"}
"""Geometry types whose blobs are plain WKB after the header (others: GDAL reads them)."""

ARROW_TYPES: dict[str, pa.DataType] = {
    "INTEGER": pa.int64(), "INT": pa.int64(), "MEDIUMINT": pa.int32(), "SMALLINT": pa.int16(),
    "TINYINT": pa.int8(), "BOOLEAN": pa.bool_(), "REAL": pa.float64(), "DOUBLE": pa.float64(),
    "FLOAT": pa.float32(), "DATE": pa.date32(), "DATETIME": pa.timestamp("ms", tz="UTC"),
    "BLOB": pa.binary()}
"""Declared column type (without its ``(n)``) → Arrow type; any other is text."""

ENVELOPE_BYTES = (0, 32, 48, 48, 64)
"""Bytes of the header's envelope by its indicator (flags bits 1-3); 5-7 are invalid."""

HEADER_BYTES = {bytes([0x47, 0x50, 0, flags]): 8 + ENVELOPE_BYTES[(flags >> 1) & 7]
                for flags in range(256) if (flags >> 1) & 7 < len(ENVELOPE_BYTES)
                and not flags & 0x20}
"""A geometry blob's first four bytes (``GP``, version 0, flags) → bytes before its WKB.
Flag 0x20 (an extended, non-standard geometry type) has no entry: such a blob is refused."""


@dataclass(frozen=True)
class FeatureTable:
    """The one feature table of a GeoPackage: its name, fid and geometry columns, the
    other columns with their Arrow types, its CRS (``EPSG:n``, else the SRS's WKT; None
    when undefined) and its feature count."""

    name: str
    fid: str
    geometry: str
    columns: tuple[tuple[str, pa.DataType], ...]
    crs: str | None
    features: int


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def feature_table(path: Path) -> FeatureTable | None:
    """The GeoPackage's feature table, or None when this reader does not read the file
    (not a GeoPackage, several tables, curved or extended geometries, no integer fid)."""
    try:
        with _connect(path) as db:
            return _described(db)
    except sqlite3.Error:
        return None


def _described(db: sqlite3.Connection) -> FeatureTable | None:
    tables = db.execute("SELECT table_name, data_type FROM gpkg_contents").fetchall()
    if len(tables) != 1 or tables[0][1] != "features":
        return None
    name = tables[0][0]
    found = db.execute("SELECT column_name, upper(geometry_type_name), srs_id FROM "
                       "gpkg_geometry_columns WHERE table_name = ?", (name,)).fetchall()
    if len(found) != 1 or found[0][1] not in SIMPLE_TYPES:
        return None
    geometry, _, srs_id = found[0]
    info = db.execute(f"PRAGMA table_info({_quoted(name)})").fetchall()
    fids = [c[1] for c in info if c[5] == 1 and c[2].upper() == "INTEGER"]
    if len(fids) != 1 or sum(c[5] > 0 for c in info) != 1:
        return None
    columns = tuple((c[1], ARROW_TYPES.get(c[2].split("(")[0].strip().upper(), pa.string()))
                    for c in info if c[1] not in (fids[0], geometry))
    return FeatureTable(name, fids[0], geometry, columns, _crs(db, srs_id),
                        _count(db, name))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _crs(db: sqlite3.Connection, srs_id: int) -> str | None:
    """``EPSG:n`` for an EPSG SRS, else its WKT; None for the undefined ones (0, -1)."""
    found = db.execute("SELECT organization, organization_coordsys_id, definition FROM "
                       "gpkg_spatial_ref_sys WHERE srs_id = ?", (srs_id,)).fetchone()
    if found is None or srs_id in (0, -1):
        return None
    organization, code, definition = found
    if str(organization).upper() == "EPSG":
        return f"EPSG:{code}"
    return None if str(definition).strip().lower() in ("", "undefined") else str(definition)


def _count(db: sqlite3.Connection, name: str) -> int:
    """Features in ``name``: gpkg_ogr_contents' count when GDAL kept one, else counted."""
    try:
        kept = db.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = ?",
                          (name,)).fetchone()
    except sqlite3.Error:
        kept = None
    if kept is not None and kept[0] is not None:
        return int(kept[0])
    return int(db.execute(f"SELECT count(*) FROM {_quoted(name)}").fetchone()[0])  # noqa: S608


def record_batches(path: Path, table: FeatureTable, size: int
                   ) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
    """``table``'s rows in fid order, ``size`` at a time: (attributes as Arrow, shapely
    geometries in the file's CRS, None for a null geometry). Raises UnreadableFile for a
    blob that is not a GeoPackage geometry or a file SQLite cannot read."""
    names = [_quoted(n) for n in (table.geometry, *(c for c, _ in table.columns))]
    sql = (f"SELECT {', '.join(names)} FROM {_quoted(table.name)} "  # noqa: S608
           f"ORDER BY {_quoted(table.fid)}")
    try:
        with _connect(path) as db:
            cursor = db.execute(sql)
            while rows := cursor.fetchmany(size):
                values = list(zip(*rows, strict=True))
                del rows
                yield (pa.record_batch([_arrow(v, t) for v, (_, t) in
                                        zip(values[1:], table.columns, strict=True)],
                                       names=[c for c, _ in table.columns]),
                       _geometries(values[0]))
    except (sqlite3.Error, KeyError, TypeError, shapely.errors.GEOSException) as exc:
        problem = "a geometry that is not a GeoPackage geometry blob" if isinstance(
            exc, KeyError | TypeError) else short_error(exc)
        raise UnreadableFile(f"{path.name} could not be read as GeoPackage (malformed or "
                             f"truncated?): {problem}", [{"file": path.name}]) from exc


def _geometries(blobs: tuple[bytes | None, ...]) -> np.ndarray:
    """GeoPackage geometry blobs → shapely geometries (the header cut off, WKB read);
    KeyError or TypeError for a blob without the header (magic ``GP``, version 0, a
    standard type)."""
    wkb = [None if b is None else b[HEADER_BYTES[b[:4]]:] for b in blobs]
    return np.asarray(shapely.from_wkb(wkb), dtype=object)


def _arrow(values: tuple[object, ...], kind: pa.DataType) -> pa.Array:
    """One column's values as GDAL's Arrow stream types them (module docstring)."""
    if kind == pa.string():
        try:
            return pa.array(values, pa.string())
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            return pa.array([None if v is None else str(v) for v in values], pa.string())
    if kind == pa.date32() or pa.types.is_timestamp(kind):
        return _times(values, kind)
    if kind == pa.binary():
        return pa.array([v if isinstance(v, bytes) else None for v in values], kind)
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    if kind == pa.bool_():
        return pa.array(numbers.to_numpy(float) != 0, kind, mask=numbers.isna().to_numpy())
    return pa.array(numbers.to_numpy(float), mask=numbers.isna().to_numpy()).cast(
        kind, safe=False)


def _times(values: tuple[object, ...], kind: pa.DataType) -> pa.Array:
    """DATE / DATETIME text (ISO 8601) → date32 / timestamp[ms, UTC]; unreadable → null."""
    texts = pd.Series([v if isinstance(v, str) else None for v in values], dtype=object)
    stamps = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
    if kind == pa.date32():
        return pc.cast(pa.array(stamps.dt.tz_localize(None).dt.floor("D")), pa.date32())
    return pa.array(stamps.dt.as_unit("ms"), kind)
