"""Benchmark: three designs for exact coverage under edits, measured on the demo district.

    .venv/bin/python bench/planning_designs.py [--steps 12]

Loads the demo district (bench/planning.py's loader) into ``gridlink_bench_planning`` and,
in the same run, on the community with the most grids:

* **before** - the previous edit code (overlays snap-rounded to 1e-8°, noise pieces
  dropped; kept here as ``legacy_reshape``) and **after** - the planar arrangement
  (:mod:`geo.planning.arrangement`): ``--steps`` reshapes (a grid grows or shrinks by
  10-30 m), each drafted, previewed and published; times per step, then the gap and overlap
  area of the community (PostGIS, m² in the metric CRS) and grids changed that the edit did
  not touch. Each design runs in its own rolled-back transaction on the same data.
* **PostGIS Topology** - the community's grids loaded as TopoGeometries (``toTopoGeom``,
  tolerance 0) and one split line added (``TopoGeo_AddLineString``): load and edit times.
* **Atomic units** (Districtr-like) - each building's Voronoi cell as a unit: the share of
  the grids' area that unions of whole units cannot represent (the boundaries would move).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import scratch_database
from bench.planning import load
from geo.crs import to_lonlat, to_metric
from geo.errors import ValidationFailed
from geo.planning import operations as ops
from geo.planning.changesets import open_changeset, publish
from geo.planning.kernel import (
    GRID_DEG,
    clean,
    editable_grid,
    give_away,
    parent_shape,
    put,
    read_geojson,
    siblings,
)
from geo.planning.preview import preview
from geo.planning.propose import building_units
from geo.settings import get_settings

SRID = get_settings().metric_srid


def legacy_reshape(session: Session, cs: int, code: str, geometry: dict[str, Any]) -> None:
    """The reshape as it was before the arrangement: snap-rounded overlays (1e-8°)."""
    grid = editable_grid(session, cs, "bench", False, code)
    new = clean(shapely.intersection(read_geojson(geometry, "geometry"), parent_shape(
        session, cs, grid.level, grid.parent_code), grid_size=GRID_DEG))
    others = {s.code: s for s in siblings(session, cs, grid)}
    shrunk = {c: clean(shapely.difference(s.geom, new, grid_size=GRID_DEG))
              for c, s in others.items() if s.geom.intersects(new) and not s.geom.touches(new)}
    given = give_away(shapely.difference(grid.geom, new, grid_size=GRID_DEG),
                      {c: shrunk.get(c, s.geom) for c, s in others.items()})
    put(session, cs, replace(grid, geom=new))
    for c in sorted(set(shrunk) | set(given)):
        put(session, cs, replace(others[c], geom=given[c] if c in given else shrunk[c]))
    ops.with_micro_grids(session, cs, grid.level, sorted({code, *shrunk, *given}))


def errors_m2(session: Session, community: str) -> tuple[float, float]:
    """(gap, overlap) area in m² (geodesic) of ``community``: lon/lat, the grids' nodes
    inserted into the community boundary at 1e-12° (as the property test), no other
    tolerance."""
    return session.execute(text("""
        WITH g AS (SELECT code, geom FROM grids WHERE valid_to IS NULL AND parent_code = :c
                   AND level = 'grid' AND kind <> 'dedicated')
        SELECT (SELECT COALESCE(ST_Area(geography(ST_Difference(ST_Snap(a.geom,
                    (SELECT ST_Collect(geom) FROM g), 1e-12), (SELECT ST_Union(geom) FROM g)))),
                    0) FROM admin_areas a WHERE a.code = :c),
               (SELECT COALESCE(sum(ST_Area(geography(ST_Intersection(x.geom, y.geom)))), 0)
                FROM g x JOIN g y ON x.code < y.code AND ST_Intersects(x.geom, y.geom))
    """), {"c": community}).one()  # type: ignore[return-value]


def layer(session: Session, community: str) -> dict[str, bytes]:
    rows = session.execute(text("SELECT code, ST_AsBinary(geom) FROM grids WHERE valid_to IS "
                                "NULL AND parent_code = :c"), {"c": community}).all()
    return {c: bytes(g) for c, g in rows}


def run_design(engine: Engine, community: str, steps: int, legacy: bool) -> dict[str, Any]:
    """``steps`` reshapes drafted, previewed and published; times and coverage after."""
    rng, times = random.Random(7), {"draft": [], "preview": [], "publish": []}
    stray, refused = 0, []
    with Session(engine) as session:
        for _ in range(steps):
            codes = sorted(c for c in layer(session, community) if int(c[12:15]) < 900)
            code = rng.choice(codes)
            raw = session.scalar(text("SELECT ST_AsBinary(geom) FROM grids WHERE code = :c "
                                      "AND valid_to IS NULL"), {"c": code})
            shape = to_metric(shapely.from_wkb(bytes(raw)))
            drawn = shapely.geometry.mapping(to_lonlat(shape.buffer(
                rng.choice([-1, 1]) * rng.uniform(10, 30), quad_segs=4)))
            before = layer(session, community)
            start = time.perf_counter()
            cs = open_changeset(session, community, "bench", "bench").id
            if legacy:
                legacy_reshape(session, cs, code, drawn)
            else:
                ops.reshape(session, cs, "bench", code, drawn)
            times["draft"].append(time.perf_counter() - start)
            start = time.perf_counter()
            view = preview(session, cs)
            times["preview"].append(time.perf_counter() - start)
            start = time.perf_counter()
            savepoint = session.begin_nested()
            try:
                publish(session, cs, "bench")
                savepoint.commit()
            except ValidationFailed as err:
                savepoint.rollback()
                refused.append(sum(d["area_m2"] or 0 for d in err.details))
                continue
            times["publish"].append(time.perf_counter() - start)
            after = layer(session, community)
            moved = {c for c in after if after.get(c) != before.get(c)}
            neighbours = {g["code"] for g in view.grids} | {code}
            stray += len(moved - neighbours - {
                c for c in moved if session.scalar(text(
                    "SELECT ST_Intersects(a.geom, b.geom) FROM grids a, grids b WHERE "
                    "a.code = :a AND b.code = :b AND a.valid_to IS NULL AND b.valid_to IS NULL"),
                    {"a": c, "b": code})})
        gap, overlap = errors_m2(session, community)
        session.rollback()
    return {"times": times, "gap_m2": gap, "overlap_m2": overlap, "stray": stray,
            "refused": refused}


def bench_topology(engine: Engine, community: str) -> tuple[float, float, int]:
    """(load s, one split edit s, faces) with PostGIS Topology, rolled back."""
    with Session(engine) as session:
        session.execute(text("CREATE EXTENSION IF NOT EXISTS postgis_topology"))
        session.execute(text("SELECT topology.CreateTopology('bench_topo', 4326, 0)"))
        session.execute(text("CREATE TABLE bench_tg (code text)"))
        session.execute(text("SELECT topology.AddTopoGeometryColumn('bench_topo', 'public', "
                             "'bench_tg', 'tg', 'MULTIPOLYGON')"))
        start = time.perf_counter()
        session.execute(text("""
            INSERT INTO bench_tg (code, tg)
            SELECT code, topology.toTopoGeom(geom, 'bench_topo', 1, 0) FROM grids
            WHERE valid_to IS NULL AND parent_code = :c AND level = 'grid' ORDER BY code"""),
            {"c": community})
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        session.execute(text("""
            SELECT topology.TopoGeo_AddLineString('bench_topo', ST_MakeLine(
                ST_Centroid(geom), ST_Translate(ST_Centroid(geom), 0.01, 0.01)), 0)
            FROM grids WHERE valid_to IS NULL AND parent_code = :c AND level = 'grid'
            ORDER BY code LIMIT 1"""), {"c": community})
        edit_s = time.perf_counter() - start
        faces = int(session.scalar(text("SELECT count(*) FROM bench_topo.face")) or 0)
        session.rollback()
    return load_s, edit_s, faces


def atomic_units_misfit(engine: Engine, community: str) -> float:
    """Share of the grids' area a union of whole building cells cannot represent."""
    with Session(engine) as session:
        rows = session.execute(text(
            "SELECT code, ST_AsBinary(geom) FROM grids WHERE valid_to IS NULL AND "
            "parent_code = :c AND level = 'grid' AND kind <> 'dedicated'"),
            {"c": community}).all()
        units = building_units(session, parent_shape(session, 0, "grid", community), community)
    grids = {c: to_metric(shapely.from_wkb(bytes(g))) for c, g in rows}
    misfit, total = 0.0, sum(g.area for g in grids.values())
    for shape in grids.values():
        cells = [u.cell for u in units if shape.contains(u.cell.representative_point())]
        misfit += shapely.symmetric_difference(shape, shapely.union_all(cells)).area
    return misfit / 2 / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--url", default=None, help="server URL (default: test cluster)")
    args = parser.parse_args()
    engine = create_engine(scratch_database(args.url, "gridlink_bench_planning"))
    load(engine, 1200, events=6000, cameras=3066)
    with engine.connect() as conn:
        community = conn.execute(text(
            "SELECT parent_code FROM grids WHERE level = 'grid' AND valid_to IS NULL "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")).scalar_one()
    for name, legacy in (("before (snap-rounding 1e-8°)", True), ("after (arrangement)", False)):
        r = run_design(engine, community, args.steps, legacy)
        med = {k: statistics.median(v) * 1000 if v else float("nan")
               for k, v in r["times"].items()}
        print(f"[{name}] {args.steps} reshapes of {community}: draft {med['draft']:.0f} ms, "
              f"preview {med['preview']:.0f} ms, publish {med['publish']:.0f} ms (medians); "
              f"publish refused {len(r['refused'])}x (new gaps/overlaps totalling "
              f"{sum(r['refused']):.3g} m²); after the published ones: gap "
              f"{r['gap_m2']:.3g} m², overlap {r['overlap_m2']:.3g} m², untouched grids "
              f"changed {r['stray']}")
    load_s, edit_s, faces = bench_topology(engine, community)
    print(f"[PostGIS Topology] load {community}'s grids as TopoGeometries: {load_s:.2f} s "
          f"({faces} faces); one split line (TopoGeo_AddLineString): {edit_s * 1000:.0f} ms")
    print(f"[atomic units] building Voronoi cells cannot represent "
          f"{atomic_units_misfit(engine, community):.1%} of the grids' area")
    engine.dispose()


if __name__ == "__main__":
    main()
