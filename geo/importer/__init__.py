"""Import layer files into PostGIS: read → map fields → validate everything → upsert.

The importer lives in rooms that can be read and tested alone:

* :mod:`geo.importer.reading` — formats, encodings, CRS (geometries out in WGS 84);
* :mod:`geo.importer.fields` — which file column feeds which layer field;
* :mod:`geo.importer.validation` — every rule of the layer catalogue, all problems at once;
* :mod:`geo.importer.writing` — one set-based upsert by key.

Every problem of the file is collected before anything is written; by default one problem
fails the whole import (:class:`~geo.errors.ValidationFailed`, details list every problem as
``{"row", "id", "field", "problem"}``, ``row`` counted as people count them (1 = the first
feature / data row), None for file-level problems; a CSV's details add its ``line``). With
``skip_invalid`` the good rows are written and the rejects go to ``rejects_path`` (CSV); a
``dry_run`` reports the mapping and every problem and writes nothing. An update changes only
the fields the file carries. Functions here never commit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from geo.planning.grid_imports import GridChange

from geo import crs as gcrs
from geo.catalog import Layer, get_layer
from geo.districts import record_district_crs
from geo.errors import Detail, ValidationFailed
from geo.geometry_repair import repair_polygons
from geo.importer.audit import next_import_id, record_import
from geo.importer.early_inserts import EarlyInserts
from geo.importer.reading import Source, read_source, wgs84_geometries
from geo.importer.streaming import BATCH_ROWS, Progress, StreamOptions, stream_into_stage, streams
from geo.importer.validation import DISTRICT_LAYERS, summary, validate
from geo.importer.writing import (
    existing_split,
    stage_table,
    staged_split,
    write_or_explain,
    write_rejects,
)
from geo.jobs import JobProgress
from geo.settings import Settings

# Arrow (the importer's batches, and pandas 3's text columns) allocates from the C library's
# allocator in a process that imports: pyarrow 26's default, mimalloc, holds on to what it
# has freed, 27-30 MiB more of a 10^6-row GeoPackage import's peak RSS (289-292 against 262
# MiB, no slower: bench/RESULTS.md, "Import memory on the new machine"), while Arrow itself
# never has more than ~4 MiB allocated at once. An explicit ARROW_DEFAULT_MEMORY_POOL wins.
if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
    pa.set_memory_pool(pa.system_memory_pool())

__all__ = ["ImportReport", "Source", "import_file", "import_frame", "read_source",
           "wgs84_geometries"]


@dataclass
class ImportReport:
    """Outcome of an import: counts, every problem found (rejected rows) and notes.

    ``mapping``: layer field → the file column that fed it; ``unknown_columns``: columns
    neither mapped nor known (not imported); ``dry_run``: validated only, nothing written
    (``inserted``/``updated`` then count what would have been written).
    """

    layer: str
    rows: int
    inserted: int
    updated: int
    rejected: int
    problems: list[Detail] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    unknown_columns: list[str] = field(default_factory=list)
    dry_run: bool = False
    import_id: int | None = None
    """Events: the number stamped on every event written (``events.import_id``) and the
    ``entity_id`` of the import's one audit row (geo.importer.audit); None otherwise."""
    indexes_pending: list[str] = field(default_factory=list)
    """Indexes of the layer's table left for after the commit (a first load of events:
    geo.importer.indexes); built by :func:`geo.importer.pending_indexes.build_pending_indexes`
    (which the CLI and the import job run after committing), else by the next import."""


def import_file(session: Session, layer: str, path: Path, *, crs: str | None = None,
                encoding: str | None = None, skip_invalid: bool = False,
                rejects_path: Path | None = None, field_map: dict[str, str] | None = None,
                dry_run: bool = False, change: GridChange | None = None,
                make_valid: bool = False, settings: Settings | None = None,
                batch_rows: int = BATCH_ROWS, progress: Progress | None = None,
                defer_indexes: bool = False) -> ImportReport:
    """Import the file at ``path`` into ``layer`` (see the module docstring).

    ``field_map``: column → field entries that override the accepted names (``""`` leaves
    a column out); ``dry_run``: map and validate, report every problem, write nothing.
    Grids and micro-grids become new versions by ``change`` (author, reason; default
    "gridlink", "import into <layer>"): :mod:`geo.planning.grid_imports`. ``make_valid``
    repairs invalid polygons (:mod:`geo.geometry_repair`), one note per repaired row.
    ``settings`` (default: the process's) give the service area rows are checked against.
    A vector file of more than ``batch_rows`` features streams through a staging table
    (:mod:`geo.importer.streaming`, ``progress`` called after each batch); the outcome is
    the same as reading it whole. ``defer_indexes``: a caller that builds
    :attr:`ImportReport.indexes_pending` after its commit
    (:func:`geo.importer.pending_indexes.build_pending_indexes`) lets a first load of events
    leave the indexes readers do not need at once for then (geo.importer.indexes); without
    it every index is built in the caller's transaction, for the queries it runs next.

    Raises
    ------
    UnknownLayer, UnreadableFile, UnknownCRS, ValidationFailed
        Nothing is written when any is raised.
    """
    spec = get_layer(layer)
    if streams(Path(path), spec, batch_rows):
        options = StreamOptions(crs, encoding, field_map, make_valid, settings, not dry_run,
                                batch_rows, progress)
        report = _import_streamed(session, spec, Path(path), options, skip_invalid,
                                  rejects_path, dry_run, change, defer_indexes)
        _audit_import(session, report, ImportOrigin(Path(path).name, _job_of(progress)))
        return report
    source = read_source(Path(path), spec, encoding=encoding)
    report = import_frame(session, layer, source.frame, crs=crs, skip_invalid=skip_invalid,
                          rejects_path=rejects_path, source_crs=source.crs, notes=source.notes,
                          field_map=field_map, dry_run=dry_run, lines=source.lines,
                          change=change, make_valid=make_valid, settings=settings,
                          origin=ImportOrigin(Path(path).name, _job_of(progress)))
    if progress is not None:
        progress(report.rows, report.rows, len(report.problems))
    return report


def import_frame(session: Session, layer: str, gdf: gpd.GeoDataFrame | pd.DataFrame, *,
                 crs: str | None = None, skip_invalid: bool = False,
                 rejects_path: Path | None = None, source_crs: gcrs.ParsedCRS | None = None,
                 notes: list[str] | None = None, field_map: dict[str, str] | None = None,
                 dry_run: bool = False, lines: list[int] | None = None,
                 change: GridChange | None = None, make_valid: bool = False,
                 settings: Settings | None = None,
                 origin: ImportOrigin | None = None) -> ImportReport:
    """Map, validate and upsert a (Geo)DataFrame (columns named as in a file).

    Geometry comes from ``gdf.geometry`` in ``crs`` (if given), else the frame's CRS,
    else ``source_crs``, else guessed (degrees → WGS 84; metres → refused). Codes must be
    text. Nothing is written when a ValidationFailed is raised or ``dry_run`` is set (a
    dry run returns its problems instead of raising them); never commits. ``origin`` (file
    name, job) goes into an events import's audit row.
    """
    spec = get_layer(layer)
    notes = list(notes or [])
    geoms = wgs84_geometries(gdf, spec, crs, source_crs, notes)
    if make_valid and geoms is not None:
        geoms, repaired = repair_polygons(geoms)
        notes += [f"row {row + 1}: {what}" for row, what in sorted(repaired.items())]
    values, problems, mapping = validate(session, gdf, spec, geoms, field_map, lines, settings)
    report = ImportReport(spec.name, len(gdf), 0, 0, len(problems.bad), problems.sorted(),
                          notes, dict(mapping.columns), mapping.unknown, dry_run)
    if spec.name == "cameras":
        from geo.video.model import default_notes  # only cameras need it

        notes += default_notes(values, len(gdf), problems.bad)
    if mapping.unknown:
        notes.append(f"not imported (no such field): {', '.join(mapping.unknown)}; "
                     "use --map COLUMN=FIELD to import one")
    if dry_run:
        report.inserted, report.updated = existing_split(session, spec, values, problems.bad)
        return report
    if problems.file_level() or (problems.items and not skip_invalid):
        raise ValidationFailed(summary(problems, len(gdf)), problems.sorted())
    if rejects_path is not None and problems.items:
        write_rejects(rejects_path, problems.sorted())
    report.import_id = next_import_id(session) if spec.table == "events" else None
    report.inserted, report.updated = _write(session, spec, values, geoms, problems.bad,
                                             mapping.carried, notes, change, report.import_id)
    _audit_import(session, report, origin or ImportOrigin(None, None))
    return report


def _write(session: Session, spec: Layer, values: dict[str, list[Any]],
           geoms: np.ndarray | None, bad: set[int], carried: frozenset[str],
           notes: list[str], change: GridChange | None = None,
           import_id: int | None = None) -> tuple[int, int]:
    """Upsert the good rows; the first import of a district chooses its metric CRS.

    Fields the file did not carry but validation filled (parents from codes, a status from
    a closing time) are written as carried. Returns (inserted, updated).
    """
    keep = np.ones(len(values[spec.key]), dtype=bool)
    keep[sorted(bad)] = False
    derived = {name for name in spec.fields
               if name not in carried and values[name].count(None) < len(values[name])}
    written = write_or_explain(session, spec, stage_table(values, geoms, keep),
                               carried | derived, change, import_id=import_id)
    if spec.name in DISTRICT_LAYERS and geoms is not None:
        chosen = record_district_crs(session, np.asarray(values[spec.key], object)[keep],
                                     geoms[keep])
        notes += [f"district {d}: areas and lengths measured in EPSG:{srid} (chosen for it)"
                  for d, srid in chosen.items()]
    return written


def _import_streamed(session: Session, spec: Layer, path: Path, options: StreamOptions,
                     skip_invalid: bool, rejects_path: Path | None, dry_run: bool,
                     change: GridChange | None, defer_indexes: bool = False) -> ImportReport:
    """:func:`import_file` for a large file: validate into the stage, then one upsert.

    Events imported where any problem fails the import are inserted batch by batch while
    the next batch validates (:mod:`geo.importer.early_inserts`), inside a savepoint that a
    failure rolls back (so a failed import leaves the caller's transaction as it was); the
    rest as before."""
    if spec.table != "events" or dry_run or skip_invalid:
        return _stream_then_apply(session, spec, path, options, skip_invalid, rejects_path,
                                  dry_run, change)
    import_id = next_import_id(session)
    with session.begin_nested(), \
            EarlyInserts(session, spec, spec.geometry == {"Point"}, import_id,
                         defer_indexes) as early:
        report = _stream_then_apply(session, spec, path, replace(options, early=early),
                                    skip_invalid, rejects_path, dry_run, change, import_id)
    report.inserted += early.inserted
    report.indexes_pending = early.deferred_indexes
    if report.indexes_pending:
        report.notes.append(f"indexes built after the commit: {', '.join(report.indexes_pending)}"
                            " (queries give the same answers meanwhile, more slowly)")
    return report


def _stream_then_apply(session: Session, spec: Layer, path: Path, options: StreamOptions,
                       skip_invalid: bool, rejects_path: Path | None, dry_run: bool,
                       change: GridChange | None, import_id: int | None = None
                       ) -> ImportReport:
    """The streaming pass into the stage, then one upsert of what the stage holds."""
    done = stream_into_stage(session, spec, path, options)
    problems = done.problems
    report = ImportReport(spec.name, done.rows, 0, 0, len(problems.bad), problems.sorted(),
                          done.notes, done.mapping, done.unknown, dry_run)
    if done.unknown:
        report.notes.append(f"not imported (no such field): {', '.join(done.unknown)}; "
                            "use --map COLUMN=FIELD to import one")
    if dry_run:
        report.inserted, report.updated = staged_split(session, spec, done.staged)
        return report
    if problems.file_level() or (problems.items and not skip_invalid):
        raise ValidationFailed(summary(problems, done.rows), problems.sorted())
    if rejects_path is not None and problems.items:
        write_rejects(rejects_path, problems.sorted())
    if spec.table == "events":
        report.import_id = import_id or next_import_id(session)
    if done.staged:
        report.inserted, report.updated = write_or_explain(
            session, spec, None, done.carried | done.derived, change, done.points,
            report.import_id)
    return report


@dataclass(frozen=True)
class ImportOrigin:
    """Where an import's rows came from, for its audit row: the file's name (no folder)
    and the job running it (None: a direct call)."""

    file: str | None
    job: str | None


def _job_of(progress: Progress | None) -> str | None:
    return progress.job_id if isinstance(progress, JobProgress) else None


def _audit_import(session: Session, report: ImportReport, origin: ImportOrigin) -> None:
    """The events import's one audit row (nothing for other layers or a dry run)."""
    if report.import_id is None or report.dry_run:
        return
    record_import(session, report.import_id, {
        "file": origin.file, "layer": report.layer, "rows": report.rows,
        "inserted": report.inserted, "updated": report.updated,
        "rejected": report.rejected, "job": origin.job})
