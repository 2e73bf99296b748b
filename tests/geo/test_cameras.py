"""Field-of-view rules: the SQL expressions and the numpy oracle agree, true north is used."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod, Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.cameras import (
    angle_off_axis,
    bearing_sql,
    covers,
    facing_sql,
    geodesic_bearing_distance,
    is_facing,
)

CAMERA_AT_DATONG = (113.30, 40.08)


def test_camera_facing_north_sees_a_spot_due_north() -> None:
    bearing, dist = geodesic_bearing_distance(113.30, 40.08, 113.30, 40.0809)
    assert float(bearing) == pytest.approx(0.0, abs=1e-12)
    assert float(dist) == pytest.approx(99.93, abs=0.01)
    assert bool(is_facing(bearing, 0.0, 60.0, "fixed"))


@pytest.mark.parametrize(("bearing", "azimuth", "fov", "kind", "inside"), [
    (30.0, 0.0, 60.0, "fixed", True),        # on the right edge of the wedge: included
    (330.0, 0.0, 60.0, "fixed", True),       # left edge
    (30.0001, 0.0, 60.0, "fixed", False),
    (15.0, 350.0, 60.0, "fixed", True),      # wedge across north
    (25.0, 350.0, 60.0, "fixed", False),
    (180.0, 0.0, 60.0, "ptz", True),         # PTZ turns anywhere
    (180.0, 0.0, 360.0, "dome", True),       # 360° dome
])
def test_wedge_edges_and_wraparound(bearing: float, azimuth: float, fov: float, kind: str,
                                    inside: bool) -> None:
    assert bool(is_facing(bearing, azimuth, fov, kind)) is inside


def test_off_axis_is_folded_to_half_open_interval() -> None:
    got = angle_off_axis([0.0, 180.0, 359.0, 10.0], [0.0, 0.0, 0.0, 350.0])
    assert got.tolist() == [0.0, -180.0, -1.0, 20.0]


def test_covers_needs_online_range_and_facing() -> None:
    got = covers([50.0, 150.0, 50.0, 50.0], [100.0, 100.0, 100.0, 100.0],
                 [True, True, False, True], ["online", "online", "online", "offline"])
    assert got.tolist() == [True, False, False, False]


def test_sql_and_numpy_agree_on_random_pairs(db: Session) -> None:
    rng = np.random.default_rng(7)
    n = 3000
    cam_x = 113.30 + rng.uniform(-0.01, 0.01, n)
    cam_y = 40.08 + rng.uniform(-0.01, 0.01, n)
    spot_x = cam_x + rng.uniform(-0.002, 0.002, n)
    spot_y = cam_y + rng.uniform(-0.002, 0.002, n)
    azimuth = rng.uniform(0, 360, n)
    fov = rng.choice([30.0, 60.0, 90.0, 360.0], n)
    kind = rng.choice(["fixed", "dome", "ptz"], n)
    sql = f"""
        WITH c AS (SELECT * FROM unnest(CAST(:cx AS float8[]), CAST(:cy AS float8[]),
                   CAST(:sx AS float8[]), CAST(:sy AS float8[]), CAST(:az AS float8[]),
                   CAST(:fov AS float8[]), CAST(:kind AS text[])) WITH ORDINALITY
                   AS t(cx, cy, sx, sy, azimuth_deg, fov_deg, camera_type, i)),
        g AS (SELECT c.*, ST_SetSRID(ST_MakePoint(cx, cy), 4326) AS cam,
                     ST_SetSRID(ST_MakePoint(sx, sy), 4326) AS spot FROM c)
        SELECT {bearing_sql("g.cam", "g.spot")} AS b,
               ST_Distance(geography(g.cam), geography(g.spot)) AS d,
               {facing_sql(bearing_sql("g.cam", "g.spot"), "g")} AS facing
        FROM g ORDER BY i"""
    rows = db.execute(text(sql), {"cx": cam_x.tolist(), "cy": cam_y.tolist(),
                                  "sx": spot_x.tolist(), "sy": spot_y.tolist(),
                                  "az": azimuth.tolist(), "fov": fov.tolist(),
                                  "kind": kind.tolist()}).all()
    b_sql = np.array([r.b for r in rows])
    d_sql = np.array([r.d for r in rows])
    f_sql = np.array([r.facing for r in rows])
    b_np, d_np = geodesic_bearing_distance(cam_x, cam_y, spot_x, spot_y)
    assert np.max(np.abs(angle_off_axis(b_sql, b_np))) < 1e-8
    assert np.max(np.abs(d_sql - d_np)) < 1e-6
    assert (f_sql == is_facing(b_np, azimuth, fov, kind)).all()


def test_true_north_not_grid_north() -> None:
    """West of EPSG:4547's central meridian (114°E) grid north is ~1.3° off true north.

    A spot at true bearing 29.5° from a camera at 112°E facing north with a 60° wedge is
    inside the wedge; the planar bearing in EPSG:4547 (~30.8°) would wrongly put it outside.
    """
    cam = (112.0, 40.08)
    spot_true_bearing = 29.5
    lon, lat, _ = Geod(ellps="WGS84").fwd(cam[0], cam[1], spot_true_bearing, 80.0)
    bearing, _ = geodesic_bearing_distance(cam[0], cam[1], lon, lat)
    to_gk = Transformer.from_crs(4326, 4547, always_xy=True)
    (x0, x1), (y0, y1) = to_gk.transform([cam[0], lon], [cam[1], lat])
    grid_bearing = np.degrees(np.arctan2(x1 - x0, y1 - y0))
    assert float(bearing) == pytest.approx(29.5, abs=1e-9)
    assert 1.2 < grid_bearing - float(bearing) < 1.4
    assert bool(is_facing(bearing, 0.0, 60.0, "fixed"))
    assert not bool(is_facing(grid_bearing, 0.0, 60.0, "fixed"))
