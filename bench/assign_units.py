"""Benchmark: ``geo.assign.assign_units`` on a bench/scale.py city — units per second, and
the owner look-up's plan (issue #18: units at 10^5 grids).

    .venv/bin/python bench/scale.py --sizes 30000x10000 --only '' --no-explain  # the city
    .venv/bin/python bench/assign_units.py gridlink_scale_30000_10000 --reset

Times one ``assign_units(session)`` over every building, site and camera of the database
(``--reset``: their grid codes cleared first, so every row is written, as after a load),
then rolls back: the database is left as it was. Prints the rows, seconds, units/s and the
load average, and the EXPLAIN (ANALYZE) of the owner look-up for ``--sample`` random
buildings (which index each probe takes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import city_database_url
from geo.assign import assign_units

UNIT_TABLES = ("buildings", "sites", "cameras")
LOOKUP = """
EXPLAIN (ANALYZE, COSTS OFF) SELECT u.code, g.code FROM (
  SELECT code, ST_PointOnSurface(geom) AS p FROM buildings ORDER BY random() LIMIT :n
  OFFSET 0) u
LEFT JOIN LATERAL (SELECT code FROM grids WHERE valid_to IS NULL AND level = 'grid'
  AND kind <> 'dedicated' AND ST_Covers(geom, u.p) ORDER BY code LIMIT 1) g ON TRUE"""
"""The owner look-up of geo.assign._assign_table for ``:n`` random buildings."""


def timed_run(session: Session, reset: bool) -> dict[str, object]:
    """One ``assign_units`` over every unit (after clearing their codes with ``reset``)."""
    units = {t: int(session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())  # noqa: S608
             for t in UNIT_TABLES}
    if reset:
        for table in UNIT_TABLES:
            micro = ", micro_grid_code = NULL" if table == "buildings" else ""
            session.execute(text(f"UPDATE {table} SET grid_code = NULL{micro}"))  # noqa: S608
    load = os.getloadavg()[0]
    start = time.perf_counter()
    written = assign_units(session)
    seconds = time.perf_counter() - start
    total = sum(units.values())
    return {"units": units, "written": written, "seconds": round(seconds, 1),
            "units_per_s": round(total / seconds), "load": (load, os.getloadavg()[0])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("database", help="a database loaded by bench/scale.py")
    parser.add_argument("--url", default=None, help="server URL (default: the test cluster)")
    parser.add_argument("--reset", action="store_true", help="clear the units' codes first")
    parser.add_argument("--sample", type=int, default=2000, help="buildings in the EXPLAIN")
    args = parser.parse_args(argv)
    engine = create_engine(city_database_url(args.url, args.database))
    with Session(engine) as session, session.begin():
        plan = [r[0] for r in session.execute(text(LOOKUP), {"n": args.sample})]
        print("\n".join(plan))
        print(timed_run(session, args.reset), flush=True)
        session.rollback()


if __name__ == "__main__":
    main()
