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
from tests.geo.migration_db import database_at
from tests.geo.test_assign import insert_named_events
from tests.geo.test_locate import G1, build_small_city

ROOT = Path(__file__).resolve().parents[2]
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


def _in_g1(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(IN_G1), {"prefix": G1 + "%"}).scalar_one())


def test_first_assignment_without_the_index_then_built_after_the_commit(
        city: tuple[str, Engine]) -> None:
    _, engine = city
    before = _index(engine)
    assert before is not None and before[0] is True
    with grid_code_index_off(engine, "all") as off:
        assert off and _index(engine) is None
        with engine.connect() as conn:
            assert pending(conn, "event_assignments") == [GRID_CODE_INDEX]
        with Session(engine) as session, session.begin():
            assert assign_events(session, "all").changed == 8
        assert _in_g1(engine) == 6  # readers answer without the index, no wait
    assert _index(engine) == before
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
    with engine.connect() as conn:
        assert pending(conn) == [GRID_CODE_INDEX]
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "gridlink"), "db", "indexes"],
                          env={**os.environ, "GRIDLINK_DATABASE_URL": url}, text=True,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert GRID_CODE_INDEX in done.stdout
    assert _index(engine) == before
    with engine.connect() as conn:
        assert pending(conn) == []
