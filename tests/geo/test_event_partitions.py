"""Monthly partitions of events (geo.event_partitions, migration 0020): made ahead, rows
moved out of the default partition unchanged, and one event per client id across months,
also when two reports race."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed
from geo.event_partitions import (
    add_months,
    current_month,
    ensure_partitions,
    month_partitions,
    parse_month,
)
from geo.events import EventIn, create_event
from tests.geo.test_locate import COMMUNITY, DISTRICT, STREET, build_small_city

POINT = "ST_SetSRID(ST_MakePoint(113.301, 40.0808), 4326)"


def _partition_of(db: Session, event_id: int) -> str:
    return db.execute(text("SELECT tableoid::regclass::text FROM events WHERE id = :i"),
                      {"i": event_id}).scalar_one()


def test_months_are_parsed_or_refused_naming_the_field() -> None:
    assert parse_month("2026-02") == date(2026, 2, 1)
    assert add_months(date(2026, 11, 1), 3) == date(2027, 2, 1)
    assert add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    with pytest.raises(ValidationFailed) as refused:
        parse_month("2026-13")
    assert refused.value.details == [{"field": "before", "value": "2026-13"}]


def test_local_month_bounds_follow_beijing_time() -> None:
    # 2026-01-31 16:30 UTC is 1 February 00:30 in Beijing
    assert current_month(datetime(2026, 1, 31, 16, 30, tzinfo=UTC)) == date(2026, 2, 1)
    assert current_month(datetime(2026, 1, 31, 15, 59, tzinfo=UTC)) == date(2026, 1, 1)


def test_rows_in_the_default_partition_move_to_their_month_unchanged(db: Session) -> None:
    event_id = db.execute(text(
        "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
        " handling_level, postponements, reworks, valid) VALUES ('old-1', 'garbage',"
        f" '2019-02-28T16:30:00Z', 'reported', 'normal', {POINT}, 'grid', 0, 0, true)"
        " RETURNING id")).scalar_one()
    assert _partition_of(db, event_id) == "events_default"
    row = db.execute(text("SELECT * FROM events WHERE id = :i"), {"i": event_id}).one()
    counts = db.execute(text("SELECT * FROM event_daily_counts ORDER BY day")).all()
    audited = db.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    created = ensure_partitions(db, ahead=1, today=date(2026, 12, 6))
    assert created[0] == "events_2019_03"  # 1 March 00:30 in Beijing
    assert _partition_of(db, event_id) == "events_2019_03"
    assert db.execute(text("SELECT * FROM events WHERE id = :i"), {"i": event_id}).one() == row
    assert db.execute(text("SELECT * FROM event_daily_counts ORDER BY day")).all() == counts
    assert db.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == audited
    months = {p.month for p in month_partitions(db)}
    assert {date(2019, 3, 1), date(2026, 12, 1), date(2027, 1, 1)} <= months
    assert ensure_partitions(db, ahead=1, today=date(2026, 12, 6)) == []


def test_one_client_id_is_one_event_across_months(db: Session) -> None:
    build_small_city(db)
    first, created = create_event(db, EventIn(
        client_id="phone-7", category="garbage", lon=113.301, lat=40.0808,
        reported_at=datetime(2026, 11, 30, 10, tzinfo=UTC)))
    again, created_again = create_event(db, EventIn(
        client_id="phone-7", category="other", lon=113.301, lat=40.0808,
        reported_at=datetime(2026, 12, 2, 10, tzinfo=UTC)))
    assert (created, created_again, again["id"], again["category"]) == (
        True, False, first["id"], "garbage")
    assert db.execute(text("SELECT event_id FROM event_client_ids WHERE client_id = 'phone-7'")
                      ).scalar_one() == first["id"]


@pytest.fixture
def committed_city(engine: Engine) -> Iterator[Engine]:
    with Session(engine) as session, session.begin():
        build_small_city(session)
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE client_id = 'phone-race'"))
        for sql in ("DELETE FROM workers WHERE grid_code LIKE :c || '%'",
                    "DELETE FROM cameras WHERE code LIKE '140213000813100000%'",
                    "DELETE FROM sites WHERE code IN ('S-school', 'S-market')",
                    "DELETE FROM grids WHERE code LIKE :c || '%'",
                    "DELETE FROM admin_areas WHERE code IN (:d, :s, :c)"):
            conn.execute(text(sql), {"c": COMMUNITY, "d": DISTRICT, "s": STREET})


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()")).scalar_one())


def test_racing_reports_with_one_client_id_store_one_event(committed_city: Engine) -> None:
    report = {"client_id": "phone-race", "category": "garbage", "lon": 113.301, "lat": 40.0808}
    second: dict[str, Any] = {}

    def report_again() -> None:
        with Session(committed_city) as session, session.begin():
            second["event"], second["created"] = create_event(session, EventIn(
                **report, reported_at=datetime(2027, 1, 5, tzinfo=UTC)))

    with Session(committed_city) as session:
        with session.begin():
            first, created = create_event(session, EventIn(
                **report, reported_at=datetime(2026, 12, 5, tzinfo=UTC)))
            racer = threading.Thread(target=report_again)
            racer.start()
            deadline = time.monotonic() + 10
            while not _waiting_on_a_lock(committed_city):  # the second waits for the first
                assert time.monotonic() < deadline, "the second report did not wait"
                time.sleep(0.05)
        racer.join(timeout=10)
    assert created and second["created"] is False and second["event"]["id"] == first["id"]
    with committed_city.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events WHERE client_id = 'phone-race'")
                            ).scalar_one() == 1
