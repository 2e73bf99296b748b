"""geo.importer.deferred_rollups and migration 0036: an events import that inserts early
moves the daily rollups (and the monthly and per-area ones derived from them) once, at its
end, to exactly what the per-statement triggers count; a failed import moves nothing and
leaves the triggers as they were; outside an import every INSERT still rolls up at once;
the migration's downgrade gives the plain trigger back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed
from geo.importer import import_file
from geo.schema import alembic_config, upgrade
from tests.geo.importer_files import two_grids_geojson
from tests.geo.migration_db import database_at
from tests.geo.test_import_early_inserts import ROWS, events_file

ROLLUPS = {
    "event_daily_counts": ("day, category, status, events, valid, due, closed_on_time, "
                           "closed_postponed, closed_first_time", "day"),
    "event_monthly_counts": ("month, events, valid, handled, closed, closed_on_time", "month"),
    "event_area_daily_counts": ("area_code, day, category, events, valid, due", "day"),
}
"""Each rollup table, the columns compared and its day or month column (only the test
files' year 2024 is compared: other tests' committed rows may share the database)."""
SETTING = "SELECT current_setting('gridlink.event_rollups', true)"
COUNT_UPSERTS = (  # records each statement that writes the daily rollups
    "CREATE TEMP TABLE rollup_statements (n int); "
    "CREATE FUNCTION count_rollup_statement() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO rollup_statements VALUES (1); RETURN NULL; END $$; "
    "CREATE TRIGGER count_rollup_statement AFTER INSERT ON event_daily_counts "
    "FOR EACH STATEMENT EXECUTE FUNCTION count_rollup_statement()")


def rollups(db: Session | Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of each rollup table (the columns of :data:`ROLLUPS`), sorted."""
    return {table: sorted((tuple(r) for r in db.execute(text(
        f"SELECT {columns} FROM {table} WHERE {day} BETWEEN '2024-01-01' AND '2024-12-31'"
    ))), key=repr) for table, (columns, day) in ROLLUPS.items()}


def varied(rows: int = ROWS) -> dict[str, list[Any]]:
    """Categories and days that spread the file's events over several rollup keys."""
    return {"category": [("garbage", "dispute", "street_light")[i % 3] for i in range(rows)],
            "reported_at": [f"2024-{3 + i % 2:02d}-{1 + i % 4:02d}T08:00:00+08:00"
                            for i in range(rows)]}


def test_an_import_rolls_up_once_what_the_triggers_count(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    import_file(db, "events", events_file(tmp_path, "first.gpkg", rows=7))
    second = events_file(tmp_path, "second.gpkg", changes=varied())
    with db.begin_nested() as staged_path:  # skip_invalid: every statement rolls up itself
        staged = import_file(db, "events", second, skip_invalid=True, batch_rows=5)
        expected = rollups(db)
        staged_path.rollback()
    early = import_file(db, "events", second, batch_rows=5)
    assert (early.inserted, early.updated) == (staged.inserted, staged.updated) == (16, 7)
    assert rollups(db) == expected
    assert sum(row[3] for row in expected["event_daily_counts"]) == ROWS
    assert len(expected["event_daily_counts"]) == 17  # days x categories x stored grids
    assert db.scalar(text(SETTING)) == ""  # restored: later INSERTs roll up at once


def test_a_first_load_writes_the_rollups_in_one_statement(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    db.execute(text(COUNT_UPSERTS))
    report = import_file(db, "events", events_file(tmp_path, changes=varied()), batch_rows=5)
    assert report.inserted == ROWS
    # five batches inserted, one upsert; the other: the new events assigned after the import
    assert db.scalar(text("SELECT count(*) FROM rollup_statements")) == 2
    assert [r[:4] for r in rollups(db)["event_daily_counts"]] == sorted(
        ((day, category, "reported", count) for day, category, count in db.execute(text(
            "SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date, category, count(*) "
            "FROM events WHERE import_id = :i GROUP BY 1, 2"), {"i": report.import_id})),
        key=repr)


def test_a_failed_import_moves_no_rollup(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    import_file(db, "events", events_file(tmp_path, "first.gpkg", rows=7))
    before = rollups(db)
    statuses = ["reported"] * ROWS
    statuses[19] = "nonsense"  # found in the fourth batch, after three were inserted
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "events", events_file(tmp_path, changes={**varied(), "status": statuses}),
                    batch_rows=5)
    assert [(p["row"], p["field"]) for p in info.value.details] == [(20, "status")]
    assert rollups(db) == before
    assert db.scalar(text(SETTING)) in ("", None)
    db.execute(text("INSERT INTO events (category, reported_at, status, priority, geom, "
                    "handling_level, postponements, reworks, valid) VALUES ('garbage', "
                    "'2024-03-01T08:00:00+08:00', 'reported', 'normal', "
                    "ST_SetSRID(ST_MakePoint(113.301, 40.085), 4326), 'grid', 0, 0, true)"))
    assert sum(r[3] for r in rollups(db)["event_daily_counts"]) == 8  # at once, as before


INSERT = ("INSERT INTO events (category, reported_at, status, priority, geom, handling_level, "
          "postponements, reworks, valid) SELECT 'garbage', '2024-03-01T08:00:00+08:00', "
          "'reported', 'normal', ST_SetSRID(ST_MakePoint(113.3, 40.08), 4326), 'grid', 0, 0, "
          "true FROM generate_series(1, :n)")
DAILY = "SELECT coalesce(sum(events), 0) FROM event_daily_counts"


@pytest.fixture
def at_0035(database_url: str) -> Iterator[tuple[str, Engine]]:
    with database_at(database_url, "0036", "0035") as made:
        yield made


def test_upgrade_then_downgrade(at_0035: tuple[str, Engine]) -> None:
    url, engine = at_0035
    upgrade(url, "0036")
    with engine.begin() as conn:  # deferred: collected, then added once
        conn.execute(text("CREATE TEMP TABLE gridlink_event_roll_ups (LIKE event_daily_counts)"
                          " ON COMMIT DROP"))
        conn.execute(text("SELECT set_config('gridlink.event_rollups', 'deferred', true)"))
        conn.execute(text(INSERT), {"n": 3})
        conn.execute(text(INSERT), {"n": 2})
        assert conn.scalar(text(DAILY)) == 0
        assert conn.execute(text("SELECT events FROM gridlink_event_roll_ups ORDER BY 1")
                            ).scalars().all() == [2, 3]
        conn.execute(text("SELECT gridlink_flush_event_roll_ups()"))
        assert conn.scalar(text("SELECT count(*) FROM gridlink_event_roll_ups")) == 0
        assert conn.scalar(text(DAILY)) == 5
    with engine.begin() as conn:  # not deferred: at once
        conn.execute(text(INSERT), {"n": 1})
        assert conn.scalar(text(DAILY)) == 6
        assert conn.scalar(text("SELECT events FROM event_monthly_counts")) == 6
    command.downgrade(alembic_config(url), "0035")
    with engine.begin() as conn:  # the setting no longer matters
        conn.execute(text("SELECT set_config('gridlink.event_rollups', 'deferred', true)"))
        conn.execute(text(INSERT), {"n": 1})
        assert conn.scalar(text(DAILY)) == 7
        assert conn.scalar(text("SELECT count(*) FROM pg_proc WHERE proname IN "
                                "('events_roll_up_deferred', 'gridlink_flush_event_roll_ups')")
                           ) == 0
