"""Visibility polygons on small named cases (metric coordinates, camera at the origin, 6 m
high, facing north with a 90° view and 100 m reach unless said otherwise)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from geo.video.visibility import Obstacles, View, Viewpoint, compute_view, shadow_end

NORTH_90 = Viewpoint(0.0, 0.0, 6.0, 0.0, 90.0, 100.0)
QUARTER_DISC = math.pi / 4 * 100**2


def buildings(*items: tuple[str, Polygon, float]) -> Obstacles:
    return Obstacles(np.array([g for _, g, _ in items], dtype=object),
                     np.array([h for _, _, h in items], dtype=float),
                     np.array([c for c, _, _ in items], dtype=object))


def sees(view: View, x: float, y: float) -> bool:
    return bool(view.visible.covers(Point(x, y)))


def blocker(view: View, x: float, y: float) -> list[str]:
    return sorted(code for code, (_, g) in view.shadows.items() if g.covers(Point(x, y)))


def test_open_field_sees_the_whole_sector() -> None:
    view = compute_view(NORTH_90, Obstacles.none())
    assert view.shadows == {}
    assert view.visible.area == pytest.approx(QUARTER_DISC, rel=1e-4)
    assert sees(view, 0, 99.9) and sees(view, 70, 70.5) and not sees(view, 71, 69)


def test_building_straight_in_front() -> None:
    view = compute_view(NORTH_90, buildings(("B1", box(-5, 20, 5, 30), math.nan)))
    # shadow = the wedge ±atan(5/20) beyond the front face: 0.5 R² θ - the triangle (100 m²)
    theta = 2 * math.atan(5 / 20)
    assert view.visible.area == pytest.approx(QUARTER_DISC - (0.5 * 100**2 * theta - 100),
                                              rel=0.01)
    assert view.shadows["B1"][0] == pytest.approx(20.0, abs=0.01)
    assert sees(view, 0, 10) and not sees(view, 0, 25) and not sees(view, 0, 90)
    assert blocker(view, 0, 90) == ["B1"] and blocker(view, 0, 10) == []
    assert sees(view, 20, 50) and not sees(view, 11, 50)


def test_building_half_covering_the_sector() -> None:
    view = compute_view(NORTH_90, buildings(("WEST", box(-100, 30, 0, 40), math.nan)))
    # the east half of the sector, plus the triangle in front of the building's face
    assert view.visible.area == pytest.approx(QUARTER_DISC / 2 + 450, rel=0.01)
    assert sees(view, 10, 80) and sees(view, -20, 25) and not sees(view, -20, 50)


def test_camera_in_a_courtyard_sees_the_courtyard_only() -> None:
    ring = box(-20, -20, 20, 20).difference(box(-10, -10, 10, 10))
    ptz = Viewpoint(0.0, 0.0, 6.0, 0.0, 360.0, 100.0)
    view = compute_view(ptz, buildings(("YARD", ring, math.nan)))
    assert view.visible.area == pytest.approx(400, abs=5)
    assert sees(view, 9, 9) and not sees(view, 0, 15) and not sees(view, 0, 30)


def test_courtyard_seen_from_outside_is_hidden() -> None:
    ring = box(-20, 30, 20, 70).difference(box(-10, 40, 10, 60))
    view = compute_view(NORTH_90, buildings(("YARD", ring, math.nan)))
    assert not sees(view, 0, 50) and blocker(view, 0, 50) == ["YARD"]
    assert sees(view, 0, 29) and not sees(view, 0, 80)


def test_low_courtyard_wall_hides_only_what_is_just_behind_it() -> None:
    # 3 m walls, camera 6 m, target 1.7 m: the shadow of a wall ending at d reaches
    # d * (6 - 1.7) / (6 - 3) = 1.433 d
    wall = box(-50, 20, 50, 22)
    view = compute_view(NORTH_90, buildings(("WALL", wall, 3.0)))
    assert not sees(view, 0, 21) and not sees(view, 0, 31)
    assert sees(view, 0, 22 * 4.3 / 3 + 0.5) and sees(view, 0, 60)


def test_low_wall_does_not_hide_a_standing_person() -> None:
    view = compute_view(NORTH_90, buildings(("FENCE", box(-50, 20, 50, 21), 1.5)))
    assert sees(view, 0, 21.5) and not sees(view, 0, 20.5)


def test_camera_on_a_wall_facing_away_sees_the_full_sector() -> None:
    house = box(-10, -10, 10, 0)  # the camera sits on its north wall
    view = compute_view(NORTH_90, buildings(("HOUSE", house, 9.0)))
    assert view.visible.area == pytest.approx(QUARTER_DISC, rel=1e-3)
    assert sees(view, 0, 0.5) and sees(view, 0, 50)


def test_camera_on_a_wall_facing_into_it_sees_nothing() -> None:
    house = box(-10, -10, 10, 0)
    south = Viewpoint(0.0, 0.0, 6.0, 180.0, 90.0, 100.0)
    view = compute_view(south, buildings(("HOUSE", house, math.nan)))
    assert view.visible.area < 0.5
    assert blocker(view, 0, -50) == ["HOUSE"] and blocker(view, 0, -0.5) == ["HOUSE"]


def test_shadow_end_rule() -> None:
    near, far = np.array([10.0, 10.0, 10.0, 10.0]), np.array([12.0, 12.0, 12.0, 12.0])
    ends = shadow_end(near, far, np.array([math.nan, 8.0, 1.0, 3.0]), 6.0, 1.7, 100.0)
    assert ends.tolist() == pytest.approx([100.0, 100.0, 12.0, 12 * 4.3 / 3])


def test_angular_error_bound_holds_near_a_shadow_edge() -> None:
    view = compute_view(NORTH_90, buildings(("B1", box(-5, 20, 5, 30), math.nan)))
    edge = math.atan(5 / 20)
    for r in (40.0, 90.0):
        bound = r * math.radians(0.5) / 2
        inside = edge - 1.01 * bound / r
        outside = edge + 1.01 * bound / r
        assert not sees(view, r * math.sin(inside), r * math.cos(inside))
        assert sees(view, r * math.sin(outside), r * math.cos(outside))
    assert shapely.is_valid(view.visible)


def test_footprint_touching_the_sector_edge_only_is_no_shadow() -> None:
    # the host building's corner touches the sector along its edge ray: the overlay gives a
    # line, never a shadow, and the view is the full sector
    corner = Viewpoint(0.0, 0.0, 6.0, 45.0, 90.0, 100.0)
    house = box(-10, -10, 0, 0)
    view = compute_view(corner, buildings(("HOUSE", house, math.nan)))
    assert view.visible.area == pytest.approx(QUARTER_DISC, rel=1e-3)
    assert view.visible.geom_type in ("Polygon", "MultiPolygon")
