"""Benchmark: OGC API Features items paging vs ``ogr2ogr`` from PostGIS, and vs tipg.

    .venv/bin/python bench/ogc.py --grids 300                # small city, quick
    .venv/bin/python bench/ogc.py --tipg /tmp/tipg-venv      # also tipg from that venv

Loads the demo city (data/demo.py) into a scratch database ``gridlink_bench_ogc`` on the
test cluster (or ``--url``; ``--reuse`` keeps the one loaded last time) and serves gridlink
with uvicorn (one process). Measured in the same run, ``--rounds`` rounds in which every
server takes its turn (the same machine load for all), medians:

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
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import scratch_database  # noqa: E402
from cli.cluster import test_server_url  # noqa: E402
from geo.db import libpq_url  # noqa: E402
from geo.settings import get_settings  # noqa: E402

CURRENT_GRIDS = ("SELECT id, code, name, parent_code, kind, households, population, geom "
                 "FROM grids WHERE level = 'grid' AND kind <> 'dedicated' AND valid_to IS NULL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(command: list[str], env: dict[str, str], probe: str
          ) -> tuple[str, subprocess.Popen[bytes]]:
    """Start a server process listening on a free port (``{port}`` in ``command``); its URL."""
    port = free_port()
    process = subprocess.Popen([part.format(port=port) for part in command],
                               env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=5)
            return f"http://127.0.0.1:{port}", process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.terminate()
    raise RuntimeError(f"{command[0]} did not start")


def first_page_ms(url: str, headers: dict[str, str]) -> float:
    start = time.perf_counter()
    response = httpx.get(url, headers=headers, timeout=60)
    response.raise_for_status()
    return (time.perf_counter() - start) * 1000


def page_all(url: str, headers: dict[str, str]) -> tuple[int, float]:
    """(features, seconds) following ``next`` links from ``url``."""
    features, start = 0, time.perf_counter()
    link: str | None = url
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


def load(url: str, grids: int) -> None:
    """Import the demo city and make the view of the current grids that tipg serves."""
    from data.demo import load_demo
    from geo.db import transaction

    with transaction() as session:
        load_demo(session, 42, grids=grids, events=1000)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE VIEW ogc_grids AS {CURRENT_GRIDS}"))
    engine.dispose()


def viewer_key() -> str:
    from geo.db import transaction
    from geo.keys import create_key

    with transaction() as session:
        return create_key(session, "bench viewer", "viewer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=300)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tipg", default=None, help="virtualenv with tipg installed")
    parser.add_argument("--reuse", action="store_true", help="keep the loaded database")
    parser.add_argument("--url", default=None, help="server URL where a database may be made")
    args = parser.parse_args()
    if args.reuse:
        port = int(os.environ.get("GRIDLINK_TEST_DB_PORT", "55433"))
        url = make_url(args.url or test_server_url(port)).set(
            database="gridlink_bench_ogc").render_as_string(hide_password=False)
        os.environ["GRIDLINK_DATABASE_URL"] = url
        get_settings.cache_clear()
    else:
        url = scratch_database(args.url, "gridlink_bench_ogc")
        os.environ["GRIDLINK_DATABASE_URL"] = url
        get_settings.cache_clear()
        load(url, args.grids)
    key = viewer_key()
    engine = create_engine(url)
    with engine.begin() as conn:
        grids = conn.execute(text("SELECT count(*) FROM ogc_grids")).scalar_one()
    engine.dispose()
    runs = measure(url, key, args)
    report(grids, args, {name: statistics.median(values) for name, values in runs.items()})


def measure(url: str, key: str, args: argparse.Namespace) -> dict[str, list[float]]:
    """Every figure ``--rounds`` times, the servers taking turns within each round (so
    both see the same machine load); each server is one uvicorn process."""
    servers = [serve([sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
                      "--port", "{port}", "--log-level", "warning"],
                     {"GRIDLINK_DATABASE_URL": url}, "/health")]
    if args.tipg:
        servers.append(serve([f"{args.tipg}/bin/uvicorn", "tipg.main:app", "--port", "{port}",
                              "--log-level", "warning"],
                             {"DATABASE_URL": libpq_url(url), "TIPG_DB_SCHEMAS": '["public"]',
                              "TIPG_MAX_FEATURES_PER_QUERY": "10000"}, "/collections"))
    base, headers = servers[0][0], {"X-API-Key": key}
    items = f"{base}/ogc/collections/grids/items"
    runs: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        runs.setdefault(name, []).append(value)

    try:
        for _ in range(args.rounds):
            add("gridlink first page ms", first_page_ms(f"{items}?limit=10", headers))
            if args.tipg:
                tipg = f"{servers[1][0]}/collections/public.ogc_grids/items"
                add("tipg first page ms", first_page_ms(f"{tipg}?limit=10", {}))
                add("tipg paging f/s", _rate(page_all(f"{tipg}?limit={args.page}", {})))
            add("gridlink paging f/s", _rate(page_all(f"{items}?limit={args.page}", headers)))
            add("gdal OAPIF f/s", _rate(ogr2ogr_s(
                ["-oo", f"PAGE_SIZE={args.page}", f"OAPIF:{base}/ogc", "grids"],
                {"GDAL_HTTP_HEADERS": f"X-API-Key: {key}"})))
            add("ogr2ogr PG f/s", _rate(ogr2ogr_s([f"PG:{libpq_url(url)}", "-sql",
                                                   CURRENT_GRIDS])))
    finally:
        for _, process in servers:
            process.terminate()
            process.wait(timeout=15)
    for name, values in runs.items():
        print(f"{name}: {[round(v, 1) for v in values]}")
    return runs


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
