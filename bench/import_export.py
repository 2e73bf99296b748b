"""Benchmark: gridlink import/export vs ogr2ogr, on the 1,200-grid demo and on N events.

    .venv/bin/python bench/import_export.py                          # 10^5 and 10^6 events
    .venv/bin/python bench/import_export.py --events 10000000 --no-export --no-grids \
        --no-append --files .gridlink/bench-files      # 10^7: files written once, kept

Scratch database ``gridlink_bench_io`` on the test cluster (or ``--url``). Every measured
step runs in a fresh child process (bench/io_step.py, loading only what the step loads) so
its peak RSS is its own; ogr2ogr (GDAL, Debian gdal-bin) does the same import/export on
the same machine:

* import: gridlink ``import_file`` (read, CRS, full validation, COPY + upsert by key, commit)
  vs ``ogr2ogr -f PostgreSQL`` (read + COPY into a new table, no validation, no upsert);
* export: gridlink streamed RFC 7946 GeoJSON (``export_file``) vs ``ogr2ogr -f GeoJSON
  -lco RFC7946=YES -lco COORDINATE_PRECISION=7`` from the same table.

Memory must stay flat as rows grow: each size in ``--events`` and each format in
``--formats`` (GeoPackage, CSV with lon/lat columns) is imported into an empty table (a
first load: geo.importer.indexes rebuilds the secondary indexes) and then N/10 further
events are appended to the N already there (indexes kept up row by row; ``--no-append``
skips it), and exported. "speed" is gridlink's rows/s over ogr2ogr's in the same run (goal
≥ 0.5×), from gridlink's in-process seconds up to the commit; "speed (wall)" counts Python
start-up and the indexes a first load builds after its commit (geo.importer.indexes) too;
"indexes after commit s" are those builds alone, "speed incl. them" counts them in.
The event files are written once into ``--files`` (kept, reused by later runs; default: a
temporary folder removed at the end); the scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import scratch_database  # noqa: E402

DB_NAME = "gridlink_bench_io"
CITY_BBOX = (113.20, 40.00, 113.40, 40.15)  # lon/lat around Datong
CATEGORIES = ("garbage", "illegal_ads", "street_light", "road_damage", "dispute")


def write_events(path: Path, n: int, seed: int = 7, prefix: str = "EV") -> None:
    """Write ``n`` synthetic events to ``path`` (GeoPackage, or CSV with lon/lat columns)
    in chunks of 10^6 (appended), so that 10^7 rows never sit in this process at once
    (7 GB: killed by the OOM killer). Written to a ``.part`` file first: an interrupted
    run never leaves a short file to be reused."""
    chunk = 1_000_000
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    for first in range(0, n, chunk):
        frame = synthetic_events(min(chunk, n - first), seed + first, prefix, first)
        if path.suffix == ".csv":
            frame["lon"], frame["lat"] = frame.geometry.x, frame.geometry.y
            pd.DataFrame(frame.drop(columns="geometry")).to_csv(
                part, mode="a", header=first == 0, index=False)
        else:
            frame.to_file(part, driver="GPKG", engine="pyogrio", layer="events",
                          append=first > 0)
    part.rename(path)


def events_file(folder: Path, fmt: str, n: int, seed: int = 7, prefix: str = "EV") -> Path:
    """The events file of ``n`` rows in ``folder`` (``fmt`` gpkg or csv), written once and
    reused by later runs (``--files``)."""
    path = folder / f"{prefix.lower()}_{n}_{seed}.{fmt}"
    if not path.exists():
        write_events(path, n, seed, prefix)
    return path


def ogr_pg(url: str) -> str:
    u = make_url(url)
    return (f"PG:host={u.host} port={u.port} user={u.username} dbname={u.database}"
            + (f" password={u.password}" if u.password else ""))


def synthetic_events(n: int, seed: int = 7, prefix: str = "EV", first: int = 0
                     ) -> gpd.GeoDataFrame:
    """``n`` random events in the city box: client_id (``prefix`` + number from ``first``),
    category, reported_at, point."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(CITY_BBOX[0], CITY_BBOX[2], n)
    lat = rng.uniform(CITY_BBOX[1], CITY_BBOX[3], n)
    start = pd.Timestamp("2024-01-01T00:00:00+08:00")
    stamps = start + pd.to_timedelta(rng.integers(0, 180 * 86400, n), unit="s")
    return gpd.GeoDataFrame(
        {"client_id": [f"{prefix}{i:08d}" for i in range(first, first + n)],
         "category": np.asarray(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)],
         "reported_at": stamps.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
         "description": "bench"},
        geometry=gpd.points_from_xy(lon, lat), crs=4326)


# --------------------------------------------------------------------------- child steps


def run_child(step: str, url: str, layer: str, path: Path) -> dict[str, Any]:
    """``step`` in a process of its own (bench/io_step.py), under GNU time."""
    cmd = [sys.executable, str(ROOT / "bench" / "io_step.py"), step, url, layer, str(path)]
    wall, peak, out = measure(cmd)
    result = json.loads(out.strip().splitlines()[-1])
    return {**result, "wall": wall, "peak_mib": peak}  # "seconds": the work, no start-up


def measure(cmd: list[str]) -> tuple[float, int, str]:
    """Run ``cmd`` under /usr/bin/time; (wall seconds, its peak RSS in MiB, stdout).

    GNU time is a small process, so the measured child's ``ru_maxrss`` is its own (a child
    forked straight from this big Python process would inherit our RSS high-water mark).
    """
    started = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "MAXRSS_KB=%M", *cmd], capture_output=True,
                          text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{proc.stderr[-3000:]}")
    peak_kb = int(proc.stderr.strip().splitlines()[-1].split("=")[1])
    return elapsed, peak_kb // 1024, proc.stdout


def ogr_import(url: str, path: Path, table: str) -> dict[str, Any]:
    """ogr2ogr's plain load of ``path`` into a new ``table`` (a CSV by its lon/lat)."""
    csv = ["-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat", "-a_srs",
           "EPSG:4326"] if path.suffix == ".csv" else []
    cmd = ["/usr/bin/ogr2ogr", "-f", "PostgreSQL", ogr_pg(url), str(path), *csv, "-nln", table,
           "-overwrite", "-lco", "GEOMETRY_NAME=geom", "-gt", "65536", "-nlt", "PROMOTE_TO_MULTI"
           if "grid" in table else "POINT"]
    wall, peak, _ = measure(cmd)
    return {"wall": wall, "peak_mib": peak}


def ogr_export(url: str, sql: str, out: Path) -> dict[str, Any]:
    out.unlink(missing_ok=True)
    cmd = ["/usr/bin/ogr2ogr", "-f", "GeoJSON", str(out), ogr_pg(url), "-sql", sql,
           "-lco", "RFC7946=YES", "-lco", "COORDINATE_PRECISION=7"]
    wall, peak, _ = measure(cmd)
    return {"wall": wall, "peak_mib": peak}


# --------------------------------------------------------------------------- main

GRID_SQL = ("SELECT code, name, kind, parent_code, households, population, geom FROM grids "
            "WHERE level = 'grid' AND valid_to IS NULL ORDER BY code")
EVENT_SQL = ("SELECT client_id, category, description, reported_at, status, priority, geom "
             "FROM events ORDER BY client_id")


def demo_grids(tmp: Path) -> tuple[Path, int]:
    from data.demo import generate_city

    grids = generate_city(seed=42)["grids"]
    path = tmp / "demo_grids.geojson"
    grids.to_file(path, driver="GeoJSON", engine="pyogrio")  # type: ignore[operator]
    return path, len(grids)


def row(label: str, rows: int, ours: dict[str, Any], ogr: dict[str, Any] | None) -> str:
    """A table row: gridlink's in-process seconds (and wall incl. Python start-up) vs
    ogr2ogr's wall seconds; speed = gridlink rows/s over ogr2ogr rows/s (in-process, and
    wall against wall)."""
    rate = rows / ours["seconds"]
    text_ = (f"| {label} | {rows:,} | {ours['seconds']:.2f} ({ours['wall']:.1f}) | "
             f"{rate:,.0f} | {ours['peak_mib']:,} |")
    later = ours.get("after_commit")
    after = " – | – |" if later is None else f" {later:.2f} |"
    if ogr is None:
        return text_ + " – | – | – | – |" + after + (" – |" if later is not None else "")
    text_ += (f" {ogr['wall']:.2f} | {ogr['peak_mib']:,} | "
              f"{ogr['wall'] / ours['seconds']:.2f}× | {ogr['wall'] / ours['wall']:.2f}× |")
    if later is None:
        return text_ + after
    return text_ + after + f" {ogr['wall'] / (ours['seconds'] + later):.2f}× |"


def bench_grids(url: str, tmp: Path) -> list[str]:
    path, n = demo_grids(tmp)
    first = run_child("import", url, "grids", path)
    again = run_child("import", url, "grids", path)
    ogr_in = ogr_import(url, path, "ogr_grids")
    out = run_child("export", url, "grids", tmp / "grids_out.geojson")
    ogr_out = ogr_export(url, GRID_SQL, tmp / "grids_ogr.geojson")
    return [row("demo grids: import (insert)", n, first, ogr_in),
            row("demo grids: re-import (upsert, all updated)", n, again, None),
            row("demo grids: export GeoJSON", out["rows"], out, ogr_out)]


def bench_events(url: str, files: Path, size: int, fmt: str, export: bool,
                 append: bool) -> list[str]:
    """Import ``size`` events from a ``fmt`` file into an empty table, append ``size // 10``
    more (``append``), export (``export``)."""
    engine = create_engine(url)
    path = events_file(files, fmt, size)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE events CASCADE"))
    ours = run_child("import", url, "events", path)
    print(f"# gridlink import of {size:,} ({fmt}): {ours}", file=sys.stderr, flush=True)
    ogr_in = ogr_import(url, path, "ogr_events")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE ogr_events"))
    lines = [row(f"events {size:,}: import {fmt.upper()} (empty table)", size, ours, ogr_in)]
    if append:
        appended = run_child("import", url, "events", events_file(files, fmt, size // 10, 8,
                                                                   "AP"))
        lines.append(row(f"events {size // 10:,}: append {fmt.upper()} to {size:,}",
                         size // 10, appended, None))
    if export:
        out = run_child("export", url, "events", files / "events_out.geojson")
        ogr_out = ogr_export(url, EVENT_SQL, files / "events_ogr.geojson")
        lines.append(row(f"events {out['rows']:,}: export GeoJSON", out["rows"], out, ogr_out))
        for done in ("events_out.geojson", "events_ogr.geojson"):
            (files / done).unlink()
    engine.dispose()
    return lines


def drop_database(url: str) -> None:
    """Drop the scratch database of ``url`` (its name comes from code)."""
    target = make_url(url)
    server = target.set(database="postgres", drivername="postgresql")
    with psycopg.connect(server.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--formats", nargs="+", default=["gpkg", "csv"],
                        choices=["gpkg", "csv"])
    parser.add_argument("--no-export", action="store_true", help="imports only")
    parser.add_argument("--no-append", action="store_true", help="no N/10 append step")
    parser.add_argument("--no-grids", action="store_true", help="skip the demo grids")
    parser.add_argument("--files", type=Path, default=None,
                        help="folder for the event files, kept and reused (default: temporary)")
    parser.add_argument("--url", default=None, help="server URL (default: test cluster)")
    args = parser.parse_args()
    url = scratch_database(args.url, DB_NAME)
    print(f"# import/export bench, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| step | rows | gridlink s to commit (wall) | rows/s | peak MiB | ogr2ogr s | "
          "ogr2ogr MiB | speed | speed (wall) | indexes after commit s | speed incl. them |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="gridlink-bench-") as tmp:
        files = args.files or Path(tmp)
        files.mkdir(parents=True, exist_ok=True)
        lines = [] if args.no_grids else bench_grids(url, Path(tmp))
        for line in lines:
            print(line, flush=True)
        for size in args.events:
            for fmt in args.formats:
                for line in bench_events(url, files, size, fmt, not args.no_export,
                                         not args.no_append):
                    print(line, flush=True)
                print(f"# load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}",
                      flush=True)
    drop_database(url)
    print(f"# done {time.strftime('%H:%M')}, load average "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
