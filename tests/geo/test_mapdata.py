"""geo.mapdata: the queries behind the map views, on the small named city."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pyproj import Geod
from shapely.geometry import Point
from sqlalchemy.orm import Session

from geo import mapdata
from geo.errors import NotFound
from tests.e2e.city import (
    CAM_FACING_AWAY,
    CAM_FACING_INCIDENT,
    CAM_OFFLINE,
    GRID_CENTRES,
    INCIDENT,
    draft_moving_edge,
    seed_small_city,
)


@pytest.fixture
def city(db: Session) -> Session:
    seed_small_city(db.connection())
    return db


WEDGE_60_100_M2 = 6 * 100.0**2 * 0.0871557427
"""Area of a 60° / 100 m wedge drawn with 12 chords of 5°: 12 · ½ r² sin 5° (m²)."""

NOV_1_BEIJING = datetime(2026, 10, 31, 16, tzinfo=UTC)
NOV_4_BEIJING = datetime(2026, 11, 3, 16, tzinfo=UTC)


def test_area_outline_names_the_unit_and_refuses_unknown_codes(city: Session) -> None:
    assert mapdata.area_outline(city, "140213001001") == ("140213001001", "向阳社区", "community")
    assert mapdata.area_outline(city, "140213001001003") == (
        "140213001001003", "向阳三网格", "grid")
    with pytest.raises(NotFound) as err:
        mapdata.area_outline(city, "999")
    assert err.value.details == [{"field": "area", "value": "999"}]


def test_areas_under_a_community_include_its_ancestors_not_its_neighbour(city: Session) -> None:
    areas = mapdata.admin_areas_under(city, "140213001001")
    assert list(areas["code"]) == ["140213", "140213001", "140213001001"]
    assert areas.crs.to_epsg() == 4326


def test_grids_under_a_community_are_its_grids_micro_and_dedicated(city: Session) -> None:
    grids = mapdata.grids_under(city, "140213001001")
    assert list(grids["code"]) == [
        "140213001001001", "14021300100100101", "14021300100100102", "140213001001002",
        "140213001001003", "140213001001004", "140213001001901"]
    assert list(grids["level"]).count("micro") == 2


def test_camera_wedges_contain_what_each_camera_sees(city: Session) -> None:
    cams = mapdata.camera_wedges(city, "140213001001").set_index("code")
    assert sorted(cams.index) == sorted([CAM_FACING_INCIDENT, CAM_FACING_AWAY, CAM_OFFLINE])
    spot = Point(*INCIDENT)
    assert cams.loc[CAM_FACING_INCIDENT, "geometry"].contains(spot)
    assert not cams.loc[CAM_FACING_AWAY, "geometry"].contains(spot)
    area = abs(Geod(ellps="WGS84").geometry_area_perimeter(
        cams.loc[CAM_FACING_INCIDENT, "geometry"])[0])
    assert area == pytest.approx(WEDGE_60_100_M2, abs=1.0)
    by_code = mapdata.camera_wedges(city, codes=[CAM_OFFLINE])
    assert list(by_code["code"]) == [CAM_OFFLINE]


def test_coverage_share_counts_online_wedges_only(city: Session) -> None:
    cov = mapdata.grid_camera_coverage(city, "140213001").set_index("code")
    assert list(cov.index) == [c for c in GRID_CENTRES]
    one = cov.loc["140213001001001"]
    assert one["covered_m2"] == pytest.approx(2 * WEDGE_60_100_M2, abs=2.0)
    assert one["covered_share"] == pytest.approx(one["covered_m2"] / one["area_m2"])
    assert cov.loc["140213001002001", "covered_share"] == 0
    assert cov.loc["140213001002002", "covered_share"] == 0


def test_events_by_period_category_and_area(city: Session) -> None:
    found = mapdata.events_in(city, "140213001", NOV_1_BEIJING, NOV_4_BEIJING)
    assert len(found) == 6
    stalls = mapdata.events_in(city, "140213001001", NOV_1_BEIJING, NOV_4_BEIJING, "占道经营")
    assert len(stalls) == 3
    counts = mapdata.event_counts(city, "140213001001001", NOV_1_BEIJING, NOV_4_BEIJING,
                                  "占道经营", bin_days=1)
    assert [(g, str(b)[:10], n) for g, _, b, n in counts.itertuples(index=False)] == [
        ("140213001001001", "2026-10-31", 2), ("140213001001001", "2026-11-02", 1)]
    assert mapdata.event_categories(city, "140213001") == ["alarm", "占道经营", "垃圾暴露"]


def test_alarms_after_an_id_are_the_newer_alarm_events(city: Session) -> None:
    alarms = mapdata.alarms_after(city, 0)
    assert [a["grid_code"] for a in alarms] == ["140213001001003"]
    assert mapdata.alarms_after(city, alarms[0]["id"]) == []


def test_search_by_code_prefix_or_name(city: Session) -> None:
    by_code = mapdata.search_units(city, "140213001002")
    assert [r["code"] for r in by_code] == ["140213001002", "140213001002001", "140213001002002"]
    by_name = mapdata.search_units(city, "三网格")
    assert [(r["code"], r["area_code"]) for r in by_name] == [
        ("140213001001003", "140213001001")]
    assert mapdata.search_units(city, "  ") == []
    assert mapdata.search_units(city, "%") == []


def test_default_area_bounds_and_site_points(city: Session) -> None:
    assert mapdata.default_area(city) == "140213"
    assert mapdata.area_or_default(city, None) == ("140213", "平城区")
    assert mapdata.area_or_default(city, "140213001002001") == ("140213001002001", "东风一网格")
    assert mapdata.area_bounds(city, "140213001002001") == (113.31, 40.08, 113.315, 40.09)
    assert mapdata.site_points(city, ["S001"]) == {"S001": (113.302, 40.087)}


def test_moved_buildings_and_context_of_a_draft(city: Session) -> None:
    cs = draft_moving_edge(city)
    moved = mapdata.moved_buildings(city, cs)
    assert [(r.code, r.from_code, r.to_code, r.households)
            for r in moved.itertuples()] == [("B001", "140213001001002", "140213001001001", 30)]
    context = mapdata.changeset_context(city, cs)
    assert list(context["code"]) == ["140213001001003", "140213001001004"]
    drafted = mapdata.draft_grids(city, cs).set_index("code")
    assert list(drafted.index) == ["140213001001001", "140213001001002", "140213001001003",
                                   "140213001001004"]
    assert drafted.loc["140213001001001"].geometry.bounds[2] == pytest.approx(113.306)
