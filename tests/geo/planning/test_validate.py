"""Coverage validation in PostGIS, cross-checked with shapely 2's coverage functions."""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from shapely import wkb
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound
from geo.planning.validate import validate_area
from geo.settings import get_settings
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code


def stored_grids_m(db: Session) -> list[Any]:
    """The current ordinary grids of the community as stored, in local metres."""
    rows = db.execute(text(
        "SELECT ST_AsBinary(geom) FROM grids WHERE valid_to IS NULL AND level = 'grid' "
        "AND parent_code = :c ORDER BY code"), {"c": COMMUNITY}).scalars().all()
    return [cases.metres(wkb.loads(bytes(r))) for r in rows]


def shapely_gap_m2(db: Session, community: Any) -> float:
    """Explicit parent-minus-union gap area (m²), in memory."""
    grids = [shapely.make_valid(g) for g in stored_grids_m(db)]
    return float(community.difference(shapely.union_all(grids)).area)


def kinds(report: Any) -> dict[str, int]:
    return report.counts()


def test_two_grids_sharing_an_edge_are_valid(db: Session) -> None:
    case = cases.two_grids_sharing_an_edge(db)
    report = validate_area(db, COMMUNITY)
    assert report.ok
    assert report.problems == [] or all(p.severity == "warning" for p in report.problems)
    assert [p.kind for p in report.errors] == []
    assert shapely.coverage_is_valid(stored_grids_m(db), gap_width=2.0)
    assert shapely_gap_m2(db, case[COMMUNITY]) == pytest.approx(0, abs=0.01)


def test_two_grids_with_a_1m_gap(db: Session) -> None:
    case = cases.two_grids_with_a_1m_gap(db)
    report = validate_area(db, COMMUNITY)
    assert [p.kind for p in report.errors] == ["gap"]
    gap = report.errors[0]
    assert gap.area_m2 == pytest.approx(100.0, abs=0.05)
    assert gap.codes == [code(1), code(2)]
    assert gap.sliver  # 1 m wide: thinner than 2 m
    lon, lat = gap.location or [0, 0]
    x, _ = cases.metres(shapely.Point(lon, lat)).coords[0]
    assert 100 <= x <= 101
    # shapely agrees: the coverage has a gap narrower than 2 m, of the same area
    assert not shapely.coverage_is_valid(stored_grids_m(db), gap_width=2.0)
    assert shapely_gap_m2(db, case[COMMUNITY]) == pytest.approx(gap.area_m2, abs=0.01)


def test_overlapping_grids(db: Session) -> None:
    cases.overlapping_grids(db)
    report = validate_area(db, COMMUNITY)
    assert [p.kind for p in report.errors] == ["overlap"]
    overlap = report.errors[0]
    assert overlap.codes == [code(1), code(2)]
    assert overlap.area_m2 == pytest.approx(200.0, abs=0.05)
    grids = stored_grids_m(db)
    assert not shapely.coverage_is_valid(grids)
    edges = shapely.coverage_invalid_edges(grids)
    assert all(not e.is_empty for e in edges)  # both grids have invalid edges
    assert shapely.intersection(grids[0], grids[1]).area == pytest.approx(overlap.area_m2,
                                                                           abs=0.01)


def test_gap_on_the_outer_boundary(db: Session) -> None:
    case = cases.gap_on_outer_boundary(db)
    report = validate_area(db, COMMUNITY)
    assert [p.kind for p in report.errors] == ["gap"]
    assert report.errors[0].area_m2 == pytest.approx(300.0, abs=0.05)
    assert report.errors[0].codes == [code(1), code(2)]
    # shapely's coverage check cannot see it (the grids match each other) ...
    assert shapely.coverage_is_valid(stored_grids_m(db), gap_width=5.0)
    # ... only the explicit parent-minus-union check does, with the same area
    assert shapely_gap_m2(db, case[COMMUNITY]) == pytest.approx(300.0, abs=0.05)


def test_sliver_grid_is_a_warning(db: Session) -> None:
    cases.sliver_grid(db)
    report = validate_area(db, COMMUNITY)
    assert report.ok
    slivers = [p for p in report.problems if p.kind == "sliver"]
    assert [p.codes for p in slivers] == [[code(3)]]
    assert slivers[0].area_m2 == pytest.approx(50.0, abs=0.05)
    assert slivers[0].geometry is not None and slivers[0].geometry["type"] == "MultiPolygon"
    assert shapely.coverage_is_valid(stored_grids_m(db))


def test_bow_tie_polygon_is_invalid_with_reason_and_location(db: Session) -> None:
    cases.bow_tie_grid(db)
    report = validate_area(db, COMMUNITY)
    invalid = [p for p in report.errors if p.kind == "invalid"]
    assert [p.codes for p in invalid] == [[code(1)]]
    assert "Self-intersection" in invalid[0].message
    x, y = cases.metres(shapely.Point(*(invalid[0].location or []))).coords[0]
    assert (x, y) == (pytest.approx(50, abs=0.01), pytest.approx(50, abs=0.01))
    # the made-valid bow-tie (two triangles) leaves the other two triangles as gaps
    gaps = sorted(p.area_m2 or 0 for p in report.errors if p.kind == "gap")
    assert gaps == [pytest.approx(2500, abs=0.5), pytest.approx(2500, abs=0.5)]
    assert not shapely.is_valid(stored_grids_m(db)[0])


def test_grid_poking_outside_its_community(db: Session) -> None:
    cases.grid_poking_outside(db)
    report = validate_area(db, COMMUNITY)
    assert [p.kind for p in report.errors] == ["outside_parent"]
    assert report.errors[0].codes == [code(2)]
    assert report.errors[0].area_m2 == pytest.approx(1000.0, abs=0.1)
    assert shapely.coverage_is_valid(stored_grids_m(db))  # shapely alone cannot see it


def test_micro_grids_tile_their_grid(db: Session) -> None:
    cases.two_grids_sharing_an_edge(db)
    west = code(1)
    cases.add_grid(db, code(1, west), cases.box(0, 0, 50, 100), parent=west)
    cases.add_grid(db, code(2, west), cases.box(50, 0, 99, 100), parent=west)
    report = validate_area(db, COMMUNITY)
    assert [(p.kind, p.level, p.parent_code) for p in report.errors] == [
        ("gap", "micro", west)]
    assert report.errors[0].area_m2 == pytest.approx(100.0, abs=0.05)
    assert validate_area(db, west).counts() == {"gap": 1, "households_out_of_band": 3}


def test_codes_prefix_and_length(db: Session) -> None:
    cases.community(db)
    cases.add_grid(db, code(1), cases.box(0, 0, 100, 100))
    cases.add_grid(db, "1402130010019", cases.box(100, 0, 200, 100))  # 13 digits
    db.execute(text("UPDATE grids SET parent_code = :c WHERE code = '1402130010019'"),
               {"c": COMMUNITY})
    cases.add_grid(db, code(1, code(1)), cases.box(0, 0, 100, 100), parent=code(1))
    db.execute(text("UPDATE grids SET code = '14021300100100209' WHERE code = :c"),
               {"c": code(1, code(1))})
    report = validate_area(db, COMMUNITY)
    found = sorted((p.kind, p.codes[0]) for p in report.errors if p.kind.startswith("code"))
    assert found == [("code_length", "1402130010019"), ("code_prefix", "14021300100100209")]


def test_balance_against_the_band_and_deviation(db: Session) -> None:
    cases.four_grids_with_buildings(db)
    report = validate_area(db, COMMUNITY)
    assert report.ok
    rows = [(g.code[-3:], g.households, g.status, g.deviation, g.households_source)
            for g in report.grids]
    assert rows == [("001", 300, "ok", 0.0, "buildings"), ("002", 300, "ok", 0.0, "buildings"),
                    ("003", 150, "under", -0.5, "buildings"),
                    ("004", 450, "over", 0.5, "buildings")]
    out = [p.codes[0][-3:] for p in report.problems if p.kind == "households_out_of_band"]
    assert out == ["003", "004"]
    assert report.grids[0].compactness == pytest.approx(3.14159 / 4, abs=1e-3)


def test_snake_shaped_grid_is_not_compact(db: Session) -> None:
    cases.community(db, width=400, height=100)
    cases.add_grid(db, code(1), cases.box(0, 0, 400, 95))
    cases.add_grid(db, code(2), cases.box(0, 95, 400, 100))
    report = validate_area(db, COMMUNITY)
    snakes = [p.codes[0] for p in report.problems if p.kind == "not_compact"]
    assert snakes == [code(2)]  # 400 x 5 m: Polsby-Popper 0.038


def test_street_validates_all_its_communities_and_unknown_area_is_404(db: Session) -> None:
    cases.two_grids_with_a_1m_gap(db)
    assert validate_area(db, cases.STREET).counts()["gap"] == 1
    assert validate_area(db, cases.DISTRICT).counts()["gap"] == 1
    with pytest.raises(NotFound):
        validate_area(db, "999999")


def test_geojson_output_lists_problem_geometries(db: Session) -> None:
    cases.two_grids_with_a_1m_gap(db)
    fc = validate_area(db, COMMUNITY).to_geojson()
    assert [f["properties"]["kind"] for f in fc["features"]] == ["gap"]
    assert fc["features"][0]["geometry"]["type"] == "Polygon"


def test_a_straight_community_edge_split_by_grids_is_not_a_gap(db: Session) -> None:
    cases.straight_edge_split_by_grids(db)
    report = validate_area(db, COMMUNITY)
    assert [p.kind for p in report.problems if p.kind in ("gap", "outside_parent")] == []
    # without noding (tolerance 0) the vertices at x = 500..1500, a few cm off the lon/lat
    # segment, do leave pieces between the grids and the edge
    unnoded = validate_area(db, COMMUNITY, settings=get_settings().model_copy(
        update={"plan_coverage_snap_m": 0.0}))
    off = [p for p in unnoded.problems if p.kind in ("gap", "outside_parent")]
    assert off and all((p.width_m or 1) < 0.1 for p in off)


def test_a_true_half_square_metre_gap_on_that_edge_is_found(db: Session) -> None:
    cases.straight_edge_split_by_grids(db, notch=True)
    report = validate_area(db, COMMUNITY)
    gaps = [p for p in report.problems if p.kind == "gap"]
    assert [(p.severity, p.size, p.codes) for p in gaps] == [("error", "sliver", [code(3)])]
    assert gaps[0].area_m2 == pytest.approx(0.5, abs=0.005)
    assert gaps[0].width_m == pytest.approx(2 * 0.5 / 3, abs=0.01)  # 2·A/P, P = 3 m


def test_a_hairline_gap_is_reported_and_classified_not_dropped(db: Session) -> None:
    cases.hairline_gap(db)
    report = validate_area(db, COMMUNITY)
    gaps = [p for p in report.problems if p.kind == "gap"]
    assert [(p.severity, p.size, p.sliver) for p in gaps] == [("warning", "hairline", True)]
    assert gaps[0].area_m2 == pytest.approx(0.5, abs=0.005)
    assert gaps[0].width_m == pytest.approx(0.005, abs=0.0002)
    assert "hairline" in gaps[0].message and report.ok  # a warning: reported, not blocking


def test_a_district_validated_in_rounds_of_communities_gives_the_same_report(
        db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The small map city: street 140213001 with two communities (a gap in the west one,
    its grids with buildings-free household attributes); one community per round."""
    from geo.planning import validate
    from tests.e2e.city import seed_small_city

    seed_small_city(db.connection())
    whole = validate_area(db, "140213").to_dict()
    monkeypatch.setattr(validate, "CHUNK_COMMUNITIES", 1)
    assert validate.community_chunks(["140213001001", "140213001002"], None) == [
        ["140213001001"], ["140213001002"]]
    assert validate.community_chunks(["140213001001", "140213001002"], 7) == [
        ["140213001001", "140213001002"]]
    rounds = validate_area(db, "140213").to_dict()
    assert rounds == whole
    assert whole["counts"] == {"gap": 1, "households_out_of_band": 5}
    assert [g["code"] for g in whole["grids"]][:2] == ["140213001001001", "140213001001002"]
