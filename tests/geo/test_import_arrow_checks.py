"""Column-wise (Arrow) checks of a streamed import: times, text fields, the service area."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed
from geo.importer import import_file
from geo.importer.validation import _times_vectorised, _times_with_offsets
from tests.geo.importer_files import two_grids_geojson


def six_events(tmp: Path, reported: list[str], **columns: list[object]) -> Path:
    """Six events in the west grid as a GeoPackage (streamed in batches of 2 below)."""
    rows = {"client_id": [f"EV{i}" for i in range(1, 7)], "category": ["garbage"] * 6,
            "reported_at": reported, **columns}
    geoms = [Point(113.301 + i * 0.001, 40.085) for i in range(6)]
    path = tmp / "six.gpkg"
    gpd.GeoDataFrame(rows, geometry=geoms, crs=4326).to_file(path, driver="GPKG")
    return path


def test_offset_times_in_arrow_equal_the_pandas_path() -> None:
    column = ["2024-03-01T08:30:00+08:00", None, "2024-01-07T07:30:13+08:00",
              "1990-07-01T00:00:00+08:00"]
    assert _times_with_offsets(column) == _times_vectorised(
        pd.Series(column, dtype=object), "datetime") == [
        "2024-03-01T00:30:00.000000+00:00", None, "2024-01-06T23:30:13.000000+00:00",
        "1990-06-30T16:00:00.000000+00:00"]
    assert _times_with_offsets(["2024-03-01T08:30:00.250+08:00"]) is None  # pandas' turn
    assert _times_with_offsets(["2024-03-01 08:30:00"]) is None


def test_batches_of_each_time_style_store_the_same_instants(db: Session,
                                                             tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    path = six_events(tmp_path, ["2024-03-01T08:00:00+08:00", "2024-03-01T00:00:00Z",
                                 "2024-03-01 08:00:00", "2024-03-01T08:00:00",
                                 "2024-03-01T08:00:00.500+08:00", "2024-03-01T01:00:00+01:00"])
    report = import_file(db, "events", path, batch_rows=2)
    assert (report.inserted, report.problems) == (6, [])
    stored = db.execute(text("SELECT client_id, reported_at AT TIME ZONE 'UTC' FROM events "
                             "ORDER BY client_id")).all()
    assert [(c, str(t)) for c, t in stored] == [
        ("EV1", "2024-03-01 00:00:00"), ("EV2", "2024-03-01 00:00:00"),
        ("EV3", "2024-03-01 00:00:00"), ("EV4", "2024-03-01 00:00:00"),
        ("EV5", "2024-03-01 00:00:00.500000"), ("EV6", "2024-03-01 00:00:00")]


def test_text_problems_and_numbers_in_text_fields(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    reported = ["2024-03-01T08:00:00+08:00"] * 6
    path = six_events(tmp_path, reported, status=["reported", "reported", "bogus",
                                                  "closed", "reported", "reported"],
                      reporter=["a", "b", "c", "d", "\ufffd\ufffd", "f"],
                      description=[11, 12, 13, 14, 15, 16])
    with pytest.raises(ValidationFailed) as info:
        import_file(db, "events", path, batch_rows=2)
    assert [(p["row"], p["id"], p["field"], p["problem"]) for p in info.value.details] == [
        (3, "EV3", "status", "status 'bogus' is not one of closed, dispatched, in_progress, "
                             "rejected, reported, resolved"),
        (5, "EV5", "reporter", "reporter holds undecodable characters (wrong encoding? pass "
                               "--encoding GB18030 or UTF-8)")]
    assert db.scalar(text("SELECT count(*) FROM events")) == 0
    path = six_events(tmp_path, reported, description=[11, 12, 13, 14, 15, 16])
    assert import_file(db, "events", path, batch_rows=2).inserted == 6
    assert db.scalars(text("SELECT description FROM events ORDER BY client_id")).all() == [
        "11", "12", "13", "14", "15", "16"]


def test_service_area_is_read_once_for_a_streamed_file(db: Session, tmp_path: Path) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    path = six_events(tmp_path, ["2024-03-01T08:00:00+08:00"] * 6)
    extents: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "ST_Extent" in statement:
            extents.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        report = import_file(db, "events", path, batch_rows=2, dry_run=True)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert (report.rows, report.inserted, len(extents)) == (6, 6, 1)
