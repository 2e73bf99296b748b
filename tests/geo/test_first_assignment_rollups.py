"""A first assignment computed in memory writes its own rollups (geo.first_assignment_rollups):
it commits with the daily, monthly and per-area rollups equal, row for row, to what the
refresh of its days builds (geo.rollup_refresh, the recount) and nothing pending; over
local midnights, summer time before 1992, every status and flag, the "no grid" key and keys
already holding assigned events. Days another writer moved during the job are left pending,
and readers and the refresh stay exact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo import assign as assign_mod
from geo import assign_memory, first_assignment_rollups
from geo.assign import assign_events
from geo.errors import Conflict
from geo.events import apply_action
from geo.importer.pending_indexes import pending
from geo.rollup_refresh import mark_pending, pending_refreshes, refresh_rollups
from tests.geo.test_bulk_rollups import RECOUNT, SPOTS, STORED, _assert_readers_exact, _rows
from tests.geo.test_locate import G1, G2, build_small_city
from tests.geo.test_rollup_rebuild import _only_counting_rollup_rows

TABLES = {
    "event_daily_counts": "SELECT * FROM event_daily_counts ORDER BY 1, 2, 3, 4, 5, 6, 7",
    "event_monthly_counts": "SELECT * FROM event_monthly_counts ORDER BY 1, 2, 3, 4, 5",
    "event_area_daily_counts": "SELECT * FROM event_area_daily_counts ORDER BY 1, 2, 3, 4",
}
STATES: list[dict[str, Any]] = [
    {"status": "reported"},
    {"status": "resolved"},
    {"status": "closed", "closed": -1, "postponements": 0, "first_time": None, "reworks": 0},
    {"status": "closed", "closed": 2, "postponements": 1, "first_time": False, "reworks": 0},
    {"status": "closed", "closed": 1, "postponements": 0, "first_time": None, "reworks": 2},
    {"status": "closed", "closed": None, "postponements": 0, "first_time": True, "reworks": 1},
    {"status": "duplicate"},
    {"status": "rejected"},
]
"""Event states (``closed``: hours after the due instant; None: no ``closed_at``)."""
DUE = [None, 0, 16, 17, -30, 26]
"""Hours after the report at which the case is due (None: no due instant); 16/17 around
the end of the local report day of an event reported at local 07:xx."""


def _add_events(db: Session, start: datetime, n: int, tag: str) -> None:
    """``n`` events from ``start`` every 7 h 13 min over the small city's spots, of three
    categories, every :data:`STATES` state, :data:`DUE` due instant and validity."""
    for i in range(n):
        lon, lat = SPOTS[i % len(SPOTS)]
        state = STATES[i % len(STATES)]
        at = start + i * timedelta(hours=7, minutes=13)
        due = DUE[i % len(DUE)]
        due_at = None if due is None else at + timedelta(hours=due)
        closed = state.get("closed", None)
        db.execute(text(
            "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
            " handling_level, postponements, reworks, first_time, valid, due_at, closed_at)"
            " VALUES (:c, :cat, :at, :status, 'normal', ST_SetSRID(ST_MakePoint(:x, :y), 4326),"
            " 'grid', :postponements, :reworks, :first_time, :valid, :due_at, :closed_at)"),
            {"c": f"{tag}-{i}", "cat": ("garbage", "parking", "graffiti")[i % 3], "at": at,
             "x": lon, "y": lat, "status": state["status"],
             "postponements": state.get("postponements", 0),
             "reworks": state.get("reworks", 0), "first_time": state.get("first_time"),
             "valid": i % 5 != 0, "due_at": due_at,
             "closed_at": None if closed is None or due_at is None
             else due_at + timedelta(hours=closed)})


def _tables(db: Session) -> dict[str, list[tuple[object, ...]]]:
    return {table: _rows(db, sql) for table, sql in TABLES.items()}


def _assert_as_refreshed(db: Session) -> None:
    """Nothing pending; the three rollup tables hold, row for row, what the refresh of every
    event's day builds (the recount, geo.rollup_refresh); readers exact."""
    assert pending_refreshes(db) == []
    written = _tables(db)
    assert _rows(db, STORED) == _rows(db, RECOUNT)
    mark_pending(db, "test: every day recounted",
                 "SELECT gridlink_local_day(reported_at) FROM events")
    refresh_rollups(db)
    assert _tables(db) == written
    _assert_readers_exact(db)


def _assert_left_pending(db: Session, days: list[Any]) -> None:
    """One mark pending, of ``days``; readers exact meanwhile; the refresh then clears it
    and the stored rollups equal a recount."""
    assert [m.days for m in pending_refreshes(db)] == [days]
    _assert_readers_exact(db)
    refresh_rollups(db)
    assert pending_refreshes(db) == []
    assert _rows(db, STORED) == _rows(db, RECOUNT)


@pytest.fixture
def varied_city(db: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    """The small city with 96 never-assigned events from 2026-10-30 23:00 local time and 48
    from 1986-05-01 (summer time: local midnight at 23:00 the day before in UTC+8), the
    in-memory engine for every run."""
    monkeypatch.setattr(assign_mod, "MEMORY_FROM_EVENTS", 0)
    _only_counting_rollup_rows(db)
    build_small_city(db)
    _add_events(db, datetime(2026, 10, 30, 15, 0, tzinfo=UTC), 96, "now")
    _add_events(db, datetime(1986, 5, 3, 15, 30, tzinfo=UTC), 48, "summer")
    return db


def test_a_first_assignment_commits_its_rollups_as_refreshed(varied_city: Session) -> None:
    db = varied_city
    summary = assign_events(db, "all")
    assert (summary.events, summary.changed) == (144, 144)
    by_grid = dict(_rows(db, "SELECT grid_code, sum(events)::int FROM event_daily_counts"
                             " GROUP BY 1 HAVING sum(events) <> 0"))
    assert by_grid == {G1: 48, G2: 72, None: 24}  # 24 snapped into G2; 24 outside every grid
    _assert_as_refreshed(db)


def test_keys_holding_assigned_events_add_up(varied_city: Session) -> None:
    """Events assigned before (their rollup rows stored under grid keys) and a first
    assignment of the others: the stored rows and the new counts meet on the same keys."""
    db = varied_city
    assert assign_events(db, "area", area_code=G1).changed == 48
    _add_events(db, datetime(2026, 10, 30, 16, 0, tzinfo=UTC), 60, "later")
    assert pending_refreshes(db) == []
    stored_g1 = _rows(db, "SELECT DISTINCT day FROM event_daily_counts WHERE grid_code = :g",
                      {"g": G1})
    assert assign_events(db, "unassigned").changed == 144 - 48 + 60
    days_g1 = _rows(db, "SELECT DISTINCT gridlink_local_day(e.reported_at) FROM events e"
                        " JOIN event_assignments a ON a.event_id = e.id"
                        " WHERE a.grid_code = :g AND e.client_id LIKE 'later-%'", {"g": G1})
    assert set(stored_g1) & set(days_g1)  # the same keys met
    _assert_as_refreshed(db)


def test_days_another_writer_moved_during_the_job_are_left_pending(
        varied_city: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """A case closed after the rollups were read and before the swap's lock: the new
    tables do not hold that move, so its day (and only it) is left pending refresh; readers
    and the refresh stay exact."""
    db = varied_city
    event, day = db.execute(text(
        "SELECT id, gridlink_local_day(reported_at) FROM events WHERE status = 'reported'"
        " ORDER BY id LIMIT 1")).one()
    lock = first_assignment_rollups.lock_for_rebuild

    def a_writer_first(session: Session) -> None:
        for action in ("dispatch", "start", "resolve", "close"):
            apply_action(session, event, action)
        lock(session)

    monkeypatch.setattr(first_assignment_rollups, "lock_for_rebuild", a_writer_first)
    assert assign_events(db, "all").changed == 144
    _assert_left_pending(db, [day])


def test_a_writer_between_the_selection_and_the_count_leaves_its_day_pending(
        varied_city: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """A case closed right after the events were selected (their facts say "reported"):
    the stored rows were read before the selection, so the close shows under the swap's lock
    and its day is left pending; readers and the refresh stay exact."""
    db = varied_city
    event, day = db.execute(text(
        "SELECT id, gridlink_local_day(reported_at) FROM events WHERE status = 'reported'"
        " ORDER BY id LIMIT 1")).one()
    select = assign_memory.select_events

    def then_a_writer(*args: Any, **kwargs: Any) -> Any:
        selected = select(*args, **kwargs)
        db.execute(text("UPDATE events SET status = 'closed', closed_at = reported_at"
                        " WHERE id = :e"), {"e": event})  # a status the lists hold
        return selected

    monkeypatch.setattr(assign_memory, "select_events", then_a_writer)
    assert assign_events(db, "all").changed == 144
    _assert_left_pending(db, [day])


def test_rollups_missing_a_category_are_left_to_the_refresh(varied_city: Session) -> None:
    """Stored rollups that lack a category some event has (stale, nothing marked): the
    events cannot be counted against them, so the job leaves every day of its events
    pending, as before; readers and the refresh stay exact."""
    db = varied_city
    db.execute(text("DELETE FROM event_daily_counts WHERE category = 'graffiti'"))
    assert assign_events(db, "all").changed == 144
    days = _rows(db, "SELECT DISTINCT gridlink_local_day(reported_at) FROM events ORDER BY 1")
    _assert_left_pending(db, [d for (d,) in days])


def test_a_small_first_assignment_does_not_read_the_stored_rollups(
        varied_city: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first assignment of a few new events on a city whose rollups hold many rows (a
    day's import after the city was assigned): the planner's estimate of its selection is
    far below the rebuild share, so the stored rollup rows are never read into memory; the
    rollups are moved in place and stay exact."""
    db = varied_city
    assert assign_events(db, "all").changed == 144
    _add_events(db, datetime(2026, 11, 2, 1, 0, tzinfo=UTC), 3, "later")
    db.execute(text("ANALYZE events"))
    db.execute(text("ANALYZE event_assignments"))
    db.execute(text("ANALYZE event_daily_counts"))

    def not_read(session: Session) -> None:
        raise AssertionError("the stored rollups were read for a small first assignment")

    monkeypatch.setattr(assign_memory, "BASE_GATED_FROM", 0)  # this city's rows "many"
    monkeypatch.setattr(assign_memory, "rollup_base", not_read)
    assert assign_events(db, "unassigned").changed == 3
    assert pending_refreshes(db) == []
    assert _rows(db, STORED) == _rows(db, RECOUNT)
    _assert_readers_exact(db)


def _committed_rebuilt(engine: Engine) -> list[str]:
    """The ``_rebuilt`` tables other connections see (committed)."""
    with engine.connect() as other:
        return list(other.execute(text(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE '%\\_rebuilt'"
            " ORDER BY 1")).scalars())


def record_builders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The server process of each connection that creates a ``_rebuilt`` table, from now
    on."""
    pids: list[int] = []
    create = first_assignment_rollups.create_rebuilt

    def recorded(session: Session, table: str) -> None:
        pids.append(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        create(session, table)

    monkeypatch.setattr(first_assignment_rollups, "create_rebuilt", recorded)
    return pids


@pytest.fixture
def builders(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The server process of each connection that creates a ``_rebuilt`` table, and
    committed ``_rebuilt`` tables dropped after the test (the test's rollback undoes the
    swap, not the side connections' commits). Requested before the test's session, so
    torn down after its rollback (which releases the swapped tables)."""
    yield record_builders(monkeypatch)
    with engine.begin() as other:
        for table in _committed_rebuilt(engine):
            other.execute(text(f"DROP TABLE {table}"))


def test_the_rollup_tables_are_built_on_side_connections(
    builders: list[int], varied_city: Session
) -> None:
    """The new tables are created, filled and indexed by side connections (committed as
    ``_rebuilt`` work tables) while the job's own connection writes the rows; the swap
    commits with the job."""
    db = varied_city
    main = db.execute(text("SELECT pg_backend_pid()")).scalar_one()
    assert assign_events(db, "all").changed == 144
    assert len(builders) == 3 and main not in builders
    assert _committed_rebuilt(db.get_bind().engine) == sorted(f"{t}_rebuilt" for t in TABLES)
    _assert_as_refreshed(db)


def test_a_second_rebuild_in_one_transaction_builds_in_it(
    builders: list[int], varied_city: Session
) -> None:
    """A transaction that swapped the rollups once holds them exclusively until it commits:
    its next first assignment builds the tables itself (a side connection would wait for it
    forever) and is as exact."""
    db = varied_city
    main = db.execute(text("SELECT pg_backend_pid()")).scalar_one()
    assign_events(db, "all")
    db.execute(text("DELETE FROM event_assignments"))
    assert assign_events(db, "all").changed == 144
    assert len(builders) == 6 and builders[3:] == [main] * 3 and main not in builders[:3]
    _assert_as_refreshed(db)


def test_work_tables_a_dead_job_left_do_not_stop_the_next(
    builders: list[int], varied_city: Session
) -> None:
    """A job that died after its side connections committed the ``_rebuilt`` tables and
    before its swap leaves them behind: the next build drops them first."""
    db = varied_city
    with db.get_bind().engine.begin() as other:
        other.execute(text("CREATE TABLE event_daily_counts_rebuilt (left_by_a_dead_job int)"))
    assert assign_events(db, "all").changed == 144
    _assert_as_refreshed(db)


def test_a_failed_job_drops_the_tables_it_built_aside(
    builders: list[int], varied_city: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows' COPY fails (another job assigned an event meanwhile) after the side
    connections built the tables: they are dropped, nothing of the job is kept."""
    db = varied_city
    taken = db.execute(text("SELECT min(id) FROM events")).scalar_one()
    monkeypatch.setattr(assign_memory, "_any_assigned", lambda session, where, params: False)
    build = first_assignment_rollups.RollupWriter.build
    built: list[bool] = []

    def then_taken(writer: first_assignment_rollups.RollupWriter, inputs: Any) -> Any:
        counted = build(writer, inputs)
        built.append(writer.built)
        return counted

    monkeypatch.setattr(first_assignment_rollups.RollupWriter, "build", then_taken)
    db.execute(text("INSERT INTO event_assignments (event_id, assignment) VALUES (:id,"
                    " 'unassigned')"), {"id": taken})
    savepoint = db.begin_nested()
    with pytest.raises(Conflict, match=f"event {taken} was assigned by another job"):
        assign_events(db, "all")
    savepoint.rollback()
    assert built == [True] and len(builders) == 3
    assert _committed_rebuilt(db.get_bind().engine) == []


@pytest.mark.parametrize("span", [50, 10**12])
def test_grouped_sums_alike_by_bins_and_by_sort(span: int) -> None:
    """The grouping of the rollup count gives every distinct code once, sorted, with its
    column sums (negative counts too), whether the codes span few values (counted into bins)
    or many (one sort), and as a stable sort of sorted runs."""
    rng = np.random.default_rng(7)
    codes = rng.integers(-span // 2, span // 2, 3000)
    counts = rng.integers(-3, 4, (3000, 6))
    expected: dict[int, NDArray[np.int64]] = {}
    for code, row in zip(codes.tolist(), counts, strict=True):
        expected[code] = expected.get(code, 0) + row
    unique, sums = first_assignment_rollups._grouped(codes, counts)
    assert unique.tolist() == sorted(expected)
    assert (sums == np.array([expected[c] for c in unique.tolist()])).all()
    half = np.sort(codes[:1500]), np.sort(codes[1500:])
    runs = np.concatenate(half)
    order = np.concatenate([np.argsort(codes[:1500], kind="stable"),
                            1500 + np.argsort(codes[1500:], kind="stable")])
    merged = first_assignment_rollups._grouped(runs, counts[order], runs=True)
    assert (merged[0] == unique).all() and (merged[1] == sums).all()
    empty = first_assignment_rollups._grouped(codes[:0], counts[:0])
    assert (len(empty[0]), empty[1].shape) == (0, (0, 6))


def test_an_index_not_listed_by_the_job_is_left_pending_not_lost(
    builders: list[int], varied_city: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index the rollups have at the swap but the job did not build aside (an index
    builder added it after the job listed them, e.g. one a dead job left pending): the swap
    records it pending instead of failing or dropping it; the rollups are as exact."""
    db = varied_city
    init = first_assignment_rollups.RollupWriter.__init__

    def listed_without(writer: first_assignment_rollups.RollupWriter, session: Session) -> None:
        init(writer, session)
        writer.to_build = [i for i in writer.to_build
                           if i.name != "ix_event_daily_counts_category"]

    monkeypatch.setattr(first_assignment_rollups.RollupWriter, "__init__", listed_without)
    assert assign_events(db, "all").changed == 144
    assert pending(db) == ["ix_event_daily_counts_category"]
    assert db.execute(text("SELECT to_regclass('ix_event_daily_counts_category')")
                      ).scalar_one() is None
    _assert_as_refreshed(db)
