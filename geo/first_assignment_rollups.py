"""The rollups of a bulk write that moves most rollup keys, counted in memory and written by
binary COPY in the write's own transaction: a first assignment, or a re-run that moves at
least ``geo.event_assignments.REBUILD_FROM_SHARE`` of the rollup rows (a redraw). It commits
with the daily rollups (``event_daily_counts``) and the monthly and per-area ones derived
from them (migration 0027) where dispatchers read them, nothing left pending refresh
(geo.rollup_refresh).

The refresh a first assignment of 10^6 events left recounted every event in SQL and summed
the derived rows in SQL, 23.8–27.6 s after a commit of 12.2–14.2 s (bench/RESULTS.md); a 20 %
redraw's, 18–19 s. Here the write already holds every row it writes
(:mod:`geo.first_assignment_rows`: its rollup key by grid, and for a re-run the key of the
stored row it replaces, read with it by geo.assign_compare), each event's category, status
and count flags come from the database packed (:data:`FACTS_SQL`, 16 bytes an event: a first
assignment's selection brings them, a re-run reads those of its changed rows,
:func:`staged_rollup_inputs`), and numpy counts (:meth:`RollupInputs.count`): the stored
daily rows plus, per event, one count at its new key and one less at the key it was counted
in until now (a first assignment's: the "no grid" key); the monthly and per-area rows are
summed from the new daily rows as 0027's triggers sum them (status ``duplicate`` left out).
PostgreSQL then only inserts the rows into new tables and builds their indexes, and they are
swapped in (:func:`geo.rollup_rebuild.swap_rebuilt`).

Writers of the rollups (a report, a status change) go on during the job. The stored rows are
read after :func:`snapshot_xmin` and before the events' facts; under the swap's lock
(``EXCLUSIVE`` on ``event_daily_counts``: no rollup writer in flight) the stored daily rows
written since are compared with those read (:func:`moved_days`, whatever key they hold), and
the days of any that differ are marked pending refresh with the write: their readers recount
them, the command's refresh writes them. A quiet job leaves nothing pending. Local days are
``gridlink_local_day``'s: computed in numpy from 1992 on, by SQL for earlier instants (summer
time until 1991-09-15). Never commits.
"""

# ruff: noqa: S608 (every SQL below is built from this module's constant fragments only)

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.assign_compare import KEY_SQL, numbered_keys, parsed_lines
from geo.assignment_index import builds_after_commit
from geo.db import local_settings, psycopg_connection
from geo.first_assignment_rows import (
    DAY_US,
    FIXED_OFFSET_FROM_US,
    NO_CHUNK,
    NO_GRID,
    OFFSET_US,
    PG_EPOCH,
    FirstAssignmentRows,
    Key,
    Piece,
    copy_batches,
    copy_binary,
    fixed_offset_days,
    text_fields,
)
from geo.rollup_rebuild import (
    AREA,
    DAILY,
    DAILY_COUNTS,
    MONTHLY,
    REBUILD_MEMORY,
    TABLES,
    create_rebuilt,
    lock_for_rebuild,
    rebuilt_indexes,
    swap_rebuilt,
)
from geo.rollup_refresh import REFRESH_LOCK, snapshot_xmin
from geo.rollups import day_start

FACT_FIELDS = [("due", ">i8"), ("unused", ">i2"), ("category", ">i2"), ("status", ">i2"),
               ("flags", ">i2")]
"""Per selected event, after id, lon, lat and ``reported_at`` (:data:`FACTS_SQL`): ``due_at``
(µs since 2000-01-01 UTC; NULL: the largest ``int8``), then one ``int8``: category and status
(1-based positions in the lists of :class:`RollupBase`; 0: not in them) and the flags of
:data:`FLAG_BITS`, 16 bits each."""
FLAG_BITS = {"valid": 0, "closed_by_due": 1, "postponed": 2, "first_time": 3}
"""Bits of ``flags``: ``valid``; ``closed_at <= due_at``; ``postponements > 0``;
``coalesce(first_time, reworks = 0)`` (each false when NULL, as the 0017/0027 flags)."""
FACTS_SQL = (
    " || coalesce(timestamptz_send(e.due_at), '\\x7fffffffffffffff'::bytea)"
    " || int8send((coalesce(fact_category.n, 0) << 32) | (coalesce(fact_status.n, 0) << 16)"
    " | e.valid::int | (coalesce(e.closed_at <= e.due_at, false)::int << 1)"
    " | ((e.postponements > 0)::int << 2) | (coalesce(e.first_time, e.reworks = 0)::int << 3))")
FACTS_JOIN = (
    " LEFT JOIN unnest(CAST(:rollup_categories AS text[])) WITH ORDINALITY fact_category(v, n)"
    " ON fact_category.v = e.category"
    " LEFT JOIN unnest(CAST(:rollup_statuses AS text[])) WITH ORDINALITY fact_status(v, n)"
    " ON fact_status.v = e.status")
"""What the selection (geo.assign_memory.select_events) appends to each event's packed value
when the rollups are counted in memory (:data:`FACT_FIELDS`, big-endian), and the joins after
``events e`` that give the category's and status's positions: hash joins with the lists
(``array_position`` compared every name of a list per event: the packing took 1.16-1.20 s
at 10^6 events instead of 0.92-0.95 s)."""

_STORED_FIELDS = [("day", "r.day - DATE '2000-01-01'", pa.int64()),
                  ("key", KEY_SQL.format(alias="r"), pa.string()),
                  ("category", "array_position((SELECT c FROM lists), r.category)", pa.int64()),
                  ("status", "array_position((SELECT s FROM lists), r.status)", pa.int64()),
                  *((c, f"r.{c}", pa.int64()) for c in DAILY_COUNTS)]
_STORED_SQL = (f"WITH lists AS (SELECT array_agg(DISTINCT category) AS c,"
               " array_agg(DISTINCT status) AS s"
               f" FROM (SELECT category, status FROM {DAILY} GROUP BY 1, 2) p)"
               " SELECT (SELECT c FROM lists), (SELECT s FROM lists), convert_to(string_agg("
               f"concat_ws(E'\\t', {', '.join(sql for _, sql, _ in _STORED_FIELDS)}) || E'\\n',"
               f" ''), 'UTF8') FROM {DAILY} r GROUP BY (r.day - DATE '2000-01-01') >> 6")
"""The stored daily rows, one tab-separated line each (:data:`_STORED_FIELDS`: the key as one
field, category and status as positions in the lists of the same snapshot), packed by the
server into one value per 64 days (grouped by hashing; the lists from the few pairs of
category and status: a ``DISTINCT`` over every row sorted them, 0.9 s), as geo.assign_compare
reads the stored assignments."""
_WRITTEN_SINCE_SQL = (f"SELECT day - DATE '2000-01-01', district_code, street_code,"
                      f" community_code, grid_code, category, status,"
                      f" {', '.join(DAILY_COUNTS)} FROM {DAILY}"
                      " WHERE age(xmin) <= age(CAST(CAST(%s AS text) AS xid))")
_EARLY_SQL = (f"SELECT gridlink_local_day(t) - DATE '2000-01-01',"
              f" {day_start('gridlink_local_day(t) + 1')} FROM unnest(%s::timestamptz[]) t")
_INT4 = np.dtype([("len", ">i4"), ("value", ">i4")])
_NOT_COUNTED = "duplicate"
_HANDLED = ("resolved", "closed")
_LAST = "\U0010ffff"
"""Sorts after every code (the largest code point): NULL codes last, as in the indexes."""


@dataclass
class RollupBase:
    """What a bulk write reads of the rollups before its events' facts: the
    oldest transaction running then (:func:`geo.rollup_refresh.snapshot_xmin`), the stored
    daily rows (``rows``, as :data:`_STORED_SQL` reads them) and the categories and
    statuses they name (the selection encodes the events' by position in these lists,
    :data:`FACTS_SQL`). Read before the facts: a writer that commits after the read
    (its rows written since ``xmin``) differs from it under the swap's lock
    (:func:`moved_days`), whether the facts show its change or not."""

    xmin: int
    rows: pa.Table
    categories: list[str]
    statuses: list[str]

    def params(self) -> dict[str, Any]:
        """The selection's bound values of :data:`FACTS_SQL`."""
        return {"rollup_categories": self.categories, "rollup_statuses": self.statuses}


def rollup_base(session: Session) -> RollupBase | None:
    """The :class:`RollupBase` of a bulk write, or None when a mark is pending refresh
    (stored rows stale on its days: the assignment then leaves its days pending too and the
    refresh recounts them all). Never writes."""
    if session.execute(text("SELECT EXISTS (SELECT FROM rollup_refresh"
                            " WHERE done_at IS NULL)")).scalar_one():
        return None
    xmin = snapshot_xmin(session)
    with local_settings(session, {"enable_sort": "off"}):
        packed = psycopg_connection(session).cursor(binary=True).execute(_STORED_SQL).fetchall()
    rows = ([parsed_lines(part, _STORED_FIELDS) for _, _, part in packed]
            or [pa.table({name: pa.array([], type) for name, _, type in _STORED_FIELDS})])
    categories, statuses = (packed[0][0], packed[0][1]) if packed else ([], [])
    return RollupBase(xmin, pa.concat_tables(rows), categories, statuses)


@dataclass
class Stored:
    """The stored daily rollup rows: days (since 2000-01-01), keys (positions in the
    caller's key list), category and status positions (0-based in :class:`RollupBase`'s
    lists), counts (:data:`geo.rollup_rebuild.DAILY_COUNTS`); each row's key also as a
    position in ``names`` (``named``)."""

    days: NDArray[np.int64]
    keys: NDArray[np.int64]
    categories: NDArray[np.int64]
    statuses: NDArray[np.int64]
    counts: NDArray[np.int64]
    names: list[Key]
    named: NDArray[np.int64]

    def on_days(self, days: set[int], base: RollupBase) -> dict[tuple[Any, ...],
                                                                 tuple[int, ...]]:
        """The rows of ``days``, as :data:`_WRITTEN_SINCE_SQL` reads them: the full key
        (day, codes, category, status) and the counts."""
        rows = np.flatnonzero(np.isin(self.days, list(days)))
        return {(int(self.days[i]), *self.names[self.named[i]],
                 base.categories[self.categories[i]], base.statuses[self.statuses[i]]):
                tuple(int(c) for c in self.counts[i]) for i in rows.tolist()}


@dataclass
class Table:
    """Rows of one rollup table as binary COPY pieces (``columns``: the COPY column list)."""

    name: str
    columns: str
    parts: list[Piece]
    n: int


@dataclass
class CountedRollups:
    """The new rollup tables of a bulk write and what was read to count them."""

    base: RollupBase
    stored: Stored
    tables: list[Table]


def read_stored(base: RollupBase, key_of: dict[Key, int]) -> Stored:
    """``base``'s stored daily rollup rows, keys numbered by ``key_of`` (new keys added)."""
    rows = base.rows

    def column(name: str) -> NDArray[np.int64]:
        return rows.column(name).to_numpy().astype(np.int64)

    names, named = numbered_keys(rows.column("key").combine_chunks())
    number = np.array([key_of.setdefault(key, len(key_of)) for key in names] or [0], np.int64)
    return Stored(column("day"), number[named], column("category") - 1,
                  column("status") - 1,
                  np.column_stack([column(c) for c in DAILY_COUNTS]).reshape(-1, len(
                      DAILY_COUNTS)), names, named)


def _event_days(session: Session, reported_us: NDArray[np.int64]
                ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Local day (days since 2000-01-01) of each instant (µs since 2000-01-01 UTC) and the
    instant its next day begins (µs), as ``gridlink_local_day`` and
    :func:`geo.rollups.day_start`: in numpy from
    :data:`geo.first_assignment_rows.FIXED_OFFSET_FROM` on, by SQL
    before."""
    days = fixed_offset_days(reported_us)
    ends = (days + 1) * DAY_US - OFFSET_US
    early = np.flatnonzero(reported_us < FIXED_OFFSET_FROM_US)
    if len(early):
        instants, at = np.unique(reported_us[early], return_inverse=True)
        found = psycopg_connection(session).cursor().execute(_EARLY_SQL, (
            [PG_EPOCH + timedelta(microseconds=int(u)) for u in instants],)).fetchall()
        days[early] = np.array([d for d, _ in found], np.int64)[at]
        ends[early] = np.array([_us(e) for _, e in found], np.int64)[at]
    return days, ends


def _us(at: datetime) -> int:
    return (at - PG_EPOCH) // timedelta(microseconds=1)


def _event_counts(facts: NDArray[Any], statuses: list[str], day_ends: NDArray[np.int64]
                  ) -> NDArray[np.int64]:
    """Per event, its :data:`DAILY_COUNTS` (1 or 0 each) as migrations 0017/0027 count
    them."""
    flags = facts["flags"].astype(np.int64)
    bit = {name: (flags >> b) & 1 == 1 for name, b in FLAG_BITS.items()}
    closed = facts["status"] == (statuses.index("closed") + 1 if "closed" in statuses else -1)
    valid = bit["valid"]
    due = valid & ((facts["due"] < day_ends) | closed)
    done = valid & closed
    return np.column_stack([np.ones(len(facts), np.int64), valid, due,
                            done & bit["closed_by_due"], done & bit["postponed"],
                            done & bit["first_time"]]).astype(np.int64)


DENSE_BINS = 2
"""Codes spanning at most this many values per code are grouped by counting them into bins
(:func:`numpy.bincount`, no sort: a month's keys, a street's or district's days); wider ones
by one sort."""


def _grouped(codes: NDArray[np.int64], counts: NDArray[np.int64], *, runs: bool = False
             ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The distinct ``codes`` (sorted) and the column sums of ``counts`` per code: counted
    into one bin per value when they span few values (:data:`DENSE_BINS`), else one sort
    (``runs``: ``codes`` is a few sorted runs, merged by a stable sort) and one
    ``add.reduceat`` of every column."""
    if not len(codes):
        return codes, counts
    low = int(codes.min())
    span = int(codes.max()) - low + 1
    if span <= DENSE_BINS * len(codes):
        bins = codes - low
        present = np.flatnonzero(np.bincount(bins, minlength=span))
        sums = np.empty((len(present), counts.shape[1]), np.int64)
        for j in range(counts.shape[1]):  # float64 sums of integers: exact below 2**53
            sums[:, j] = np.bincount(bins, weights=counts[:, j], minlength=span)[present]
        return present + low, sums
    order = np.argsort(codes, kind="stable" if runs else None)
    ordered = codes[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts], np.add.reduceat(counts[order], starts, axis=0)


def rollup_inputs(session: Session, base: RollupBase, rows: FirstAssignmentRows,
                  facts: NDArray[Any], reported_us: NDArray[np.int64]) -> RollupInputs | None:
    """What :meth:`RollupInputs.count` needs: the rows' keys, before and after, and their
    events' local days (SQL for instants before 1992). ``facts``/``reported_us``: the
    events' :data:`FACT_FIELDS` and ``reported_at``, one per row of ``rows`` (row order).
    None when an event's category or status is not in ``base``'s lists (an event reported
    since they were read, or a stored row missing: the caller leaves the days pending
    refresh instead), or no row. Never writes."""
    if not rows.n or (facts["category"] == 0).any() or (facts["status"] == 0).any():
        return None
    key_of = {key: i for i, key in enumerate(rows.key_codes)}
    was = (np.full(rows.n, key_of.setdefault(NO_GRID, len(key_of)), np.int64)
           if rows.was_keys is None else rows.was_keys)
    days, ends = _event_days(session, reported_us)
    return RollupInputs(base, facts, key_of, was, rows.keys, days, ends)


_STAGED_FACTS = np.dtype([("id", ">i8"), ("at", ">i8"), *FACT_FIELDS])
_STAGED_FACTS_SQL = ("SELECT string_agg(int8send(e.id) || timestamptz_send(e.reported_at)"
                     + FACTS_SQL + ", ''::bytea) FROM {stage} s JOIN events e"
                     " ON e.id = s.event_id AND e.reported_at = s.reported_at" + FACTS_JOIN +
                     " GROUP BY e.id >> 24")
"""The :data:`FACT_FIELDS` of the events of a stage (``event_id``, ``reported_at``), packed
by the server as the selection packs them (:data:`_STAGED_FACTS`, big-endian)."""


def staged_rollup_inputs(session: Session, base: RollupBase, rows: FirstAssignmentRows,
                         stage: str) -> RollupInputs | None:
    """:func:`rollup_inputs` of a re-assignment's changed ``rows``, staged in ``stage`` (a
    table, generated name): their events' facts read now, after ``base``. None also when an
    event is no longer there as the run read it (deleted, or its ``reported_at`` changed:
    the caller leaves the days pending). Never writes."""
    packed = b"".join(part for (part,) in session.execute(
        text(_STAGED_FACTS_SQL.format(stage=stage)), base.params()))
    found = np.frombuffer(packed, dtype=_STAGED_FACTS)
    found = found[np.argsort(found["id"], kind="stable")]
    if len(found) != rows.n or (found["id"] != rows.ids).any():
        return None
    return rollup_inputs(session, base, rows, found[[name for name, _ in FACT_FIELDS]],
                         found["at"].astype(np.int64))


@dataclass
class RollupInputs:
    """What a bulk write moves in the rollups: per row its event's facts and local day
    (µs of the next day's start: ``ends``), the key the rollups count it in now (``was``)
    and its new key (``keys``), keys numbered by ``key_of``; and the stored rows
    (``base``)."""

    base: RollupBase
    facts: NDArray[Any]
    key_of: dict[Key, int]
    was: NDArray[np.int64]
    keys: NDArray[np.int64]
    days: NDArray[np.int64]
    ends: NDArray[np.int64]

    def count(self, ready: Callable[[Table], None] = lambda rows: None) -> CountedRollups:
        """The new daily, monthly and per-area rollups once the rows are stored: the
        stored daily rows (:func:`read_stored`) plus the move of every row's event from
        the key it was counted in (a first assignment: the "no grid" key) to its new key;
        ``ready`` is called with each table as soon as it is counted (the daily one
        first). No database: it may run beside the rows' write.

        The rows come out in the order of each table's unique index (keys ranked by
        :func:`_in_index_order`), so PostgreSQL's sort of that index build finds them
        sorted (one comparison a row instead of a full sort)."""
        stored = read_stored(self.base, self.key_of)
        return _counted(self.base, self.facts, stored, self.key_of, self.was, self.keys,
                        self.days, self.ends, ready)


def _counted(base: RollupBase, facts: NDArray[Any], stored: Stored, key_of: dict[Key, int],
             was: NDArray[np.int64], now: NDArray[np.int64], days: NDArray[np.int64],
             ends: NDArray[np.int64], ready: Callable[[Table], None]) -> CountedRollups:
    """:meth:`RollupInputs.count`."""
    keys, rank = _in_index_order(list(key_of))
    key_texts = text_fields(*zip(*keys, strict=True))
    counts = _event_counts(facts, base.statuses, ends)
    cats, statuses = facts["category"].astype(np.int64) - 1, facts["status"].astype(np.int64) - 1
    n_keys, n_cats, n_statuses = len(keys), len(base.categories), len(base.statuses)
    first_day = int(min(days.min(), stored.days.min(initial=days.min())))
    n_days = int(days.max()) - first_day + 1

    def code(day: NDArray[np.int64], key: NDArray[np.int64] | int, cat: NDArray[np.int64],
             status: NDArray[np.int64]) -> NDArray[np.int64]:
        return (((day - first_day) * n_keys + key) * n_cats + cat) * n_statuses + status

    # the key each event leaves, summed first with the key as the most significant digit
    # (a first assignment's one "no grid" key: a few codes, counted into bins), then coded
    left_codes, left = _grouped(((rank[was] * n_days + days - first_day) * n_cats + cats)
                                * n_statuses + statuses, counts)
    left_status, left_cat = left_codes % n_statuses, left_codes // n_statuses % n_cats
    left_day = left_codes // (n_statuses * n_cats) % n_days + first_day
    left_codes = code(left_day, left_codes // (n_statuses * n_cats * n_days), left_cat,
                      left_status)
    unique, sums = _grouped(
        np.concatenate([code(stored.days, rank[stored.keys], stored.categories,
                             stored.statuses), code(days, rank[now], cats, statuses),
                        left_codes]), np.concatenate([stored.counts, counts, -left]))
    kept = sums.any(axis=1)
    unique, sums = unique[kept], sums[kept]
    daily = _Daily(unique % n_statuses, unique // n_statuses % n_cats,
                   unique // (n_statuses * n_cats) % n_keys,
                   unique // (n_statuses * n_cats * n_keys) + first_day, sums)
    tables = []
    for made in (lambda: daily.table(key_texts, base), lambda: daily.monthly(key_texts, base),
                 lambda: daily.per_area(keys, base)):
        tables.append(made())
        ready(tables[-1])
    return CountedRollups(base, stored, tables)


def _in_index_order(keys: list[Key]) -> tuple[list[Key], NDArray[np.int64]]:
    """``keys`` sorted as the rollups' unique indexes sort them (code by code, NULL last;
    codes compared by code point, as collation ``C.UTF-8`` or ``C`` does: under another
    collation only the index builds' speed differs), and each key's rank in that order."""
    order = sorted(range(len(keys)), key=lambda i: tuple(_LAST if v is None else v
                                                         for v in keys[i]))
    rank = np.empty(len(keys), np.int64)
    rank[np.array(order, np.int64)] = np.arange(len(keys))
    return [keys[i] for i in order], rank


@dataclass
class _Daily:
    """The new daily rows (positions of status, category, key; days; counts)."""

    statuses: NDArray[np.int64]
    categories: NDArray[np.int64]
    keys: NDArray[np.int64]
    days: NDArray[np.int64]
    counts: NDArray[np.int64]

    def table(self, key_texts: pa.Array, base: RollupBase) -> Table:
        """``event_daily_counts``' rows (``key_texts``: each key's four code fields)."""
        return Table(DAILY, "day, category, status, district_code, street_code,"
                     f" community_code, grid_code, {', '.join(DAILY_COUNTS)}", [
                         _head(3 + 4 + len(DAILY_COUNTS), self.days),
                         _texts(base.categories, self.categories),
                         _texts(base.statuses, self.statuses),
                         Piece(key_texts, self.keys), _int4s(self.counts)], len(self.days))

    def _counted(self, base: RollupBase) -> tuple[NDArray[np.bool_], NDArray[np.int64],
                                                  NDArray[np.int64], NDArray[np.int64]]:
        """Rows counted in the derived rollups (not ``duplicate``); their valid events
        ``handled`` (resolved or closed) and ``closed``."""
        def having(names: tuple[str, ...]) -> NDArray[np.bool_]:
            return np.isin(self.statuses, [i for i, s in enumerate(base.statuses)
                                           if s in names])

        valid = self.counts[:, 1]
        return (~having((_NOT_COUNTED,)), valid, np.where(having(_HANDLED), valid, 0),
                np.where(having(("closed",)), valid, 0))

    def monthly(self, key_texts: pa.Array, base: RollupBase) -> Table:
        """``event_monthly_counts``' rows: per month and key (DERIVED_SQL's sums)."""
        counted, valid, handled, closed = self._counted(base)
        n_keys = len(key_texts)
        epoch = np.datetime64("2000-01-01", "D")
        months = ((epoch + self.days.astype("timedelta64[D]")).astype("datetime64[M]")
                  .astype("datetime64[D]") - epoch).astype(np.int64)
        c = self.counts
        sums = np.column_stack([c[:, 0], valid, handled, closed, c[:, 3], c[:, 4], c[:, 5]])
        first = int(months.min()) if len(months) else 0
        unique, grouped = _grouped(((months - first) * n_keys + self.keys)[counted],
                                   sums[counted])
        return Table(MONTHLY, "month, district_code, street_code, community_code, grid_code,"
                     " events, valid, handled, closed, closed_on_time, closed_postponed,"
                     " closed_first_time", [
                         _head(1 + 4 + 7, unique // n_keys + first),
                         Piece(key_texts, unique % n_keys), _int4s(grouped)], len(unique))

    def per_area(self, keys: list[Key], base: RollupBase) -> Table:
        """``event_area_daily_counts``' rows: per area (district, street, community of the
        key, with its parent), day and category (DERIVED_SQL's sums), in the order of its
        unique index (area, day, category, parent). The daily rows are first summed per
        community key (district, street, community), day and category."""
        counted, valid, handled, _ = self._counted(base)
        community_of: dict[tuple[Any, Any, Any], int] = {}
        community = np.array([community_of.setdefault(k[:3], len(community_of))
                              for k in keys] or [0], np.int64)
        c = self.counts
        sums = np.column_stack([c[:, 0], valid, handled, c[:, 2], c[:, 3]])[counted]
        days, cats = self.days[counted], self.categories[counted]
        first = int(days.min()) if len(days) else 0
        n_days, n_cats = (int(days.max()) - first + 1 if len(days) else 1), len(base.categories)
        by_community, summed = _grouped(
            (community[self.keys[counted]] * n_days + days - first) * n_cats + cats, sums)
        pairs = sorted({pair for triple in community_of for pair in _area_pairs(triple)},
                       key=lambda p: (p[0], p[1] is None, p[1] or ""))
        pair_rank = {pair: i for i, pair in enumerate(pairs)}
        levels = np.full((max(len(community_of), 1), 3), -1, np.int64)
        for triple, i in community_of.items():
            for level, pair in enumerate(_area_pairs(triple)):
                levels[i, level] = pair_rank[pair]
        per_pair = n_days * n_cats
        rest = by_community % per_pair
        codes, parts = [], []
        for level in range(3):  # each level summed on its own pairs' ranks (few: dense)
            pair = levels[by_community // per_pair, level]
            has = pair >= 0
            ranks = np.unique(levels[:, level][levels[:, level] >= 0])
            local, sums_at = _grouped(np.searchsorted(ranks, pair[has]) * per_pair + rest[has],
                                      summed[has], runs=True)  # communities: in order
            codes.append(ranks[local // per_pair] * per_pair + local % per_pair)
            parts.append(sums_at)
        unique, grouped = _grouped(np.concatenate(codes), np.concatenate(parts), runs=True)
        return Table(AREA, "day, category, area_code, parent_code, events, valid, handled,"
                     " due, closed_on_time", [
                         _head(2 + 2 + 5, unique // n_cats % n_days + first),
                         _texts(base.categories, unique % n_cats),
                         Piece(text_fields(*zip(*pairs, strict=True)) if pairs
                               else NO_CHUNK, unique // (n_cats * n_days)),
                         _int4s(grouped)], len(unique))


def _area_pairs(triple: tuple[Any, Any, Any]) -> list[tuple[Any, Any]]:
    """The (area, parent) pairs a key of district, street and community counts in (areas
    that are not NULL): the district (no parent), the street, the community."""
    district, street, community = triple
    return [(area, parent) for area, parent in ((district, None), (street, district),
                                                (community, street)) if area is not None]


def _head(fields: int, days: NDArray[np.int64]) -> Piece:
    """Each row's field count and first field, a ``date`` (days since 2000-01-01)."""
    head = np.zeros(len(days), dtype=[("n", ">i2"), ("len", ">i4"), ("day", ">i4")])
    head["n"], head["len"], head["day"] = fields, 4, days
    return Piece(records=head)


def _texts(values: list[str], positions: NDArray[np.int64]) -> Piece:
    return Piece(text_fields(values) if values else NO_CHUNK, positions)


def _int4s(counts: NDArray[np.int64]) -> Piece:
    """``integer`` fields, one per column of ``counts``."""
    fields = np.zeros(len(counts), dtype=[(f"c{j}", _INT4) for j in range(counts.shape[1])])
    for j in range(counts.shape[1]):
        fields[f"c{j}"]["len"], fields[f"c{j}"]["value"] = 4, counts[:, j]
    return Piece(records=fields)


ASIDE_WORKERS = 2
"""Side connections that build the new rollup tables, their indexes and statistics at once
(:meth:`RollupWriter.build`): the server's work spread over two cores."""
_HOLDS_ROLLUPS_SQL = (
    "SELECT EXISTS (SELECT FROM pg_locks WHERE pid = pg_backend_pid() AND granted"
    " AND mode = 'AccessExclusiveLock' AND relation = ANY(ARRAY["
    + ", ".join(f"to_regclass('{t}')" for t in TABLES) + "]::oid[]))")
"""Whether this transaction holds a rollup table exclusively (swapped or altered it and not
committed yet): a side connection would wait for it forever."""
ASIDE_SETTINGS = {**REBUILD_MEMORY, "lock_timeout": "60s"}
"""The side connections' settings: the rebuild's memory, and a bound on any lock wait (a
wait on the caller's own transaction would never end: an error instead)."""


class RollupWriter:
    """Writes counted rollups (:class:`CountedRollups`) in the caller's transaction.

    Made in the caller's transaction, it takes :data:`geo.rollup_refresh.REFRESH_LOCK` (one
    build of the ``_rebuilt`` tables at a time, as a refresh; same lock order). Then
    :meth:`build` (it may run in a worker thread, beside the caller's own statements, e.g.
    the assignment rows' COPY) counts the rollups and builds the new tables on
    :data:`ASIDE_WORKERS` side connections, each table as soon as it is counted: created
    and filled by binary COPY in its own transaction, then its indexes built and the tables
    analysed, two statements at a time, each committed. Nothing reads them: they are not
    the rollups until :meth:`write` swaps them in, in the caller's transaction
    (:func:`geo.rollup_rebuild.swap_rebuilt`), so the swap commits or rolls back with the
    caller's rows. Tables left by a job that dies between the two are dropped by the next
    build (:func:`geo.rollup_rebuild.create_rebuilt`), and by :meth:`discard` when the
    caller fails before the swap.

    When the caller builds pending indexes after its commit (a large first assignment
    with the grid-code index off, :func:`geo.assignment_index.builds_after_commit`), the
    rollups' secondary indexes (all but the unique keys the writers upsert through) are
    not built: the swap records them pending (:attr:`deferred`), built concurrently after
    the commit with the grid-code index. Until then the readers they serve (an area's rows
    by grid code, a category's, a parent's areas) scan more; every count is exact.

    When the caller's transaction already holds a rollup table exclusively (it swapped
    them once and has not committed), the tables are built in the caller's transaction by
    :meth:`write` instead (one statement at a time). Never commits the caller's
    transaction."""

    def __init__(self, session: Session) -> None:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": REFRESH_LOCK})
        self.engine: Engine = session.get_bind().engine
        self.aside = not session.execute(text(_HOLDS_ROLLUPS_SQL)).scalar_one()
        indexes = [index for table in TABLES for index in rebuilt_indexes(session, table)]
        self.deferred = ([index for index in indexes if not index.unique]
                         if builds_after_commit(session) else [])
        """The indexes left to after the commit (recorded pending by the swap)."""
        self.to_build = [index for index in indexes if index not in self.deferred]
        """The indexes the new tables get before the swap."""
        self.built = False

    def build(self, inputs: RollupInputs) -> CountedRollups:
        """Count ``inputs``' rollups (:meth:`RollupInputs.count`) and, when :attr:`aside`,
        build each table on the side connections as soon as it is counted: loaded, then its
        indexes built, then every table analysed. The daily table is loaded while the
        derived ones are counted, its indexes built while the per-area one loads. Never uses
        the caller's session (safe in another thread)."""
        if not self.aside:
            return inputs.count()
        builds: list[Future[None]] = []
        with ThreadPoolExecutor(ASIDE_WORKERS) as pool:

            def load_then_index(rows: Table) -> None:
                self._load(rows)
                builds.extend(pool.submit(self._run, index.build) for index in self.to_build
                              if index.table == rows.name)

            loads: list[Future[None]] = []
            counted = inputs.count(lambda rows: loads.append(pool.submit(load_then_index,
                                                                         rows)))
            for load in loads:
                load.result()  # each has queued its index builds once done
            for build in builds:
                build.result()
            list(pool.map(self._run, [f"ANALYZE {table}_rebuilt" for table in TABLES]))
        self.built = True
        return counted

    def _load(self, rows: Table) -> None:
        with Session(self.engine) as side, side.begin(), local_settings(side, ASIDE_SETTINGS):
            create_rebuilt(side, rows.name)
            _copy_table(side, rows)

    def _run(self, statement: str) -> None:
        with Session(self.engine) as side, side.begin(), local_settings(side, ASIDE_SETTINGS):
            side.connection().exec_driver_sql(statement)

    def discard(self) -> None:
        """Drop the tables :meth:`build` committed (the caller failed before the swap; its
        transaction still holds the lock, so they are not another job's)."""
        if self.aside:
            tables = ", ".join(f"{table}_rebuilt" for table in TABLES)
            with Session(self.engine) as side, side.begin(), \
                    local_settings(side, ASIDE_SETTINGS):
                side.execute(text(f"DROP TABLE IF EXISTS {tables}"))

    def write(self, session: Session, counted: CountedRollups) -> list[date]:
        """Swap ``counted``'s tables in (built first, in ``session``'s transaction, unless
        :meth:`build` built them aside); returns the days other writers moved meanwhile
        (:func:`moved_days`: the caller marks them pending refresh). Never commits."""
        moved: list[date] = []
        with local_settings(session, REBUILD_MEMORY):
            if not self.built:
                for rows in counted.tables:
                    create_rebuilt(session, rows.name)
                    _copy_table(session, rows)
            swap_rebuilt(session, lambda: moved.extend(moved_days(session, counted)),
                         built=self.to_build if self.built else None,
                         deferred=self.deferred)
        return moved


def _copy_table(session: Session, rows: Table) -> None:
    """COPY ``rows`` into ``<table>_rebuilt`` (binary)."""
    copy_binary(session, f"COPY {rows.name}_rebuilt ({rows.columns}) FROM STDIN"
                " (FORMAT binary)", copy_batches(rows.parts, rows.n))


def moved_days(session: Session, counted: CountedRollups) -> list[date]:
    """Lock the rollups' writers out (until the commit) and return the days whose stored
    daily rows differ from those ``counted`` read: rows written since its
    :attr:`RollupBase.xmin` compared with them (every day read when a row went missing)."""
    lock_for_rebuild(session)
    cur = psycopg_connection(session).cursor()
    written = cur.execute(_WRITTEN_SINCE_SQL, (counted.base.xmin,)).fetchall()
    now = cur.execute(f"SELECT count(*) FROM {DAILY}").fetchone()
    by_key = counted.stored.on_days({r[0] for r in written}, counted.base)
    new = sum(1 for r in written if r[:7] not in by_key)
    if now is None or now[0] != len(counted.stored.days) + new:
        days: Iterator[int] = iter(set(counted.stored.days.tolist()) | {r[0] for r in written})
    else:
        days = iter({r[0] for r in written if by_key.get(r[:7]) != r[7:]})
    return sorted(PG_EPOCH.date() + timedelta(days=int(d)) for d in days)
