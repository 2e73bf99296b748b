"""A first assignment's rows, built in memory as PostgreSQL binary COPY rows of
``event_assignments`` (vectorised with pyarrow), so the one writer
(:func:`geo.event_assignments.write_first_assignment`) COPYs them straight into the table:
no work tables, no decoding join, no join with ``events`` (the selection brought each
event's ``reported_at``), no server-side sort (the rows go in id order). A re-assignment
sends only its changed rows the same way, into a small stage
(:func:`geo.event_assignments.write_changed`, rows picked by :mod:`geo.assign_compare`), each
row with one more field: the ``xmin`` of its stored row when the run read it (``xid``; NULL:
none was stored).

Each covered event's row is the concatenation of a few byte strings taken by position: its
fixed part (column count, id, ``reported_at``: one numpy record), its grid's chain (district,
street, community and grid codes: one string per grid), its micro-grid's code, its
dedicated grids (mostly NULL), the constant ``'covered'`` + two NULLs, and its camera array
(a header by camera count + one string per camera). The few events outside every ordinary
grid (snapped or unassigned) are encoded one by one. Codes and binary COPY lengths are
encoded once per grid or camera, never per row.

The local days of the rows (:func:`local_days`) follow ``gridlink_local_day`` (migration
0007: ``(at AT TIME ZONE 'Asia/Shanghai')::date``): a fixed +08:00 from
:data:`FIXED_OFFSET_FROM` on; earlier instants (China's summer time ended 1991-09-15) are
left to that SQL function. Reads admin areas only; never writes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.assign_arrays import NONE, CameraArrays, Computed, GridArrays, Selected
from geo.assign_stage import codes_at, outside_row
from geo.db import psycopg_connection

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
"""Binary COPY signature, flags and header extension length."""
COPY_TRAILER = b"\xff\xff"
BATCH_ROWS = 1 << 18
"""Rows encoded per COPY write (~44 MB of COPY data at ~169 bytes a row): memory holds one
batch whatever the number of rows."""
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""Origin of PostgreSQL's binary ``timestamptz`` (µs) and ``date`` (days)."""
FIXED_OFFSET_FROM = datetime(1992, 1, 1, tzinfo=UTC)
"""From this instant on, Asia/Shanghai is UTC+08:00 without summer time (tz database)."""
OFFSET_US = 8 * 3_600_000_000
"""Asia/Shanghai's offset from :data:`FIXED_OFFSET_FROM` on, µs."""
DAY_US = 86_400_000_000
FIXED_OFFSET_FROM_US = int((FIXED_OFFSET_FROM - PG_EPOCH) / timedelta(microseconds=1))
""":data:`FIXED_OFFSET_FROM` in µs since :data:`PG_EPOCH`."""
_NULL = b"\xff\xff\xff\xff"
_TEXT_OID = 25
_COLUMNS = 12
"""``event_id``, ``reported_at`` and :data:`geo.event_assignments.COLUMNS`."""
_XID = np.dtype([("len", ">i4"), ("xid", ">u4")])
"""A binary ``xid`` field: length 4, the 32-bit transaction id."""
_FIXED = np.dtype([("n", ">i2"), ("l0", ">i4"), ("id", ">i8"), ("l1", ">i4"), ("at", ">i8")])
_ARRAY_HEAD = np.dtype([("len", ">i4"), ("ndim", ">i4"), ("flags", ">i4"), ("oid", ">i4"),
                        ("dim", ">i4"), ("lb", ">i4")])
Key = tuple[Any, Any, Any, Any]
"""A daily rollup key: district, street, community and grid codes (None: NULL)."""
_EMPTY_ARRAY = struct.pack(">iiii", 12, 0, 0, _TEXT_OID)
"""An empty ``text[]`` field (``'{}'``: no dimensions)."""


@dataclass
class FirstAssignmentRows:
    """A first assignment's rows (:meth:`batches`: binary COPY data, id order) and what
    they hold: counts per assignment kind, rows with cameras, and their local days
    (``days``; ``early``: instants before :data:`FIXED_OFFSET_FROM`, left to SQL); per row,
    the event's position in the selection (``order``) and its rollup key (``keys``: a
    position in ``key_codes``, the district, street, community and grid codes the daily
    rollups key it by; the grids' keys first, by grid position), its event's id (``ids``)
    and, for a re-assignment, the rollup key of the stored row it replaces (``was_keys``,
    positions in ``key_codes``; the "no grid" key where none was stored; None: no row was
    stored, a first assignment)."""

    n: int
    covered: int
    snapped: int
    unassigned: int
    with_cameras: int
    days: list[date]
    early: list[datetime]
    parts: list[Piece] = field(repr=False)
    outside: pa.Array = field(repr=False)
    order: NDArray[np.int64] = field(repr=False)
    keys: NDArray[np.int64] = field(repr=False)
    key_codes: list[Key] = field(repr=False)
    ids: NDArray[np.int64] = field(repr=False)
    seen: Piece | None = field(default=None, repr=False)
    """The field after the assignment's (a re-assignment's seen ``xmin``), or None."""
    was_keys: NDArray[np.int64] | None = field(default=None, repr=False)

    def batches(self) -> Iterator[memoryview]:
        """The COPY data rows (no header or trailer), :data:`BATCH_ROWS` rows at a time,
        each batch's pieces taken when it is encoded (memory: one batch)."""
        for start in range(0, self.n, BATCH_ROWS):
            rows = slice(start, start + BATCH_ROWS)
            joined = pc.coalesce(_joined(self.parts, rows),
                                 self.outside.slice(start, BATCH_ROWS))
            if self.seen is not None:
                joined = pc.binary_join_element_wise(joined, self.seen.of(rows),
                                                     pa.scalar(b""))
            yield _values(joined)


def copy_binary(session: Session, statement: str, batches: Iterable[memoryview]) -> None:
    """Run ``statement`` (a ``COPY ... FROM STDIN (FORMAT binary)``, generated SQL) in
    ``session``'s transaction with ``batches`` as its data rows, between the binary header
    and trailer."""
    with psycopg_connection(session).cursor().copy(statement) as copy:
        copy.write(COPY_HEADER)
        for batch in batches:
            copy.write(batch)
        copy.write(COPY_TRAILER)


def copy_batches(parts: list[Piece], n: int) -> Iterator[memoryview]:
    """Binary COPY data of ``n`` rows, each the concatenation of ``parts`` (none NULL),
    :data:`BATCH_ROWS` rows at a time."""
    for start in range(0, n, BATCH_ROWS):
        yield _values(_joined(parts, slice(start, start + BATCH_ROWS)))


def _joined(parts: list[Piece], rows: slice) -> pa.Array:
    """Per row of ``rows``, the concatenation of its ``parts`` (NULL where one is NULL)."""
    return pc.binary_join_element_wise(*(p.of(rows) for p in parts), pa.scalar(b""))


@dataclass
class Piece:
    """One piece of every row: ``chunks[positions[row]]`` (``missing`` where the position
    is :data:`NONE`; None: the row is left NULL), or, with ``records``, the row's numpy
    record as bytes (``empty`` instead where ``is_empty``)."""

    chunks: pa.Array | None = None
    positions: NDArray[np.int64] | None = None
    missing: bytes | None = None
    records: NDArray[Any] | None = None
    is_empty: NDArray[np.bool_] | None = None
    empty: bytes = b""

    def of(self, rows: slice) -> pa.Array:
        """The piece of ``rows`` (a binary array)."""
        if self.records is not None:
            made = _records(self.records[rows])
            if self.is_empty is None:
                return made
            return pc.if_else(pa.array(self.is_empty[rows]), pa.scalar(self.empty, pa.binary()),
                              made)
        assert self.chunks is not None and self.positions is not None
        positions = self.positions[rows]
        taken = self.chunks.take(pa.array(positions, mask=positions == NONE))
        if self.missing is None:
            return taken
        return pc.fill_null(taken, pa.scalar(self.missing, pa.binary()))


def _values(rows: pa.Array) -> memoryview:
    """The concatenated values of a binary array without nulls (zero-copy)."""
    _, offsets, data = rows.buffers()
    ends = np.frombuffer(offsets, dtype=np.int32, count=len(rows) + 1, offset=4 * rows.offset)
    return memoryview(data)[int(ends[0]):int(ends[-1])]  # type: ignore[arg-type]


def _field(value: bytes | None) -> bytes:
    return _NULL if value is None else struct.pack(">i", len(value)) + value


def text_field(value: str | None) -> bytes:
    """A binary COPY ``text`` field (NULL for None)."""
    return _field(None if value is None else value.encode())


def text_fields(*columns: Iterable[str | None]) -> pa.Array:
    """Per row, the binary COPY ``text`` fields of its value in each of ``columns`` (equal
    lengths; None: NULL) concatenated: :func:`text_field`, vectorised (pyarrow)."""
    pieces = []
    for column in columns:
        texts = pa.array(list(column), type=pa.string()).cast(pa.binary())
        lengths = pc.fill_null(pc.binary_length(texts), -1).to_numpy().astype(">i4")
        pieces += [_records(lengths), pc.fill_null(texts, pa.scalar(b"", pa.binary()))]
    if not pieces:
        return pa.array([], pa.binary())
    return pc.binary_join_element_wise(*pieces, pa.scalar(b"", pa.binary()))


def _text_array(values: list[str] | None) -> bytes:
    """A binary ``text[]`` field (one dimension; NULL for None)."""
    if values is None:
        return _NULL
    if not values:
        return _EMPTY_ARRAY
    body = struct.pack(">iiiii", 1, 0, _TEXT_OID, len(values), 1)
    return _field(body + b"".join(text_field(v) for v in values))


def binary_array(values: list[bytes | None]) -> pa.Array:
    """A pyarrow binary array of ``values``."""
    return pa.array(values, type=pa.binary())


def _records(records: NDArray[Any]) -> pa.Array:
    """A binary array of numpy records (fixed size, one value each)."""
    size = records.dtype.itemsize
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(size), len(records),
                                                 [None, pa.py_buffer(records.tobytes())])
    return fixed.cast(pa.binary())


def admin_chains(session: Session, communities: set[str]) -> dict[str, tuple[Any, Any]]:
    """Street and district code of each of ``communities`` (admin area codes) found."""
    rows = session.execute(text(
        "SELECT c.code, s.code AS street, d.code AS district FROM admin_areas c"
        " LEFT JOIN admin_areas s ON s.code = c.parent_code"
        " LEFT JOIN admin_areas d ON d.code = s.parent_code WHERE c.code = ANY(:codes)"),
        {"codes": sorted(communities)}).all()
    return {r.code: (r.street, r.district) for r in rows}


def run_chains(session: Session, grids: GridArrays, nearest: dict[int, Any]
               ) -> dict[str, tuple[Any, Any]]:
    """:func:`admin_chains` of every community a run's rows name: its grids' and the
    nearest grids' of the events outside every ordinary grid."""
    return admin_chains(session, {str(c) for c in grids.community if c is not None}
                        | {r.community_code for r in nearest.values()
                           if r.community_code is not None})


def local_days(reported_us: NDArray[np.int64]) -> tuple[list[date], list[datetime]]:
    """The distinct local days (Asia/Shanghai) of instants given in µs since
    :data:`PG_EPOCH`, and the distinct instants before :data:`FIXED_OFFSET_FROM` (their
    day is left to ``gridlink_local_day``)."""
    late = reported_us >= FIXED_OFFSET_FROM_US
    days = np.unique(fixed_offset_days(reported_us[late]))
    early = np.unique(reported_us[~late])
    return ([PG_EPOCH.date() + timedelta(days=int(d)) for d in days],
            [PG_EPOCH + timedelta(microseconds=int(u)) for u in early])


def fixed_offset_days(reported_us: NDArray[np.int64]) -> NDArray[np.int64]:
    """The local day (days since :data:`PG_EPOCH`'s date) of instants in µs since
    :data:`PG_EPOCH`, at :data:`OFFSET_US`: ``gridlink_local_day``'s for instants from
    :data:`FIXED_OFFSET_FROM` on (earlier ones are the caller's to ask SQL)."""
    return (reported_us + OFFSET_US) // DAY_US


def first_assignment_rows(session: Session, events: Selected, grids: GridArrays,
                          cams: CameraArrays, computed: Computed, picks: NDArray[np.int64],
                          nearest: dict[int, Any], tolerance_m: float,
                          only: NDArray[np.bool_] | None = None,
                          chains: dict[str, tuple[Any, Any]] | None = None,
                          seen_xmin: NDArray[np.int64] | None = None,
                          stored_keys: StoredKeys | None = None) -> FirstAssignmentRows:
    """The ``event_assignments`` rows of ``events`` (what :class:`geo.assign_stage.AssignStage`
    and its decoding SQL would store), as binary COPY data in id order; ``picks``: the camera
    positions of every event (:func:`geo.assign_stage.camera_picks_by_rank`); ``nearest``:
    the nearest-grid rows of the events outside every ordinary grid, by event position;
    ``only``: True at the event positions to encode (a re-assignment's changed rows,
    :mod:`geo.assign_compare`), None for every event; ``chains``: :func:`run_chains` when
    the caller has it already; ``seen_xmin``: per event position, the ``xmin`` of its stored
    row when the run read it (-1: none stored), added to each row as a 13th field
    (:data:`_XID`, NULL for -1); ``stored_keys``: the rollup keys of the stored rows, per
    event position (:attr:`FirstAssignmentRows.was_keys`)."""
    order = np.argsort(events.ids, kind="stable")
    if only is not None:
        order = order[only[order]]
    n = len(order)
    grid, micro = computed.owners.grid[order], computed.owners.micro[order]
    picks = picks[order]
    chains = run_chains(session, grids, nearest) if chains is None else chains
    columns = _COLUMNS + (seen_xmin is not None)
    fixed = np.zeros(n, dtype=_FIXED)
    fixed["n"], fixed["l0"], fixed["l1"] = columns, 8, 8
    fixed["id"], fixed["at"] = events.ids[order], events.reported_us[order]
    key_codes: list[Key] = [
        (*chains.get(c, (None, None))[::-1], c, code)
        for code, c in zip(grids.codes.tolist(), grids.community.tolist(), strict=True)]
    grid_chunks = text_fields(*zip(*key_codes, strict=True)) if key_codes else NO_CHUNK
    micro_chunks = text_fields(map(str, grids.codes.tolist())) if key_codes else NO_CHUNK
    covered = binary_array([text_field("covered") + _NULL + _NULL])
    parts = [Piece(records=fixed), Piece(grid_chunks, grid),
             Piece(micro_chunks, micro, _NULL), _dedicated(computed, order, grids),
             Piece(covered, np.zeros(n, dtype=np.int64))]
    count = (picks != NONE).sum(axis=1)
    parts += _camera_arrays(cams, picks, count)
    outside = np.flatnonzero(grid == NONE)
    encoded: list[bytes | None] = [None] * n
    kinds = {"snapped": 0, "unassigned": 0}
    keys, key_of = grid.copy(), {key: p for p, key in enumerate(key_codes)}
    for i in outside.tolist():
        row = outside_row(int(order[i]), events, computed, nearest.get(int(order[i])),
                          tolerance_m, grids.codes)
        kinds[row[5]] += 1
        encoded[i] = _outside_bytes(row, int(fixed["at"][i]), chains, cams, columns)
        street, district = chains.get(row[3], (None, None)) if row[3] else (None, None)
        keys[i] = key_of.setdefault((district, street, row[3], row[1]), len(key_of))
    was_keys = None if stored_keys is None else stored_keys.numbered(order, key_of)
    days, early = local_days(events.reported_us[order])
    return FirstAssignmentRows(n, n - len(outside), kinds["snapped"], kinds["unassigned"],
                               int(np.count_nonzero(count)), days, early, parts,
                               binary_array(encoded), order, keys, list(key_of),
                               events.ids[order],
                               None if seen_xmin is None else _xids(seen_xmin[order]),
                               was_keys)


NO_CHUNK = pa.array([b""], pa.binary())
"""The chunks of a piece with nothing to take (no grid, camera, category or area): one
empty value."""


NO_GRID: Key = (None, None, None, None)
"""The rollup key of an event without an assignment row, or outside every grid and area."""


@dataclass
class StoredKeys:
    """The rollup keys of a re-assignment's stored rows: ``keys`` (district, street,
    community and grid codes) and, per event position, the position of its stored row's
    key in them (``at``; :data:`NONE`: no row stored, the :data:`NO_GRID` key)."""

    keys: list[Key]
    at: NDArray[np.int64]

    def numbered(self, order: NDArray[np.int64], key_of: dict[Key, int]) -> NDArray[np.int64]:
        """The stored key of the events at positions ``order``, as positions in the key
        list ``key_of`` numbers (keys it lacks added to it)."""
        number = np.array([key_of.setdefault(key, len(key_of))
                           for key in [*self.keys, NO_GRID]], np.int64)
        at = self.at[order]
        return number[np.where(at == NONE, len(self.keys), at)]


def _xids(xmin: NDArray[np.int64]) -> Piece:
    """An ``xid`` field per row: ``xmin`` (NULL where -1)."""
    fields = np.zeros(len(xmin), dtype=_XID)
    fields["len"], fields["xid"] = 4, np.maximum(xmin, 0)
    return Piece(records=fields, is_empty=xmin < 0, empty=_NULL)


def _dedicated(computed: Computed, order: NDArray[np.int64], grids: GridArrays) -> Piece:
    """Per row (positions ``order``), the ``dedicated_grid_codes`` field of a covered
    event."""
    where = np.full(len(computed.owners.grid), NONE, dtype=np.int64)
    where[order] = np.arange(len(order))
    chunks: list[bytes | None] = []
    index = np.full(len(order), NONE, dtype=np.int64)
    for p, positions in computed.owners.dedicated.items():
        if computed.owners.grid[p] != NONE and where[p] != NONE:
            index[where[p]] = len(chunks)
            chunks.append(_text_array(codes_at(grids.codes, positions)))
    return Piece(binary_array(chunks), index, _NULL)


def _camera_arrays(cams: CameraArrays, picks: NDArray[np.int64],
                   count: NDArray[np.int64]) -> list[Piece]:
    """The ``camera_codes`` field of each row: its array header (by camera count), then one
    element per camera (empty after the last)."""
    chunks = text_fields(map(str, cams.codes.tolist())) if len(cams.codes) else NO_CHUNK
    sizes = pc.binary_length(chunks).to_numpy().astype(np.int64)
    head = np.zeros(len(count), dtype=_ARRAY_HEAD)
    taken = np.where(picks == NONE, 0, sizes[np.maximum(picks, 0)]) if picks.size else 0
    head["len"] = 20 + np.sum(taken, axis=1) if picks.size else 12
    head["ndim"], head["oid"], head["dim"], head["lb"] = 1, _TEXT_OID, count, 1
    return [Piece(records=head, is_empty=count == 0, empty=_EMPTY_ARRAY),
            *(Piece(chunks, np.ascontiguousarray(picks[:, j]), b"")
              for j in range(picks.shape[1]))]


def _outside_bytes(row: tuple[Any, ...], reported_us: int,
                   chains: dict[str, tuple[Any, Any]], cams: CameraArrays, columns: int
                   ) -> bytes:
    """The binary COPY row of an event outside every ordinary grid (``row``:
    :func:`geo.assign_stage.outside_row`), its field count ``columns`` (a field after
    them is added by :meth:`FirstAssignmentRows.batches`)."""
    event_id, grid, micro, community, dedicated, assignment, nearest, distance, picks = row
    street, district = chains.get(community, (None, None)) if community else (None, None)
    return (struct.pack(">hiqiq", columns, 8, event_id, 8, reported_us)
            + b"".join(text_field(v) for v in (district, street, community, grid, micro))
            + _text_array(dedicated) + text_field(assignment) + text_field(nearest)
            + (_NULL if distance is None else _field(struct.pack(">d", distance)))
            + _text_array([str(cams.codes[c]) for c in picks]))
