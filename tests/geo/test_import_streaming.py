"""geo.importer.streaming: a file larger than a batch gives what reading it whole gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import UnreadableFile, ValidationFailed
from geo.importer import import_file
from geo.importer.streaming import BATCH_ROWS
from tests.geo.importer_files import two_grids_geojson


def events_gpkg(tmp: Path) -> Path:
    """12 events; row 3 a bad status, row 8 outside the range, rows 7 and 11 repeat
    rows 2 and 6 (7 within the second batch of 5, 11 across batches)."""
    ids = [f"EV{i:03d}" for i in range(1, 13)]
    ids[6], ids[10] = "EV006", "EV002"
    rows = {"client_id": ids,
            "category": ["garbage"] * 12,
            "reported_at": ["2024-03-01T08:00:00+08:00"] * 12,
            "status": ["reported"] * 12}
    rows["status"][2] = "nonsense"
    geoms = [Point(113.301 + i * 0.001, 40.085) for i in range(12)]
    geoms[7] = Point(213.0, 40.085)
    path = tmp / "events.gpkg"
    gpd.GeoDataFrame(rows, geometry=geoms, crs=4326).to_file(path, driver="GPKG")
    return path


def stored_events(db: Session) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db.execute(text(
        "SELECT client_id, category, reported_at::text, ST_AsText(geom) FROM events "
        "ORDER BY client_id"))]


def test_streamed_problems_equal_whole_file(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    path = events_gpkg(tmp_path)
    seen: list[tuple[int, int, int]] = []
    streamed = import_file(db, "events", path, dry_run=True, batch_rows=5,
                           progress=lambda *step: seen.append(step))
    whole = import_file(db, "events", path, dry_run=True)
    assert seen == [(5, 12, 1), (10, 12, 3), (12, 12, 3)]
    assert streamed.problems == whole.problems
    assert [(p["row"], p["field"]) for p in streamed.problems] == [
        (3, "status"), (7, "client_id"), (8, "geometry"), (11, "client_id")]
    assert streamed.problems[3]["problem"] == "duplicate client_id 'EV002' (also row 2)"
    assert (streamed.rows, streamed.inserted, streamed.updated, streamed.rejected) == (
        whole.rows, whole.inserted, whole.updated, whole.rejected) == (12, 8, 0, 4)
    assert db.scalar(text("SELECT count(*) FROM events")) == 0


def test_streamed_import_fails_whole_then_skips_invalid(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    path = events_gpkg(tmp_path)
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "events", path, batch_rows=5)
    assert len(info.value.details) == 4
    assert db.scalar(text("SELECT count(*) FROM events")) == 0
    with db.begin_nested() as whole_file:
        whole = import_file(db, "events", path, skip_invalid=True)
        expected = stored_events(db)
        whole_file.rollback()
    streamed = import_file(db, "events", path, skip_invalid=True, batch_rows=5)
    assert (streamed.inserted, streamed.updated, streamed.rejected) == (
        whole.inserted, whole.updated, whole.rejected) == (8, 0, 4)
    assert stored_events(db) == expected
    assert [r[0] for r in expected] == [
        "EV001", "EV002", "EV004", "EV005", "EV006", "EV009", "EV010", "EV012"]
    again = import_file(db, "events", path, skip_invalid=True, batch_rows=5)
    assert (again.inserted, again.updated) == (0, 8)


def events_csv(tmp: Path, encoding: str = "utf-8") -> Path:
    """The 12 events of :func:`events_gpkg` as a CSV (lon/lat columns): a blank line after
    row 2 and a description spanning two lines in row 4 move the later rows down."""
    lines = ["client_id,category,reported_at,status,lon,lat,description"]
    ids = [f"EV{i:03d}" for i in range(1, 13)]
    ids[6], ids[10] = "EV006", "EV002"
    for i, client in enumerate(ids):
        status = "nonsense" if i == 2 else "reported"
        lon = 213.0 if i == 7 else 113.301 + i * 0.001
        text_ = '"两行\n描述"' if i == 3 else "垃圾"
        lines.append(f"{client},garbage,2024-03-01T08:00:00+08:00,{status},{lon!r},40.085,{text_}")
        if i == 1:
            lines.append("")
    path = tmp / "events.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def test_streamed_csv_equals_whole_csv(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    path = events_csv(tmp_path)
    seen: list[tuple[int, int, int]] = []
    streamed = import_file(db, "events", path, dry_run=True, batch_rows=5,
                           progress=lambda *step: seen.append(step))
    whole = import_file(db, "events", path, dry_run=True)
    assert seen == [(5, 12, 1), (10, 12, 3), (12, 12, 3)]
    assert streamed.problems == whole.problems
    assert [(p["row"], p["line"], p["field"]) for p in streamed.problems] == [
        (3, 5, "status"), (7, 10, "client_id"), (8, 11, "geometry"), (11, 14, "client_id")]
    assert (streamed.rows, streamed.inserted, streamed.rejected) == (12, 8, 4)
    with db.begin_nested() as whole_file:
        import_file(db, "events", path, skip_invalid=True)
        expected = stored_events(db)
        whole_file.rollback()
    import_file(db, "events", path, skip_invalid=True, batch_rows=5)
    assert stored_events(db) == expected and len(expected) == 8
    assert db.scalar(text("SELECT description FROM events WHERE client_id = 'EV004'")) == \
        "两行\n描述"


def test_streamed_gbk_csv_is_noted(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    report = import_file(db, "events", events_csv(tmp_path, "gbk"), skip_invalid=True,
                         batch_rows=5)
    assert report.notes[0] == "events.csv is not UTF-8: read as GB18030 (GBK)"
    assert db.scalar(text("SELECT count(*) FROM events WHERE description = '垃圾'")) == 7


def test_streamed_csv_with_a_long_record_is_unreadable(db: Session, tmp_path: Path) -> None:
    path = events_csv(tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + "EV099,garbage,x,reported,1,2,d,extra\n",
                    encoding="utf-8")
    with pytest.raises(UnreadableFile) as info:
        import_file(db, "events", path, batch_rows=5)
    assert info.value.message == ("events.csv is not a readable CSV: line 16 has 8 values, "
                                  "the header 7")
    assert db.scalar(text("SELECT count(*) FROM events")) == 0


def test_a_repeat_across_the_split_first_batch_is_reported(db: Session, tmp_path: Path) -> None:
    """With early inserts the first batch is validated in two parts (FIRST_SLICE): a client
    id of the first part repeated in the second is a repeat across batches, reported as
    such (it was once applied as an update of the first row, no problem reported)."""
    rows = BATCH_ROWS + 200
    ids = [f"EV{i:05d}" for i in range(rows)]
    ids[BATCH_ROWS // 2] = ids[100]
    path = tmp_path / "events.csv"
    path.write_text("client_id,category,reported_at,lon,lat\n" + "".join(
        f"{i},garbage,2024-03-01T08:00:00+08:00,113.301,40.085\n" for i in ids),
        encoding="utf-8")
    with pytest.raises(ValidationFailed) as failed:
        import_file(db, "events", path)
    assert failed.value.details == [{
        "row": BATCH_ROWS // 2 + 1, "id": "EV00100", "field": "client_id", "line":
        BATCH_ROWS // 2 + 2, "problem": "duplicate client_id 'EV00100' (also row 101)"}]
    assert db.scalar(text("SELECT count(*) FROM events")) == 0
