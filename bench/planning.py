"""Benchmark: planning validation, preview/publish of one reshape, and a proposal.

    .venv/bin/python bench/planning.py                 # demo district + 10,000-grid city
    .venv/bin/python bench/planning.py --city-grids 0  # demo district only

Loads the demo city (data/demo.py, COPY loader of bench/assign_city.py, buildings included) into a
scratch database ``gridlink_bench_planning`` on the test cluster (or ``--url``), then times

* ``validate_area`` of the whole district (coverage of grids in communities and micro-grids
  in grids, slivers, codes, balance, compactness) against the baseline: shapely 2's
  ``coverage_is_valid`` over the same grids, in memory (EPSG:4547), one call per community
  and per grid, plus the explicit parent-minus-union gap check shapely cannot do itself;
* open + reshape, ``preview`` and ``publish`` of a single-grid reshape (the grid takes a
  60 m strip of a neighbour), each run in a transaction that is rolled back;
* ``propose`` for the community with the most buildings, its households scaled to 3,000
  (inside the rolled-back transaction);

and the same validation on a 10,000-grid city. Prints figures and ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.assign_city import load_city
from bench.common import scratch_database
from data.demo import generate_city
from geo.crs import to_lonlat
from geo.planning import operations as ops
from geo.planning.changesets import open_changeset, publish
from geo.planning.preview import preview
from geo.planning.propose import propose
from geo.planning.validate import validate_area
from geo.settings import get_settings

SRID = get_settings().metric_srid
STRIP_M = 60.0
HOUSEHOLDS = 3000


def timed(fn: Callable[[], Any], runs: int = 1) -> tuple[float, Any]:
    """Best wall time (s) of ``runs`` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def load(engine: Engine, grids: int, events: int, cameras: int) -> dict[str, pd.DataFrame]:
    city = generate_city(grids=grids, events=events, cameras=cameras)
    load_city(engine, city)  # buildings included
    return city


def shapely_baseline(city: dict[str, pd.DataFrame]) -> tuple[float, float, int]:
    """(coverage_is_valid time, + parent-minus-union gap check time, invalid coverages)."""
    grids = gpd.GeoDataFrame(city["grids"])
    grids = grids[grids["kind"] != "dedicated"].to_crs(SRID)
    micro = gpd.GeoDataFrame(city["micro_grids"]).to_crs(SRID)
    areas = gpd.GeoDataFrame(city["areas"]).to_crs(SRID).set_index("code").geometry
    groups = [list(g["geometry"]) for _, g in grids.groupby("parent_code")]
    groups += [list(g["geometry"]) for _, g in micro.groupby("parent_code")]
    start = time.perf_counter()
    bad = sum(not shapely.coverage_is_valid(g) for g in groups)
    t_cov = time.perf_counter() - start
    parents = [areas[c] for c in grids.groupby("parent_code").groups]
    parents += list(grids.set_index("code").geometry.loc[list(
        micro.groupby("parent_code").groups)])
    start = time.perf_counter()
    for parent, group in zip(parents, groups, strict=True):
        parent.difference(shapely.union_all(group)).area  # noqa: B018 - timed work
    return t_cov, t_cov + time.perf_counter() - start, bad


def bench_validation(engine: Engine, city: dict[str, pd.DataFrame], label: str) -> None:
    district = city["areas"].query("level == 'district'").code.iloc[0]
    with Session(engine) as session:
        took, report = timed(lambda: validate_area(session, district), runs=2)
        session.rollback()
    base, base_gap, bad = shapely_baseline(city)
    n_grid = sum(g.level == "grid" for g in report.grids)
    n_micro = len(report.grids) - n_grid
    print(f"[{label}] validate_area({district}): {took:.2f} s for {n_grid} grids + {n_micro} "
          f"micro-grids; problems {report.counts()}")
    print(f"[{label}] shapely coverage_is_valid in memory: {base:.2f} s ({bad} invalid "
          f"coverages); + explicit gap check: {base_gap:.2f} s")
    print(f"[{label}] ratio validate_area / coverage_is_valid = {took / base:.1f}x; "
          f"/ (coverage_is_valid + gap check) = {took / base_gap:.1f}x")


def _reshape(session: Session, grid: str, neighbour: str) -> int:
    """Draft: ``grid`` takes the 60 m strip of ``neighbour`` along their shared edge."""
    geoms: dict[str, Any] = dict(session.execute(text(
        "SELECT code, ST_AsBinary(ST_Transform(geom, :srid)) FROM grids "
        "WHERE code IN (:a, :b) AND valid_to IS NULL"), {"a": grid, "b": neighbour,
                                                         "srid": SRID}).all())
    a, b = (shapely.from_wkb(bytes(geoms[c])) for c in (grid, neighbour))
    new = to_lonlat(a.union(b.intersection(a.buffer(STRIP_M))))
    cs = open_changeset(session, grid[:12], "bench reshape", "bench").id
    ops.reshape(session, cs, "bench", grid, shapely.geometry.mapping(new))
    return cs


def bench_reshape(engine: Engine) -> None:
    with engine.connect() as conn:
        grid, neighbour = conn.execute(text("""
            SELECT a.code, b.code FROM grids a JOIN grids b
              ON a.parent_code = b.parent_code AND a.code < b.code AND a.level = 'grid'
             AND b.level = 'grid' AND a.kind <> 'dedicated' AND b.kind <> 'dedicated'
             AND a.valid_to IS NULL AND b.valid_to IS NULL AND ST_Touches(a.geom, b.geom)
            ORDER BY a.code LIMIT 1""")).one()
    runs: dict[str, list[float]] = {"draft": [], "preview": [], "publish": []}
    for _ in range(3):
        with Session(engine) as session:
            t, cs = timed(lambda: _reshape(session, grid, neighbour))
            runs["draft"].append(t)
            t, view = timed(partial(preview, session, cs))
            runs["preview"].append(t)
            t, done = timed(partial(publish, session, cs, "bench"))
            runs["publish"].append(t)
            session.rollback()
    moved = sum(x["count"] for x in view.transfers)
    print(f"[district] reshape {grid} into {neighbour}: {moved} units move; re-assigned "
          f"{done.reassigned}")
    for step, times in runs.items():
        print(f"[district] {step}: median {statistics.median(times) * 1000:.0f} ms, best "
              f"{min(times) * 1000:.0f} ms (3 runs)")
    print(f"[district] targets: preview < 300 ms -> {statistics.median(runs['preview']) < 0.3};"
          f" publish < 1 s -> {statistics.median(runs['publish']) < 1.0}")


def bench_proposal(engine: Engine) -> None:
    with engine.connect() as conn:
        community, households, buildings = conn.execute(text("""
            SELECT a.code, sum(b.households), count(*) FROM admin_areas a
            JOIN buildings b ON ST_Covers(a.geom, b.geom) WHERE a.level = 'community'
            GROUP BY a.code ORDER BY 3 DESC, 1 LIMIT 1""")).one()
    with Session(engine) as session:
        session.execute(text("""
            UPDATE buildings b SET households = round(b.households * :f)
            FROM admin_areas a WHERE a.code = :c AND ST_Covers(a.geom, b.geom)"""),
            {"f": HOUSEHOLDS / households, "c": community})
        took, draft = timed(lambda: propose(session, community, "bench"))
        t_val, report = timed(lambda: validate_area(session, community, draft.id))
        session.rollback()
    grids = draft.report["grids"]
    hh = [g["households"] for g in grids]
    print(f"[district] propose({community}: {buildings} buildings, households scaled "
          f"{households} -> {sum(hh)}): {took:.2f} s -> {len(grids)} grids ({min(hh)}-{max(hh)}"
          f" households), {sum(g['micro_grids'] for g in grids)} micro-grids; validation of "
          f"the draft {t_val:.2f} s, errors {len(report.errors)}, warnings "
          f"{len(report.problems) - len(report.errors)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--city-grids", type=int, default=10_000, help="0 = skip the city")
    parser.add_argument("--url", default=None, help="server URL (default: test cluster)")
    args = parser.parse_args()
    url = scratch_database(args.url, "gridlink_bench_planning")
    engine = create_engine(url)
    start = time.perf_counter()
    city = load(engine, 1200, events=6000, cameras=3066)
    print(f"[district] generated + loaded in {time.perf_counter() - start:.1f} s")
    bench_validation(engine, city, "district")
    bench_reshape(engine)
    bench_proposal(engine)
    if args.city_grids:
        engine.dispose()
        url = scratch_database(args.url, "gridlink_bench_planning")
        engine = create_engine(url)
        start = time.perf_counter()
        city = load(engine, args.city_grids, events=0, cameras=0)
        print(f"[city] generated + loaded in {time.perf_counter() - start:.1f} s")
        bench_validation(engine, city, "city")
    engine.dispose()


if __name__ == "__main__":
    main()
