"""geo.assignment_index: a large first assignment runs without the grid-code index of
event_assignments (recorded pending, dropped concurrently before the job's transaction)
and builds it concurrently after the commit; readers answer the same meanwhile, without
waiting; a process killed after the commit leaves it to ``gridlink db indexes``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo import assign as assign_mod
from geo import assignment_index
from geo.assign import assign_events
from geo.assignment_index import GRID_CODE_INDEX, grid_code_index_off
from geo.importer.pending_indexes import pending
from geo.rollups import RECOUNT_SQL, STORED_SQL
from tests.geo.migration_db import database_at
from tests.geo.test_assign import insert_named_events
from tests.geo.test_locate import G1, build_small_city

ROOT = Path(__file__).resolve().parents[2]
RECOUNT = RECOUNT_SQL.format(where="")
IN_G1 = "SELECT count(*) FROM events_with_assignment WHERE grid_code LIKE :prefix"
"""An area filter (the maps' ``grid_code LIKE '<prefix>%'``): uses the index when present."""
INDEX = "SELECT indisvalid, pg_get_indexdef(indexrelid) FROM pg_index WHERE indexrelid ="\
        " to_regclass(:n)"


@pytest.fixture
def city(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Engine]]:
    """A database of its own with the small city and its named events, committed, never
    assigned; a first assignment of 8 events counts as large."""
    with database_at(database_url, "assignment_index") as (url, engine):
        with Session(engine) as session, session.begin():
            build_small_city(session)
            insert_named_events(session)
        monkeypatch.setattr(assignment_index, "OFF_FROM_EVENTS", 8)
        monkeypatch.setattr(assign_mod, "MEMORY_FROM_EVENTS", 0)
        yield url, engine


def _index(engine: Engine) -> tuple[object, ...] | None:
    with engine.connect() as conn:
        row = conn.execute(text(INDEX), {"n": GRID_CODE_INDEX}).first()
        return tuple(row) if row else None


ROLLUP_SECONDARY = sorted(["ix_event_area_daily_counts_parent", "ix_event_daily_counts_category",
                           "ix_event_daily_counts_grid"])
"""The rollups' indexes that are not the keys their writers upsert through: left to after
the commit of a first assignment run without the grid-code index."""
ROLLUP_INDEXES = ("SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i"
                  " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = ANY(ARRAY["
                  "'event_daily_counts'::regclass, 'event_monthly_counts'::regclass,"
                  " 'event_area_daily_counts'::regclass]) ORDER BY 1")


def _rollup_indexes(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(ROLLUP_INDEXES))]


def _rollups_exact(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM (({STORED_SQL} EXCEPT {RECOUNT})"
                                 f" UNION ALL ({RECOUNT} EXCEPT {STORED_SQL})) x")
                            ).scalar_one() == 0


def _in_g1(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(IN_G1), {"prefix": G1 + "%"}).scalar_one())


def test_first_assignment_without_the_index_then_built_after_the_commit(
        city: tuple[str, Engine]) -> None:
    _, engine = city
    before, rollup_indexes = _index(engine), _rollup_indexes(engine)
    assert before is not None and before[0] is True
    with grid_code_index_off(engine, "all") as off:
        assert off and _index(engine) is None
        with engine.connect() as conn:
            assert pending(conn, "event_assignments") == [GRID_CODE_INDEX]
        with Session(engine) as session, session.begin():
            assert assign_events(session, "all").changed == 8
        assert _in_g1(engine) == 6  # readers answer without the index, no wait
        # the rollups committed with their unique keys; the other indexes come after
        with engine.connect() as conn:
            assert sorted(pending(conn)) == sorted([GRID_CODE_INDEX, *ROLLUP_SECONDARY])
        assert [r[0] for r in _rollup_indexes(engine)] == sorted(
            r[0] for r in rollup_indexes if r[0] not in ROLLUP_SECONDARY)
        assert _rollups_exact(engine)
    assert _index(engine) == before
    assert _rollup_indexes(engine) == rollup_indexes and _rollups_exact(engine)
    assert _in_g1(engine) == 6
    with engine.connect() as conn:
        assert pending(conn) == []
    with grid_code_index_off(engine, "all") as again:  # assignments stored: not a first
        assert not again and _index(engine) == before


def test_an_area_job_or_a_small_city_keeps_the_index(city: tuple[str, Engine],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _, engine = city
    with grid_code_index_off(engine, "area") as off:
        assert not off and _index(engine) is not None
    monkeypatch.setattr(assignment_index, "OFF_FROM_EVENTS", 9)
    with grid_code_index_off(engine, "all") as off:
        assert not off and _index(engine) is not None


KILLED_AFTER_COMMIT = """
import sys, time
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from geo import assign, assignment_index
assignment_index.OFF_FROM_EVENTS, assign.MEMORY_FROM_EVENTS = 8, 0
engine = create_engine(sys.argv[1])
off = assignment_index.before_bulk_assignment(engine, "all")
with Session(engine) as session, session.begin():
    summary = assign.assign_events(session, "all")
print("committed", off, summary.changed, flush=True)
time.sleep(120)  # killed here, before building the index left for after the commit
"""


def test_killed_after_the_commit_then_gridlink_db_indexes(city: tuple[str, Engine]) -> None:
    url, engine = city
    before = _index(engine)
    child = subprocess.Popen([sys.executable, "-c", KILLED_AFTER_COMMIT, url], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout is not None
        assert child.stdout.readline().split() == ["committed", "True", "8"]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert _index(engine) is None and _in_g1(engine) == 6
    rollup_indexes_left = [r[0] for r in _rollup_indexes(engine)]
    assert not set(rollup_indexes_left) & set(ROLLUP_SECONDARY)
    with engine.connect() as conn:
        assert sorted(pending(conn)) == sorted([GRID_CODE_INDEX, *ROLLUP_SECONDARY])
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "gridlink"), "db", "indexes"],
                          env={**os.environ, "GRIDLINK_DATABASE_URL": url}, text=True,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert GRID_CODE_INDEX in done.stdout
    assert all(name in done.stdout for name in ROLLUP_SECONDARY)
    assert _index(engine) == before
    assert sorted(r[0] for r in _rollup_indexes(engine) if r[1]) == sorted(
        [*rollup_indexes_left, *ROLLUP_SECONDARY])
    assert _rollups_exact(engine)
    with engine.connect() as conn:
        assert pending(conn) == []
