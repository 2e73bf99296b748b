"""Camera placement: MCLP (spopt) against the greedy baseline on a case where greedy is
not optimal, and a proposal on a small stored scene."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound
from geo.video.placement import (
    PlacementSpec,
    collapse_demand,
    covered_weight,
    draft_layer,
    greedy_picks,
    mclp_picks,
    propose_cameras,
)
from geo.video.views import refresh_views
from tests.geo.video.scene import add_building, add_camera, at, footprint

GRID = "140213001001001"


def test_mclp_beats_greedy_where_greedy_is_short_sighted() -> None:
    # candidate 0 covers the middle four points; 1 and 2 each cover three of the outer six
    # plus one middle point: greedy takes 0 then one of them (7 of 10), the optimum 1 + 2
    # covers 8
    cover = np.zeros((10, 3), dtype=bool)
    cover[[3, 4, 5, 6], 0] = True
    cover[[0, 1, 2, 3], 1] = True
    cover[[7, 8, 9, 6], 2] = True
    weights = np.ones(10)
    greedy = greedy_picks(cover, weights, 2)
    best = mclp_picks(cover, weights, 2)
    assert greedy == [0, 1]
    assert best == [1, 2]
    assert (covered_weight(cover, weights, greedy), covered_weight(cover, weights, best)) == \
        (7.0, 8.0)
    rows, summed = collapse_demand(np.vstack([cover, cover[:2], np.zeros((1, 3), bool)]),
                                   np.ones(13))
    assert len(rows) == 5 and summed.sum() == 12.0  # five distinct coverage patterns
    assert covered_weight(rows, summed, best) == 10.0  # points 0 and 1 twice


def test_proposal_covers_the_blind_yard(db: Session) -> None:
    db.execute(text(
        "INSERT INTO grids (code, name, kind, level, parent_code, community_code, households,"
        " population, version, geom) VALUES (:c, '一网格', 'urban', 'grid', '140213001001',"
        " '140213001001', 300, 900, 1, ST_Multi(ST_GeomFromText(:g, 4326)))"),
        {"c": GRID, "g": footprint(-60, -60, 60, 60).wkt})
    add_building(db, "B_WEST", footprint(-40, -20, -20, 20))
    add_building(db, "B_EAST", footprint(20, -20, 40, 20))
    add_camera(db, "14021300081310000001", at(0, -59), range_m=30.0, fov=60.0)
    refresh_views(db)
    spec = PlacementSpec(k=2, range_m=40.0, spacing_m=5.0)
    proposal = propose_cameras(db, GRID, spec)
    assert proposal.candidates == 8 * 4  # 8 footprint corners, 4 headings each
    assert proposal.demand_m2 == pytest.approx(120 * 120 - 2 * 800 - 0.5 * 30**2 * np.pi / 3,
                                               rel=0.03)
    assert proposal.covered_m2["mclp"] >= proposal.covered_m2["greedy"] > 0
    assert len(proposal.cameras) == 2
    assert {c["azimuth_deg"] for c in proposal.cameras} <= {0.0, 90.0, 180.0, 270.0}
    layer = draft_layer(proposal)
    assert [f["properties"]["code"] for f in layer["features"]] == ["draft-001", "draft-002"]
    assert layer["features"][0]["properties"]["fov_deg"] == 90.0
    with pytest.raises(NotFound):
        propose_cameras(db, "999999999", spec)
