"""Benchmark: /locate latency and throughput over HTTP vs the same SQL issued directly.

    .venv/bin/python bench/locate.py --requests 4000 --concurrency 4

Needs the ``gridlink_bench`` database filled by bench/assign.py (same server). Starts uvicorn
(one process) on 127.0.0.1:<free port> against it, then, with the same points (positions of
stored events) and the same number of concurrent clients:

* **HTTP**: ``GET /locate?lon=&lat=`` with keep-alive httpx clients (one per thread);
* **raw SQL floor**: the statement geo.locate issues for a point inside a grid
  (``geo.locate.LOCATE_SQL``: grid chain, workers, cameras, sites in one round trip),
  prepared, over one psycopg connection per thread.

Prints p50/p99 latency (ms) and requests/s of each, and the ratios. Loopback only, bounded.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.keys import hash_key
from geo.locate import LOCATE_PSYCOPG_SQL

ROOT = Path(__file__).resolve().parent.parent
KEY = "gl_bench_locate_viewer_key_0001"


def sample_points(dsn: str, n: int) -> list[tuple[float, float]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM events"
                            " TABLESAMPLE SYSTEM (5) REPEATABLE (42) LIMIT %s", (n,)).fetchall()
    if not rows:
        raise SystemExit("gridlink_bench has no events: run bench/assign.py first")
    return [(float(x), float(y)) for x, y in rows]


def raw_locate(conn: psycopg.Connection, lon: float, lat: float) -> None:
    """The statement geo.locate.locate issues for a point inside a grid, prepared."""
    conn.execute(RAW_SQL, {"lon": lon, "lat": lat, "radius": 200.0}, prepare=True).fetchall()


RAW_SQL = LOCATE_PSYCOPG_SQL


def run_load(worker: object, points: list[tuple[float, float]], threads: int,
             total: int) -> tuple[np.ndarray, float]:
    """``total`` calls of worker.call on ``threads`` threads: (latencies s, wall s)."""
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def loop(i: int) -> None:
        ctx = worker.open()  # type: ignore[attr-defined]
        try:
            for j in range(i, total, threads):
                lon, lat = points[j % len(points)]
                t = time.perf_counter()
                worker.call(ctx, lon, lat)  # type: ignore[attr-defined]
                latencies[i].append(time.perf_counter() - t)
        finally:
            ctx.close()

    start = time.perf_counter()
    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return np.concatenate([np.array(x) for x in latencies]), time.perf_counter() - start


class Http:
    def __init__(self, base: str) -> None:
        self.base = base

    def open(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"X-API-Key": KEY}, timeout=30)

    def call(self, client: httpx.Client, lon: float, lat: float) -> None:
        r = client.get("/locate", params={"lon": lon, "lat": lat})
        if r.status_code != 200:
            raise RuntimeError(r.text)


class Raw:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def open(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True)

    def call(self, conn: psycopg.Connection, lon: float, lat: float) -> None:
        raw_locate(conn, lon, lat)


def start_server(url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "GRIDLINK_DATABASE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
         "--workers", str(workers)], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("uvicorn did not start")


def report(name: str, lat: np.ndarray, wall: float) -> float:
    rps = len(lat) / wall
    print(f"{name:>10}: p50 {np.percentile(lat, 50) * 1e3:6.2f} ms  p99 "
          f"{np.percentile(lat, 99) * 1e3:6.2f} ms  {rps:7.0f} req/s  ({len(lat)} calls)")
    return rps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn processes")
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:55433/"
                        "gridlink_bench")
    args = parser.parse_args()
    dsn = make_url(args.url).set(drivername="postgresql").render_as_string(hide_password=False)
    points = sample_points(dsn, 2000)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM api_keys WHERE name = 'bench locate'")
        conn.execute("INSERT INTO api_keys (name, role, prefix, key_hash) VALUES"
                     " ('bench locate', 'viewer', %s, %s)", (KEY[:7], hash_key(KEY)))
    proc, base = start_server(args.url, args.workers)
    try:
        n, c = args.requests, args.concurrency
        run_load(Http(base), points, c, 400)  # warm-up
        run_load(Raw(dsn), points, c, 400)
        print(f"{n} calls per mode, {c} concurrent clients, {len(points)} distinct points, "
              f"uvicorn workers={args.workers}")
        raw_rps = report("raw SQL", *run_load(Raw(dsn), points, c, n))
        http_rps = report("HTTP", *run_load(Http(base), points, c, n))
        lat1, wall1 = run_load(Raw(dsn), points, 1, n // 4)
        report("raw SQL×1", lat1, wall1)
        lat2, wall2 = run_load(Http(base), points, 1, n // 4)
        report("HTTP×1", lat2, wall2)
        print(f"HTTP throughput = {http_rps / raw_rps:.0%} of raw SQL")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DELETE FROM api_keys WHERE name = 'bench locate'")


if __name__ == "__main__":
    main()
