"""The Dask path reading and writing GeoParquet (geo.distributed.geoparquet, .stats) on a
LocalCluster: the same answers as the PostGIS path, and /stats' counts from an archive.

Events and cameras are those of tests/geo/test_distributed_assign.py (edges, vertices, the
gap between grids, outside the district, the edges of camera views), in a committed database
of their own; the events are written to a GeoParquet dataset of three files (geometry column
``geom`` as in the archive, a manifest beside them), and assigned from it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from distributed import Client, LocalCluster
from fastapi.testclient import TestClient
from pyproj import CRS
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.app import create_app
from api.settings import ApiSettings
from geo.assign import assign_events
from geo.db import transaction
from geo.distributed.assign import assign_events_dask
from geo.distributed.stats import month_stats
from geo.distributed.targets import Targets
from geo.errors import ValidationFailed
from geo.event_archive import archive_month, months_before
from geo.event_assignments import COLUMNS
from geo.stats import FIELDS
from tests.geo.test_distributed_assign import _cameras_and_events, _stored
from tests.live_server import committed_keys, live_database


@pytest.fixture(scope="module")
def city(database_url: str) -> Iterator[tuple[str, int]]:
    """A committed database with the city, cameras and events, every event assigned by the
    single-machine path (URL, number of events)."""
    server = make_url(database_url).set(database="postgres").render_as_string(
        hide_password=False)
    with live_database(server, f"gridlink_parquet_{os.getpid()}") as url:
        engine = create_engine(url)
        n = _cameras_and_events(engine)
        with transaction(engine) as session:
            assign_events(session, "all")
        engine.dispose()
        yield url, n


@pytest.fixture(scope="module")
def dask(city: tuple[str, int]) -> Iterator[Client]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def _events_of(url: str) -> gpd.GeoDataFrame:
    engine = create_engine(url)
    with engine.connect() as conn:
        frame = gpd.read_postgis(text("SELECT id, reported_at, geom FROM events ORDER BY id"),
                                 conn, geom_col="geom")
    engine.dispose()
    return frame


def _dataset(events: gpd.GeoDataFrame, folder: Path, files: int = 3) -> Path:
    """``events`` as ``files`` GeoParquet files in ``folder`` (and a manifest, ignored)."""
    folder.mkdir(parents=True)
    for i, part in enumerate(np.array_split(np.arange(len(events)), files)):
        events.iloc[part].to_parquet(folder / f"events_{i}.parquet", index=False)
    (folder / "events_0.json").write_text("{}")
    return folder


def _as_stored(frame: pd.DataFrame) -> dict[int, tuple[Any, ...]]:
    """Rows of an assignments file as ``_stored`` gives them (lists, None for missing)."""
    def plain(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return list(value)
        return None if value is None or (isinstance(value, float) and np.isnan(value)) \
            else value
    return {int(r[0]): tuple(plain(v) for v in r[1:])
            for r in frame[["id", *COLUMNS]].itertuples(index=False, name=None)}


def test_geoparquet_in_and_out_gives_the_postgis_paths_answers(
        city: tuple[str, int], dask: Client, tmp_path: Path) -> None:
    url, n = city
    oracle = _stored(url)
    events = _events_of(url)
    source = _dataset(events, tmp_path / "archive")

    with create_engine(url).begin() as conn:
        conn.execute(text("DELETE FROM event_assignments"))
    both = assign_events_dask(dask, url, targets=Targets(from_parquet=str(source),
                                                         to_parquet=str(tmp_path / "out")))
    assert (both.events, both.changed) == (n, n)
    assert _stored(url) == oracle  # PostGIS written from GeoParquet: every row equal
    files = sorted((tmp_path / "out").glob("*.parquet"))
    assert [f.name for f in files] == ["part.00000.parquet", "part.00001.parquet",
                                       "part.00002.parquet"]  # one file per partition
    assert [p["file"].rsplit("/", 1)[1] for p in both.partitions] == [f.name for f in files]
    written = gpd.read_parquet(tmp_path / "out")
    assert _as_stored(written) == oracle
    by_id = events.set_index("id").geom
    assert bool(np.all(shapely.equals_exact(written.geometry.values,
                                            by_id.loc[written.id].values, 0)))
    geo = json.loads(pq.read_schema(files[0]).metadata[b"geo"])["columns"]["geometry"]
    assert (geo["encoding"], geo["geometry_types"], CRS(geo["crs"]).to_epsg()) == (
        "WKB", ["Point"], 4326)

    shuffled = assign_events_dask(dask, url, targets=Targets(
        from_parquet=str(source), to_parquet=str(tmp_path / "shuffled"), to_database=False,
        spatial_shuffle=True))
    assert (shuffled.events, len(shuffled.partitions)) == (n, 3)
    assert _as_stored(gpd.read_parquet(tmp_path / "shuffled")) == oracle

    from_postgis = assign_events_dask(dask, url, cell_deg=0.004, target_events=60, targets=
                                      Targets(to_parquet=str(tmp_path / "pg"), to_database=False))
    assert (from_postgis.events, from_postgis.covered, from_postgis.snapped,
            from_postgis.unassigned, from_postgis.with_cameras) == (
        both.events, both.covered, both.snapped, both.unassigned, both.with_cameras)
    assert _as_stored(gpd.read_parquet(tmp_path / "pg")) == oracle
    assert len(list((tmp_path / "pg").glob("*.parquet"))) == len(from_postgis.partitions) > 4


def test_a_cgcs2000_dataset_is_reprojected_and_a_box_keeps_its_events(
        city: tuple[str, int], dask: Client, tmp_path: Path) -> None:
    url, _ = city
    oracle = _stored(url)
    events = _events_of(url).set_crs(4490, allow_override=True)
    source = _dataset(events, tmp_path / "cgcs2000")
    box = (113.296, 40.077, 113.310, 40.0935)
    inside = events.cx[box[0]:box[2], box[1]:box[3]]
    summary = assign_events_dask(dask, url, targets=Targets(
        from_parquet=str(source), to_parquet=str(tmp_path / "out"), to_database=False,
        bbox=box))
    written = gpd.read_parquet(tmp_path / "out")
    assert written.crs.to_epsg() == 4326
    assert summary.events == len(inside) == len(written) < len(events)
    assert _as_stored(written) == {i: oracle[i] for i in inside.id}


def _refusal(dask: Client, url: str, source: Path | str, out: Path) -> list[dict[str, Any]]:
    with pytest.raises(ValidationFailed) as refused:
        assign_events_dask(dask, url, targets=Targets(from_parquet=str(source),
                                                      to_parquet=str(out)))
    return refused.value.details


def test_datasets_that_are_not_events_are_refused_naming_file_and_field(
        city: tuple[str, int], dask: Client, tmp_path: Path) -> None:
    url, _ = city
    before = _stored(url)
    events = _events_of(url)
    out = tmp_path / "out"
    no_id = tmp_path / "no_id.parquet"
    events.drop(columns="id").to_parquet(no_id)
    assert _refusal(dask, url, no_id, out) == [{"file": str(no_id), "field": "id"}]
    unknown = tmp_path / "unknown_crs.parquet"
    events.set_crs(None, allow_override=True).to_parquet(unknown)
    assert _refusal(dask, url, unknown, out) == [{"file": str(unknown), "field": "crs"}]
    mixed = _dataset(events, tmp_path / "mixed", files=2)
    events.iloc[:5].to_crs(4547).to_parquet(mixed / "events_9.parquet")
    assert _refusal(dask, url, mixed, out) == [{"file": str(mixed / "events_9.parquet"),
                                                "field": "crs"}]
    empty = tmp_path / "empty.parquet"
    events.iloc[:0].to_parquet(empty)
    assert _refusal(dask, url, empty, out) == [{"file": str(empty), "field": "rows",
                                                "files": 1}]
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"id": [1]}).to_parquet(plain)
    assert _refusal(dask, url, plain, out) == [{"file": str(plain), "field": "geo"}]
    polygons = tmp_path / "polygons.parquet"
    events.assign(geom=shapely.buffer(np.asarray(events.geom), 0.001)).to_parquet(polygons)
    assert _refusal(dask, url, polygons, out) == [{"file": str(polygons), "field": "geom",
                                                   "geometry_types": ["Polygon"]}]
    assert _refusal(dask, url, tmp_path / "nothing", out) == [
        {"file": str(tmp_path / "nothing"), "field": "path"}]
    (out / "x").mkdir(parents=True)
    events.to_parquet(out / "x" / "old.parquet")
    assert _refusal(dask, url, _dataset(events, tmp_path / "good"), out) == [
        {"file": str(out), "field": "to_parquet", "files": 1}]
    assert _stored(url) == before  # nothing written
    assert sorted(p.name for p in out.rglob("*")) == ["old.parquet", "x"]
    with create_engine(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_tables WHERE tablename LIKE"
                                 " 'dask_assign_%'")).scalar_one() == 0


LIFECYCLES = [  # status, valid, due after report (h), closed after report (h), postponements,
    # reworks, first_time
    ("reported", True, 24, None, 0, 0, None), ("dispatched", True, 2, None, 1, 0, None),
    ("closed", True, 24, 5, 0, 0, None), ("closed", True, 4, 30, 1, 0, None),
    ("closed", True, 24, 10, 0, 2, None), ("closed", True, 24, 10, 0, 2, True),
    ("resolved", True, 24, None, 0, 0, None), ("rejected", False, 24, None, 0, 0, None),
    ("closed", True, 400, 20, 0, 0, False), ("in_progress", True, 900, None, 2, 1, None)]
"""A due date before the month's end or after it, closed on time or late, reworked, recorded
first-time flags, rejected, still open."""


def _lifecycle_events(url: str) -> None:
    """~400 events in January and February 2025 (China Standard Time), on grid cells and
    outside the district, across month ends (31 Jan 23:30 local is January)."""
    rng = np.random.default_rng(7)
    starts = [datetime(2024, 12, 31, 16, tzinfo=UTC), datetime(2025, 1, 31, 15, 30, tzinfo=UTC)]
    engine = create_engine(url)
    with engine.begin() as conn:
        for j in range(400):
            status, valid, due_h, closed_h, postponed, reworks, first = LIFECYCLES[j % 10]
            at = starts[j % 2] + timedelta(hours=float(rng.uniform(0, 27 * 24)))
            conn.execute(text(
                "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
                " handling_level, postponements, reworks, valid, due_at, closed_at, first_time)"
                " VALUES (:c, 'garbage', :at, :s, 'normal', ST_SetSRID(ST_MakePoint(:x, :y),"
                " 4326), 'grid', :p, :r, :v, :due, :closed, :first)"),
                {"c": f"life-{j}", "at": at, "s": status, "x": float(rng.uniform(113.2995, 113.32)),
                 "y": float(rng.uniform(40.0795, 40.091)), "p": postponed, "r": reworks,
                 "v": valid, "due": at + timedelta(hours=due_h),
                 "closed": None if closed_h is None else at + timedelta(hours=closed_h),
                 "first": first})
    with transaction(engine) as session:
        assign_events(session, "all")
    engine.dispose()


def _stats_over_http(url: str, month: date) -> list[dict[str, Any]]:
    since = datetime(month.year, month.month, 1, tzinfo=UTC) - timedelta(hours=8)
    until = datetime(month.year + month.month // 12, month.month % 12 + 1, 1,
                     tzinfo=UTC) - timedelta(hours=8)
    with TestClient(create_app(ApiSettings(database_url=url))) as client:
        answer = client.get("/stats", params={
            "level": "grid", "since": since.isoformat(), "until": until.isoformat()},
            headers={"X-API-Key": committed_keys(url)["viewer"]})
    assert answer.status_code == 200, answer.text
    return [{f: u[f] for f in FIELDS if f != "name"} for u in answer.json()["units"]]


def test_month_stats_from_the_archive_equal_stats_while_the_events_were_in_postgis(
        database_url: str, dask: Client, tmp_path: Path) -> None:
    server = make_url(database_url).set(database="postgres").render_as_string(
        hide_password=False)
    with live_database(server, f"gridlink_parquet_stats_{os.getpid()}") as url:
        _lifecycle_events(url)
        months = [date(2025, 1, 1), date(2025, 2, 1)]
        expected = {m.strftime("%Y-%m"): _stats_over_http(url, m) for m in months}
        assert all(len(rows) > 3 for rows in expected.values())
        with transaction(create_engine(url)) as session:
            archived = [archive_month(session, p, tmp_path)
                        for p in months_before(session, date(2025, 3, 1))]
        assert [a.month for a in archived] == months and sum(a.rows for a in archived) == 400
        with create_engine(url).connect() as conn:  # the events left PostGIS ...
            assert conn.execute(text(
                "SELECT count(*) FROM events WHERE client_id LIKE 'life-%'")).scalar_one() == 0
        # ... and /stats over a whole archived month answers what it did: the counts from
        # the monthly rollups archiving keeps, the cases archived while still open from
        # archived_open_cases (geo.event_archive, geo.month_stats.period_unit_stats)
        assert _stats_over_http(url, months[0]) == expected["2025-01"]
        assert _stats_over_http(url, months[1]) == expected["2025-02"]

        rows = month_stats(dask, str(tmp_path), level="grid")
    got = {m: [{f: r[f] for f in FIELDS if f != "name"} for r in rows if r["month"] == m]
           for m in expected}
    assert got == expected
    assert all(r["name"] is None for r in rows)
    with pytest.raises(ValidationFailed) as bad_level:
        month_stats(dask, str(tmp_path), level="desk")
    assert bad_level.value.details == [{"field": "level", "allowed": [
        "grid", "community", "street", "district", "department"]}]
