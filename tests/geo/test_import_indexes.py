"""geo.importer.indexes: a load into a table no larger than itself rebuilds the secondary
indexes (same definitions after); a larger table, or a table someone holds, keeps them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.importer import import_file
from tests.geo.importer_files import two_grids_geojson
from tests.geo.test_import_streaming import events_gpkg, stored_events

SECONDARY = {"idx_events_geom", "ix_events_category", "ix_events_client_id",
             "ix_events_open_category", "ix_events_open_due", "ix_events_open_geom",
             "ix_events_reported_at", "ix_events_status"}
"""The partitioned indexes of ``events`` (migration 0020): each has a copy per month."""


def indexes(db: Session) -> dict[str, tuple[int, str]]:
    """Index name → (oid, definition) of every index on events."""
    return {name: (oid, definition) for name, oid, definition in db.execute(text(
        "SELECT i.relname, x.indexrelid::int, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = 'events'::regclass"))}


def rebuilt(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]
            ) -> set[str]:
    assert {n: d for n, (_, d) in before.items()} == {n: d for n, (_, d) in after.items()}
    return {name for name in before if before[name][0] != after[name][0]}


def test_first_load_rebuilds_secondary_indexes(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    before = indexes(db)
    report = import_file(db, "events", events_gpkg(tmp_path), skip_invalid=True,
                         batch_rows=5)
    assert report.inserted == 8
    assert rebuilt(before, indexes(db)) == SECONDARY
    assert db.scalar(text(  # every partition has its copy of each again
        "SELECT count(*) FROM pg_inherits p JOIN pg_class i ON i.oid = p.inhparent"
        " WHERE i.relname = ANY(:names)"), {"names": list(SECONDARY)}) == len(SECONDARY) * (
        db.scalar(text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")))
    assert db.scalar(text("SELECT count(*) FROM events WHERE ST_Intersects(geom, "
                          "ST_MakeEnvelope(113.30, 40.08, 113.305, 40.09, 4326))")) == 4


def test_load_into_a_larger_table_keeps_indexes(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    db.execute(text(
        "INSERT INTO events (client_id, category, reported_at, status, priority, geom, "
        "handling_level, postponements, reworks, valid) SELECT 'OLD' || i, 'garbage', "
        "'2024-03-01T08:00:00+08:00', 'reported', 'normal', "
        "ST_SetSRID(ST_MakePoint(113.301, 40.085), 4326), 'grid', 0, 0, true "
        "FROM generate_series(1, 12) i"))
    before = indexes(db)
    report = import_file(db, "events", events_gpkg(tmp_path), skip_invalid=True,
                         batch_rows=5)
    assert (report.inserted, rebuilt(before, indexes(db))) == (8, set())


def test_table_held_by_a_reader_keeps_indexes(db: Session, engine: Engine,
                                              tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    expected = [("EV001",), ("EV002",), ("EV004",), ("EV005",), ("EV006",), ("EV009",),
                ("EV010",), ("EV012",)]
    with engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM events"))  # holds ACCESS SHARE
        before = indexes(db)
        report = import_file(db, "events", events_gpkg(tmp_path), skip_invalid=True,
                             batch_rows=5)
        assert (report.inserted, rebuilt(before, indexes(db))) == (8, set())
        assert [r[:1] for r in stored_events(db)] == expected
        reader.rollback()
