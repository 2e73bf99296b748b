"""What an events import loads: a CSV import never loads GDAL (pyogrio, ~50 MiB of the
process), nor does a GeoPackage import of one feature table, streamed or read whole (read
by SQLite, geo.importer.geopackage); all find the same rows and problems as before
(geo.importer.reading); Arrow allocates from the system allocator, not mimalloc
(geo.importer). Each import runs in a fresh interpreter, as ``gridlink import`` and
the bench do, so ``sys.modules`` says what the import itself loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import Point

ROOT = Path(__file__).resolve().parents[2]
ROWS = 12
"""Streamed in batches of 5 (``batch_rows``) as well as read whole."""


def two_formats(tmp: Path) -> dict[str, Path]:
    """The same events (one with a time that is not one, one out of range) as GeoPackage
    and CSV."""
    times = [f"2024-03-{1 + i:02d}T08:00:00+08:00" for i in range(ROWS)]
    times[3] = "yesterday"
    lon = [113.301 + i * 0.0001 for i in range(ROWS)]
    lon[7] = 213.0
    frame = gpd.GeoDataFrame(
        {"client_id": [f"EV{i:03d}" for i in range(1, ROWS + 1)], "category": "garbage",
         "reported_at": times},
        geometry=[Point(x, 40.085) for x in lon], crs=4326)
    frame.to_file(tmp / "events.gpkg", driver="GPKG")
    plain = frame.drop(columns="geometry").assign(lon=lon, lat=40.085)
    plain.to_csv(tmp / "events.csv", index=False)
    return {"gpkg": tmp / "events.gpkg", "csv": tmp / "events.csv"}


def dry_run_in_fresh_process(url: str, path: Path, batch_rows: int) -> dict[str, Any]:
    """A dry-run events import of ``path`` in a new interpreter: its rows, problems (row,
    field) and whether GDAL was loaded before and after the import."""
    script = (
        "import json, sys\nfrom pathlib import Path\nfrom sqlalchemy import create_engine\n"
        "from sqlalchemy.orm import Session\nfrom geo.importer import import_file\n"
        "before = 'pyogrio' in sys.modules\n"
        f"with Session(create_engine({url!r})) as session:\n"
        f"    report = import_file(session, 'events', Path({str(path)!r}), dry_run=True, "
        f"batch_rows={batch_rows})\n"
        "import pyarrow as pa\n"
        "print(json.dumps({'gdal_before': before, 'gdal_after': 'pyogrio' in sys.modules, "
        "'arrow_pool': pa.default_memory_pool().backend_name, "
        "'rows': report.rows, 'problems': sorted([p['row'], p['field']] "
        "for p in report.problems)}))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=180)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("batch_rows", [5, 10_000], ids=["streamed", "whole"])
def test_csv_import_loads_no_gdal_and_finds_what_a_geopackage_import_finds(
        database_url: str, tmp_path: Path, batch_rows: int) -> None:
    files = two_formats(tmp_path)
    csv = dry_run_in_fresh_process(database_url, files["csv"], batch_rows)
    gpkg = dry_run_in_fresh_process(database_url, files["gpkg"], batch_rows)
    assert (csv["gdal_before"], csv["gdal_after"]) == (False, False)
    assert (gpkg["gdal_before"], gpkg["gdal_after"]) == (False, False)
    assert csv["rows"] == gpkg["rows"] == ROWS
    assert csv["problems"] == gpkg["problems"] == [[4, "reported_at"], [8, "geometry"]]
    assert csv["arrow_pool"] == gpkg["arrow_pool"] == "system"
