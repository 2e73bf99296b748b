"""Benchmark: camera placement for one street, MCLP (spopt) against the greedy baseline.

    .venv/bin/python bench/placement.py --area 140213001 --k 5 10 20 [--url ...]

Needs a database holding the demo city with its camera views (bench/visibility.py fills
``gridlink_bench_visibility``), and its roads and entrances for those candidates and that
demand. Builds each candidate set's covering problem once (demand: blind lattice + unseen
entrances at 1,000 m²; candidates: ``--sources`` sets, e.g. corners, intersections, both),
timed, then for each K prints the demand, the candidates, the weight newly covered by the
greedy and by the MCLP proposal (m²; entrances covered) and the solving seconds. Read-only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.mapdata import grid_camera_coverage
from geo.video.coverage import grid_coverage
from geo.video.placement import PlacementSpec, placement_problem, solve_placement


def side_by_side(session: Session, area: str) -> None:
    """Coverage of the area's grids without occlusion (view wedges over the whole grid) and
    with it (visibility polygons over the outdoor area), area-weighted, and the grids
    nobody sees."""
    start = time.perf_counter()
    wedges = grid_camera_coverage(session, area)
    seen = grid_coverage(session, area)
    plain = float(wedges["covered_m2"].sum() / wedges["area_m2"].sum())
    occluded = float((seen["outdoor_m2"] - seen["blind_m2"]).sum() / seen["outdoor_m2"].sum())
    top = seen.head(3)
    print(f"{area}: {len(seen)} grids; seen share without occlusion {100 * plain:.1f} %"
          f" (grid area), with occlusion {100 * occluded:.1f} % (outdoor area);"
          f" grids at 0 %: {int((wedges['covered_share'] <= 0).sum())} vs"
          f" {int((seen['seen_share'] <= 0).sum())}; uncovered households"
          f" {seen['uncovered_households'].sum():,.0f} of {seen['households'].sum():,};"
          f" top: {', '.join(f'{r.code} {r.uncovered_households:.0f}' for r in top.itertuples())}"
          f" ({time.perf_counter() - start:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--area", default="140213001")
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--spacing", type=float, default=10.0)
    parser.add_argument("--sources", nargs="+", default=["corners", "intersections",
                                                         "corners,intersections"])
    port = os.environ.get("GRIDLINK_TEST_DB_PORT", "55433")
    parser.add_argument("--url", default=f"postgresql+psycopg://postgres@127.0.0.1:{port}/"
                        "gridlink_bench_visibility")
    args = parser.parse_args()
    with Session(create_engine(args.url)) as session:
        side_by_side(session, args.area)
        for sources in args.sources:
            spec = PlacementSpec(max_candidates=args.candidates, spacing_m=args.spacing,
                                 sources=tuple(sources.split(",")))
            start = time.perf_counter()
            problem = placement_problem(session, args.area, spec)
            print(f"{args.area} [{sources}]: {problem.cover.shape[1]} candidates,"
                  f" {problem.cover.shape[0]:,} demand points ({int(problem.gates.sum())}"
                  f" unseen entrances); built in {time.perf_counter() - start:.1f} s,"
                  f" load {os.getloadavg()[0]:.1f}")
            for k in args.k:
                start = time.perf_counter()
                p = solve_placement(problem, PlacementSpec(**{**spec.__dict__, "k": k}))
                greedy, mclp = p.covered_m2["greedy"], p.covered_m2["mclp"]
                print(f"  K={k}: demand {p.demand_m2:,.0f} m²; greedy {greedy:,.0f} m²"
                      f" ({p.entrances_covered['greedy']} entrances), MCLP {mclp:,.0f} m²"
                      f" ({p.entrances_covered['mclp']} entrances)"
                      f" (+{100 * (mclp - greedy) / max(greedy, 1):.2f} %);"
                      f" solved in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
