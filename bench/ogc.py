"""Benchmark: OGC API Features items paging vs ``ogr2ogr`` from PostGIS, and vs tipg.

    .venv/bin/python bench/ogc.py --grids 300                # small city, quick
    .venv/bin/python bench/ogc.py --tipg /tmp/tipg-venv      # also tipg from that venv

Loads the demo city (data/demo.py) into a scratch database ``gridlink_bench_ogc`` on the
test cluster (or ``--url``) and serves gridlink with uvicorn (one process). Measured in the
same run, ``--rounds`` times each, medians:

* first-page latency: ``GET /ogc/collections/grids/items?limit=10`` (ms, HTTP, with key);
* paging every current grid with ``limit=--page`` following the ``next`` links (features/s);
* GDAL as the client: ``ogr2ogr -f GeoJSON`` from ``OAPIF:`` (features/s);
* the baseline, ``ogr2ogr -f GeoJSON`` straight from PostGIS (``PG:``) with the same rows;
* with ``--tipg VENV``: tipg (developmentseed's OGC Features server) from that virtualenv
  over the same database, serving a view of the current ordinary grids: first page and
  paging, the same way.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import scratch_database
from geo.db import libpq_url
from geo.settings import get_settings

CURRENT_GRIDS = ("SELECT id, code, name, parent_code, kind, households, population, geom "
                 "FROM grids WHERE level = 'grid' AND kind <> 'dedicated' AND valid_to IS NULL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_gridlink() -> tuple[str, uvicorn.Server, threading.Thread]:
    from api.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def first_page_ms(url: str, headers: dict[str, str]) -> float:
    start = time.perf_counter()
    response = httpx.get(url, headers=headers, timeout=60)
    response.raise_for_status()
    return (time.perf_counter() - start) * 1000


def page_all(url: str, headers: dict[str, str]) -> tuple[int, float]:
    """(features, seconds) following ``next`` links from ``url``."""
    features, start, link = 0, time.perf_counter(), url
    while link:
        body = httpx.get(link, headers=headers, timeout=120).raise_for_status().json()
        features += len(body["features"])
        link = next((x["href"] for x in body.get("links", []) if x["rel"] == "next"), None)
    return features, time.perf_counter() - start


def ogr2ogr_s(source: list[str], env: dict[str, str] | None = None) -> tuple[int, float]:
    """(features, seconds) of ``ogr2ogr -f GeoJSON`` from ``source`` to a scratch file."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.geojson"
        start = time.perf_counter()
        subprocess.run(["ogr2ogr", "-f", "GeoJSON", str(out), *source], check=True,
                       capture_output=True, env={**os.environ, **(env or {})})
        elapsed = time.perf_counter() - start
        return out.read_text(encoding="utf-8").count('"type": "Feature"'), elapsed


def start_tipg(venv: str, database_url: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": libpq_url(database_url),
           "TIPG_DB_SCHEMAS": '["public"]', "TIPG_MAX_FEATURES_PER_QUERY": "10000"}
    process = subprocess.Popen([f"{venv}/bin/uvicorn", "tipg.main:app", "--port", str(port),
                                "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/collections", timeout=5).status_code == 200:
                return f"http://127.0.0.1:{port}", process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.terminate()
    raise RuntimeError("tipg did not start")


def median(rounds: int, run: Callable[[], float]) -> float:
    return statistics.median(run() for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=300)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tipg", default=None, help="virtualenv with tipg installed")
    parser.add_argument("--url", default=None, help="server URL where a database may be made")
    args = parser.parse_args()
    url = scratch_database(args.url, "gridlink_bench_ogc")
    os.environ["GRIDLINK_DATABASE_URL"] = url
    get_settings.cache_clear()
    from data.demo import load_demo
    from geo.db import transaction
    from geo.keys import create_key

    with transaction() as session:
        load_demo(session, 42, grids=args.grids, events=1000)
        key = create_key(session, "bench viewer", "viewer")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE VIEW ogc_grids AS {CURRENT_GRIDS}"))
        grids = conn.execute(text("SELECT count(*) FROM ogc_grids")).scalar_one()
    engine.dispose()
    base, server, thread = serve_gridlink()
    headers = {"X-API-Key": key}
    items = f"{base}/ogc/collections/grids/items"
    results: dict[str, float] = {}
    results["gridlink first page ms"] = median(args.rounds, lambda: first_page_ms(
        f"{items}?limit=10", headers))
    results["gridlink paging f/s"] = median(args.rounds, lambda: _rate(page_all(
        f"{items}?limit={args.page}", headers)))
    results["gdal OAPIF f/s"] = median(args.rounds, lambda: _rate(ogr2ogr_s(
        ["-oo", f"PAGE_SIZE={args.page}", f"OAPIF:{base}/ogc", "grids"],
        {"GDAL_HTTP_HEADERS": f"X-API-Key: {key}"})))
    results["ogr2ogr PG f/s"] = median(args.rounds, lambda: _rate(ogr2ogr_s(
        [f"PG:{libpq_url(url)}", "-sql", CURRENT_GRIDS])))
    if args.tipg:
        tipg, process = start_tipg(args.tipg, url)
        try:
            coll = f"{tipg}/collections/public.ogc_grids/items"
            results["tipg first page ms"] = median(args.rounds, lambda: first_page_ms(
                f"{coll}?limit=10", {}))
            results["tipg paging f/s"] = median(args.rounds, lambda: _rate(page_all(
                f"{coll}?limit={args.page}", {})))
        finally:
            process.terminate()
            process.wait(timeout=10)
    server.should_exit = True
    thread.join(timeout=10)
    report(grids, args, results)


def _rate(done: tuple[int, float]) -> float:
    return done[0] / done[1]


def report(grids: int, args: argparse.Namespace, results: dict[str, float]) -> None:
    print(f"\n{grids:,} current grids, page {args.page}, median of {args.rounds} rounds")
    for name, value in results.items():
        print(f"{name:<26} {value:>12,.1f}")
    base = results["ogr2ogr PG f/s"]
    print(f"gridlink paging / ogr2ogr PG: {results['gridlink paging f/s'] / base:.2f}; "
          f"GDAL over OAPIF / ogr2ogr PG: {results['gdal OAPIF f/s'] / base:.2f}")
    if "tipg paging f/s" in results:
        print(f"gridlink / tipg paging: "
              f"{results['gridlink paging f/s'] / results['tipg paging f/s']:.2f}; first page "
              f"{results['gridlink first page ms'] / results['tipg first page ms']:.2f}")
    print(f"load average (1/5/15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
