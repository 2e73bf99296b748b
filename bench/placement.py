"""Benchmark: camera placement for one street, MCLP (spopt) against the greedy baseline.

    .venv/bin/python bench/placement.py --area 140213001 --k 5 10 20

Needs the ``gridlink_bench_visibility`` database filled by bench/visibility.py (the demo city
with its camera views). For each K prints the blind outdoor area (demand), the candidates,
the area newly covered by the greedy and by the MCLP proposal (m²) and the seconds taken.
Read-only.
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
from geo.video.placement import PlacementSpec, propose_cameras


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
    port = os.environ.get("GRIDLINK_TEST_DB_PORT", "55433")
    parser.add_argument("--url", default=f"postgresql+psycopg://postgres@127.0.0.1:{port}/"
                        "gridlink_bench_visibility")
    args = parser.parse_args()
    with Session(create_engine(args.url)) as session:
        side_by_side(session, args.area)
        for k in args.k:
            start = time.perf_counter()
            spec = PlacementSpec(k=k, max_candidates=args.candidates, spacing_m=args.spacing)
            p = propose_cameras(session, args.area, spec)
            greedy, mclp = p.covered_m2["greedy"], p.covered_m2["mclp"]
            print(f"{args.area} K={k}: blind {p.demand_m2:,.0f} m², {p.candidates} candidates;"
                  f" greedy {greedy:,.0f} m², MCLP {mclp:,.0f} m²"
                  f" (+{100 * (mclp - greedy) / max(greedy, 1):.2f} %);"
                  f" {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
