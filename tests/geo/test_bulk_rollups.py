"""The bulk writer (geo.event_assignments.write_staged) moves the daily rollups itself, once
per run, with the rollup triggers standing aside; single-row writes keep the triggers. Both
leave ``event_daily_counts`` equal to a recount from the events, and ``/stats/daily`` (over
HTTP) answers the recount, after a first bulk assignment, a re-assignment and status
changes; ``event_assignments.reported_at`` follows the event (migration 0026)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import assign as assign_mod
from geo import event_assignments
from geo.assign import assign_events
from geo.event_assignments import REBUILD_FROM_SHARE, rebuilds_rollups
from geo.events import apply_action
from geo.rollup_refresh import pending_refreshes, refresh_rollups
from geo.rollups import RECOUNT_SQL, STORED_COUNTS, STORED_SQL, daily_source
from tests.conftest import auth
from tests.geo.test_area_rollups import _assert_equal_to_daily
from tests.geo.test_locate import G1, G2, build_small_city
from tests.geo.test_month_stats import _assert_equal_to_stats

START = datetime(2026, 10, 30, 15, 0, tzinfo=UTC)  # 2026-10-30 23:00 in Beijing
SPOTS = [(113.3005, 40.0805), (113.3015, 40.0815), (113.303, 40.0815), (113.3035, 40.0812),
         (113.5, 40.5), (113.30421, 40.0812)]  # G1, G1, G2, G2, far outside, just outside
RECOUNT = RECOUNT_SQL.format(where="") + " ORDER BY 1, 2, 3, 4, 5, 6, 7"
STORED = STORED_SQL + " ORDER BY 1, 2, 3, 4, 5, 6, 7"
SOURCE = (f"SELECT * FROM {daily_source()} s WHERE "
          + " OR ".join(f"{c} <> 0" for c in STORED_COUNTS) + " ORDER BY 1, 2, 3, 4, 5, 6, 7")


def _rows(db: Session, sql: str, params: Mapping[str, object] | None = None
          ) -> list[tuple[object, ...]]:
    return [tuple(r) for r in db.execute(text(sql), params or {})]


def _assert_readers_exact(db: Session) -> None:
    """What readers of the daily rollups read (geo.rollups.daily_source: the stored rows, the
    days pending refresh counted from the events) equals a recount; the rollups derived from
    them (migration 0027: monthly, per area) answer what the daily ones and ``/stats``
    answer."""
    assert _rows(db, SOURCE) == _rows(db, RECOUNT)
    for now in (datetime(2026, 10, 31, 12, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC)):
        _assert_equal_to_stats(db, now)
    _assert_equal_to_daily(db)


def _assert_rollups_exact(db: Session) -> None:
    """The readers are exact (:func:`_assert_readers_exact`); then, with any refresh a bulk
    write left pending done (geo.rollup_refresh), the stored rollups themselves equal a
    recount and nothing is pending."""
    _assert_readers_exact(db)
    refresh_rollups(db)
    assert pending_refreshes(db) == []
    assert _rows(db, STORED) == _rows(db, RECOUNT)
    _assert_readers_exact(db)
    stale = db.execute(text(
        "SELECT count(*) FROM event_assignments a LEFT JOIN events e ON e.id = a.event_id"
        " WHERE e.reported_at IS DISTINCT FROM a.reported_at")).scalar_one()
    assert stale == 0


@pytest.fixture
def unassigned_city(db: Session) -> Session:
    """The small city and 60 events over four local days (10 per spot, three categories,
    due 26 h after the report), none assigned yet: the rollups count them for no grid."""
    build_small_city(db)
    for i in range(60):
        lon, lat = SPOTS[i % len(SPOTS)]
        db.execute(text(
            "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
            " handling_level, postponements, reworks, valid, due_at) VALUES (:c, :cat, :at,"
            " 'reported', 'normal', ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'grid', 0, 0,"
            " :valid, CAST(:at AS timestamptz) + interval '26 hours')"),
            {"c": f"bulk-{i}", "cat": ("garbage", "parking", "graffiti")[i % 3],
             "at": START + timedelta(hours=7 * i), "x": lon, "y": lat, "valid": i % 7 != 0})
    return db


@pytest.mark.parametrize("in_memory", [False, True], ids=["sql-steps", "in-memory"])
def test_bulk_runs_keep_rollups_equal_to_a_recount(
        unassigned_city: Session, in_memory: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    db = unassigned_city
    monkeypatch.setattr(assign_mod, "MEMORY_FROM_EVENTS", 0 if in_memory else 10**9)
    no_grid = db.execute(text(
        "SELECT sum(events) FROM event_daily_counts WHERE grid_code IS NULL")).scalar_one()
    assert no_grid == 60

    first = assign_events(db, "all")
    assert (first.events, first.changed) == (60, 60)
    _assert_rollups_exact(db)
    by_grid = {r[0]: r[1] for r in _rows(db, "SELECT grid_code, sum(events)::int FROM"
                                          " event_daily_counts GROUP BY 1"
                                          " HAVING sum(events) <> 0")}
    assert by_grid == {G1: 20, G2: 30, None: 10}  # 10 snapped into G2

    # stored rows made stale by single-row writes (the triggers move the rollups), then a
    # bulk re-assignment puts them back (the writer moves the rollups)
    first_half = "SELECT id FROM events WHERE substr(client_id, 6)::int % 12 < 6"
    moved = db.execute(text("UPDATE event_assignments SET grid_code = :g2, micro_grid_code"
                            f" = NULL WHERE grid_code = :g1 AND event_id IN ({first_half})"),
                       {"g1": G1, "g2": G2}).rowcount  # type: ignore[attr-defined]
    dropped = db.execute(text("DELETE FROM event_assignments WHERE assignment <> 'covered'"
                              f" AND event_id NOT IN ({first_half})")
                         ).rowcount  # type: ignore[attr-defined]
    assert (moved, dropped) == (10, 10)
    _assert_rollups_exact(db)
    again = assign_events(db, "all")
    assert again.changed == moved + dropped
    _assert_rollups_exact(db)

    ids = [r[0] for r in db.execute(text("SELECT id FROM events ORDER BY id LIMIT 6"))]
    for action in ("dispatch", "start", "resolve", "close"):
        apply_action(db, ids[0], action)
    apply_action(db, ids[1], "reject")
    _assert_rollups_exact(db)
    assert assign_events(db, "all").changed == 0
    _assert_rollups_exact(db)

    # a closed, postponed case moved by a bulk write carries its closed counts along
    db.execute(text("UPDATE events SET postponements = 1, valid = true WHERE id = :e"),
               {"e": ids[0]})
    db.execute(text("UPDATE event_assignments SET grid_code = :g2, micro_grid_code = NULL"
                    " WHERE event_id = :e"), {"g2": G2, "e": ids[0]})
    closed = db.execute(text(
        "SELECT sum(closed_postponed), sum(closed_first_time) FROM event_daily_counts"
        " WHERE grid_code = :g2"), {"g2": G2}).one()
    assert tuple(closed) == (1, 1)
    assert assign_events(db, "all").changed == 1
    _assert_rollups_exact(db)


def test_the_share_of_rollup_rows_is_counted_or_read_from_the_statistics(
        unassigned_city: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """``rebuilds_rollups``: below ``ESTIMATE_FROM_ROWS`` the daily rollup rows are counted
    (the table is read); from it on, analysed, they are taken from its statistics without
    reading it; both give the same threshold here."""
    db = unassigned_city
    stored = db.execute(text("SELECT count(*) FROM event_daily_counts")).scalar_one()
    threshold = math.ceil(REBUILD_FROM_SHARE * stored)
    assert stored > 10
    reads = ("SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM"
             " pg_stat_xact_user_tables WHERE relname = 'event_daily_counts'")
    for rows, read in ((10**12, 1), (0, 0)):
        monkeypatch.setattr(event_assignments, "ESTIMATE_FROM_ROWS", rows)
        db.execute(text("ANALYZE event_daily_counts"))
        before = db.execute(text(reads)).scalar_one()
        assert rebuilds_rollups(db, threshold) and not rebuilds_rollups(db, threshold - 1)
        assert db.execute(text(reads)).scalar_one() - before == 2 * read


def test_reported_at_follows_the_event(unassigned_city: Session) -> None:
    db = unassigned_city
    assign_events(db, "all")
    first, second = db.execute(text("SELECT id FROM events ORDER BY id LIMIT 2")).scalars()
    same_partition = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # both in events_default
    db.execute(text("UPDATE events SET reported_at = :at WHERE id = :id"),
               {"at": same_partition, "id": first})
    _assert_rollups_exact(db)
    # into another month's partition: PostgreSQL moves the row (DELETE + INSERT); the
    # rollups of that move are the subject of tests/geo/test_rollups_row_movement.py
    # (migration 0031), this test checks the assignment's copy of reported_at
    other_partition = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    db.execute(text("UPDATE events SET reported_at = :at WHERE id = :id"),
               {"at": other_partition, "id": second})
    stored = db.execute(text(
        "SELECT e.tableoid::regclass::text, a.reported_at, v.grid_code FROM events e"
        " JOIN event_assignments a ON a.event_id = e.id"
        " JOIN events_with_assignment v ON v.id = e.id WHERE e.id IN (:a, :b) ORDER BY e.id"),
        {"a": first, "b": second}).all()
    assert [tuple(r) for r in stored] == [("events_default", same_partition, G1),
                                          ("events_2026_12", other_partition, G1)]


def test_stats_daily_over_http_answers_the_recount(unassigned_city: Session,
                                                   client: TestClient,
                                                   keys: dict[str, str]) -> None:
    db = unassigned_city
    assign_events(db, "all")
    db.execute(text("UPDATE event_assignments SET grid_code = :g2 WHERE grid_code = :g1"
                    " AND event_id IN (SELECT id FROM events"
                    " WHERE substr(client_id, 6)::int % 12 < 6)"), {"g1": G1, "g2": G2})
    assert assign_events(db, "all").changed == 10
    recount = db.execute(text(
        "SELECT gridlink_local_day(reported_at) AS day, grid_code, count(*)::int"
        " FROM events_with_assignment WHERE status <> 'duplicate' AND grid_code IS NOT NULL"
        " GROUP BY 1, 2 ORDER BY 1, 2")).all()
    answer = client.get("/stats/daily", headers=auth(keys, "viewer"), params={
        "area": G1[:9], "since": "2026-10-30", "until": "2026-11-30", "by": "day,grid_code"})
    assert answer.status_code == 200, answer.text
    assert [(date.fromisoformat(r["day"]), r["grid_code"], r["events"])
            for r in answer.json()["counts"]] == [tuple(r) for r in recount]
    assert sum(r[2] for r in recount) == 50  # G1 20, G2 30 (10 snapped)
