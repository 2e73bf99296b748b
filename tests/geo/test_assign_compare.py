"""A re-assignment compared in memory (geo.assign_compare + write_changed) stores, field by
field, what the staged path (every row staged and compared by the server) stores, writes
the same rows and moves the rollups the same way: nothing moved, some moved, events added
after the first run, events deleted. A re-run where nothing changed writes no row. A row
another writer rewrites while the job computes is left as that writer wrote it."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo import assign as assign_mod
from geo import assign_compare, assign_memory, event_assignments
from geo.assign import AssignSummary, assign_events
from geo.assign_compare import read_stored
from geo.event_assignments import COLUMNS, values_of, write_one
from geo.locate import locate
from geo.rollup_refresh import pending_refreshes, refresh_rollups
from tests.geo.test_assign import _random_cameras_and_events, city_with_events
from tests.geo.test_bulk_rollups import SOURCE, SPOTS, _assert_rollups_exact, _rows
from tests.geo.test_locate import G1, G2
from tests.geo.test_rollup_rebuild import _add_events, committed_events

__all__ = ["city_with_events", "committed_events"]  # the fixtures, used by name

ROW = ("SELECT event_id, reported_at, district_code, street_code, community_code, grid_code,"
       " micro_grid_code, dedicated_grid_codes, assignment, nearest_grid_code,"
       " nearest_distance_m, camera_codes FROM event_assignments ORDER BY event_id")
CTIDS = "SELECT event_id, ctid::text FROM event_assignments ORDER BY event_id"
WRITES = ("SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_xact_user_tables"
          " WHERE relname = 'event_assignments'")
SUMMARY = ("events", "changed", "covered", "snapped", "unassigned", "with_cameras",
           "superseded")


def _summary(summary: AssignSummary) -> tuple[int, ...]:
    return tuple(getattr(summary, name) for name in SUMMARY)


def _rerun(db: Session, monkeypatch: pytest.MonkeyPatch, *, in_memory: bool
           ) -> tuple[Any, ...]:
    """A re-run by one path in a savepoint, rolled back: (summary, rows, ids of the rows
    written, the daily rollups as readers read them, pending refreshes)."""
    monkeypatch.setattr(assign_memory, "COMPARE_IN_MEMORY", in_memory)
    before = {r[0]: r[1] for r in _rows(db, CTIDS)}
    savepoint = db.begin_nested()
    summary = assign_events(db, "all")
    after = _rows(db, CTIDS)
    found = (_summary(summary), _rows(db, ROW), {i for i, c in after if before.get(i) != c},
             _rows(db, SOURCE), [(m.job, m.days) for m in pending_refreshes(db)])
    savepoint.rollback()
    return found


def _both_paths_agree(db: Session, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    """The re-run of both paths: same summary, rows, rows written and rollups as readers
    read them; the in-memory path's (its pending refreshes: none, where the staged path
    leaves the days of a rebuild pending)."""
    staged = _rerun(db, monkeypatch, in_memory=False)
    compared = _rerun(db, monkeypatch, in_memory=True)
    assert compared[:4] == staged[:4]
    return compared


@pytest.fixture
def assigned(city_with_events: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    """The small city with its named points, 120 events over its spots and ~550 events
    around random cameras, every event assigned in memory and the rollups refreshed."""
    db = city_with_events
    _add_events(db, 120)
    _random_cameras_and_events(db, np.random.default_rng(11), 113.302, 40.081, "9")
    monkeypatch.setattr(assign_mod, "MEMORY_FROM_EVENTS", 0)
    first = assign_events(db, "all")
    assert first.changed == first.events > 600
    assert first.snapped and first.unassigned and first.with_cameras > 300
    refresh_rollups(db)
    _assert_rollups_exact(db)
    return db


@pytest.fixture(params=["moved in place", "rebuilt"])
def rollup_way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a bulk write keeps the rollups, whatever the share of rows it changes: the
    grouped move upserted in place, or the rollups rebuilt (counted in memory and swapped
    in by the in-memory path; the days left pending refresh by the staged path)."""
    share = float("inf") if request.param == "moved in place" else 0.0
    monkeypatch.setattr(event_assignments, "REBUILD_FROM_SHARE", share)
    return str(request.param)


def test_nothing_moved(assigned: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    summary, rows, written, _, pending = _both_paths_agree(assigned, monkeypatch)
    assert summary[1] == 0 and written == set() and pending == []
    assert summary[0] == len(rows) > 600


def test_some_moved(assigned: Session, monkeypatch: pytest.MonkeyPatch, rollup_way: str
                    ) -> None:
    """A camera goes offline, a grid is redrawn (G2 retired: its events snap or fall
    outside), a micro-grid code and some stored chains are stale (single-row writes: the
    triggers moved the rollups); the rollups moved in place or rebuilt alike, the in-memory
    path leaving nothing pending either way."""
    db = assigned
    db.execute(text("UPDATE cameras SET status = 'offline' WHERE code = '9003'"))
    db.execute(text("UPDATE grids SET valid_to = now() WHERE code = :g"), {"g": G2})
    db.execute(text("UPDATE event_assignments SET grid_code = :g2, micro_grid_code = NULL"
                    " WHERE grid_code = :g1 AND event_id % 3 = 0"), {"g1": G1, "g2": G2})
    db.execute(text("UPDATE event_assignments SET camera_codes = camera_codes[1:1]"
                    " WHERE cardinality(camera_codes) > 1 AND event_id % 5 = 0"))
    swapped = db.execute(text(
        "UPDATE event_assignments SET camera_codes = ARRAY[camera_codes[2], camera_codes[1]]"
        " || camera_codes[3:] WHERE cardinality(camera_codes) > 1 AND event_id % 5 = 1"
        " RETURNING event_id, assignment")).all()  # same count, another order
    db.execute(text("UPDATE event_assignments SET dedicated_grid_codes = '{}'"
                    " WHERE dedicated_grid_codes IS NOT NULL"))
    summary, rows, written, _, pending = _both_paths_agree(db, monkeypatch)
    assert 50 < summary[1] == len(written) < len(rows)
    assert pending == []
    assert {i for i, _ in swapped} <= written
    assert sum(kind == "covered" for _, kind in swapped) > 5 < len(swapped)
    _keep_memory_rerun(db, monkeypatch)


def test_each_stale_field_alone_is_a_change(assigned: Session,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """One stored field made stale per row (cameras in another order, a camera dropped,
    another micro-grid, chain, distance, dedicated grids empty instead of NULL): exactly
    those rows are written."""
    db = assigned
    before = _rows(db, ROW)
    db.execute(text("""
        UPDATE event_assignments SET camera_codes = CASE event_id % 6
                 WHEN 0 THEN ARRAY[camera_codes[2], camera_codes[1]] || camera_codes[3:]
                 WHEN 1 THEN camera_codes[2:] ELSE camera_codes END,
               micro_grid_code = CASE event_id % 6 WHEN 2 THEN 'x' ELSE micro_grid_code END,
               street_code = CASE event_id % 6 WHEN 3 THEN NULL ELSE street_code END,
               nearest_distance_m = nearest_distance_m + (event_id % 6 = 4)::int * 1e-9,
               dedicated_grid_codes = CASE event_id % 6 WHEN 5 THEN '{}'
                                      ELSE dedicated_grid_codes END
         WHERE cardinality(camera_codes) > 1"""))
    stale = {b[0] for a, b in zip(_rows(db, ROW), before, strict=True) if a != b}
    summary, _, written, _, _ = _both_paths_agree(db, monkeypatch)
    assert written == stale and summary[1] == len(stale) > 30


def test_events_added_after_the_first_run(assigned: Session,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    db = assigned
    db.execute(text("UPDATE events SET client_id = 'first-' || id WHERE client_id LIKE"
                    " 'rebuild-%'"))
    _add_events(db, 12)  # raw events, as an import: no assignment yet
    db.execute(text("UPDATE cameras SET status = 'offline' WHERE code = '9007'"))
    summary, rows, written, _, _ = _both_paths_agree(db, monkeypatch)
    added = {i for (i,) in _rows(db, "SELECT id FROM events WHERE client_id LIKE 'rebuild-%'")}
    assert added < written and summary[1] == len(written)
    _keep_memory_rerun(db, monkeypatch)


def test_events_deleted(assigned: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    db = assigned
    db.execute(text("DELETE FROM events WHERE id % 7 = 0"))
    db.execute(text("UPDATE event_assignments SET grid_code = :g2 WHERE grid_code = :g1"
                    " AND event_id % 2 = 0"), {"g1": G1, "g2": G2})
    summary, rows, written, _, _ = _both_paths_agree(db, monkeypatch)
    assert summary[1] == len(written) > 0
    _keep_memory_rerun(db, monkeypatch)


def _keep_memory_rerun(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-run in memory for real: the rollups equal a recount; then nothing changes."""
    monkeypatch.setattr(assign_memory, "COMPARE_IN_MEMORY", True)
    assert assign_events(db, "all").changed > 0
    _assert_rollups_exact(db)
    assert assign_events(db, "all").changed == 0


def test_a_rerun_where_nothing_changed_writes_no_row(
        assigned: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    db = assigned
    writes, xmins = _rows(db, WRITES), _rows(db, "SELECT event_id, xmin::text"
                                                 " FROM event_assignments ORDER BY 1")
    summary = assign_events(db, "all")
    assert (summary.changed, summary.superseded) == (0, 0)
    assert summary.events == len(xmins) and list(summary.steps)[-1] == "write"
    assert _rows(db, WRITES) == writes  # no row inserted, updated or deleted
    assert _rows(db, "SELECT event_id, xmin::text FROM event_assignments ORDER BY 1") == xmins


def _rewrite_in_thread(engine: Engine, event_id: int, spot: tuple[float, float]) -> None:
    """Another writer moves event ``event_id`` to ``spot`` and stores its locate answer
    (rollups by the triggers), in a transaction of its own, committed."""
    def move() -> None:
        with Session(engine) as session, session.begin():
            session.execute(text("UPDATE events SET geom = ST_SetSRID(ST_MakePoint(:x, :y),"
                                 " 4326) WHERE id = :id"),
                            {"x": spot[0], "y": spot[1], "id": event_id})
            write_one(session, event_id, locate(session, *spot))

    thread = threading.Thread(target=move)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive()


def test_a_row_rewritten_while_the_job_computes_is_kept(
        committed_events: Engine, monkeypatch: pytest.MonkeyPatch, rollup_way: str) -> None:
    """Between the job's read of the stored rows and its write, another writer moves two
    events and stores their new rows: one whose stored row the job would change (stale),
    one that had no row yet. The job leaves both as the other writer wrote them (counted
    ``superseded``), writes the others, and the rollups equal a recount, whether the job
    moved them in place (the written rows' move only) or would rebuild them: a superseded
    row makes it leave its days pending instead (its count assumed every row written)."""
    engine = committed_events
    monkeypatch.setattr(assign_mod, "MEMORY_FROM_EVENTS", 0)
    with Session(engine) as session, session.begin():
        assert assign_events(session, "all").changed == 12
    with Session(engine) as session, session.begin():
        refresh_rollups(session)
        ids = [i for (i,) in _rows(session, "SELECT id FROM events WHERE client_id LIKE"
                                            " 'rebuild-%' ORDER BY id")]
        stale, new = int(ids[0]), int(ids[-1])  # type: ignore[call-overload]
        session.execute(text("UPDATE event_assignments SET grid_code = :g2 WHERE grid_code"
                             " = :g1 AND event_id <> :new"), {"g1": G1, "g2": G2, "new": new})
        session.execute(text("DELETE FROM event_assignments WHERE event_id = :id"),
                        {"id": new})
    real_compare = assign_memory.compare

    def compare_then_race(*args: Any, **kwargs: Any) -> Any:
        found = real_compare(*args, **kwargs)
        for event_id in (stale, new):
            _rewrite_in_thread(engine, event_id, SPOTS[3])
        return found

    monkeypatch.setattr(assign_memory, "compare", compare_then_race)
    with Session(engine) as session, session.begin():
        summary = assign_events(session, "all")
        assert bool(pending_refreshes(session)) == (rollup_way == "rebuilt")
    assert summary.superseded == 2 and summary.changed > 0
    with Session(engine) as session, session.begin():
        theirs = values_of(locate(session, *SPOTS[3]))
        for event_id in (stale, new):
            row = session.execute(text(f"SELECT {', '.join(COLUMNS)} FROM event_assignments"
                                       " WHERE event_id = :id"), {"id": event_id}).one()
            assert dict(row._mapping) == theirs
        _assert_rollups_exact(session)
        monkeypatch.setattr(assign_memory, "compare", real_compare)
        assert assign_events(session, "all").changed == 0


def test_stored_rows_packed_in_many_values(assigned: Session,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The stored rows read in one value per 8 ids (some 80 values, each parsed as it
    arrives) are the rows read in one value; a re-run compared from them agrees with the
    staged path."""
    whole = read_stored(assigned, None, {}, 3).sort_by("id")
    monkeypatch.setattr(assign_compare, "PACK_SHIFT", 3)
    many = read_stored(assigned, None, {}, 3).sort_by("id")
    assert many.num_rows == whole.num_rows > 600
    assert many.equals(whole)
    assigned.execute(text("UPDATE event_assignments SET grid_code = :g2, micro_grid_code = NULL"
                          " WHERE grid_code = :g1 AND event_id % 3 = 0"), {"g1": G1, "g2": G2})
    summary, rows, written, _, _ = _both_paths_agree(assigned, monkeypatch)
    assert 0 < summary[1] == len(written) < len(rows)
