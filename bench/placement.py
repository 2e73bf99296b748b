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

from geo.video.placement import PlacementSpec, propose_cameras


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
