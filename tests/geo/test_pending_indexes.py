"""geo.importer.pending_indexes: a deferring first load of events builds the dispatchers'
indexes before its commit and the others after it (a small load: all of them after it); a
process killed right after the commit leaves a consistent database (every event, its
claim, its feed row and its roll-up count once) whose missing indexes the next import or
``gridlink db indexes`` builds, also from the leftovers of a builder stopped half way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.importer import import_file
from geo.importer import indexes as index_room
from geo.importer.indexes import AFTER_COMMIT
from geo.importer.pending_indexes import build_pending_indexes, built_in_transaction, pending
from tests.geo.importer_files import two_grids_geojson
from tests.geo.migration_db import database_at
from tests.geo.test_import_early_inserts import ROWS, events_file
from tests.geo.test_import_indexes import SECONDARY, indexes

ROOT = Path(__file__).resolve().parents[2]
AT_ONCE = {"ix_events_open_due", "ix_events_open_category"}
"""What a deferring first load builds before its commit (dispatch: overdue list, duplicates)."""
IN_ENVELOPE = ("SELECT count(*) FROM events WHERE ST_Intersects(geom, "
               "ST_MakeEnvelope(113.3005, 40.08, 113.3025, 40.09, 4326))")
"""Events EV001..EV016 (points 0.0001° apart from 113.301, the last 113.3022)."""


def definitions(conn: Session) -> dict[str, str]:
    return {name: d for name, (_, d) in indexes(conn).items()}


def test_deferring_first_load_builds_dispatch_indexes_before_commit(
        db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_room, "SMALL_LOAD", ROWS - 1)  # a load larger than "small"
    import_file(db, "grids", two_grids_geojson(tmp_path))
    before = definitions(db)
    report = import_file(db, "events", events_file(tmp_path), batch_rows=5,
                         defer_indexes=True)
    assert report.inserted == ROWS
    assert set(report.indexes_pending) == AFTER_COMMIT["events"] == SECONDARY - AT_ONCE
    assert report.notes[-1].startswith("indexes built after the commit: ")
    assert set(definitions(db)) == AT_ONCE | {"pk_events"}
    assert set(pending(db, "events")) == AFTER_COMMIT["events"]
    assert db.scalar(text("SELECT DISTINCT import_id FROM pending_indexes")) == report.import_id
    assert db.scalar(text(IN_ENVELOPE)) == 16  # the same answer without the GiST indexes
    assert set(built_in_transaction(db, "events")) == AFTER_COMMIT["events"]
    assert definitions(db) == before
    assert (pending(db), db.scalar(text(IN_ENVELOPE))) == ([], 16)


def test_a_small_deferring_load_builds_every_index_after_commit(db: Session,
                                                               tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    before = definitions(db)
    report = import_file(db, "events", events_file(tmp_path), batch_rows=5,
                         defer_indexes=True)
    assert ROWS <= index_room.SMALL_LOAD
    assert set(report.indexes_pending) == set(pending(db, "events")) == SECONDARY
    assert set(definitions(db)) == {"pk_events"}
    assert db.scalar(text(IN_ENVELOPE)) == 16  # the same answer without any index
    assert set(built_in_transaction(db, "events")) == SECONDARY
    assert definitions(db) == before


def test_without_deferring_every_index_is_built(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    before = definitions(db)
    report = import_file(db, "events", events_file(tmp_path), batch_rows=5)
    assert (report.inserted, report.indexes_pending, pending(db)) == (ROWS, [], [])
    assert definitions(db) == before


KILLED_AFTER_COMMIT = """
import sys, time
from pathlib import Path
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from geo.importer import import_file
with Session(create_engine(sys.argv[1])) as session, session.begin():
    report = import_file(session, "events", Path(sys.argv[2]), batch_rows=5,
                         defer_indexes=True)
print("committed", len(report.indexes_pending), flush=True)
time.sleep(120)  # killed here, before building the indexes left for after the commit
"""


def _killed_after_commit(url: str, path: Path) -> None:
    """Run a deferring import of ``path`` in a process of its own and kill it (SIGKILL)
    once it has committed, before it builds the pending indexes."""
    child = subprocess.Popen([sys.executable, "-c", KILLED_AFTER_COMMIT, url, str(path)],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout is not None
        assert child.stdout.readline().split() == ["committed", str(len(SECONDARY))]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)


def _consistent_without_indexes(engine: Engine) -> dict[str, str]:
    """Every event once (claims, feed, daily roll-ups), the secondary indexes missing and
    pending (a small load leaves them all); returns the definitions of the indexes present."""
    with Session(engine) as session:
        assert session.execute(text(
            "SELECT (SELECT count(*) FROM events), (SELECT count(DISTINCT client_id) FROM "
            "events), (SELECT count(*) FROM event_client_ids c JOIN events e ON e.id = "
            "c.event_id AND e.client_id = c.client_id), (SELECT count(*) FROM event_changes),"
            " (SELECT count(DISTINCT event_id) FROM event_changes), (SELECT sum(events) FROM "
            "event_daily_counts)")).one() == (ROWS, ROWS, ROWS, ROWS, ROWS, ROWS)
        assert set(pending(session)) == SECONDARY
        assert session.scalar(text(IN_ENVELOPE)) == 16
        return definitions(session)


def _stopped_builder_leftovers(engine: Engine) -> None:
    """What a builder killed half way leaves: a parent index ``ON ONLY`` (invalid) and a
    partition's copy not attached yet."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        definition = conn.scalar(text("SELECT definition FROM pending_indexes "
                                      "WHERE name = 'idx_events_geom'"))
        conn.execute(text(str(definition)))
        partition = conn.scalar(text("SELECT inhrelid::regclass::text FROM pg_inherits "
                                     "WHERE inhparent = 'events'::regclass ORDER BY 1 LIMIT 1"))
        conn.execute(text(f"CREATE INDEX {partition}_idx_events_geom ON {partition} "
                          "USING gist (geom)"))
        assert conn.scalar(text("SELECT indisvalid FROM pg_index "
                                "WHERE indexrelid = 'idx_events_geom'::regclass")) is False


def _every_index_once(engine: Engine, expected: dict[str, str]) -> None:
    """The indexes of a fresh schema, valid, one copy per partition each, nothing pending."""
    with Session(engine) as session:
        assert definitions(session) == expected
        assert pending(session) == []
        assert session.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE x.indisvalid) FROM pg_index x JOIN "
            "pg_inherits p ON p.inhrelid = x.indrelid WHERE p.inhparent = 'events'::regclass"
        )).one() == (len(expected) * len(_partitions(session)),) * 2
        assert session.scalar(text(IN_ENVELOPE)) == 16


def _partitions(session: Session) -> list[str]:
    return list(session.scalars(text(
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'events'::regclass")))


def test_killed_after_commit_then_gridlink_db_indexes(database_url: str,
                                                      tmp_path: Path) -> None:
    with database_at(database_url, "pending_cli") as (url, engine):
        with Session(engine) as session:
            fresh = definitions(session)
        with Session(engine) as session, session.begin():
            import_file(session, "grids", two_grids_geojson(tmp_path))
        _killed_after_commit(url, events_file(tmp_path))
        present = _consistent_without_indexes(engine)
        assert set(present) == {"pk_events"}
        _stopped_builder_leftovers(engine)
        done = subprocess.run([str(ROOT / ".venv" / "bin" / "gridlink"), "db", "indexes"],
                              env={**os.environ, "GRIDLINK_DATABASE_URL": url}, text=True,
                              capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert "indexes built after the commit: " in done.stdout
        _every_index_once(engine, fresh)
        assert build_pending_indexes(engine) == []  # nothing left


def test_killed_after_commit_then_the_next_import(database_url: str, tmp_path: Path) -> None:
    with database_at(database_url, "pending_next") as (url, engine):
        with Session(engine) as session:
            fresh = definitions(session)
        with Session(engine) as session, session.begin():
            import_file(session, "grids", two_grids_geojson(tmp_path))
        _killed_after_commit(url, events_file(tmp_path))
        _consistent_without_indexes(engine)
        _stopped_builder_leftovers(engine)
        with Session(engine) as session, session.begin():  # an update of one event
            report = import_file(session, "events", events_file(
                tmp_path, "again.gpkg", 1, {"category": ["dispute"]}))
        assert (report.inserted, report.updated, report.indexes_pending) == (0, 1, [])
        _every_index_once(engine, fresh)
