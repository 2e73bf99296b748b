"""The Dask path (geo.distributed) on a LocalCluster gives the single-machine answer
(geo.assign.assign_events) on every event.

The workers are separate processes with their own database connections, so the data lives
in a committed database of its own: the small city of tests/e2e/city.py plus 30 cameras of
every kind with events just inside and outside the edges of their views, events on shared
grid edges and vertices, in the gap between grids, in the dedicated school grid, and
outside the district (snapped within 30 m, or unassigned).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from distributed import Client, LocalCluster
from pyproj import Geod
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geo import assign as assign_mod
from geo import assign_memory, event_assignments
from geo.assign import assign_events
from geo.db import transaction
from geo.distributed.assign import assign_events_dask
from geo.distributed.partitions import spatial_partitions
from geo.errors import ValidationFailed
from geo.event_assignments import COLUMNS
from geo.reassignments import ReassignIn, reassign_event
from geo.rollups import RECOUNT_SQL, STORED_SQL
from geo.video.views import refresh_views
from tests.e2e.city import GAP_CENTRE
from tests.geo.test_first_assignment_rollups import record_builders
from tests.live_server import live_database

ON_EDGES = [(113.305, 40.0875), (113.305, 40.085), (113.3025, 40.085), (113.310, 40.086),
            GAP_CENTRE, (113.2999, 40.0860), (113.2995, 40.0860), (113.330, 40.100)]
"""On a shared edge, on a shared vertex, on the community border, in the gap, 8.5 m and
43 m west of the district (snapped / unassigned), 1.5 km away (unassigned)."""


def _cameras_and_events(engine: Engine) -> int:
    """30 cameras and ~500 events around the small city; returns the number of events."""
    rng, geod = np.random.default_rng(18), Geod(ellps="WGS84")
    lons, lats = rng.uniform(113.300, 113.320, 30), rng.uniform(40.080, 40.090, 30)
    points = list(zip(rng.uniform(113.297, 113.323, 300), rng.uniform(40.078, 40.092, 300),
                      strict=True)) + ON_EDGES
    with engine.begin() as conn:
        for i, (lon, lat) in enumerate(zip(lons, lats, strict=True)):
            kind, fov = ("fixed", "dome", "ptz")[i % 3], float(rng.choice([10.0, 60.0, 360.0]))
            az, reach = float(rng.uniform(0, 360)), float(rng.choice([20.0, 150.0, 600.0]))
            conn.execute(text(
                "INSERT INTO cameras (code, name, camera_type, azimuth_deg, fov_deg, range_m,"
                " status, geom) VALUES (:c, 'cam', :t, :a, :f, :r, :s,"
                " ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
                {"c": f"9{i:03d}", "t": kind, "a": az, "f": fov, "r": reach,
                 "s": "offline" if i == 7 else "online", "x": lon, "y": lat})
            for side in (-1, 1):
                for off, dist in ((fov / 2 - 0.05, reach * 0.999), (fov / 2 + 0.05, reach * 0.9)):
                    x, y, _ = geod.fwd(lon, lat, az + side * off, dist)
                    points.append((x, y))
            points.append((float(lon), float(lat)))  # on the camera itself
        for j, (x, y) in enumerate(points):
            conn.execute(text(
                "INSERT INTO events (client_id, category, reported_at, status, priority, geom,"
                " handling_level, postponements, reworks, valid) VALUES (:c, 'garbage', now(),"
                " 'reported', 'normal', ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'grid', 0, 0,"
                " true)"), {"c": f"dask-{j}", "x": float(x), "y": float(y)})
        return int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())


@pytest.fixture(scope="module")
def city(database_url: str) -> Iterator[tuple[str, int]]:
    """A committed database with the city and events (URL, number of events)."""
    server = make_url(database_url).set(database="postgres").render_as_string(
        hide_password=False)
    with live_database(server, f"gridlink_dask_{os.getpid()}") as url:
        engine = create_engine(url)
        yield url, _cameras_and_events(engine)
        engine.dispose()


@pytest.fixture(scope="module")
def dask(city: tuple[str, int]) -> Iterator[Client]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def _stored(url: str) -> dict[int, tuple[Any, ...]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            f"SELECT event_id, {', '.join(COLUMNS)} FROM event_assignments"))
        stored = {r[0]: tuple(r[1:]) for r in rows}
    engine.dispose()
    return stored


def test_dask_answers_equal_the_single_machine_path_on_every_event(
        city: tuple[str, int], dask: Client) -> None:
    url, n = city
    with transaction(create_engine(url)) as session:
        single = assign_events(session, "all")
    oracle = _stored(url)
    assert single.events == n == len(oracle)
    assert single.snapped > 0 and single.unassigned > 0 and single.with_cameras > 50

    again = assign_events_dask(dask, url, cell_deg=0.004, target_events=60)
    assert (again.events, again.changed) == (n, 0)  # every column of every row equal
    assert len(again.partitions) > 4 and sum(p["events"] for p in again.partitions) == n
    assert len({p["worker"] for p in again.partitions}) == 2

    with create_engine(url).begin() as conn:
        conn.execute(text("DELETE FROM event_assignments"))
    fresh = assign_events_dask(dask, url, cell_deg=0.004, target_events=60)
    assert (fresh.events, fresh.changed, fresh.covered, fresh.snapped, fresh.unassigned,
            fresh.with_cameras) == (n, n, single.covered, single.snapped, single.unassigned,
                                    single.with_cameras)
    assert _stored(url) == oracle
    with create_engine(url).connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM pg_tables WHERE tablename LIKE"
                                 " 'dask_assign_%'")).scalar_one()
    assert left == 0  # the staging tables are dropped


def test_every_event_falls_in_exactly_one_partition(city: tuple[str, int]) -> None:
    url, n = city
    with transaction(create_engine(url)) as session:
        parts = spatial_partitions(session, cell_deg=0.003, target_events=25)
    assert sum(p.events for p in parts) == n
    assert all(p.events <= 25 or p.first_row == p.last_row for p in parts)
    assert len({(p.column, p.first_row) for p in parts}) == len(parts)


def test_bad_partition_shape_and_k_are_refused(city: tuple[str, int], dask: Client) -> None:
    url, _ = city
    with pytest.raises(ValidationFailed) as bad_k:
        assign_events_dask(dask, url, k=51)
    assert bad_k.value.details == [{"field": "k", "value": 51}]
    with pytest.raises(ValidationFailed) as bad_cell:
        assign_events_dask(dask, url, cell_deg=0.0)
    assert bad_cell.value.details == [{"field": "cell_deg", "value": 0.0}]


def test_a_reassigned_case_keeps_its_grid_on_the_dask_path(
        city: tuple[str, int], dask: Client) -> None:
    url, _ = city
    engine = create_engine(url)
    with transaction(engine) as session:
        assign_events(session, "all")
        event_id, grid = session.execute(text(
            "SELECT a.event_id, a.grid_code FROM event_assignments a JOIN events e"
            " ON e.id = a.event_id WHERE a.assignment = 'covered' AND e.status = 'reported'"
            " ORDER BY a.event_id LIMIT 1")).one()
        other = session.execute(text(
            "SELECT code FROM grids WHERE level = 'grid' AND kind <> 'dedicated'"
            " AND valid_to IS NULL AND code <> :g ORDER BY code LIMIT 1"),
            {"g": grid}).scalar_one()
        reassign_event(session, event_id, ReassignIn(grid_code=other, reason="wrong side"),
                       actor="dispatcher-1")
    assign_events_dask(dask, url, cell_deg=0.004, target_events=60)
    assert _stored(url)[event_id][COLUMNS.index("grid_code")] == other
    engine.dispose()


def test_cameras_hidden_by_a_building_are_left_out_on_both_paths(
        city: tuple[str, int], dask: Client) -> None:
    """Two solid blocks among the cameras: their shadows hide some (camera, event) pairs,
    and the Dask path leaves out exactly the pairs geo.assign leaves out."""
    url, n = city
    engine = create_engine(url)
    blocks = ["POLYGON((113.306 40.082, 113.309 40.082, 113.309 40.0835, 113.306 40.0835,"
              " 113.306 40.082))",
              "POLYGON((113.312 40.086, 113.3145 40.086, 113.3145 40.088, 113.312 40.088,"
              " 113.312 40.086))"]
    with transaction(engine) as session:
        for i, wkt in enumerate(blocks):
            session.execute(text(
                "INSERT INTO buildings (code, name, households, population, geom) VALUES"
                " (:c, 'block', 0, 0, ST_Multi(ST_GeomFromText(:w, 4326)))"),
                {"c": f"BLOCK{i}", "w": wkt})
        refresh_views(session)
        single = assign_events(session, "all")
        kept = n - session.execute(text("SELECT count(*) FROM event_reassignments")).scalar_one()
        hidden = session.execute(text(
            "SELECT count(*) FROM camera_shadows s JOIN cameras c ON c.code = s.camera_code"
            " JOIN events e ON ST_Covers(s.geom, e.geom) WHERE c.status = 'online'")).scalar_one()
    assert hidden > 0 and single.events == kept  # reassigned cases keep their grid
    oracle = _stored(url)
    again = assign_events_dask(dask, url, cell_deg=0.004, target_events=60)
    assert (again.events, again.changed) == (kept, 0)
    assert _stored(url) == oracle
    with transaction(engine) as session:
        session.execute(text("DELETE FROM buildings WHERE code LIKE 'BLOCK%'"))
        refresh_views(session)
    engine.dispose()


def test_grids_and_cameras_read_beside_the_selection_give_the_same_rows(
        city: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-memory engine reads the grids and cameras on a side connection while its own
    selects the events, and snaps half the events outside every grid there (its transaction
    has written nothing yet, so both see the same committed rows): the first assignment it
    stores, of every event or of the unassigned ones, is row for row the one read in the
    job's own transaction stores."""
    url, n = city
    engine = create_engine(url)
    monkeypatch.setattr(assign_mod, "MEMORY_FROM_EVENTS", 0)
    readers: list[int] = []
    box: tuple[float, ...] = ()
    read = assign_memory.read_inputs

    def recorded(session: Session, read_box: tuple[float, float, float, float]) -> Any:
        nonlocal box
        readers.append(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        box = read_box
        return read(session, read_box)

    monkeypatch.setattr(assign_memory, "read_inputs", recorded)
    monkeypatch.setattr(assign_memory, "SNAP_SPLIT_FROM", 2)  # the side snaps half
    snappers: list[int] = []
    snap = assign_memory.nearest_grids_of

    def snapping(session: Session, *args: Any) -> Any:
        snappers.append(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        return snap(session, *args)

    monkeypatch.setattr(assign_memory, "nearest_grids_of", snapping)
    stored, jobs, boxes = [], [], []
    for scope, beside in (("all", True), ("unassigned", True), ("all", False)):
        if not beside:
            monkeypatch.setattr(assign_memory, "_READS_BESIDE_SQL", "SELECT false")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM event_assignments"))
        with transaction(engine) as session:
            jobs.append(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
            summary = assign_events(session, scope)
        stored.append(_stored(url))
        boxes.append(box)
        assert summary.changed == summary.events == len(stored[-1]) > n / 2
    # every event: every grid and camera read (no extent scan); some: their extent's
    assert boxes[0] == assign_memory.WORLD and boxes[1] != boxes[0]
    assert readers[0] != jobs[0] and readers[1] != jobs[1] and readers[2] == jobs[2]
    # a job beside: its own connection and a side one (either may ask first); inside:
    assert len(snappers) == 5 and snappers[4] == jobs[2]  # its own only
    for job, pair in ((jobs[0], snappers[:2]), (jobs[1], snappers[2:4])):
        assert job in pair and len(set(pair)) == 2
    assert stored[0] == stored[1] == stored[2]
    engine.dispose()


MOVE_STORED = """
UPDATE event_assignments a
   SET (district_code, street_code, community_code, grid_code, micro_grid_code) =
       (b.district_code, b.street_code, b.community_code, b.grid_code, b.micro_grid_code)
  FROM event_assignments b
 WHERE a.event_id % 3 = 0 AND b.event_id = a.event_id + 1
   AND b.grid_code IS DISTINCT FROM a.grid_code
"""
"""A redraw as the next re-run sees it: every third stored row given the next event's grid
chain (the statement triggers move the rollups), which the re-run moves back."""
RECOUNT = RECOUNT_SQL.format(where="")


def test_a_redraw_builds_its_rollup_tables_beside_its_rows(
        city: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-run that rebuilds the rollups, on a committed database: its rollup tables are
    built on side connections while its own connection writes the changed rows, then swapped
    in with them: rollups equal to a recount, nothing pending."""
    url, _ = city
    engine = create_engine(url)
    monkeypatch.setattr(assign_mod, "MEMORY_FROM_EVENTS", 0)
    monkeypatch.setattr(event_assignments, "REBUILD_FROM_SHARE", 0.0)
    with transaction(engine) as session:
        assign_events(session, "all")
    with engine.begin() as conn:
        moved = conn.execute(text(MOVE_STORED)).rowcount
    builders = record_builders(monkeypatch)
    with transaction(engine) as session:
        job = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        summary = assign_events(session, "all")
    assert moved > 20 and summary.changed >= moved and summary.superseded == 0
    assert len(builders) == 3 and job not in builders
    with engine.connect() as conn:
        assert conn.execute(text(f"({STORED_SQL} EXCEPT {RECOUNT}) UNION ALL"
                                 f" ({RECOUNT} EXCEPT {STORED_SQL})")).all() == []
        assert conn.execute(text("SELECT count(*) FROM rollup_refresh WHERE done_at IS NULL")
                            ).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM pg_tables WHERE tablename LIKE"
                                 " '%\\_rebuilt'")).scalar_one() == 0
    engine.dispose()
