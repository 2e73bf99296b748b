"""Benchmark: the demo city generator at the default size and at benchmark scale.

Baseline (same process): the default 1,200-grid district. Prints generation and write
times, the cost per grid at scale relative to the baseline (1.0 = linear scaling), GeoPackage
vs GeoJSON writing, and with ``--load`` the import of the default city through the importer
into ``GRIDLINK_DATABASE_URL`` (or the managed cluster), inside a transaction that is rolled
back. Usage::

    .venv/bin/python bench/demo_city.py [--grids 10000 --cameras 100000 --events 1000000]
                                        [--load]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.demo import (
    ensure_files,
    frames_for,
    load_demo,
    write_city,
)
from data.scale import city_scale

AS_OF = date(2026, 11, 1)


def timed(label: str, func, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = func(*args, **kwargs)
    elapsed = time.perf_counter() - started
    print(f"  {label:<34} {elapsed:8.2f} s")
    return result, elapsed


def run_scale(label: str, tmp: Path, **scale: int) -> tuple[float, float, int]:
    """Generate and write one city; returns (generate s, write s, grids)."""
    params = city_scale(42, as_of=AS_OF, **scale)  # type: ignore[arg-type]
    print(f"{label}: {params.grids} grids, {params.cameras} cameras, {params.events} events")
    city, generate_s = timed("generate (in memory)", frames_for, params)
    print("  rows: " + ", ".join(f"{k} {len(v):,}" for k, v in city.items()))
    _, write_s = timed("write GeoPackage", write_city, city, tmp / label, "gpkg")
    return generate_s, write_s, params.grids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=10_000)
    parser.add_argument("--cameras", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--load", action="store_true", help="also import the default city")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        base_gen, base_write, base_grids = run_scale("baseline", tmp)
        _, geojson_s = timed("write GeoJSON (baseline city)", write_city,
                             frames_for(city_scale(42, as_of=AS_OF)), tmp / "geojson",
                             "geojson")
        print(f"  GeoJSON / GeoPackage write time: {geojson_s / base_write:.2f}x")
        if args.load:
            load_default(tmp)
        gen, write, grids = run_scale("scale", tmp, grids=args.grids, cameras=args.cameras,
                                      events=args.events)
    size = grids / base_grids
    print(f"size ratio {size:.1f}x: generate {gen / base_gen:.1f}x "
          f"({gen / base_gen / size:.2f} per grid vs baseline), write {write / base_write:.1f}x")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:,.0f} MB")


def load_default(tmp: Path) -> None:
    """Import the default city through the importer, then roll back."""
    from geo.db import session_factory

    ensure_files(city_scale(42, as_of=AS_OF), tmp / "load")
    with session_factory()() as session:
        counts, _ = timed("load_demo (import only, rolled back)", load_demo, session, 42,
                          directory=tmp / "load", as_of=AS_OF)
        session.rollback()
    print("  imported: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
