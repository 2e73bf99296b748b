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

With ``--c-clients`` (needs ``wrk`` and PostgreSQL's ``pgbench``) the same comparison is made
with load generators written in C, so that the Python client's own CPU (on the same 2 cores)
counts on neither side: ``pgbench -M prepared`` replays the statement for 100 of the points
(one script per point), ``wrk`` requests /locate for the same 100 points in turn. It also
measures the HTTP stack alone: a FastAPI app with one constant route (:func:`hello_app`)
under the same uvicorn and wrk, the ceiling of any Python endpoint on this machine.

With ``--variants`` (issue #16: "/locate p99 not worse than before") the statement's
variants are compared in one run, on the same points: the statement before #16 (no
occlusion, no pointing: ``bench/locate_sql/before_16.sql``, from git 5473b5f), the one #16
merged (``main_16.sql``), path (a) of then (``a_emitted_rows.sql``: view values in the JSON),
the one main had at 3f304f2 (``main_3f304f2.sql``: one subplan per part of the answer), its
first rewrite (``one_pass_f1f6bc6.sql``: each table read once, the parts joined, one shadow
lookup per camera in view), the second (``shade_cte_90b0109.sql``: the shadows covering the
spot in one GiST probe, each lens FOV computed once) and the current one
(:data:`geo.locate.LOCATE_SQL`: the shadow and preset lookups as PL/pgSQL functions,
migration 0030), plus the current one changed along one path each: ``pip_views`` (which
cameras see the spot by point-in-polygon against the stored views, one GiST probe, the
shadow lookup only for the hidden ones; answers may differ at view edges: counted, not
required equal), ``custom_plans`` (re-planned for every call: ``plan_cache_mode =
force_custom_plan`` on its connection) and the ablations ``no_shadow``, ``no_preset`` and
``no_view_values`` (answers differ). The database must be at migration 0030 or later.
One client sends each point to every
variant in turn (rotating which goes first), then each variant runs alone on
``--concurrency`` connections for requests/s. The server CPU per statement (the backend's
user + system time from /proc) is the figure to compare. ``--before-tree DIR`` (a ``git
archive`` of an older commit) also serves that tree's app beside the current one and
alternates HTTP rounds between them.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psycopg
from fastapi import FastAPI, Response

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.settings import ApiSettings
from geo.db import libpq_url
from geo.keys import hash_key
from geo.locate import LOCATE_RAW_SQL, LOCATE_SQL, POINT, locate_sql, raw_sql
from geo.video.pointing import blocked_by_sql, view_values_sql

ROOT = Path(__file__).resolve().parent.parent
KEY = "gl_bench_locate_viewer_key_0001"


def sample_points(dsn: str, n: int) -> list[tuple[float, float]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM events"
                            " TABLESAMPLE SYSTEM (5) REPEATABLE (42) LIMIT %s", (n,)).fetchall()
        if len(rows) < min(n, 100):  # a small city: 5 % of its pages may hold nothing
            rows = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM events ORDER BY id"
                                " LIMIT %s", (n,)).fetchall()
    if not rows:
        raise SystemExit("gridlink_bench has no events: run bench/assign.py first")
    return [(float(x), float(y)) for x, y in rows]


TOLERANCE_M = 15.0
"""GRIDLINK_DOUBT_TOLERANCE_M's default: the boundary-doubt radius the statement is run with."""
NO_DOUBT_RAW_SQL = raw_sql(locate_sql(doubt=False))
"""The statement without the boundary doubt: the "before" of ``--doubt``."""


def raw_locate(conn: psycopg.Connection, lon: float, lat: float) -> None:
    """The statement geo.locate.locate issues for a point inside a grid, prepared."""
    with psycopg.RawCursor(conn) as cursor:
        cursor.execute(LOCATE_RAW_SQL, (lon, lat, 200.0, 3, TOLERANCE_M),
                       prepare=True).fetchall()


def raw_locate_without_doubt(conn: psycopg.Connection, lon: float, lat: float) -> None:
    """The same statement without the boundary doubt (the code before #17), prepared."""
    with psycopg.RawCursor(conn) as cursor:
        cursor.execute(NO_DOUBT_RAW_SQL, (lon, lat, 200.0, 3), prepare=True).fetchall()


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


def points_in_doubt(dsn: str, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The ``points`` with another grid within :data:`TOLERANCE_M` (the answer is in doubt)."""
    with psycopg.connect(dsn) as conn:
        return [p for p in points if _in_doubt(conn, *p)]


def _in_doubt(conn: psycopg.Connection, lon: float, lat: float) -> bool:
    with psycopg.RawCursor(conn) as cursor:
        row = cursor.execute(LOCATE_RAW_SQL, (lon, lat, 200.0, 3, TOLERANCE_M)).fetchone()
    return bool(row and row[0] and json.loads(row[0])["boundary"]["in_doubt"])


def doubt_cost(dsn: str, points: list[tuple[float, float]], calls: int, rounds: int) -> None:
    """p50/p99 of the prepared statement without and with the boundary doubt, one client, on
    the same points: each point is sent to both statements back to back (which one first
    alternates), so the load of other processes on the shared cores hits both alike; the
    median of the per-point differences is the doubt's cost. All points, then those in doubt.
    """
    doubtful = points_in_doubt(dsn, points)
    print(f"{len(points)} points, {len(doubtful)} of them in doubt "
          f"(another grid within {TOLERANCE_M:g} m); one client, {rounds} rounds of "
          f"{calls} paired calls")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, chosen in (("all points", points), ("in doubt", doubtful)):
            if chosen:
                _paired(conn, name, chosen, calls, rounds)


def _paired(conn: psycopg.Connection, name: str, points: list[tuple[float, float]],
            calls: int, rounds: int) -> None:
    calls_of = (raw_locate_without_doubt, raw_locate)
    times: tuple[list[float], list[float]] = ([], [])
    for r in range(rounds + 1):  # round 0 warms up (prepares, caches)
        for i in range(calls):
            lon, lat = points[i % len(points)]
            for which in ((0, 1) if (i + r) % 2 else (1, 0)):
                start = time.perf_counter()
                calls_of[which](conn, lon, lat)
                if r:
                    times[which].append(time.perf_counter() - start)
    before, after = (np.array(t) * 1e3 for t in times)
    print(f"{name:>10}: before p50 {np.percentile(before, 50):6.3f} ms p99 "
          f"{np.percentile(before, 99):6.3f} | after p50 {np.percentile(after, 50):6.3f} ms p99 "
          f"{np.percentile(after, 99):6.3f} | added p50 "
          f"{np.percentile(after, 50) - np.percentile(before, 50):+.3f} ms, median paired "
          f"difference {np.median(after - before):+.3f} ms")


VARIANT_DIR = Path(__file__).resolve().parent / "locate_sql"
FROZEN = ("before_16", "main_16", "a_emitted_rows", "main_3f304f2", "one_pass_f1f6bc6",
          "shade_cte_90b0109")
"""The statements of earlier commits, kept as files (``:name`` parameters)."""
_PIP_SEEN = raw_sql(
    "c.code NOT IN (SELECT v.camera_code FROM camera_views v WHERE v.valid_to IS NULL"  # noqa: S608
    f" AND v.preset IS NULL AND ST_Covers(v.geom, {POINT}))")
"""Path (a): the camera's stored view does not cover the spot (constant SQL, values bound)."""


def _changed(sql: str, *edits: tuple[str, str]) -> str:
    """``sql`` with each (old, new) edit made once; SystemExit when one no longer applies."""
    for old, new in edits:
        if sql.count(old) != 1:
            raise SystemExit(f"a variant did not apply ({old[:50]!r}): update bench/locate.py")
        sql = sql.replace(old, new)
    return sql


def made_variants() -> dict[str, str]:
    """The current statement and its variants along each path (module docstring)."""
    lookup = f"THEN {raw_sql(blocked_by_sql('c', POINT))} END AS blocked_by"
    values = view_values_sql("j", POINT)
    return {
        "current": LOCATE_RAW_SQL,
        "pip_views": _changed(LOCATE_RAW_SQL, (lookup, f"AND {_PIP_SEEN} {lookup}")),
        "custom_plans": LOCATE_RAW_SQL,
        "no_shadow": _changed(LOCATE_RAW_SQL, (lookup, "THEN NULL END AS blocked_by")),
        "no_preset": _changed(LOCATE_RAW_SQL,
                              (f"{raw_sql(values['preset'])} AS preset", "NULL AS preset")),
        "no_view_values": _changed(LOCATE_RAW_SQL, *(
            (f"{raw_sql(sql)} AS {name}", f"NULL AS {name}") for name, sql in values.items())),
    }


SETTINGS = {"custom_plans": "SET plan_cache_mode = force_custom_plan"}
"""Variants that differ by their connection's settings, not their text."""
SAME_ANSWERS = ("a_emitted_rows", "main_3f304f2", "one_pass_f1f6bc6", "shade_cte_90b0109",
                "current", "custom_plans")
"""The variants that must answer alike (before_16 lacks the view fields, main_16 names any
covering preset, ablations differ; ``pip_views`` is counted)."""


def statement_variants() -> dict[str, str]:
    """Name → statement ($1..$5 placeholders) of every ``--variants`` variant."""
    files = {name: raw_sql((VARIANT_DIR / f"{name}.sql").read_text(encoding="utf-8"))
             for name in FROZEN}
    return files | made_variants()


def _connect(dsn: str, name: str) -> psycopg.Connection:
    """A connection for variant ``name`` with its :data:`SETTINGS`."""
    conn = psycopg.connect(dsn, autocommit=True)
    if name in SETTINGS:
        conn.execute(SETTINGS[name])
    return conn


def compare_variants(dsn: str, points: list[tuple[float, float]], calls: int, rounds: int,
                     concurrency: int) -> None:
    """Every variant of :func:`statement_variants` on the same points: interleaved, one
    client (p50/p99/mean ms), then alone on ``concurrency`` connections (requests/s).
    Checks first that all variants but before_16 give the same answers."""
    variants = statement_variants()
    names = list(variants)
    with psycopg.connect(dsn, autocommit=True) as conn:
        _same_answers(conn, variants, points)
    conns = {n: _connect(dsn, n) for n in names}
    try:
        times, cpu = _interleaved(conns, variants, points, calls, rounds)
    finally:
        for c in conns.values():
            c.close()
    loaded: dict[str, list[np.ndarray]] = {n: [] for n in names}
    walls = dict.fromkeys(names, 0.0)
    for r in range(rounds):  # then each alone on `concurrency` connections, rounds rotating
        for name in names[r % len(names):] + names[:r % len(names)]:
            took, wall = run_load(Statement(dsn, variants[name], name), points, concurrency,
                                  calls)
            loaded[name].append(took)
            walls[name] += wall
    print(f"{len(points)} points; interleaved, one client, {rounds} rounds of {calls} calls;"
          f" then each alone on {concurrency} connections, {rounds} rotating rounds")
    for name in names:
        ms = np.array(times[name]) * 1e3
        both = np.concatenate(loaded[name]) * 1e3
        print(f"{name:>12}: p50 {np.percentile(ms, 50):6.3f} ms  p99 {np.percentile(ms, 99):6.3f}"
              f" ms  mean {ms.mean():6.3f} ms  server CPU {cpu[name] * 1e3 / len(ms):6.3f} ms"
              f" | {concurrency} clients: p50 "
              f"{np.percentile(both, 50):6.3f} ms  p99 {np.percentile(both, 99):6.3f} ms"
              f"  {len(both) / walls[name]:7.0f} req/s")


def _interleaved(conns: dict[str, psycopg.Connection], variants: dict[str, str],
                 points: list[tuple[float, float]], calls: int, rounds: int
                 ) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Each point to every variant in turn, each variant on its own connection (rotating
    which goes first): latencies (s) and the CPU seconds each variant's backend spent,
    rounds after the first (which warms up: prepares, caches). The backends' CPU time
    (Linux /proc) is steadier than latency on cores shared with other work."""
    names = list(variants)
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu = dict.fromkeys(names, 0.0)
    for r in range(rounds + 1):
        used = {n: _cpu_seconds(conns[n].info.backend_pid) for n in names}
        for i in range(calls):
            lon, lat = points[i % len(points)]
            shift = (i + r) % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                _run(conns[name], variants[name], lon, lat)
                if r:
                    times[name].append(time.perf_counter() - start)
        if r:
            for n in names:
                cpu[n] += _cpu_seconds(conns[n].info.backend_pid) - used[n]
    return times, cpu


def _run(conn: psycopg.Connection, sql: str, lon: float, lat: float) -> str | None:
    with psycopg.RawCursor(conn) as cursor:
        row = cursor.execute(sql, (lon, lat, 200.0, 3, TOLERANCE_M), prepare=True).fetchone()
    return None if row is None else row[0]


def _same_answers(conn: psycopg.Connection, variants: dict[str, str],
                  points: list[tuple[float, float]]) -> None:
    """The :data:`SAME_ANSWERS` variants answer every point alike; prints at how many
    points ``pip_views`` answers otherwise."""
    differ = 0
    for lon, lat in points:
        answers = {name: _run(conn, sql, lon, lat) for name, sql in variants.items()
                   if name in SAME_ANSWERS}
        if len(set(answers.values())) != 1:
            raise SystemExit(f"variants disagree at {lon}, {lat}: {answers}")
        differ += _run(conn, variants["pip_views"], lon, lat) != answers["current"]
    print(f"same answers: {', '.join(SAME_ANSWERS)} at all {len(points)} points (same JSON "
          f"text); pip_views differs at {differ}")


class Statement:
    """One variant, prepared, on its own connection per thread (for :func:`run_load`)."""

    def __init__(self, dsn: str, sql: str, name: str = "") -> None:
        self.dsn, self.sql, self.name = dsn, sql, name

    def open(self) -> psycopg.Connection:
        return _connect(self.dsn, self.name)

    def call(self, conn: psycopg.Connection, lon: float, lat: float) -> None:
        _run(conn, self.sql, lon, lat)


def hello_app() -> FastAPI:
    """The HTTP stack alone: one constant JSON route, no dependency, no database."""
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    return app


def start_server(url: str, workers: int, app: str = "api.app:create_app",
                 tree: Path = ROOT) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn serving ``app`` of the source ``tree`` on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "GRIDLINK_DATABASE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
         "--workers", str(workers)], cwd=tree, env=env)
    base = f"http://127.0.0.1:{port}"
    probe = "/health" if app == "api.app:create_app" else "/hello"
    for _ in range(200):
        try:
            if httpx.get(base + probe, timeout=1).status_code == 200:
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


WRK_SCRIPT = """
local paths = {%s}
local requests = {}
local i = 0
init = function(args)
  for j, path in ipairs(paths) do
    requests[j] = wrk.format("GET", path, {["X-API-Key"] = "%s"})
  end
end
request = function()
  i = i %% #requests + 1
  return requests[i]
end
"""
"""wrk cycling through the paths; requests are formatted once (formatting each one in Lua
cost wrk ~0.04 ms of CPU per request on the cores the server shares)."""


def pgbench_floor(dsn: str, points: list[tuple[float, float]], clients: int,
                  seconds: int, work: Path) -> float:
    """Transactions/s of ``pgbench -M prepared`` replaying the statement, one script per
    point (the statement text with the point's values set by ``\\set``)."""
    scripts = []
    body = " ".join(LOCATE_SQL.split()) + ";\n"  # pgbench variables are :name too
    for i, (lon, lat) in enumerate(points):
        path = work / f"p{i}.sql"
        path.write_text(f"\\set lon {lon!r}\n\\set lat {lat!r}\n\\set radius 200.0\n\\set k 3\n"
                        f"\\set tol {TOLERANCE_M}\n" + body)
        scripts += ["-f", f"{path}@1"]
    out = subprocess.run(
        [_pgbench(), "-n", "-M", "prepared", "-c", str(clients), "-j", "1", "-T", str(seconds),
         *scripts, dsn], capture_output=True, text=True, check=True).stdout
    if re.search(r"number of failed transactions: [1-9]|aborted", out):
        raise RuntimeError(out)
    return float(re.search(r"tps = ([0-9.]+)", out).group(1))  # type: ignore[union-attr]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` and its descendants (uvicorn's workers)
    while they run (Linux /proc), s."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(_cpu_seconds(int(child)) for child in children)


def _pgbench() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench")) or [shutil.which("pgbench")]
    if not found[-1]:
        raise SystemExit("--c-clients needs pgbench (apt install postgresql-client)")
    return str(found[-1])


def wrk_load(base: str, paths: list[str], clients: int, seconds: int,
             work: Path) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of wrk cycling through ``paths``."""
    if not shutil.which("wrk"):
        raise SystemExit("--c-clients needs wrk (apt install wrk)")
    script = work / "paths.lua"
    script.write_text(WRK_SCRIPT % (", ".join(f'"{p}"' for p in paths), KEY))
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--latency", "-s",
                          str(script), base], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(out)
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    return rps, _wrk_ms(out, "50%"), _wrk_ms(out, "99%")


def _wrk_ms(out: str, label: str) -> float:
    value, unit = re.search(label + r"\s+([0-9.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def c_clients(args: argparse.Namespace, dsn: str, base: str,
              points: list[tuple[float, float]], server_pid: int) -> None:
    """Floor and /locate in alternating rounds (the floor of this shared 2-core machine
    drifts by ±10 % between runs): the ratio of each round, and their median; and the
    server's CPU time per request, steadier than throughput for comparing code changes."""
    c, secs = args.concurrency, args.seconds
    few = points[:100]
    paths = [f"/locate?lon={lon!r}&lat={lat!r}" for lon, lat in few]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wrk_load(base, paths, c, 3, work)  # warm-up (prepares on every pooled connection)
        pgbench_floor(dsn, few, c, 3, work)
        print(f"C clients, {c} concurrent, {len(few)} distinct points, {args.rounds} rounds of "
              f"{secs} s per mode, uvicorn workers={args.workers}")
        ratios, raws = [], []
        for i in range(args.rounds):
            raw = pgbench_floor(dsn, few, c, secs, work)
            cpu = _cpu_seconds(server_pid)
            rps, p50, p99 = wrk_load(base, paths, c, secs, work)
            cpu_ms = (_cpu_seconds(server_pid) - cpu) * 1e3 / (rps * secs)
            ratios.append(rps / raw)
            raws.append(raw)
            print(f"  round {i + 1}: raw SQL (pgbench -M prepared) {raw:7.0f} req/s | "
                  f"HTTP /locate (wrk) p50 {p50:5.2f} ms  p99 {p99:5.2f} ms  {rps:7.0f} req/s"
                  f"  = {rps / raw:.0%} of raw SQL | server CPU {cpu_ms:.3f} ms/request")
        print(f"  median: /locate = {statistics.median(ratios):.0%} of raw SQL "
              f"(rounds {', '.join(f'{r:.0%}' for r in ratios)})")
        hello, hello_base = start_server(args.url, args.workers, "bench.locate:hello_app")
        try:
            wrk_load(hello_base, ["/hello"], c, 2, work)
            h_rps, h50, h99 = wrk_load(hello_base, ["/hello"], c, secs, work)
        finally:
            hello.terminate()
            hello.wait(timeout=20)
        print(f"  HTTP stack alone (constant FastAPI route): p50 {h50:.2f} ms  p99 {h99:.2f} ms"
              f"  {h_rps:7.0f} req/s")
        raw = statistics.median(raws)
        bound = 1 / (1 / raw + 1 / h_rps)
        print(f"  => with zero-cost Python besides the HTTP stack, /locate could reach at most"
              f" ~{bound:.0f} req/s = {bound / raw:.0%} of raw SQL on these cores")


def http_before_after(args: argparse.Namespace, base: str, server_pid: int, dsn: str,
                      points: list[tuple[float, float]]) -> None:
    """HTTP /locate of this tree and of ``--before-tree`` in alternating rounds; each round
    also gives the CPU per request of the app (its uvicorn processes) and of the database
    (every backend of the database), steadier than latency on shared cores."""
    old, old_base = start_server(args.url, args.workers, tree=Path(args.before_tree))
    try:
        servers = {"before": (old_base, old.pid), "after": (base, server_pid)}
        for b, _ in servers.values():
            run_load(Http(b), points, args.concurrency, 400)  # warm-up
        print(f"HTTP, {args.concurrency} clients, {args.requests} calls per round, "
              f"{args.rounds} rounds alternating; before = {args.before_tree}")
        for r in range(args.rounds):
            for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
                url, pid = servers[name]
                app, db = _cpu_seconds(pid), _database_cpu_seconds(dsn)
                took, wall = run_load(Http(url), points, args.concurrency, args.requests)
                app, db = _cpu_seconds(pid) - app, _database_cpu_seconds(dsn) - db
                report(f"{name} {r + 1}", took, wall)
                print(f"{'':>10}  CPU per request: app {app * 1e3 / len(took):.3f} ms, "
                      f"database {db * 1e3 / len(took):.3f} ms  (load {os.getloadavg()[0]:.1f})")
    finally:
        old.terminate()
        old.wait(timeout=20)


def _database_cpu_seconds(dsn: str) -> float:
    """CPU seconds so far of the backends of ``dsn``'s database (the apps' pooled
    connections; Linux /proc), this probe's own backend left out."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()").fetchall()]
    total = 0.0
    for pid in pids:
        try:
            total += _cpu_seconds(pid)
        except FileNotFoundError:  # the backend ended meanwhile
            continue
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=ApiSettings().workers,
                        help="uvicorn processes (default GRIDLINK_WORKERS: one per core, as "
                        "`gridlink serve`)")
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:55433/"
                        "gridlink_bench")
    parser.add_argument("--c-clients", action="store_true",
                        help="load with wrk and pgbench (C) instead of Python clients")
    parser.add_argument("--seconds", type=int, default=10, help="per mode, with --c-clients")
    parser.add_argument("--rounds", type=int, default=3, help="with --c-clients or --doubt")
    parser.add_argument("--doubt", action="store_true",
                        help="only the cost of the boundary doubt: the prepared statement "
                        "without and with it, alternating, same points (no HTTP server)")
    parser.add_argument("--variants", action="store_true",
                        help="the statement before #16, as merged, and its variants, same run")
    parser.add_argument("--before-tree", default=None,
                        help="also serve this source tree's app; alternate HTTP rounds")
    args = parser.parse_args()
    dsn = libpq_url(args.url)
    points = sample_points(dsn, 2000)
    if args.doubt:
        doubt_cost(dsn, points, args.requests, args.rounds)
        return
    if args.variants:
        compare_variants(dsn, points, args.requests, args.rounds, args.concurrency)
        return
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM api_keys WHERE name = 'bench locate'")
        conn.execute("INSERT INTO api_keys (name, role, prefix, key_hash) VALUES"
                     " ('bench locate', 'viewer', %s, %s)", (KEY[:7], hash_key(KEY)))
    proc, base = start_server(args.url, args.workers)
    try:
        if args.c_clients:
            c_clients(args, dsn, base, points, proc.pid)
            return
        if args.before_tree:
            http_before_after(args, base, proc.pid, dsn, points)
            return
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
