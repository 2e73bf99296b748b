"""geo.importer.geopackage: a GeoPackage read by SQLite gives what GDAL's Arrow stream gives
(the same columns, Arrow types, values, geometries and CRS), and a streamed import of it the
same rows and problems; files it does not read go to GDAL."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import UnreadableFile
from geo.importer import import_file, streaming
from geo.importer.geopackage import feature_table, record_batches
from tests.geo.importer_files import two_grids_geojson


def attributes_of_every_kind(tmp: Path) -> Path:
    """Three points (one empty, one null geometry) with a column of each type GDAL writes:
    text, int64/int32/int16, float64/float32, bool, date, datetime with an offset and
    without; the second row's values all null."""
    table = pa.table({
        "name": pa.array(["a", None, "广场"]),
        "n64": pa.array([1, None, 3], pa.int64()), "n32": pa.array([7, None, -2], pa.int32()),
        "n16": pa.array([5, None, 6], pa.int16()),
        "x": pa.array([1.5, None, 2.25]), "x32": pa.array([0.5, None, 1.25], pa.float32()),
        "ok": pa.array([True, None, False]),
        "day": pa.array([dt.date(2024, 3, 1), None, dt.date(2024, 12, 31)]),
        "aware": pa.array([dt.datetime(2024, 3, 1, 0, 30, tzinfo=dt.UTC), None,
                           dt.datetime(2024, 3, 1, 1, 30, 0, 250000, tzinfo=dt.UTC)],
                          pa.timestamp("ms", tz="UTC")),
        "naive": pa.array([dt.datetime(2024, 3, 1, 8), None, dt.datetime(2024, 3, 2, 9)],
                          pa.timestamp("ms")),
        "geometry": pa.array([Point(113.3, 40.08).wkb, Point().wkb, None], pa.binary())})
    path = tmp / "kinds.gpkg"
    pyogrio.write_arrow(table, path, layer="kinds", driver="GPKG", geometry_name="geometry",
                        geometry_type="Point", crs="EPSG:4326")
    return path


def polygons_in_cgcs2000_gk(tmp: Path) -> Path:
    """A bow-tie (invalid), a triangle, an empty polygon and a null geometry in EPSG:4547
    (metres, with the header's envelope GDAL writes for polygons)."""
    x, y = 38_500_000.0, 4_430_000.0
    bow = Polygon([(x, y), (x + 10, y + 10), (x + 10, y), (x, y + 10)])
    shapes = [bow, Polygon([(x, y), (x + 20, y), (x + 20, y + 20)]), Polygon(), None]
    path = tmp / "gk.gpkg"
    gpd.GeoDataFrame({"code": ["bow", "tri", "empty", "none"]},
                     geometry=[MultiPolygon([s]) if s is not None and not s.is_empty else s
                               for s in shapes], crs=4547).to_file(path, driver="GPKG")
    return path


def gdal_batches(path: Path, size: int) -> tuple[str | None, list[pa.RecordBatch], list[Any]]:
    """(CRS, attribute batches, geometries) as GDAL's Arrow stream reads ``path``, dates and
    times as text (geo.importer.streaming)."""
    with pyogrio.open_arrow(path, batch_size=size, use_pyarrow=True,
                            datetime_as_string=True) as (meta, reader):
        batches = list(reader)
    name = meta["geometry_name"]
    geoms = [g for b in batches for g in
             shapely.from_wkb(b.column(name).to_numpy(zero_copy_only=False))]
    return meta["crs"], [b.drop_columns([name]) for b in batches], geoms


@pytest.mark.parametrize("fixture", [attributes_of_every_kind, polygons_in_cgcs2000_gk])
def test_sqlite_reads_what_gdal_reads(tmp_path: Path, fixture: Any) -> None:
    path = fixture(tmp_path)
    crs, expected, expected_geoms = gdal_batches(path, 2)
    table = feature_table(path)
    assert table is not None and table.crs == crs
    read = list(record_batches(path, table, 2))
    assert [b.num_rows for b, _ in read] == [b.num_rows for b in expected]
    for (batch, _), gdal in zip(read, expected, strict=True):
        assert [(f.name, f.type) for f in batch.schema] == [(f.name, f.type) for f in
                                                             gdal.schema]  # not GDAL's notes
        assert batch.equals(gdal)
        assert batch.to_pandas().dtypes.tolist() == gdal.to_pandas().dtypes.tolist()
    geoms = [g for _, part in read for g in part]
    assert [None if g is None else g.wkt for g in geoms] == [
        None if g is None else g.wkt for g in expected_geoms]


def test_fixtures_hold_the_cases(tmp_path: Path) -> None:
    kinds = feature_table(attributes_of_every_kind(tmp_path))
    assert kinds is not None and kinds.crs == "EPSG:4326" and kinds.features == 3
    assert dict(kinds.columns) == {
        "name": pa.string(), "n64": pa.int64(), "n32": pa.int32(), "n16": pa.int16(),
        "x": pa.float64(), "x32": pa.float32(), "ok": pa.bool_(), "day": pa.date32(),
        "aware": pa.string(), "naive": pa.string()}  # times as text, for the validation
    gk = polygons_in_cgcs2000_gk(tmp_path)
    geoms = np.concatenate([g for _, g in record_batches(gk, feature_table(gk), 10)])  # type: ignore[arg-type]
    assert [None if g is None else (g.is_valid, g.is_empty) for g in geoms] == [
        (False, False), (True, False), (True, True), None]


def test_a_value_of_another_type_stays_text_not_zero(tmp_path: Path) -> None:
    """SQLite keeps text in an INTEGER column: GDAL reads 0 (a value the validation cannot
    tell from a real one); this reader hands the batch's column over as text, so the
    validation reports the row; the same for a DATE column (GDAL: 1970-01-01)."""
    path = attributes_of_every_kind(tmp_path)
    with sqlite3.connect(path) as db:
        for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            db.execute(f'DROP TRIGGER "{trigger}"')
        db.execute("UPDATE kinds SET n64 = 'many', day = 'soon', name = 12 WHERE fid = 1")
    batch, _ = next(record_batches(path, feature_table(path), 3))  # type: ignore[arg-type]
    _, gdal, _ = gdal_batches(path, 3)
    assert batch.column("name")[0].as_py() == gdal[0].column("name")[0].as_py() == "12"
    assert (batch.column("n64").to_pylist()[:2], gdal[0].column("n64")[0].as_py()) == (
        ["many", None], 0)
    assert (batch.column("day")[0].as_py(), gdal[0].column("day")[0].as_py()) == (
        "soon", dt.date(1970, 1, 1))


def events_with_local_times(tmp: Path) -> Path:
    """Four events whose ``reported_at`` is a GeoPackage DATETIME column holding what other
    writers than GDAL leave: a local time without offset, one with a space, a UTC time with
    ``Z``, and a value that is no time at all."""
    path = tmp / "local.gpkg"
    gpd.GeoDataFrame(
        {"client_id": [f"LT{i}" for i in range(4)], "category": "garbage",
         "reported_at": pd.to_datetime(["2024-03-01T00:00:00Z"] * 4)},
        geometry=gpd.points_from_xy([113.301, 113.302, 113.303, 113.304], [40.085] * 4),
        crs=4326).to_file(path, driver="GPKG")
    with sqlite3.connect(path) as db:
        for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            db.execute(f'DROP TRIGGER "{trigger}"')
        for fid, value in ((1, "2024-03-01T08:00:00"), (2, "2024-03-01 08:30:00"),
                           (3, "2024-03-01T00:45:00Z"), (4, "soon")):
            db.execute("UPDATE local SET reported_at = ? WHERE fid = ?", (value, fid))
    return path


def test_a_local_time_is_stored_alike_streamed_or_read_whole(
        db: Session, tmp_path: Path) -> None:
    """A DATETIME without offset is local time (UTC+8) whether the GeoPackage is read
    whole by GDAL (a small file) or streamed by SQLite (a large one): GDAL's stream would
    read it as UTC, eight hours off. A value that is no time is reported on its row."""
    import_file(db, "grids", two_grids_geojson(tmp_path))
    path = events_with_local_times(tmp_path)
    results = []
    for batch_rows in (10_000, 2):  # read whole (GDAL), then streamed (SQLite)
        with db.begin_nested() as attempt:
            report = import_file(db, "events", path, skip_invalid=True, batch_rows=batch_rows)
            results.append(([(p["row"], p["field"]) for p in report.problems], [tuple(r) for r in
                            db.execute(text("SELECT client_id, reported_at::text FROM events"
                                            " WHERE client_id LIKE 'LT%' ORDER BY 1"))]))
            attempt.rollback()
    assert results[0] == results[1] == ([(4, "reported_at")], [
        ("LT0", "2024-03-01 00:00:00+00"), ("LT1", "2024-03-01 00:30:00+00"),
        ("LT2", "2024-03-01 00:45:00+00")])


def test_files_it_does_not_read_go_to_gdal(tmp_path: Path) -> None:
    two = tmp_path / "two.gpkg"
    frame = gpd.GeoDataFrame({"k": ["a"]}, geometry=[Point(1, 2)], crs=4326)
    frame.to_file(two, layer="first", driver="GPKG")
    frame.to_file(two, layer="second", driver="GPKG")
    (tmp_path / "text.gpkg").write_text("not a database")
    assert feature_table(two) is None
    assert feature_table(tmp_path / "text.gpkg") is None
    assert streaming.feature_count(two) == 1


def test_a_broken_geometry_blob_is_an_unreadable_file(tmp_path: Path) -> None:
    path = attributes_of_every_kind(tmp_path)
    with sqlite3.connect(path) as db:
        for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            db.execute(f'DROP TRIGGER "{trigger}"')
        db.execute("UPDATE kinds SET geom = x'0102' WHERE fid = 2")
    with pytest.raises(UnreadableFile, match="kinds.gpkg could not be read as GeoPackage"):
        list(record_batches(path, feature_table(path), 3))  # type: ignore[arg-type]


def events_with_every_case(tmp: Path) -> Path:
    """12 events in EPSG:4547: row 2 no time, row 4 an empty point, row 5 a null geometry,
    row 7 repeats row 1's id, row 9 reworked twice (an int and a bool field of the layer),
    row 11 a time that is not one, row 12 outside the service area."""
    ids = [f"EV{i:03d}" for i in range(1, 13)]
    ids[6] = "EV001"
    times: list[str | None] = ["2024-03-01T08:00:00+08:00"] * 12
    times[1], times[10] = None, "yesterday"
    lon = np.array([113.301 + i * 0.001 for i in range(12)])
    lon[11] = 120.0
    geoms: list[Any] = list(gpd.points_from_xy(lon, np.full(12, 40.085), crs=4326)
                            .to_crs(4547))
    geoms[3], geoms[4] = Point(), None
    reworks, first_time = [0] * 12, [True] * 12
    reworks[8], first_time[8] = 2, False
    path = tmp / "events.gpkg"
    gpd.GeoDataFrame({"client_id": ids, "category": "garbage", "reported_at": times,
                      "reworks": reworks, "first_time": first_time},
                     geometry=geoms, crs=4547).to_file(path, driver="GPKG")
    return path


def stored(db: Session) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db.execute(text(
        "SELECT client_id, reported_at::text, reworks, first_time, "
        "ST_AsText(ST_SnapToGrid(geom, 1e-7)) FROM events ORDER BY client_id"))]


def test_a_streamed_import_finds_and_stores_what_gdal_gave(
        db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import_file(db, "grids", two_grids_geojson(tmp_path))
    path = events_with_every_case(tmp_path)
    assert feature_table(path) is not None
    results = []
    for reader in ("sqlite", "gdal"):
        if reader == "gdal":  # the reader before: GDAL's Arrow stream
            monkeypatch.setattr(streaming, "feature_table", lambda _path: None)
        with db.begin_nested() as attempt:
            report = import_file(db, "events", path, skip_invalid=True, batch_rows=5)
            results.append((report.rows, report.inserted, report.rejected,
                            report.problems, stored(db)))
            attempt.rollback()
    assert results[0] == results[1]
    rows, inserted, rejected, problems, events = results[0]
    assert (rows, inserted, rejected) == (12, 6, 6)
    assert [(p["row"], p["field"]) for p in problems] == [
        (2, "reported_at"), (4, "geometry"), (5, "geometry"), (7, "client_id"),
        (11, "reported_at"), (12, "geometry")]
    assert [e[0] for e in events] == ["EV001", "EV003", "EV006", "EV008", "EV009", "EV010"]
    assert events[4] == ("EV009", "2024-03-01 00:00:00+00", 2, False, "POINT(113.309 40.085)")


def test_a_value_of_another_type_is_reported_read_whole_or_streamed(
        db: Session, tmp_path: Path) -> None:
    """Text in an INTEGER column of a GeoPackage (SQLite allows it): GDAL would read 0; the
    SQLite reader reads small files too, so the row is reported at any size, and nothing of
    it is stored."""
    import_file(db, "grids", two_grids_geojson(tmp_path))
    path = tmp_path / "reworks.gpkg"
    gpd.GeoDataFrame(
        {"client_id": ["RW0", "RW1", "RW2"], "category": "garbage",
         "reported_at": ["2024-03-01T08:00:00+08:00"] * 3, "reworks": [0, 1, 2]},
        geometry=gpd.points_from_xy([113.301, 113.302, 113.303], [40.085] * 3),
        crs=4326).to_file(path, driver="GPKG")
    with sqlite3.connect(path) as db_file:
        for (trigger,) in db_file.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            db_file.execute(f'DROP TRIGGER "{trigger}"')
        db_file.execute("UPDATE reworks SET reworks = 'many' WHERE fid = 2")
    for batch_rows in (10_000, 2):  # read whole, then streamed
        with db.begin_nested() as attempt:
            report = import_file(db, "events", path, skip_invalid=True, batch_rows=batch_rows)
            assert [(p["row"], p["field"]) for p in report.problems] == [(2, "reworks")]
            assert [tuple(r) for r in db.execute(text(
                "SELECT client_id, reworks FROM events WHERE client_id LIKE 'RW%'"
                " ORDER BY 1"))] == [("RW0", 0), ("RW2", 2)]
            attempt.rollback()
