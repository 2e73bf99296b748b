"""Property test: random edits and publishes keep every community tiled exactly.

A community of irregular Voronoi grids (full-precision lon/lat, no round coordinates) gets a
seeded random sequence of reshape / split / merge / move-buildings / create / retire
operations, one draft each, published at once. After every publish, computed in PostGIS:
zero gap area and zero overlap area (in square degrees; see :func:`coverage_error_areas`
for the one noding step), grids the operation did
not change keep their bytes and version, and at every fifth step undo restores the
previous layer byte for byte. Steps: ``GRIDLINK_PROPERTY_STEPS`` (default 40, ~25 s on 2 cores).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, box
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed
from geo.planning import operations as ops
from geo.planning import units
from geo.planning.changesets import open_changeset, publish
from geo.planning.history import undo
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code

STEPS = int(os.environ.get("GRIDLINK_PROPERTY_STEPS", "40"))
SIDE_M = 600.0


def voronoi_community(db: Session, seed: int, grids: int = 12, buildings: int = 60) -> None:
    """Community 140213001001 tiled by ``grids`` Voronoi cells inside a 600 m square.

    Each shared vertex is transformed once, so neighbours share it bit for bit; the
    community is the exact union of its grids.
    """
    rng = np.random.default_rng(seed)
    square = box(0, 0, SIDE_M, SIDE_M)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(rng.uniform(0, SIDE_M, (grids, 2))),
                                     extend_to=square)
    tiles = [shapely.intersection(c, square) for c in shapely.get_parts(cells)]
    lonlat = [MultiPolygon([cases.lonlat(shapely.set_precision(t, 1e-3))]) for t in tiles]
    whole = shapely.coverage_union_all(lonlat)
    cases.add_area(db, cases.DISTRICT, "district", None, box(-5000, -5000, 5000, 5000))
    cases.add_area(db, cases.STREET, "street", cases.DISTRICT, box(-5000, -5000, 5000, 5000))
    db.execute(text("INSERT INTO admin_areas (code, name, level, parent_code, geom) VALUES "
                    "(:c, 'voronoi', 'community', :p, ST_Multi(ST_GeomFromWKB(:w, 4326)))"),
               {"c": COMMUNITY, "p": cases.STREET, "w": whole.wkb})
    for i, geom in enumerate(lonlat):
        db.execute(text(
            "INSERT INTO grids (code, name, kind, level, parent_code, community_code,"
            " households, population, version, changed_by, geom) VALUES (:c, :c, 'urban',"
            " 'grid', :p, :p, 0, 0, 1, 'test', ST_GeomFromWKB(:w, 4326))"),
            {"c": code(i + 1), "p": COMMUNITY, "w": geom.wkb})
    for i, (x, y) in enumerate(rng.uniform(5, SIDE_M - 5, (buildings, 2))):
        cases.add_building(db, f"B{i:03d}", float(x), float(y), int(rng.integers(10, 80)))


def layer(db: Session) -> dict[str, tuple[int, bytes]]:
    """Current grids of the community: code -> (version, WKB bytes)."""
    rows = db.execute(text("SELECT code, version, ST_AsBinary(geom) FROM grids "
                           "WHERE valid_to IS NULL AND community_code = :c"), {"c": COMMUNITY})
    return {c: (v, bytes(g)) for c, v, g in rows}


def coverage_error_areas(db: Session) -> tuple[float, float]:
    """(gap area, overlap area) of the community in square degrees, computed by PostGIS.

    The gap is the community minus the union of its grids, after the grids' nodes are
    inserted into the community's boundary (``ST_Snap`` at 1e-12°, 0.1 µm: a cut ending on
    the community edge adds a node there that no double lies exactly on); no tolerance
    anywhere else.
    """
    return db.execute(text("""
        WITH g AS (SELECT code, geom FROM grids WHERE valid_to IS NULL AND community_code = :c)
        SELECT (SELECT COALESCE(ST_Area(ST_Difference(
                    ST_Snap(a.geom, (SELECT ST_Collect(geom) FROM g), 1e-12),
                    (SELECT ST_Union(geom) FROM g))), 0)
                FROM admin_areas a WHERE a.code = :c),
               (SELECT COALESCE(sum(ST_Area(ST_Intersection(x.geom, y.geom))), 0)
                FROM g x JOIN g y ON x.code < y.code AND ST_Intersects(x.geom, y.geom))
    """), {"c": COMMUNITY}).one()  # type: ignore[return-value]


def _metric(db: Session, grid: str) -> Any:
    raw = db.execute(text("SELECT ST_AsBinary(geom) FROM grids WHERE code = :c AND "
                          "valid_to IS NULL"), {"c": grid}).scalar_one()
    return cases.metres(shapely.from_wkb(bytes(raw)))


def _neighbour(db: Session, grid: str, rng: random.Random) -> str | None:
    found = db.scalars(text(
        "SELECT b.code FROM grids a JOIN grids b ON b.community_code = a.community_code "
        "AND b.code <> a.code AND b.valid_to IS NULL AND ST_Relate(a.geom, b.geom, '****1****')"
        " WHERE a.code = :c AND a.valid_to IS NULL ORDER BY b.code"), {"c": grid}).all()
    return rng.choice(found) if found else None


def random_operation(db: Session, cs: int, rng: random.Random, fresh: str) -> str:
    """Apply one random operation to draft ``cs``; returns its name."""
    grid = rng.choice(sorted(layer(db)))
    shape = _metric(db, grid)
    kind = rng.choice(["reshape", "reshape", "split", "merge", "move", "create", "retire"])
    if kind == "reshape":
        new = shape.buffer(rng.choice([-1, 1]) * rng.uniform(5, 40), quad_segs=4)
        ops.reshape(db, cs, "li", grid, cases.geojson(new))
    elif kind == "split":
        c, angle = shape.representative_point(), rng.uniform(0, np.pi)
        dx, dy = 2000 * np.cos(angle), 2000 * np.sin(angle)
        ops.split_by_line(db, cs, "li", grid, cases.geojson(
            LineString([(c.x - dx, c.y - dy), (c.x + dx, c.y + dy)])), fresh)
    elif kind in ("merge", "retire", "move"):
        other = _neighbour(db, grid, rng)
        if other is None:
            raise ValidationFailed("no neighbour", [])
        if kind == "merge":
            ops.merge(db, cs, "li", [grid, other])
        elif kind == "retire":
            ops.retire(db, cs, "li", grid, other)
        else:
            inside = db.scalars(text(
                "SELECT b.code FROM buildings b JOIN grids g ON ST_Covers(g.geom, b.geom) "
                "WHERE g.code = :c AND g.valid_to IS NULL ORDER BY b.code"), {"c": grid}).all()
            units.move_buildings(db, cs, "li", grid, other, [rng.choice(inside)] if inside
                                 else ["none"])
    else:
        p = Point(rng.uniform(0, SIDE_M), rng.uniform(0, SIDE_M)).buffer(rng.uniform(20, 80))
        ops.create(db, cs, "li", fresh, "new", COMMUNITY, cases.geojson(p))
    return kind


@pytest.fixture
def committing(engine: Engine) -> Iterator[Session]:
    """A session that commits each step (hundreds of steps in one transaction would exhaust
    the lock table with the validations' temporary tables); cleaned up at the end."""
    with Session(engine) as session:
        yield session
        session.rollback()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM grids WHERE community_code = :c"), {"c": COMMUNITY})
        conn.execute(text("DELETE FROM plan_draft_grids WHERE community_code = :c"),
                     {"c": COMMUNITY})
        conn.execute(text("DELETE FROM plan_changesets WHERE area_code = :c"), {"c": COMMUNITY})
        conn.execute(text("DELETE FROM buildings WHERE code LIKE 'B___'"))
        conn.execute(text("DELETE FROM admin_areas WHERE code = ANY(:c)"),
                     {"c": [COMMUNITY, cases.STREET, cases.DISTRICT]})


@pytest.mark.parametrize("seed", [7])
def test_random_edits_keep_the_community_tiled_exactly(committing: Session, seed: int) -> None:
    db = committing
    voronoi_community(db, seed)
    db.commit()
    assert coverage_error_areas(db) == (0.0, 0.0)
    rng, published, refused, undone = random.Random(seed), [], 0, 0
    for step in range(STEPS):
        before = layer(db)
        cs = open_changeset(db, COMMUNITY, f"step {step}", "li").id
        fresh = code(100 + step)
        try:
            kind = random_operation(db, cs, rng, fresh)
            publish(db, cs, "li")
            db.commit()
        except ValidationFailed:
            db.rollback()  # the draft and its rows go too
            refused += 1
            assert layer(db) == before  # a refused operation changes nothing
            continue
        published.append(kind)
        after = layer(db)
        assert coverage_error_areas(db) == (0.0, 0.0), (step, kind)
        written = set(db.scalars(text("SELECT code FROM grids WHERE changeset_id = :cs"),
                                 {"cs": cs}).all())
        assert {c: v for c, v in after.items() if c not in written} == {
            c: v for c, v in before.items() if c not in written and c in after}, (step, kind)
        if step % 5 == 4:
            inverse = undo(db, cs, "li").id
            publish(db, inverse, "li")
            db.commit()
            undone += 1
            restored = layer(db)
            assert {c: g for c, (_, g) in restored.items()} == {
                c: g for c, (_, g) in before.items()}, (step, kind)
            assert coverage_error_areas(db) == (0.0, 0.0)
    print(f"published {len(published)} ({sorted(set(published))}), refused {refused}, "
          f"undone {undone}")
    assert len(published) >= STEPS // 2, (published, refused)
    assert {"reshape", "split", "merge", "create"} <= set(published)
    assert undone >= len(published) // 5 - 1
