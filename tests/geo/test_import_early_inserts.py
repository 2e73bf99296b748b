"""geo.importer.early_inserts: a streamed events import that inserts each batch while the
next one validates stores what the stage-then-upsert path stores (rows, ids in file order,
client-id claims, the import's number, one audit row, indexes rebuilt), updates stored
events the same way, puts every imported event in the change feed once, and a failure in
any batch (a problem found later, a value the database refuses) changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.changes import changes_since
from geo.errors import ValidationFailed
from geo.importer import import_file
from geo.importer.streaming import BATCH_ROWS, FIRST_SLICE
from tests.geo.importer_files import two_grids_geojson
from tests.geo.migration_db import database_at
from tests.geo.test_import_indexes import SECONDARY, indexes, rebuilt

ROWS = 23
"""Five batches of 5 (the last one of 3)."""


def events_file(tmp: Path, name: str = "events.gpkg", rows: int = ROWS,
                changes: dict[str, list[Any]] | None = None) -> Path:
    """``rows`` events EV001... in a GeoPackage, ``changes`` (field → values) over them."""
    data: dict[str, list[Any]] = {
        "client_id": [f"EV{i:03d}" for i in range(1, rows + 1)],
        "category": ["garbage"] * rows,
        "reported_at": [f"2024-03-{1 + i % 28:02d}T08:00:00+08:00" for i in range(rows)],
        "status": ["reported"] * rows, "postponements": [0] * rows}
    data |= changes or {}
    geoms = [Point(113.301 + i * 0.0001, 40.085) for i in range(rows)]
    path = tmp / name
    gpd.GeoDataFrame(data, geometry=geoms, crs=4326).to_file(path, driver="GPKG")
    return path


def stored(db: Session) -> list[tuple[Any, ...]]:
    """Every event in id order: client id, category, time, status, point, import number."""
    return [tuple(r) for r in db.execute(text(
        "SELECT client_id, category, reported_at::text, status, ST_AsText(geom), import_id "
        "FROM events ORDER BY id"))]


def counts(db: Session) -> tuple[int, int, int]:
    """(events, client-id claims, change-feed rows)."""
    return tuple(db.execute(text(  # type: ignore[return-value]
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM event_client_ids), "
        "(SELECT count(*) FROM event_changes)")).one())


def without_import_number(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [r[:-1] for r in rows]


def test_early_inserts_store_what_the_staged_path_stores(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    path, before, audit_rows = events_file(tmp_path), indexes(db), _audit_rows(db)
    feed_before = counts(db)[2]
    with db.begin_nested() as staged_path:  # skip_invalid: stage everything, then upsert
        staged = import_file(db, "events", path, skip_invalid=True, batch_rows=5)
        expected = stored(db)
        staged_path.rollback()
    early = import_file(db, "events", path, batch_rows=5)
    assert (early.rows, early.inserted, early.updated, early.rejected) == (
        staged.rows, staged.inserted, staged.updated, staged.rejected) == (ROWS, ROWS, 0, 0)
    rows = stored(db)
    assert without_import_number(rows) == without_import_number(expected)
    assert [r[0] for r in rows] == [f"EV{i:03d}" for i in range(1, ROWS + 1)]  # file order
    assert {r[-1] for r in rows} == {early.import_id}
    assert counts(db) == (ROWS, ROWS, feed_before + ROWS)
    assert db.scalar(text("SELECT count(*) FROM event_client_ids c JOIN events e ON "
                          "e.id = c.event_id AND e.client_id = c.client_id")) == ROWS
    assert db.scalar(text("SELECT count(DISTINCT event_id) FROM event_changes WHERE "
                          "event_id IN (SELECT id FROM events)")) == ROWS
    assert rebuilt(before, indexes(db)) == SECONDARY  # a first load: built again after
    assert _audit_rows(db) - audit_rows == 1  # the import's one row, no row per event


def test_early_inserts_update_stored_events(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    import_file(db, "events", events_file(tmp_path, "first.gpkg", rows=7))
    second = events_file(tmp_path, "second.gpkg",
                         changes={"category": ["dispute"] * ROWS, "priority": ["high"] * ROWS})
    with db.begin_nested() as staged_path:
        staged = import_file(db, "events", second, skip_invalid=True, batch_rows=5)
        expected = stored(db)
        staged_path.rollback()
    early = import_file(db, "events", second, batch_rows=5)
    assert (early.inserted, early.updated) == (staged.inserted, staged.updated) == (16, 7)
    assert without_import_number(stored(db)) == without_import_number(expected)
    assert db.execute(text("SELECT DISTINCT category, priority FROM events")).all() == [
        ("dispute", "high")]
    assert counts(db)[:2] == (ROWS, ROWS)


def test_a_problem_in_a_later_batch_changes_nothing(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    ids = [f"EV{i:03d}" for i in range(1, ROWS + 1)]
    ids[21] = "EV003"  # row 22 repeats row 3, four batches later
    statuses = ["reported"] * ROWS
    statuses[19] = "nonsense"
    path = events_file(tmp_path, changes={"client_id": ids, "status": statuses})
    before, was = indexes(db), counts(db)
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "events", path, batch_rows=5)
    assert [(p["row"], p["id"], p["field"]) for p in info.value.details] == [
        (20, "EV020", "status"), (22, "EV003", "client_id")]
    assert info.value.details[1]["problem"] == "duplicate client_id 'EV003' (also row 3)"
    assert counts(db) == was
    assert indexes(db) == before  # the same indexes (same oids): never dropped
    assert import_file(db, "events", events_file(tmp_path, "good.gpkg"),
                       batch_rows=5).inserted == ROWS  # the transaction is still usable


def test_a_value_the_database_refuses_changes_nothing(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    db.execute(text(  # stands for any value only the database refuses, in batch 3's INSERT
        "CREATE FUNCTION refuse_ev014() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.client_id = 'EV014' THEN RAISE EXCEPTION 'value out of range: EV014' USING "
        "ERRCODE = 'numeric_value_out_of_range'; END IF; RETURN NEW; END $$; "
        "CREATE TRIGGER refuse_ev014 BEFORE INSERT ON events FOR EACH ROW "
        "EXECUTE FUNCTION refuse_ev014()"))
    before, was = indexes(db), counts(db)
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "events", events_file(tmp_path), batch_rows=5)
    assert info.value.message == ("the database refused a value: value out of range: EV014; "
                                  "nothing was imported")
    assert (counts(db), indexes(db)) == (was, before)


def test_every_imported_event_is_in_the_feed_once(database_url: str, tmp_path: Path) -> None:
    with database_at(database_url, "early_feed") as (_, engine):
        with Session(engine) as session, session.begin():
            import_file(session, "grids", two_grids_geojson(tmp_path))
        with Session(engine) as session, session.begin():
            cursor = str(changes_since(session, "events", "0").next)
            report = import_file(session, "events", events_file(tmp_path), batch_rows=5)
        with Session(engine) as session:
            page = changes_since(session, "events", cursor, limit=100)
        assert report.inserted == ROWS
        assert [c["feature"]["properties"]["client_id"] for c in page.changes] == [
            f"EV{i:03d}" for i in range(1, ROWS + 1)]  # the contract's (xid, id) order: file order
        assert [c["id"] for c in page.changes] == sorted(c["id"] for c in page.changes)
        assert {c["op"] for c in page.changes} == {"upsert"}
        assert not page.more


def _audit_rows(db: Session) -> int:
    return int(db.scalar(text("SELECT count(*) FROM audit_log")) or 0)


def test_a_repeat_within_batches_inserted_together_is_reported(db: Session,
                                                                tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    db.execute(text(  # a slow database: batches 2-5 validate while batch 1 is inserted
        "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "PERFORM pg_sleep(0.5); RETURN NULL; END $$; "
        "CREATE TRIGGER slow_insert BEFORE INSERT ON events FOR EACH STATEMENT "
        "EXECUTE FUNCTION slow_insert()"))
    ids = [f"EV{i:03d}" for i in range(1, ROWS + 1)]
    ids[17] = "EV008"  # row 18 (batch 4) repeats row 8 (batch 2), queued together
    was = counts(db)
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "events", events_file(tmp_path, changes={"client_id": ids}),
                    batch_rows=5)
    assert info.value.details == [{"row": 18, "id": "EV008", "field": "client_id",
                                   "problem": "duplicate client_id 'EV008' (also row 8)"}]
    assert counts(db) == was


def test_a_repeat_of_an_inserted_row_is_reported(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    ids = [f"EV{i:03d}" for i in range(1, ROWS + 1)]
    ids[21] = "EV003"  # row 22 (batch 5) repeats row 3 (batch 1), the only problem
    was = counts(db)
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "events", events_file(tmp_path, changes={"client_id": ids}),
                    batch_rows=5)
    assert info.value.details == [{"row": 22, "id": "EV003", "field": "client_id",
                                   "problem": "duplicate client_id 'EV003' (also row 3)"}]
    assert counts(db) == was


def test_the_inserts_are_planned_with_each_batchs_values(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    db.execute(text(  # records the plan cache mode each INSERT into events runs under
        "CREATE TEMP TABLE plan_modes (mode text); "
        "CREATE FUNCTION plan_mode() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO plan_modes VALUES (current_setting('plan_cache_mode')); RETURN NULL; "
        "END $$; CREATE TRIGGER plan_mode BEFORE INSERT ON events FOR EACH STATEMENT "
        "EXECUTE FUNCTION plan_mode()"))
    report = import_file(db, "events", events_file(tmp_path), batch_rows=5)
    assert report.inserted == ROWS
    assert db.scalars(text("SELECT DISTINCT mode FROM plan_modes")).all() == [
        "force_custom_plan"]
    assert db.scalar(text("SELECT current_setting('plan_cache_mode')")) == "auto"


def big_events_csv(tmp: Path, rows: int, bad: dict[int, str]) -> Path:
    """``rows`` events EV00001... as a plain CSV (lon/lat), ``bad``: 0-based row → its
    reported time instead of a good one."""
    lines = ["client_id,category,reported_at,lon,lat"] + [
        f"EV{i + 1:05d},garbage,{bad.get(i, f'2024-03-{1 + i % 28:02d}T08:00:00+08:00')},"
        f"{113.301 + (i % 90) * 0.0001:.4f},40.085" for i in range(rows)]
    path = tmp / "big.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_first_batch_goes_in_two_parts_rows_numbered_as_one(db: Session,
                                                                 tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    read: list[int] = []
    report = import_file(db, "events", big_events_csv(tmp_path, 12_000, {}),
                         progress=lambda done, total, problems: read.append(done))
    part = BATCH_ROWS // FIRST_SLICE  # a fifth of the first batch alone first
    assert read == [part, *range(BATCH_ROWS, 12_000, BATCH_ROWS), 12_000]
    assert report.inserted == 12_000
    assert db.execute(text("SELECT min(client_id), max(client_id), count(*) FROM events")
                      ).one() == ("EV00001", "EV12000", 12_000)
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "events", big_events_csv(tmp_path, 12_000, {part - 1: "soon",
                                                                   part: "later"}))
    assert [(d["row"], d["line"], d["field"]) for d in info.value.details] == [
        (part, part + 1, "reported_at"), (part + 1, part + 2, "reported_at")]
