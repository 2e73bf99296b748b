"""Archive a month of events to GeoParquet and drop its partition; restore it from the file.

One file per month, ``events_YYYY_MM.parquet`` (GeoParquet 1.0: ``geom`` as WKB in
EPSG:4326 with the ``geo`` metadata), one row per event: every column of ``events``, the
event's assignment (the columns of ``events_with_assignment``, NULL when never assigned)
and, as JSON text, its rows of the tables that referenced it (``transitions``,
``camera_views``, ``reassignments``, ``duplicate``). Beside it ``events_YYYY_MM.json``: rows,
id checksum and the file's SHA-256, written last.

:func:`archive_month` works in the caller's transaction and never commits: it locks the
partition against writes, writes the file (a temporary name renamed when complete), reads
it back and compares it with the rows, and only then detaches the partition, deletes the
linked rows and drops it. Interrupted anywhere, the transaction rolls back and every row
stays in the database; run again, it rewrites the file and goes on. The daily rollups
(``event_daily_counts``) keep the archived months: dashboards over those days do not change.
The month's cases still open when archived are kept in ``archived_open_cases`` (unit codes,
due and postponement only, migration 0035): whether such a case is due depends on the end of
the period ``/stats`` asks for, so the rollups cannot hold it, and :mod:`geo.month_stats`
reads them beside the events' open cases - ``/stats`` over an archived month answers what it
answered before archiving.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import Conflict, NotFound, ValidationFailed
from geo.event_partitions import (
    MonthPartition,
    add_months,
    ensure_partitions,
    month_partitions,
)
from geo.rollup_refresh import refuse_pending_in

ASSIGNMENT_COLUMNS = ("district_code", "street_code", "community_code", "grid_code",
                      "micro_grid_code", "dedicated_grid_codes", "assignment",
                      "nearest_grid_code", "nearest_distance_m", "camera_codes", "assigned_at")
LINKED = {"transitions": ("event_transitions", "event_id", "id"),
          "camera_views": ("event_camera_views", "event_id", "id"),
          "reassignments": ("event_reassignments", "event_id", "id"),
          "duplicate": ("event_duplicates", "event_id", "event_id")}
"""File column → (table, column naming the event, order) of the rows linked to an event."""
BATCH = 20_000
"""Rows per statement when restoring (JSON parameters of a few MB)."""


@dataclass(frozen=True)
class ArchivedMonth:
    """What :func:`archive_month` did for one month."""

    month: date
    path: Path
    rows: int
    sha256: str


def months_before(session: Session, before: date) -> list[MonthPartition]:
    """The monthly partitions wholly before local month ``before``, oldest first; rows of
    those months still in the default partition get their own partition first."""
    ensure_partitions(session, ahead=0)
    return [p for p in month_partitions(session) if p.month < before]


def _rows_sql(partition: str) -> str:
    assigned = ", ".join(f"a.{c}" for c in ASSIGNMENT_COLUMNS)
    linked = ", ".join(
        f"(SELECT json_agg(r ORDER BY r.{order})::text FROM {table} r"  # noqa: S608
        f" WHERE r.{column} = e.id) AS {name}"
        for name, (table, column, order) in LINKED.items())
    return (f"SELECT e.*, {assigned}, {linked} FROM {partition} e "  # noqa: S608
            "LEFT JOIN event_assignments a ON a.event_id = e.id AND a.reported_at = e.reported_at"
            " ORDER BY e.id")


def partition_rows(session: Session, partition: MonthPartition) -> gpd.GeoDataFrame:
    """Every row of ``partition`` with its assignment and linked rows (EPSG:4326)."""
    return gpd.read_postgis(text(_rows_sql(partition.name)), session.connection(),
                            geom_col="geom")


def id_checksum(ids: Any) -> str:
    """MD5 of the sorted event ids joined by commas (the database computes the same)."""
    return hashlib.md5(",".join(str(int(i)) for i in sorted(ids)).encode()).hexdigest()


def _stored_checksum(session: Session, partition: MonthPartition) -> tuple[int, str]:
    count, digest = session.execute(text(
        f"SELECT count(*), md5(coalesce(string_agg(id::text, ',' ORDER BY id), ''))"  # noqa: S608
        f" FROM {partition.name}")).one()
    return int(count), str(digest)


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without geometry, list-like cells as tuples (arrays come back as numpy)."""
    plain = pd.DataFrame(frame.drop(columns="geom"))
    for name in plain.columns:
        if plain[name].dtype == object:
            plain[name] = plain[name].map(
                lambda v: tuple(v) if isinstance(v, list | tuple | np.ndarray) else v)
    return plain


def same_rows(written: gpd.GeoDataFrame, read: gpd.GeoDataFrame) -> bool:
    """True when ``read`` (from the file) holds exactly the rows and values of ``written``."""
    if list(written.columns) != list(read.columns) or len(written) != len(read):
        return False
    same_geometry = bool(np.all(shapely.equals_exact(np.asarray(written.geometry),
                                                     np.asarray(read.geometry), 0)))
    return same_geometry and _comparable(written).equals(_comparable(read))


def write_verified(frame: gpd.GeoDataFrame, path: Path) -> str:
    """Write ``frame`` as GeoParquet at ``path`` (via a temporary file, fsynced, renamed),
    read it back and compare; returns the file's SHA-256. Raises :class:`Conflict` when
    the file read back differs (then ``path`` is not created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".parquet.partial")
    frame.to_parquet(partial, index=False, compression="zstd")
    if not same_rows(frame, gpd.read_parquet(partial)):
        partial.unlink()
        raise Conflict(f"{path.name}: the file read back differs from the database rows",
                       [{"file": str(path)}])
    with open(partial, "rb") as stream:
        digest = hashlib.file_digest(stream, "sha256").hexdigest()
        os.fsync(stream.fileno())
    os.replace(partial, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself is durable before anything is dropped
    finally:
        os.close(directory)
    return digest


def archive_month(session: Session, partition: MonthPartition, directory: Path
                  ) -> ArchivedMonth:
    """Write ``partition`` to ``directory``/``<name>.parquet``, verify it, then drop it.

    Writes to the partition wait until the caller commits (SHARE lock). The file must read
    back equal to the rows, and its row count and id checksum must equal the partition's;
    otherwise :class:`Conflict` and nothing is dropped. :class:`Conflict` too while a bulk
    assignment's rollups of the month are pending refresh (geo.rollup_refresh: they are
    recounted from the events). Never commits.
    """
    session.execute(text(f"LOCK TABLE {partition.name} IN SHARE MODE"))
    refuse_pending_in(session, partition.month,
                      add_months(partition.month, 1) - timedelta(days=1))
    frame = partition_rows(session, partition)
    path = directory / f"{partition.name}.parquet"
    digest = write_verified(frame, path)
    stored = _stored_checksum(session, partition)
    in_file = pq.read_table(path, columns=["id"]).column("id").to_pylist()
    if (len(in_file), id_checksum(in_file)) != stored:
        raise Conflict(f"{path.name}: {len(in_file)} rows in the file, {stored[0]} in "
                       f"{partition.name}", [{"file": str(path), "partition": partition.name}])
    manifest = {"partition": partition.name, "month": partition.month.isoformat(),
                "rows": stored[0], "id_md5": stored[1], "sha256": digest,
                "file": path.name}
    path.with_suffix(".json").write_text(json.dumps(manifest, indent=1) + "\n")
    drop_partition(session, partition)
    return ArchivedMonth(partition.month, path, stored[0], digest)


def drop_partition(session: Session, partition: MonthPartition) -> None:
    """Detach ``partition`` from ``events``, keep its open cases (:func:`keep_open_cases`),
    delete the rows linked to its events, drop it.

    Detached first, so the triggers on ``events`` do not fire (its rows are not deleted
    events: no audit rows, the daily rollups keep them) and the assignment rollup trigger
    finds no event to move counts for. Never commits.
    """
    name = partition.name
    session.execute(text(f"ALTER TABLE events DETACH PARTITION {name}"))
    keep_open_cases(session, name)
    for table, column, _ in [*LINKED.values(), ("event_assignments", "event_id", ""),
                             ("event_duplicates", "case_id", ""),
                             ("event_client_ids", "event_id", "")]:
        session.execute(text(
            f"DELETE FROM {table} r USING {name} e WHERE r.{column} = e.id"))  # noqa: S608
    session.execute(text(f"DROP TABLE {name}"))


OPEN_CASES = """
INSERT INTO archived_open_cases (event_id, reported_at, due_at, postponements, district_code,
                                 street_code, community_code, grid_code)
SELECT e.id, e.reported_at, e.due_at, e.postponements, a.district_code, a.street_code,
       a.community_code, a.grid_code
  FROM {partition} e
  LEFT JOIN event_assignments a ON a.event_id = e.id AND a.reported_at = e.reported_at
 WHERE e.valid AND e.status NOT IN ('closed', 'duplicate')"""
"""The open valid cases of a partition with what ``/stats`` needs of them (the condition of
the open cases in ``geo.month_stats``: valid, neither closed nor merged as a duplicate)."""


def keep_open_cases(session: Session, partition: str) -> int:
    """Copy the open cases of ``partition`` (a name from :func:`month_partitions`) into
    ``archived_open_cases``; returns how many. Never commits."""
    kept = session.execute(text(OPEN_CASES.format(partition=partition)))
    return int(kept.rowcount)  # type: ignore[attr-defined]


def read_archive(path: Path) -> gpd.GeoDataFrame:
    """The rows of an archive file, checked against its manifest (``.json`` beside it)
    when there is one. Raises :class:`NotFound` for a missing file, :class:`Conflict` for
    a file whose SHA-256 differs from the manifest, :class:`ValidationFailed` naming a
    missing column."""
    if not path.is_file():
        raise NotFound(f"no archive file {path}", [{"file": str(path)}])
    manifest = path.with_suffix(".json")
    if manifest.is_file():
        expected = json.loads(manifest.read_text())["sha256"]
        with open(path, "rb") as stream:
            if hashlib.file_digest(stream, "sha256").hexdigest() != expected:
                raise Conflict(f"{path.name} differs from its manifest (SHA-256)",
                               [{"file": str(path), "manifest": str(manifest)}])
    frame = gpd.read_parquet(path)
    missing = [c for c in ("id", "reported_at", "geom", *ASSIGNMENT_COLUMNS, *LINKED)
               if c not in frame.columns]
    if missing:
        raise ValidationFailed(f"{path.name} is not an events archive: no column {missing[0]}",
                               [{"file": str(path), "field": c} for c in missing])
    return frame


def _json_records(frame: pd.DataFrame) -> list[str]:
    """``frame`` as JSON arrays of records, :data:`BATCH` rows each (ISO times, µs)."""
    return [frame.iloc[start:start + BATCH].to_json(orient="records", date_format="iso",
                                                    date_unit="us")
            for start in range(0, len(frame), BATCH)]


def _insert_records(session: Session, target: str, row_type: str, frame: pd.DataFrame
                    ) -> None:
    """INSERT the records of ``frame`` into ``target`` typed as the rows of ``row_type``."""
    columns = ", ".join(frame.columns)
    for batch in _json_records(frame):
        session.execute(text(
            f"INSERT INTO {target} ({columns}) SELECT {columns}"  # noqa: S608
            f" FROM jsonb_populate_recordset(NULL::{row_type}, CAST(:rows AS jsonb))"),
            {"rows": batch})


def _event_columns(session: Session) -> list[str]:
    return list(session.execute(text(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'events'::regclass AND attnum > 0"
        " AND NOT attisdropped ORDER BY attnum")).scalars())


def restore_archive(session: Session, path: Path) -> int:
    """Put the events of archive ``path`` back in their month's partition, with their
    assignments and linked rows; returns the number of events.

    Rows go straight into the partition (not through ``events``): they are not new reports,
    so no audit rows and no rollup change (the rollups kept them). Assignments are written
    before their events exist, so their rollup trigger moves no count. A duplicate link
    whose case is not in the database is left out; the file's open cases leave
    ``archived_open_cases`` (``/stats`` reads them from the events again). Raises
    :class:`Conflict` when an event of the file is in the database already (restored
    before). Never commits.
    """
    frame = read_archive(path)
    ids = [int(i) for i in frame["id"]]
    present = session.execute(text("SELECT count(*) FROM events WHERE id = ANY(:ids)"),
                              {"ids": ids}).scalar_one()
    if present:
        raise Conflict(f"{present} events of {path.name} are in the database already",
                       [{"file": str(path), "present": int(present)}])
    events = pd.DataFrame(frame[_event_columns(session)].drop(columns="geom"))
    events["geom"] = shapely.to_wkb(shapely.set_srid(np.asarray(frame.geometry), 4326),
                                    hex=True, include_srid=True)
    assigned = pd.DataFrame(frame.loc[frame["assignment"].notna(), list(ASSIGNMENT_COLUMNS)])
    assigned.insert(0, "event_id", frame.loc[frame["assignment"].notna(), "id"])
    assigned.insert(1, "reported_at", frame.loc[frame["assignment"].notna(), "reported_at"])
    _insert_records(session, "event_assignments", "event_assignments", assigned)
    for month in sorted({m for m in _local_months(frame)}):
        partition = session.execute(text("SELECT events_month_partition(:m)"),
                                    {"m": month}).scalar_one()
        _insert_records(session, partition, "events",
                        events[_local_months(frame) == month])
    session.execute(text(
        "INSERT INTO event_client_ids (client_id, event_id) SELECT client_id, id FROM events"
        " WHERE id = ANY(:ids) AND client_id IS NOT NULL"), {"ids": ids})
    _restore_linked(session, frame)
    session.execute(text("DELETE FROM archived_open_cases WHERE event_id = ANY(:ids)"),
                    {"ids": ids})  # back among the events, where /stats reads them
    return len(frame)


def _local_months(frame: gpd.GeoDataFrame) -> pd.Series:
    local = pd.to_datetime(frame["reported_at"], utc=True).dt.tz_convert("Asia/Shanghai")
    return local.dt.tz_localize(None).dt.to_period("M").dt.start_time.dt.date


def _restore_linked(session: Session, frame: gpd.GeoDataFrame) -> None:
    for name, (table, _, _) in LINKED.items():
        rows = [row for cell in frame[name].dropna() for row in json.loads(cell)]
        if not rows:
            continue
        if table == "event_duplicates":
            cases = set(session.execute(text("SELECT id FROM events WHERE id = ANY(:ids)"), {
                "ids": sorted({int(r["case_id"]) for r in rows})}).scalars())
            rows = [r for r in rows if int(r["case_id"]) in cases]
        columns = ", ".join(rows[0])
        for start in range(0, len(rows), BATCH):
            session.execute(text(
                f"INSERT INTO {table} ({columns}) SELECT {columns}"  # noqa: S608
                f" FROM jsonb_populate_recordset(NULL::{table}, CAST(:rows AS jsonb))"),
                {"rows": json.dumps(rows[start:start + BATCH])})
