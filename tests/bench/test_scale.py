"""bench/scale.py end to end at a tiny size, so the growth-curve script cannot rot.

One run of the real script (a subprocess, on the test cluster) at 60 grids and 500 events:
every step, the results file, the Markdown table and the PNG chart; then a second run that
reuses the database and re-measures only the validation, which must keep the other steps'
figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from PIL import Image

from bench.scale import parse_sizes
from cli import cluster
from geo.db import libpq_url
from geo.rollups import RECOUNT_SQL, STORED_SQL

ROOT = Path(__file__).resolve().parents[2]
PREFIX = f"gridlink_scale_test_{os.getpid()}"
DATABASE = f"{PREFIX}_60_500"


LIFECYCLE_CHECKS = """
SELECT count(*) FILTER (WHERE dispatched_at < reported_at OR started_at < dispatched_at
                         OR resolved_at < started_at OR closed_at < resolved_at
                         OR (started_at IS NOT NULL AND dispatched_at IS NULL)
                         OR (closed_at IS NOT NULL AND resolved_at IS NULL)),
       count(*) FILTER (WHERE (status = 'closed') <> (closed_at IS NOT NULL)),
       count(*) FILTER (WHERE (status = 'rejected') = valid),
       count(*) FILTER (WHERE due_at IS NULL OR closed_at > '2026-12-01T00:00:00Z')
  FROM events"""
"""Events whose lifecycle is inconsistent: stages out of order, closed without closed_at
(or the reverse), rejected but valid, no due time or closed after the bench's now."""
RECOUNT = RECOUNT_SQL.format(where="")


def run_script(out: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--sizes", "60x500", "--prefix",
         PREFIX, "--out", str(out), "--calls", "40", "--stats-runs", "1", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def server_dsn() -> Iterator[str]:
    dsn = libpq_url(cluster.test_server_url(int(os.environ.get("GRIDLINK_TEST_DB_PORT", "55433"))))
    yield dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def test_the_smallest_size_gives_results_table_and_chart(server_dsn: str,
                                                         tmp_path: Path) -> None:
    run_script(tmp_path)
    entry = json.loads((tmp_path / "scale_results.json").read_text())["sizes"]["60x500"]
    rows = entry["load"]["rows"]
    assert (entry["grids"], entry["events"], rows["events"]) == (60, 500, 500)
    assert entry["load"]["batch"] == 1_000_000 and entry["load"]["peak_rss_mb"] > 0
    with psycopg.connect(server_dsn.rsplit("/", 1)[0] + f"/{DATABASE}") as conn:
        indexes = conn.execute(  # built again after the load, on every partition too
            "SELECT count(*), count(*) FILTER (WHERE i.indisvalid),"
            " count(*) FILTER (WHERE pg_get_indexdef(i.indexrelid) LIKE '%gist (geom)%')"
            " FROM pg_index i WHERE i.indrelid = ANY(ARRAY['events'::regclass,"
            " 'events_2026_11'::regclass])").fetchone()
        lifecycle = conn.execute(LIFECYCLE_CHECKS).fetchone()
        placed = conn.execute("SELECT count(*), count(grid_code) FROM buildings").fetchone()
        statuses = dict(conn.execute("SELECT status, count(*) FROM events GROUP BY 1").fetchall())
        stale = conn.execute(f"SELECT count(*) FROM (({STORED_SQL} EXCEPT {RECOUNT})"
                             f" UNION ALL ({RECOUNT} EXCEPT {STORED_SQL})) x").fetchone()
    assert indexes == (18, 18, 4)  # with the open events' partial GiST index (0028)
    assert lifecycle == (0, 0, 0, 0)
    assert placed is not None and 0 < placed[0] and placed[1] >= 0.95 * placed[0]  # as imported
    assert set(statuses) <= {"reported", "dispatched", "in_progress", "resolved", "closed",
                             "rejected"}
    assert statuses["closed"] > 400 and 40 < statuses["rejected"] < 100  # ~87 %, ~12 %
    assert stale == (0,)  # the rollups equal a recount after the cases were moved
    assert entry["lifecycle"]["moved"] == 0  # the loader moved them already
    assert (entry["assign"]["mode"], entry["assign"]["events"],
            entry["assign"]["written"]) == ("first", 500, 500)
    assert entry["locate"]["calls"] == 40
    assert 0 < entry["locate"]["http"]["p50_ms"] <= entry["locate"]["http"]["p99_ms"]
    assert entry["stats"]["year"]["events"] == 500  # the year holds every event
    assert 0 < entry["stats"]["month"]["events"] < 500
    assert (entry["validate"]["grids"], entry["validate"]["micro_grids"]) == (
        60, rows["micro_grids"])
    assert entry["export"]["events_geojson"]["rows"] == 500
    assert entry["export"]["events_gpkg"]["rows"] == 500
    assert entry["export"]["grids_gpkg"]["rows"] == rows["grids"]
    assert "Index Scan" in entry["plans"]["locate"] and "GroupAggregate" in " ".join(
        entry["plans"].values())
    table = (tmp_path / "scale.md").read_text().splitlines()
    data = [line for line in table if line.startswith("| 60 | 500 |")]
    assert len(data) == 1 and "–" not in data[0]
    assert table[-3].startswith("| grids | events | /locate HTTP p50 / p99 ms")
    with Image.open(tmp_path / "scale.png") as png:
        assert (png.format, png.size) == ("PNG", (1350, 765))

    before = entry
    run_script(tmp_path, "--reuse", "--only", "validate", "--no-explain")
    after = json.loads((tmp_path / "scale_results.json").read_text())["sizes"]["60x500"]
    assert after["validate"]["at"] >= before["validate"]["at"]
    assert after["validate"]["grids"] == 60
    assert after["load"] == before["load"]  # reused, not reloaded
    assert after["stats"] == before["stats"] and after["assign"] == before["assign"]


def test_a_bad_size_is_refused_by_name() -> None:
    with pytest.raises(SystemExit, match="'1000y5' is not GRIDSxEVENTS"):
        parse_sizes("1000x100000,1000y5")
