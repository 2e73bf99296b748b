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
FLOAT float32, DATE date32, BLOB binary, TEXT and anything else text; DATETIME its text as
stored, as GDAL gives it with ``datetime_as_string`` (every reader of the importer hands
times over as text, so the validation's one rule applies to every file: a time without
offset is local time, UTC+8, geo.importer.validation; GDAL's stream would otherwise read a
GeoPackage's as UTC, and a small file read whole as either, by the column's other values).
A value of another type than its column's (SQLite does not enforce them: ``'many'`` in an
INTEGER column, ``'soon'`` in a DATE one) makes that column text in its batch, so the
validation reports the row and field; GDAL gives 0 or 1970-01-01, values nothing could tell
from real ones. In a text column the value becomes its text, as with GDAL.

Only a GeoPackage of exactly one feature table, of a simple-features geometry type, with an
integer ``fid``, is read here; :func:`feature_table` answers None for any other (several
layers, curves, an unknown extension), and GDAL reads it (geo.importer.streaming).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
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
    "FLOAT": pa.float32(), "DATE": pa.date32(), "DATETIME": pa.string(), "BLOB": pa.binary()}
"""Declared column type (without its ``(n)``) → Arrow type; any other is text."""

ENVELOPE_BYTES = (0, 32, 48, 48, 64)
"""Bytes of the header's envelope by its indicator (flags bits 1-3); 5-7 are invalid."""



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


def feature_frames(path: Path, table: FeatureTable, size: int
                   ) -> Iterator[gpd.GeoDataFrame]:
    """``table``'s rows as GeoDataFrames of ``size`` rows (:func:`record_batches`), in the
    file's CRS (the caller reads it from ``table.crs``)."""
    for batch, geoms in record_batches(path, table, size):
        yield gpd.GeoDataFrame(batch.to_pandas(), geometry=geoms)


def record_batches(path: Path, table: FeatureTable, size: int
                   ) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
    """``table``'s rows in fid order, ``size`` at a time: (attributes as Arrow, shapely
    geometries in the file's CRS, None for a null geometry). Raises UnreadableFile for a
    blob that is not a GeoPackage geometry or a file SQLite cannot read."""
    names = [_quoted(n) for n in (table.geometry, *(c for c, _ in table.columns))]
    sql = (f"SELECT {', '.join(names)} FROM {_quoted(table.name)} "  # noqa: S608
           f"ORDER BY {_quoted(table.fid)}")
    fetched = pa.struct([("", pa.binary()), *((n, STORED.get(t, t)) for n, t in table.columns)])
    try:
        with _connect(path) as db:
            cursor = db.execute(sql)
            while rows := cursor.fetchmany(size):
                raw = _rows(rows, fetched)
                del rows
                yield (pa.record_batch([_typed(raw.column(i + 1), t) for i, (_, t) in
                                        enumerate(table.columns)],
                                       names=[c for c, _ in table.columns]),
                       _geometries(raw.column(0)))
    except (sqlite3.Error, ValueError, shapely.errors.GEOSException) as exc:
        raise UnreadableFile(f"{path.name} could not be read as GeoPackage (malformed or "
                             f"truncated?): {short_error(exc)}", [{"file": path.name}]) from exc


STORED: dict[pa.DataType, pa.DataType] = {pa.bool_(): pa.int64(), pa.date32(): pa.string()}
"""Arrow type of the value SQLite returns, where it is not the column's final type."""


def _rows(rows: list[tuple[object, ...]], fetched: pa.StructType) -> pa.RecordBatch:
    """SQLite's rows as Arrow, one conversion in C++ (5 times faster than a list per
    column); a batch with a value of another type than its column's goes column by column
    (module docstring)."""
    try:
        return pa.RecordBatch.from_struct_array(pa.array(rows, fetched))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        columns = list(zip(*rows, strict=True))
        return pa.record_batch([_coerced(v, fetched.field(i).type)
                                for i, v in enumerate(columns)],
                               names=[fetched.field(i).name for i in range(len(columns))])


def _coerced(values: tuple[object, ...], kind: pa.DataType) -> pa.Array:
    """One column's values as ``kind`` (text, bytes or a number); when a value is not of
    that kind, every value as its text (module docstring)."""
    if kind == pa.binary() and all(v is None or isinstance(v, bytes) for v in values):
        return pa.array(values, kind)
    if kind not in (pa.string(), pa.binary()):
        given = pd.Series(values, dtype=object)
        numbers = pd.to_numeric(given, errors="coerce")
        if not (numbers.isna() & given.notna()).any():
            return pa.array(numbers.to_numpy(float), mask=numbers.isna().to_numpy()).cast(
                kind, safe=False)
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def _typed(column: pa.Array, kind: pa.DataType) -> pa.Array:
    """A fetched column as its declared type (module docstring): left as text when
    :func:`_coerced` kept it so (a value of another type)."""
    if kind == pa.date32():
        days = pd.to_datetime(column.to_pandas(), format="ISO8601", errors="coerce")
        if bool((days.isna().to_numpy() & np.asarray(column.is_valid(), dtype=bool)).any()):
            return column  # not a date: the validation reports the row
        return pc.cast(pa.array(days.dt.floor("D")), kind)
    if pa.types.is_string(column.type) and kind != pa.string():
        return column  # for the validation to report
    if kind == pa.bool_():
        return pc.not_equal(column, 0)
    return column if column.type == kind else column.cast(kind, safe=False)


def _geometries(blobs: pa.BinaryArray) -> np.ndarray:
    """GeoPackage geometry blobs → shapely geometries (None for null): the header (magic
    ``GP``, version 0, flags, SRS id, envelope) cut off in numpy, the WKB read by shapely.
    ValueError for a blob without a standard header."""
    valid = np.asarray(blobs.is_valid(), dtype=bool)
    offsets = np.frombuffer(blobs.buffers()[1], dtype=np.int32)[
        blobs.offset:blobs.offset + len(blobs) + 1].astype(np.int64)
    data = np.frombuffer(blobs.buffers()[2] or b"", dtype=np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    whole = valid & (ends - starts >= 8)
    head = np.zeros((len(blobs), 4), dtype=np.uint8)
    head[whole] = data[starts[whole, None] + np.arange(4)]
    envelope = (head[:, 3] >> 1) & 7
    standard = whole & (head[:, 0] == 0x47) & (head[:, 1] == 0x50) & (head[:, 2] == 0) \
        & (envelope < len(ENVELOPE_BYTES)) & (head[:, 3] & 0x20 == 0)
    if (valid & ~standard).any():
        raise ValueError("a geometry is not a GeoPackage geometry blob (magic 'GP', version "
                         "0, a standard type)")
    cut = np.where(valid, starts + 8 + np.asarray(ENVELOPE_BYTES + (0, 0, 0))[envelope], ends)
    lengths = ends - np.minimum(cut, ends)
    new_offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    taken = data[np.repeat(cut - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])]
    wkb = pa.Array.from_buffers(pa.large_binary(), len(blobs), [
        pa.py_buffer(np.packbits(valid, bitorder="little")), pa.py_buffer(new_offsets),
        pa.py_buffer(taken)])
    return np.asarray(shapely.from_wkb(wkb.to_numpy(zero_copy_only=False)), dtype=object)
