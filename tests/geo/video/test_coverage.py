"""Coverage with occlusion on a named grid: a 200 m square grid of 300 households, a
20 m x 20 m building in its north-east, one camera at the middle of its south edge facing
north (90°, 100 m): it sees a quarter disc of the outdoor area."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.video.coverage import blind_spots, grid_coverage, views_frame
from geo.video.views import refresh_views
from tests.geo.video.scene import add_building, add_camera, at, footprint

GRID = "140213001001001"
CAM = "14021300081310000001"
QUARTER_DISC = math.pi / 4 * 100**2


def grid_with_one_camera(db: Session, status: str = "online") -> None:
    db.execute(text(
        "INSERT INTO grids (code, name, kind, level, parent_code, community_code, households,"
        " population, version, geom) VALUES (:c, '一网格', 'urban', 'grid', '140213001001',"
        " '140213001001', 300, 900, 1, ST_Multi(ST_GeomFromText(:g, 4326)))"),
        {"c": GRID, "g": footprint(-100, -100, 100, 100).wkt})
    add_building(db, "B_NE", footprint(60, 60, 80, 80))
    add_camera(db, CAM, at(0, -100), status=status)
    refresh_views(db)


def test_seen_share_of_the_outdoor_area(db: Session) -> None:
    grid_with_one_camera(db)
    (row,) = grid_coverage(db, "140213001001").itertuples()
    outdoor = 200 * 200 - 20 * 20
    assert row.outdoor_m2 == pytest.approx(outdoor, rel=2e-3)
    assert row.seen_share == pytest.approx(QUARTER_DISC / outdoor, rel=2e-3)  # 0.198
    assert row.uncovered_households == pytest.approx(300 * (1 - QUARTER_DISC / outdoor),
                                                     abs=0.2)  # 240.5
    (spot,) = blind_spots(db, GRID).itertuples()
    assert spot.grid_code == GRID
    assert spot.area_m2 == pytest.approx(outdoor - QUARTER_DISC, rel=2e-3)
    assert list(views_frame(db, area=GRID)["camera_code"]) == [CAM]


def test_an_offline_camera_sees_nothing(db: Session) -> None:
    grid_with_one_camera(db, status="offline")
    (row,) = grid_coverage(db, GRID).itertuples()
    assert row.seen_share == pytest.approx(0.0, abs=1e-9)
    assert row.uncovered_households == 300.0
