"""Writing room: one set-based upsert by key (COPY into a temp stage, UPDATE, INSERT).

Values travel through COPY as text and are cast in SQL; only catalogue identifiers are
formatted into statements. Functions here never commit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from geo.planning.grid_imports import GridChange

from geo.catalog import Layer
from geo.errors import Conflict, Detail, ValidationFailed
from geo.importer.audit import without_insert_audit
from geo.importer.indexes import secondary_indexes_rebuilt
from geo.importer.problems import short_error

STAGE = "gridlink_import_stage"
COPY_ROWS = 10_000
"""Rows written as CSV text at a time by :func:`copy_rows` (memory: one slice's text)."""
KEYS = "gridlink_import_keys"
"""The streaming pass's temp table of every row's key (geo.importer.streaming)."""

_CASTS = {"code": "{c}", "text": "{c}", "int": "{c}::integer", "float": "{c}::double precision",
          "date": "{c}::date", "datetime": "{c}::timestamptz", "bool": "{c}::boolean"}


def _extra_columns(layer: Layer) -> dict[str, str]:
    """Table columns not in the file, with their SQL value (over stage alias ``s``)."""
    if layer.table == "grids":
        community = "s.parent_code" if layer.name == "grids" else "s.community_code"
        level = "'grid'" if layer.name == "grids" else "'micro'"
        extra = {"level": level, "community_code": community, "version": "1"}
        if layer.name == "micro_grids":
            extra["kind"] = "'urban'"
        return extra
    if layer.table == "events":  # the import's number: geo.importer.audit
        return {"handling_level": "'grid'", "valid": "true",
                "import_id": "CAST(:import_id AS bigint)"}
    return {}


def defaults_of(layer: Layer) -> dict[str, str]:
    """Values a new row gets for an empty or absent field (SQL literals)."""
    out = {name: _CASTS[layer.fields[name]].format(c=repr(value))
           for name, value in layer.defaults.items()}
    if layer.table != "admin_areas":
        out |= {name: "0" for name in ("households", "population") if name in layer.fields}
    return out


def _select_list(layer: Layer, points: bool = False, *, with_defaults: bool = True
                 ) -> tuple[list[str], list[str]]:
    """Target columns and their expressions over the text-typed stage table ``s``.

    ``with_defaults=False`` (for updates): an empty cell stays NULL here, so that the
    UPDATE can keep the stored value instead of writing the default.
    """
    columns, exprs = [], []
    defaults = defaults_of(layer) if with_defaults else {}
    for name, kind in layer.fields.items():
        expr = _CASTS[kind].format(c=f"s.{name}")
        if name in defaults:
            expr = f"COALESCE({expr}, {defaults[name]})"
        columns.append(name)
        exprs.append(expr)
    for name, expr in _extra_columns(layer).items():
        columns.append(name)
        exprs.append(expr)
    if layer.geometry is not None:
        geom = ("ST_SetSRID(ST_MakePoint(s.geom_x::float8, s.geom_y::float8), 4326)" if points
                else "ST_SetSRID(s.geom::geometry, 4326)")
        columns.append("geom")
        exprs.append(f"ST_Multi({geom})" if layer.multi else geom)
    return columns, exprs


def upsert_sql(layer: Layer, points: bool = False, carried: frozenset[str] | None = None
               ) -> tuple[str, str]:
    """The two set-based statements of an upsert by key from the stage table ``s``.

    First ``UPDATE table t ... FROM (stage) WHERE t.key = key`` (current versions only for
    grids), then ``INSERT ... SELECT ... WHERE NOT EXISTS`` for the new keys; their row
    counts are (updated, inserted). On 200k new events a plain INSERT took 11 s where
    INSERT ... ON CONFLICT ... RETURNING took 17 s (bench/RESULTS.md). A concurrent import
    of the same new key makes the INSERT fail on the unique index (rolled back, nothing
    half-written).

    The UPDATE sets only the ``carried`` fields (the file's columns; None = all) and the
    geometry: a stored value is never replaced by a default for a field the file did not
    carry, and an empty cell of a field with a default keeps the stored value.

    Only registry identifiers are formatted into the text; values travel through COPY.
    ``points``: the stage holds geom_x/geom_y text columns instead of hex WKB ``geom``.
    Events take the bound parameter ``:import_id`` (geo.importer.audit).
    """
    raw_columns, raw_exprs = _select_list(layer, points, with_defaults=False)
    match = f"t.{layer.key} = src.{layer.key}"
    exists = f"t.{layer.key} = s.{layer.key}"
    if layer.table == "grids":
        match += " AND t.valid_to IS NULL"
        exists += " AND t.valid_to IS NULL"
    carried = frozenset(layer.fields) if carried is None else carried
    defaults = defaults_of(layer)
    updated = [c for c in raw_columns if c != layer.key and (c in carried or c in (
        "geom", "import_id") or (c == "community_code" and layer.parent_field in carried))]
    source = ", ".join(f"{e} AS {c}" for c, e in zip(raw_columns, raw_exprs, strict=True))
    assignments = ", ".join(f"{c} = COALESCE(src.{c}, t.{c})" if c in defaults else
                            f"{c} = src.{c}" for c in updated)
    update = (f"UPDATE {layer.table} AS t SET {assignments} "  # noqa: S608
              f"FROM (SELECT {source} FROM {STAGE} s) AS src WHERE {match}")
    new_only = f" WHERE NOT EXISTS (SELECT 1 FROM {layer.table} t WHERE {exists})"  # noqa: S608
    insert = insert_select_sql(layer, points, STAGE) + new_only
    return update, insert


def insert_select_sql(layer: Layer, points: bool, source: str) -> str:
    """``INSERT INTO`` the layer's table ``SELECT`` every row of the text-typed temp table
    ``source`` (alias ``s``), defaults filled (the new-rows half of :func:`upsert_sql`)."""
    columns, exprs = _select_list(layer, points)
    return (f"INSERT INTO {layer.table} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(exprs)} FROM {source} s")


def existing_split(session: Session, layer: Layer, values: dict[str, list[Any]],
                   bad: set[int]) -> tuple[int, int]:
    """(new, existing) counts of the good rows' keys: what an upsert would insert/update."""
    keys = [k for row, k in enumerate(values[layer.key]) if row not in bad]
    current = " AND valid_to IS NULL" if layer.table == "grids" else ""
    found = session.scalar(text(
        f"SELECT count(DISTINCT {layer.key}) FROM {layer.table} "  # noqa: S608
        f"WHERE {layer.key} = ANY(:keys){current}"), {"keys": [k for k in keys if k]})
    return len(keys) - int(found or 0), int(found or 0)


def staged_split(session: Session, layer: Layer, staged: int) -> tuple[int, int]:
    """(new, existing) counts of the staged keys (a streamed dry run); drops the stage."""
    if staged == 0:
        return 0, 0
    current = " AND t.valid_to IS NULL" if layer.table == "grids" else ""
    found = int(session.scalar(text(
        f"SELECT count(DISTINCT s.{layer.key}) FROM {STAGE} s JOIN {layer.table} t "  # noqa: S608
        f"ON t.{layer.key} = s.{layer.key}{current}")) or 0)
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    return staged - found, found


def stage_table(values: dict[str, list[Any]], geoms: np.ndarray | None,
                keep: np.ndarray, offset: int = 0, points: bool | None = None) -> pa.Table:
    """The rows to write as an Arrow table of text columns (None = NULL), geometry as hex
    WKB, or as ``geom_x``/``geom_y`` doubles (lon/lat, EPSG:4326) for points.

    ``row_no`` is the 0-based row of the file (``offset`` + the row in ``values``);
    ``points`` (None: when every kept geometry is a point) stages x/y instead of WKB.
    """
    mask = pa.array(keep)
    columns: dict[str, pa.Array] = {"row_no": pa.array(np.flatnonzero(keep) + offset,
                                                       pa.int64())}
    for name, column in values.items():
        columns[name] = _text_array(column).filter(mask)
    if geoms is not None:
        kept = geoms[keep]
        if bool(shapely.has_z(kept).any()):
            kept = shapely.force_2d(kept)
        if points is None:
            points = bool(kept.size) and bool((shapely.get_type_id(kept) == 0).all())
        if points:  # x/y are cheaper than WKB hex; CSV writes them round-trip exact
            xy = shapely.get_coordinates(kept)
            columns["geom_x"], columns["geom_y"] = pa.array(xy[:, 0]), pa.array(xy[:, 1])
        else:
            columns["geom"] = pa.array(shapely.to_wkb(kept, hex=True), pa.string())
    return pa.table(columns)


def _text_array(column: list[Any]) -> pa.Array:
    """A column as Arrow text; values that are not text (a number in a code column of a
    rejected row) are written as their ``str``."""
    try:
        return pa.array(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in column], pa.string())


def create_stage(session: Session, columns: list[str]) -> None:
    """Create the temp stage table (``row_no`` integer, the other ``columns`` text)."""
    defs = ", ".join(["row_no integer"] + [f"{c} text" for c in columns if c != "row_no"])
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    session.execute(text(f"CREATE TEMP TABLE {STAGE} ({defs}) ON COMMIT DROP"))


def copy_rows(session: Session, table: str, rows: pa.Table) -> None:
    """COPY ``rows`` into the temp ``table`` by column name, as CSV written by Arrow (4-5×
    faster than pandas' ``to_csv``, bench/RESULTS.md); all-NULL columns are left out."""
    rows = rows.select([n for n in rows.column_names if rows[n].null_count < rows.num_rows])
    if rows.num_rows == 0:
        return
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {table} ({', '.join(rows.column_names)}) FROM STDIN WITH (FORMAT csv)"
    ) as copy:
        for start in range(0, rows.num_rows, COPY_ROWS):  # the CSV text of one slice at a time
            buffer = io.BytesIO()
            pacsv.write_csv(rows.slice(start, COPY_ROWS), buffer, options)
            copy.write(buffer.getvalue())


def _stage_parent_communities(session: Session) -> None:
    """Give each staged micro-grid its parent grid's community code, before the upsert.

    Resolved here in its own statement rather than as a correlated sub-select inside the
    INSERT: PostgreSQL 15 was seen returning NULL from that sub-select (through the partial
    unique index on grids.code) while the same INSERT wrote micro-grids into that index.
    """
    session.execute(text(f"ALTER TABLE {STAGE} ADD COLUMN community_code text"))
    session.execute(text(
        f"UPDATE {STAGE} s SET community_code = g.community_code FROM grids g "  # noqa: S608
        "WHERE g.code = s.parent_code AND g.level = 'grid' AND g.valid_to IS NULL"))


def version_select_list(layer: Layer, carried: frozenset[str] | None = None
                        ) -> tuple[list[str], list[str]]:
    """Like :func:`_select_list` for a new grid version: a field the file did not carry,
    or an empty cell of a field with a default, keeps the current version's value (the
    default only for a new code), so a new version never loses a stored value."""
    carried = frozenset(layer.fields) if carried is None else carried
    columns, raw = _select_list(layer, with_defaults=False)
    defaults = defaults_of(layer)
    exprs = []
    for column, expr in zip(columns, raw, strict=True):
        current = (f"(SELECT t.{column} FROM {layer.table} t "  # noqa: S608
                   f"WHERE t.{layer.key} = s.{layer.key} AND t.valid_to IS NULL)")
        if column == "geom" or column == layer.key or column not in layer.fields:
            exprs.append(expr)
            continue
        parts = ([expr] if column in carried else []) + [current]
        if column in defaults:
            parts.append(defaults[column])
        exprs.append(f"COALESCE({', '.join(parts)})" if len(parts) > 1 else parts[0])
    return columns, exprs


def write_rows(session: Session, layer: Layer, rows: pa.Table,
               carried: frozenset[str] | None = None,
               change: GridChange | None = None, import_id: int | None = None
               ) -> tuple[int, int]:
    """Upsert the staged rows (only ``carried`` fields change stored rows, see
    :func:`upsert_sql`); grids and micro-grids become new versions by ``change`` (author,
    reason: :mod:`geo.planning.grid_imports`). Returns (inserted, updated)."""
    if rows.num_rows == 0:
        return 0, 0
    create_stage(session, rows.column_names)
    copy_rows(session, STAGE, rows)
    return apply_stage(session, layer, "geom_x" in rows.column_names, carried, change,
                       import_id)


def apply_stage(session: Session, layer: Layer, points: bool,
                carried: frozenset[str] | None = None,
                change: GridChange | None = None, import_id: int | None = None
                ) -> tuple[int, int]:
    """Upsert what the stage table holds (see :func:`write_rows`); drops the stage.

    ``points``: the stage holds geom_x/geom_y instead of hex WKB. Events are stamped with
    ``import_id`` and inserted without row audit (the import's one audit row says what
    they are: geo.importer.audit). Returns (inserted, updated).
    """
    if layer.table == "events":  # nothing is derived from events on import
        return _upsert(session, layer, points, carried, import_id)
    # imported here, not above: the events path (10^6 rows) never loads them (~10 MiB)
    from geo.assign_on_import import GRID_TABLES, UNIT_TABLES, assign_after_import
    from geo.planning.grid_imports import GridChange, write_grid_versions
    from geo.video.views import refresh_after_import

    keys = [str(k) for k in session.scalars(text(
        f"SELECT {layer.key} FROM {STAGE}"))  # noqa: S608
            ] if layer.table in UNIT_TABLES | GRID_TABLES else []  # only these get assigned
    if layer.name == "micro_grids":
        _stage_parent_communities(session)
    if layer.table == "grids":
        columns, exprs = version_select_list(layer, carried)
        inserted, updated = write_grid_versions(session, STAGE, columns, exprs, change or
                                                GridChange("gridlink", f"import into {layer.name}"))
    else:
        inserted, updated = _upsert(session, layer, points, carried, import_id)
    assign_after_import(session, layer.table, keys)
    refresh_after_import(session, layer.table, keys)
    return int(inserted), int(updated)


def _upsert(session: Session, layer: Layer, points: bool, carried: frozenset[str] | None,
            import_id: int | None) -> tuple[int, int]:
    """The UPDATE then the INSERT of :func:`upsert_sql`; (inserted, updated). Events are
    inserted without row audit (geo.importer.audit), and into a table no larger than the
    import with its secondary indexes rebuilt after (geo.importer.indexes)."""
    update, insert = upsert_sql(layer, points=points, carried=carried)
    params = {"import_id": import_id} if layer.table == "events" else {}
    session.execute(text(f"ANALYZE {STAGE} ({layer.key})"))  # the joins' column only
    updated = session.execute(text(update), params).rowcount  # type: ignore[attr-defined]
    if layer.table == "events":
        staged = int(session.scalar(text(f"SELECT count(*) FROM {STAGE}")) or 0)  # noqa: S608
        with without_insert_audit(session), \
                secondary_indexes_rebuilt(session, layer.table, staged):
            inserted = session.execute(text(insert), params).rowcount  # type: ignore[attr-defined]
    else:
        inserted = session.execute(text(insert)).rowcount  # type: ignore[attr-defined]
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    return int(inserted), int(updated)


def write_or_explain(session: Session, layer: Layer, rows: pa.Table | None,
                     carried: frozenset[str] | None = None,
                     change: GridChange | None = None, points: bool = False,
                     import_id: int | None = None) -> tuple[int, int]:
    """:func:`write_rows` (``rows`` None: :func:`apply_stage`), turning database refusals
    into gridlink errors (no 500s).

    A unique-key clash can only come from a concurrent import of the same new codes
    (Conflict, retry); a value the database rejects (e.g. an integer above 2^31) is a
    ValidationFailed. The caller's transaction is then unusable and must be rolled back.
    """
    with database_refusals(layer):
        if rows is None:  # already staged (geo.importer.streaming)
            return apply_stage(session, layer, points, carried, change, import_id)
        return write_rows(session, layer, rows, carried, change, import_id)


@contextmanager
def database_refusals(layer: Layer) -> Iterator[None]:
    """Turn the database's refusal of a write into ``layer`` into a gridlink error (see
    :func:`write_or_explain`)."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(f"another import wrote the same {layer.key}s at the same time; retry",
                       [{"field": layer.key, "problem": short_error(exc.orig or exc)}]) from exc
    except DataError as exc:
        raise ValidationFailed(f"the database refused a value: {short_error(exc.orig or exc)}; "
                               "nothing was imported",
                               [{"row": None, "id": None, "field": None,
                                 "problem": short_error(exc.orig or exc)}]) from exc


def write_rejects(path: Path, problems: list[Detail]) -> None:
    """Write problems as CSV (UTF-8 with BOM for Excel): row, [line,] id, field, problem."""
    lines = any("line" in p for p in problems)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, restval="", fieldnames=["row"] + ["line"] * lines + [
            "id", "field", "problem"])
        writer.writeheader()
        writer.writerows(problems)
