"""Boundary doubt in the single-point answer (geo.locate) on the small city of test_locate.

``two_grids_sharing_an_edge``: G1 | G2 share the meridian x = 113.302 (40.080-40.082). Points
are placed at exact geodesic distances from that edge (pyproj), so the distances PostGIS
reports (geography, WGS 84 ellipsoid) are checked to the centimetre.
"""

from __future__ import annotations

import pytest
from pyproj import Geod
from sqlalchemy.orm import Session

from geo.locate import GridCandidate, locate, near_grids
from geo.settings import Settings
from tests.geo.test_locate import G1, G2, build_small_city

GEOD = Geod(ellps="WGS84")
EDGE_LON, LAT = 113.302, 40.0808


def west_of(lon: float, metres: float, lat: float = LAT) -> float:
    """The longitude ``metres`` due west of (lon, lat) on the WGS 84 ellipsoid."""
    x, _, _ = GEOD.fwd(lon, lat, 270.0, metres)
    return float(x)


FIVE_METRES_INSIDE_G1 = (west_of(EDGE_LON, 5.0), LAT)
MIDDLE_OF_G1 = (113.3010, 40.0810)
ON_THE_SHARED_EDGE = (EDGE_LON, LAT)
FIVE_METRES_WEST_OF_G1 = (west_of(113.300, 5.0), LAT)


@pytest.fixture
def city(db: Session) -> Session:
    build_small_city(db)
    return db


def test_point_five_metres_from_the_boundary_lists_both_grids(city: Session) -> None:
    answer = locate(city, *FIVE_METRES_INSIDE_G1)
    doubt = answer.boundary
    assert answer.grid is not None and answer.grid.code == G1
    assert (doubt.in_doubt, doubt.chosen, doubt.rule, doubt.tolerance_m) == (
        True, G1, "inside", 15.0)
    assert [(c.code, c.name, c.covers) for c in doubt.candidates] == [
        (G1, "一网格", True), (G2, "二网格", False)]
    assert [c.distance_m for c in doubt.candidates] == [pytest.approx(5.0, abs=0.01)] * 2


def test_point_far_from_every_boundary_is_not_in_doubt(city: Session) -> None:
    doubt = locate(city, *MIDDLE_OF_G1).boundary
    assert (doubt.in_doubt, doubt.chosen, doubt.rule, doubt.candidates) == (
        False, G1, "inside", [])


def test_point_on_the_shared_edge_goes_to_the_smallest_code(city: Session) -> None:
    doubt = locate(city, *ON_THE_SHARED_EDGE).boundary
    assert (doubt.in_doubt, doubt.chosen, doubt.rule) == (True, G1, "smallest_code")
    assert doubt.candidates == [GridCandidate(code=G1, name="一网格", distance_m=0.0, covers=True),
                                GridCandidate(code=G2, name="二网格", distance_m=0.0, covers=True)]


def test_snapped_point_names_the_nearest_rule(city: Session) -> None:
    answer = locate(city, *FIVE_METRES_WEST_OF_G1)
    doubt = answer.boundary
    assert (answer.assignment, doubt.in_doubt, doubt.chosen, doubt.rule) == (
        "snapped", False, G1, "nearest")
    assert [(c.code, c.covers) for c in doubt.candidates] == [(G1, False)]
    assert doubt.candidates[0].distance_m == pytest.approx(5.0, abs=0.01)


def test_tolerance_is_a_setting(city: Session) -> None:
    narrow = Settings(doubt_tolerance_m=4.0)
    doubt = locate(city, *FIVE_METRES_INSIDE_G1, settings=narrow).boundary
    assert (doubt.in_doubt, doubt.tolerance_m, doubt.candidates) == (False, 4.0, [])
    wide = locate(city, *MIDDLE_OF_G1, settings=Settings(doubt_tolerance_m=90.0)).boundary
    assert [c.code for c in wide.candidates] == [G1, G2]  # 85 m to x=113.300 and x=113.302


def test_near_grids_agrees_with_the_locate_statement(city: Session) -> None:
    rows = near_grids(city, *FIVE_METRES_INSIDE_G1, tolerance_m=15.0)
    answer = locate(city, *FIVE_METRES_INSIDE_G1)
    assert [GridCandidate(**r) for r in rows] == answer.boundary.candidates
