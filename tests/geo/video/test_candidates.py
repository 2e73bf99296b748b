"""Placement candidates from roads and poles, and entrances in the demand (named scenes).

Roads around the origin (metres, EPSG:4547): ``R_EW`` from (-60, 0) to (60, 0) and ``R_NS``
from (0, -60) to (0, 60) cross at (0, 0); ``R_T`` from (30, 0) to (30, 50) ends on R_EW
(a T junction at (30, 0)); ``R_BEND`` turns a corner at (-40, 40) and meets nothing. The
intersections are (0, 0) and (30, 0); a bend, a dead end or a road going on are not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import LineString, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import to_lonlat
from geo.errors import ValidationFailed
from geo.video.candidates import candidate_file_points, road_intersections
from geo.video.placement import ENTRANCE_WEIGHT_M2, PlacementSpec, propose_cameras
from tests.geo.video.scene import ORIGIN, at, footprint

GRID = "140213001001001"


def add_road(db: Session, code: str, *points: tuple[float, float]) -> None:
    line = to_lonlat(LineString([(ORIGIN.x + x, ORIGIN.y + y) for x, y in points]), 4547)
    db.execute(text("INSERT INTO roads (code, kind, geom) VALUES (:c, '支路',"
                    " ST_Multi(ST_GeomFromText(:g, 4326)))"), {"c": code, "g": line.wkt})


def add_grid(db: Session) -> None:
    db.execute(text(
        "INSERT INTO grids (code, name, kind, level, parent_code, community_code, households,"
        " population, version, geom) VALUES (:c, '一网格', 'urban', 'grid', '140213001001',"
        " '140213001001', 300, 900, 1, ST_Multi(ST_GeomFromText(:g, 4326)))"),
        {"c": GRID, "g": footprint(-60, -60, 60, 60).wkt})


def write_poles(tmp: Path, rows: list[tuple[str, str]]) -> Path:
    path = tmp / "杆件.csv"
    path.write_text("编号,经度,纬度\n" + "".join(f"P{n},{lon},{lat}\n"
                                                 for n, (lon, lat) in enumerate(rows)),
                    encoding="utf-8")
    return path


def quarter_cells() -> tuple[int, int]:
    """Lattice cells (5 m, 25 m² each, centred on the grid's) a 90° sector of 40 m from the
    grid's centre sees: the 46 strictly inside, and with the 12 on its two edges (x = ±y),
    which fall either side with the lon/lat round trip's last bits."""
    cells = np.arange(-57.5, 60, 5)
    x, y = np.meshgrid(cells, cells)
    inside = int(((np.abs(x) < y) & (np.hypot(x, y) <= 40)).sum())
    edge = int(((np.abs(x) == y) & (np.hypot(x, y) <= 40)).sum())
    assert (inside, edge) == (46, 12)
    return inside, inside + edge


def test_intersections_of_a_cross_and_a_t_junction(db: Session) -> None:
    add_road(db, "R_EW", (-60, 0), (60, 0))
    add_road(db, "R_NS", (0, -60), (0, 60))
    add_road(db, "R_T", (30, 0), (30, 50))
    add_road(db, "R_BEND", (-50, 40), (-40, 40), (-40, 50))
    outline = box(ORIGIN.x - 60, ORIGIN.y - 60, ORIGIN.x + 60, ORIGIN.y + 60)
    found = road_intersections(db, 4547, outline) - [ORIGIN.x, ORIGIN.y]
    assert found.ravel().tolist() == pytest.approx([0.0, 0.0, 30.0, 0.0], abs=0.02)
    east_half = box(ORIGIN.x + 10, ORIGIN.y - 60, ORIGIN.x + 60, ORIGIN.y + 60)
    assert len(road_intersections(db, 4547, east_half)) == 1


def test_candidate_file_rows_and_bad_rows(tmp_path: Path) -> None:
    pole = at(10, 20)
    path = write_poles(tmp_path, [(f"{pole.x:.9f}", f"{pole.y:.9f}")])
    (xy,) = candidate_file_points(path, 4547)
    assert (xy - [ORIGIN.x, ORIGIN.y]).tolist() == pytest.approx([10.0, 20.0], abs=0.01)
    bad = write_poles(tmp_path, [(f"{pole.x}", f"{pole.y}"), (f"{pole.x}", "北")])
    with pytest.raises(ValidationFailed) as caught:
        candidate_file_points(bad, 4547)
    assert [(d["row"], d["field"]) for d in caught.value.details] == [(2, "纬度")]


def test_an_unseen_gate_turns_the_pole_camera_north(db: Session, tmp_path: Path) -> None:
    """No camera, no building: every heading of the pole at (0, 0) sees the same blind
    area (the lattice is symmetric), so the unseen gate 20 m north decides: heading 0°."""
    add_grid(db)
    db.execute(text("INSERT INTO entrances (code, name, site_code, kind, geom) VALUES"
                    " ('G_NORTH', '北门', 'S1', '校门', ST_GeomFromText(:g, 4326))"),
               {"g": at(0, 20).wkt})
    pole = at(0, 0)
    spec = PlacementSpec(k=1, range_m=40.0, spacing_m=5.0, sources=("poles",),
                         poles=write_poles(tmp_path, [(f"{pole.x:.9f}", f"{pole.y:.9f}")]))
    proposal = propose_cameras(db, GRID, spec)
    assert (proposal.candidates, proposal.by_source, proposal.entrances) == (
        4, {"poles": 4}, 1)
    assert proposal.demand_m2 == pytest.approx(120 * 120 + ENTRANCE_WEIGHT_M2)
    assert proposal.picks == {"greedy": [0], "mclp": [0]}
    assert proposal.entrances_covered == {"greedy": 1, "mclp": 1}
    (camera,) = proposal.cameras
    assert (camera["name"], camera["azimuth_deg"]) == ("建议点位1（杆件）", 0.0)
    low, high = quarter_cells()
    assert 25 * low + ENTRANCE_WEIGHT_M2 <= proposal.covered_m2["mclp"] \
        <= 25 * high + ENTRANCE_WEIGHT_M2


def test_proposals_from_road_intersections(db: Session) -> None:
    add_grid(db)
    add_road(db, "R_EW", (-60, 0), (60, 0))
    add_road(db, "R_NS", (0, -60), (0, 60))
    spec = PlacementSpec(k=2, range_m=40.0, spacing_m=5.0, sources=("intersections",))
    proposal = propose_cameras(db, GRID, spec)
    assert (proposal.candidates, proposal.by_source) == (4, {"intersections": 4})
    assert [c["name"] for c in proposal.cameras] == ["建议点位1（路口）", "建议点位2（路口）"]
    low, high = quarter_cells()  # two opposite or adjacent quarters, no overlap but edges
    assert 2 * 25 * low <= proposal.covered_m2["mclp"] <= 2 * 25 * high
    with pytest.raises(ValidationFailed) as caught:
        propose_cameras(db, GRID, PlacementSpec(sources=("towers",)))
    assert caught.value.details == [{"field": "sources", "value": "towers"}]
