"""geo.importer.audit: an events import leaves one audit row; each event names its import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.audit import Actor, act_as
from geo.importer import import_file
from tests.geo.importer_files import two_grids_geojson
from tests.geo.test_import_streaming import events_gpkg

CLERK = Actor("clerk 甲", "abc1234", "dispatcher", "cli import events")


def last_audit_id(db: Session) -> int:
    """Rows other tests committed (the CLI's) stay: each test reads only the rows after."""
    return int(db.scalar(text("SELECT coalesce(max(id), 0) FROM audit_log")) or 0)


def audit_rows(db: Session, after: int) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db.execute(text(
        "SELECT actor, key_prefix, action, entity, entity_id, after FROM audit_log "
        "WHERE entity IN ('events', 'event_imports') AND id > :after ORDER BY id"),
        {"after": after})]


def test_streamed_import_writes_one_audit_row(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    start = last_audit_id(db)
    act_as(db, CLERK)
    report = import_file(db, "events", events_gpkg(tmp_path), skip_invalid=True,
                         batch_rows=5)
    assert report.import_id is not None
    assert audit_rows(db, start) == [
        ("clerk 甲", "abc1234", "import", "event_imports", str(report.import_id),
         {"file": "events.gpkg", "layer": "events", "rows": 12, "inserted": 8, "updated": 0,
          "rejected": 4, "job": None})]
    created = db.execute(text(
        "SELECT a.actor, a.after->>'file' FROM events e JOIN audit_log a ON "
        "a.entity = 'event_imports' AND a.entity_id = e.import_id::text "
        "WHERE e.client_id = 'EV005'")).one()
    assert tuple(created) == ("clerk 甲", "events.gpkg")
    assert db.scalar(text("SELECT count(*) FROM events WHERE import_id = :i"),
                     {"i": report.import_id}) == 8


def test_reimport_keeps_row_audit_of_updated_events(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    path = events_gpkg(tmp_path)
    start = last_audit_id(db)
    first = import_file(db, "events", path, skip_invalid=True)  # read whole (12 rows)
    again = import_file(db, "events", path, skip_invalid=True, batch_rows=5)
    assert first.import_id is not None and again.import_id == first.import_id + 1
    rows = audit_rows(db, start)
    assert [(r[2], r[3]) for r in rows] == (
        [("import", "event_imports")] + [("update", "events")] * 8
        + [("import", "event_imports")])
    assert rows[0][5]["inserted"] == 8 and rows[-1][5]["updated"] == 8
    assert rows[0][0] == rows[-1][0] == "database user postgres"
    assert db.scalar(text("SELECT count(*) FROM events WHERE import_id = :i"),
                     {"i": again.import_id}) == 8
    assert db.scalar(text("SELECT count(*) FROM events WHERE import_id = :i"),
                     {"i": first.import_id}) == 0


def test_dry_run_and_other_layers_leave_no_import_row(db: Session, tmp_path: Path) -> None:
    start = last_audit_id(db)
    grids = import_file(db, "grids", two_grids_geojson(tmp_path))
    dry = import_file(db, "events", events_gpkg(tmp_path), dry_run=True, batch_rows=5)
    assert grids.import_id is None and dry.import_id is None
    assert audit_rows(db, start) == []
