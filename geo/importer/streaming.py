"""Streaming room: a large vector file validated batch by batch into a staging table.

A GeoPackage, GeoJSON or Shapefile with more than :data:`BATCH_ROWS` features is read as
Arrow record batches in one pass over the file (a GeoPackage of one feature table by
SQLite, :mod:`geo.importer.geopackage`, without GDAL; any other by ``pyogrio.open_arrow``),
a CSV of more lines in batches of records with their line numbers
(:mod:`geo.importer.csv_batches`: one pass to choose the encoding and count, one to read);
each batch is mapped,
put in WGS 84 and validated by the same rules as a small file (:mod:`geo.importer.validation`)
and its good rows are COPYed into the temporary stage table. Keys repeated across batches
are found in the database at the end (a temp table of every row's key). Nothing touches
the layer's table until every batch is read: then one upsert from the stage, in the
caller's transaction (which the caller commits, or rolls back on any error). The exception:
events imported where any problem fails the import hand each batch to
:mod:`geo.importer.early_inserts` (``StreamOptions.early``), which inserts it while the next
ones validate, inside a savepoint a failure rolls back. Memory holds one batch (plus, for
early inserts, the batches waiting for the database) and the problems, not the file.

Admin areas are never streamed (a parent area may come later in the same file, and a
province has a few thousand of them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.compute as pc
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import crs as gcrs
from geo.catalog import Layer
from geo.districts import loaded_extent, record_district_crs
from geo.errors import Detail, UnreadableFile
from geo.geometry_repair import repair_polygons
from geo.importer.csv_batches import CHUNK, CSV_SUFFIXES, csv_batches, scan_csv
from geo.importer.early_inserts import EarlyInserts
from geo.importer.geopackage import feature_frames, feature_table
from geo.importer.problems import Problems, short_error
from geo.importer.reading import VECTOR_SUFFIXES, wgs84_geometries
from geo.importer.validation import DISTRICT_LAYERS, validate
from geo.importer.writing import KEYS, STAGE, copy_rows, create_stage, stage_table
from geo.settings import Settings, get_settings

BATCH_ROWS = 5_000
"""Features per batch; a file with more features than this is streamed. 5,000 rather than
10,000: a 10^6-event GeoPackage import peaks at 313-315 MiB instead of 332-333 (CSV 273-281
instead of 286), no slower; most of the peak is the libraries (pandas and pyarrow, and for
GDAL's formats pyogrio: ~204 MiB after the imports for a CSV, ~253 MiB for a GeoPackage,
bench/RESULTS.md, "Import memory on the new machine")."""

FIRST_SLICE = 5
"""With early inserts, the first batch of :data:`BATCH_ROWS` or more rows is validated in two
parts, its first fifth alone first, so the database gets its first rows sooner (it waits
for them: 10,000 rows take 0.25–0.6 s to read and validate)."""

Progress = Callable[[int, int, int], None]
"""Called with (rows read so far, rows in the file, problems so far) after each batch; may
raise to stop (the caller's transaction then rolls back)."""


@dataclass
class StreamOptions:
    """What :func:`stream_into_stage` needs besides the file (as for import_file)."""

    crs: str | None = None
    encoding: str | None = None
    field_map: dict[str, str] | None = None
    make_valid: bool = False
    settings: Settings | None = None
    record_crs: bool = True
    batch_rows: int = BATCH_ROWS
    progress: Progress | None = None
    early: EarlyInserts | None = None
    """Events only: insert each batch while the next validates (geo.importer.early_inserts)."""


@dataclass
class Streamed:
    """Outcome of the streaming pass: the good rows are in the stage table."""

    rows: int
    staged: int
    problems: Problems
    notes: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    carried: frozenset[str] = frozenset()
    derived: set[str] = field(default_factory=set)
    points: bool = False
    batches: int = 0
    """Batches validated so far (each row's batch goes with its key: repeats within a batch
    are the batch's problems, those across batches the end's, :func:`_cross_batch_duplicates`)."""


def feature_count(path: Path) -> int | None:
    """Features in a GeoPackage/GeoJSON/Shapefile (None: another format or unreadable)."""
    if path.suffix.lower() not in VECTOR_SUFFIXES:
        return None
    if path.suffix.lower() == ".gpkg" and (table := feature_table(path)) is not None:
        return table.features
    import pyogrio  # GDAL: only for the formats it reads (geo.importer.reading)

    try:
        return int(pyogrio.read_info(path)["features"])
    except Exception:  # the normal reader then reports an unreadable file
        return None


def streams(path: Path, layer: Layer, batch_rows: int = BATCH_ROWS) -> bool:
    """Whether ``path`` is imported by streaming (a vector file of more than ``batch_rows``
    features, or a CSV of more than ``batch_rows`` lines; never admin areas)."""
    if layer.name == "areas":
        return False
    if path.suffix.lower() in CSV_SUFFIXES and path.is_file():
        return _lines_at_least(path, batch_rows + 2)
    count = feature_count(path)
    return count is not None and count > batch_rows


def _lines_at_least(path: Path, lines: int) -> bool:
    """Whether the file holds at least ``lines`` line breaks (read until it does)."""
    seen = 0
    with open(path, "rb") as fh:
        while seen < lines and (chunk := fh.read(CHUNK)):
            seen += chunk.count(b"\n")
    return seen >= lines


@dataclass
class Batch:
    """Rows of the file: ``frame`` (geometry in the file's CRS ``declared``) and, for a
    CSV, the line each row starts on."""

    frame: gpd.GeoDataFrame | pd.DataFrame
    declared: gcrs.ParsedCRS | None = None
    lines: list[int] | None = None


def _vector_batches(path: Path, encoding: str | None, size: int) -> Iterator[Batch]:
    """A GeoPackage/GeoJSON/Shapefile as GeoDataFrames of ``size`` rows, with its CRS: a
    GeoPackage of one feature table read by SQLite (geo.importer.geopackage), any other
    file by GDAL, both as the same Arrow batches."""
    table = feature_table(path) if path.suffix.lower() == ".gpkg" else None
    if table is not None:
        declared = gcrs.parse_crs(table.crs) if table.crs else None
        for frame in feature_frames(path, table, size):
            yield Batch(frame, declared)
        return
    import pyogrio  # GDAL: only for the formats it reads (geo.importer.reading)

    try:
        with pyogrio.open_arrow(path, encoding=encoding, batch_size=size,
                                use_pyarrow=True, datetime_as_string=True) as (meta, reader):
            declared = gcrs.parse_crs(meta["crs"]) if meta.get("crs") else None
            geometry = meta["geometry_name"] or "wkb_geometry"
            for batch in reader:  # the WKB column goes to shapely, not through pandas
                geoms = shapely.from_wkb(batch.column(geometry).to_numpy(zero_copy_only=False))
                frame = batch.drop_columns([geometry]).to_pandas()
                del batch
                yield Batch(gpd.GeoDataFrame(frame, geometry=geoms), declared)
    except Exception as exc:  # only reading runs here; pyogrio raises several types
        raise UnreadableFile(f"{path.name} could not be read (malformed or truncated?): "
                             f"{short_error(exc)}", [{"file": path.name}]) from exc


def _first_part_first(batches: Iterator[Batch], rows: int) -> Iterator[Batch]:
    """``batches`` with the first one split after ``rows`` rows (see :data:`FIRST_SLICE`)."""
    first = next(batches, None)
    if first is None:
        return
    if len(first.frame) <= rows:
        yield first
    else:
        for part in (slice(0, rows), slice(rows, None)):
            lines = None if first.lines is None else first.lines[part]
            yield Batch(first.frame.iloc[part].reset_index(drop=True), first.declared, lines)
    yield from batches


def _file_batches(path: Path, layer: Layer, options: StreamOptions, out: Streamed
                  ) -> tuple[int, Iterator[Batch]]:
    """(rows in the file, its batches); a CSV's encoding note goes into ``out.notes``."""
    if path.suffix.lower() not in CSV_SUFFIXES:
        return (feature_count(path) or 0,
                _vector_batches(path, options.encoding, options.batch_rows))
    scanned = scan_csv(path, options.encoding)
    out.notes += [scanned.note] if scanned.note else []
    return scanned.records, (Batch(b.frame, None, b.lines) for b in csv_batches(
        path, layer, scanned, options.batch_rows))


def stream_into_stage(session: Session, layer: Layer, path: Path,
                      options: StreamOptions) -> Streamed:
    """Validate ``path`` batch by batch and COPY its good rows into the stage table.

    Problems carry file rows (1 = the first feature or data record) and a CSV's lines;
    file-level problems are kept once. Raises UnreadableFile, UnknownCRS or
    ValidationFailed (file-level) like import_file.
    """
    out = Streamed(0, 0, Problems([]), points=layer.geometry == {"Point"})
    options = _area_fixed(session, layer, options)
    total, batches = _file_batches(path, layer, options, out)
    if options.early is not None and options.batch_rows >= BATCH_ROWS:
        batches = _first_part_first(batches, options.batch_rows // FIRST_SLICE)
    session.execute(text(f"DROP TABLE IF EXISTS {KEYS}"))
    session.execute(text(f"CREATE TEMP TABLE {KEYS} (row_no integer, key text, "
                         "line integer, batch integer) ON COMMIT DROP"))
    for batch in batches:
        _one_batch(session, layer, batch, out, options, total)
        out.rows += len(batch.frame)
        out.batches += 1
        if options.progress is not None:
            options.progress(out.rows, total, len(out.problems.items))
    if options.early is not None:
        options.early.finish()
        if not out.problems.items and not options.early.staged:
            return out  # no repeat possible (geo.importer.early_inserts: a repeat is staged)
    _cross_batch_duplicates(session, layer, out)
    return out


def _area_fixed(session: Session, layer: Layer, options: StreamOptions) -> StreamOptions:
    """``options`` whose settings carry the service area the batches are checked against,
    read from the database once for the file rather than once a batch (the loaded
    districts' extent does not move while units or events are imported)."""
    settings = options.settings or get_settings()
    if settings.service_area is not None or layer.name in DISTRICT_LAYERS \
            or layer.geometry is None:
        return options
    area = settings.model_copy(update={"service_area": loaded_extent(session)})
    return replace(options, settings=area)


def _one_batch(session: Session, layer: Layer, batch: Batch, out: Streamed,
               options: StreamOptions, total: int) -> None:
    """Validate one batch (rows ``out.rows`` on of ``total``) and stage its good rows (or
    hand them to ``options.early``) and all its keys."""
    offset, frame = out.rows, batch.frame
    notes: list[str] = []
    geoms = wgs84_geometries(frame, layer, options.crs, batch.declared, notes)
    if options.make_valid and geoms is not None:
        geoms, repaired = repair_polygons(geoms)
        notes += [f"row {offset + row + 1}: {what}" for row, what in sorted(repaired.items())]
    values, problems, mapping = validate(session, frame, layer, geoms, options.field_map,
                                         batch.lines, options.settings, offset)
    out.notes += [n for n in notes if n not in out.notes]
    _add_problems(out, problems, offset)
    out.mapping, out.unknown = dict(mapping.columns), mapping.unknown
    out.carried = mapping.carried
    out.derived |= {name for name in layer.fields if name not in mapping.carried
                    and values[name].count(None) < len(values[name])}
    lines = {"line": [str(n) for n in batch.lines]} if batch.lines is not None else {}
    keys = stage_table({"key": values[layer.key], **lines,
                        "batch": [str(out.batches)] * len(frame)}, None,
                       np.ones(len(frame), bool), offset)
    keys = keys.filter(pc.is_valid(keys["key"]))
    keep = np.ones(len(frame), dtype=bool)
    keep[sorted(problems.bad)] = False
    staged = None if problems.file_level() or not keep.any() else stage_table(
        values, geoms, keep, offset, out.points)
    out.staged += 0 if staged is None else staged.num_rows
    if options.early is not None:  # the early inserts hold the connection: they copy
        options.early.add(keys, staged, total)
        return
    copy_rows(session, KEYS, keys)
    if staged is None:
        return
    if out.staged == staged.num_rows:
        create_stage(session, staged.column_names)
    copy_rows(session, STAGE, staged)
    if options.record_crs and layer.name in DISTRICT_LAYERS and geoms is not None:
        chosen = record_district_crs(session, np.asarray(values[layer.key], object)[keep],
                                     geoms[keep])
        out.notes += [f"district {d}: areas and lengths measured in EPSG:{srid} (chosen "
                      "for it)" for d, srid in chosen.items()]


def _add_problems(out: Streamed, problems: Problems, offset: int) -> None:
    """Keep a batch's problems (rows already counted in the file); file-level ones once."""
    seen_file_level = bool(out.problems.file_level())
    for detail in problems.items:
        if detail["row"] is None:
            if not seen_file_level:
                out.problems.items.append(detail)
            continue
        out.problems.items.append(detail)
    out.problems.bad |= {row + offset for row in problems.bad}


def _cross_batch_duplicates(session: Session, layer: Layer, out: Streamed) -> None:
    """Report (and unstage) each key repeated in a later batch than its first row (by the
    batches as validated: the first one may have been split, :data:`FIRST_SLICE`)."""
    repeats: Sequence[Any] = session.execute(text(
        f"SELECT row_no, key, first, line FROM (SELECT row_no, key, line, batch, "  # noqa: S608
        f"min(row_no) OVER same AS first, min(batch) OVER same AS first_batch FROM {KEYS} "
        "WINDOW same AS (PARTITION BY key)) k "
        "WHERE row_no > first AND batch > first_batch ORDER BY row_no")).all()
    session.execute(text(f"DROP TABLE IF EXISTS {KEYS}"))
    for row_no, key, first, line in repeats:
        detail: Detail = {"row": row_no + 1, "id": key, "field": layer.key,
                          "problem": f"duplicate {layer.key} {key!r} (also row {first + 1})"}
        if line is not None:  # a CSV's line, as for every other problem
            detail["line"] = line
        out.problems.items.append(detail)
        out.problems.bad.add(row_no)
    if repeats and out.staged:
        gone = session.execute(text(f"DELETE FROM {STAGE} WHERE row_no = ANY(:rows)"),  # noqa: S608
                               {"rows": [r[0] for r in repeats]}).rowcount  # type: ignore[attr-defined]
        out.staged -= int(gone)
