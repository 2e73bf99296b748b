"""Real clients of gridlink's OGC API Features over a real uvicorn: GDAL's OAPIF driver
(``ogrinfo``/``ogr2ogr`` of the gdal-bin package) and QGIS's OAPIF provider (Debian's
python3-qgis, headless, run by the system python3), on the small city with a grid history.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pyogrio
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geo.keys import create_key
from tests.live_server import Live, live_database, serving

GRIDS = ["140213001001001", "140213001001002", "140213001001003", "140213001001004",
         "140213001002001", "140213001002002"]
QGIS_SCRIPT = Path(__file__).with_name("qgis_oapif_count.py")
SYSTEM_PYTHON = "/usr/bin/python3"
"""Debian's python3, where python3-qgis installs (not the project's venv)."""


def _with_history(url: str) -> dict[str, str]:
    """Grid 001 renamed on 2025-06-01 (version 2); every grid valid from 2025-01-01.
    Returns a viewer key."""
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        session.execute(text("INSERT INTO district_crs VALUES ('140213', 4547)"))
        session.execute(text("UPDATE grids SET valid_from = '2025-01-01T00:00:00Z'"))
        session.execute(text("UPDATE grids SET valid_to = '2025-06-01T00:00:00Z' "
                             "WHERE code = '140213001001001'"))
        session.execute(text(
            "INSERT INTO grids (code, name, kind, level, parent_code, community_code, "
            "households, population, version, valid_from, geom) SELECT code, '向阳一网格(新)', "
            "kind, level, parent_code, community_code, households, population, 2, "
            "'2025-06-01T00:00:00Z', geom FROM grids WHERE code = '140213001001001'"))
        keys = {"viewer": create_key(session, "ogc viewer", "viewer")}
    engine.dispose()
    return keys


@pytest.fixture(scope="module")
def ogc_live(database_url: str) -> Iterator[Live]:
    server = make_url(database_url).set(database="postgres").render_as_string(
        hide_password=False)
    with live_database(server, f"gridlink_ogc_{os.getpid()}") as url:
        with serving(url, _with_history(url)) as running:
            yield running


def _gdal(live: Live, *args: str, debug: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GDAL_HTTP_HEADERS": f"X-API-Key: {live.keys['viewer']}",
           "CPL_DEBUG": "ON" if debug else "OFF"}
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120,
                          check=True)


def _ogr2ogr_codes(live: Live, source: str, *args: str) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.geojson"
        _gdal(live, "ogr2ogr", "-f", "GeoJSON", str(out), source, *args)
        frame = pyogrio.read_dataframe(out)
        return sorted(frame["code"]) if len(frame) else []


def test_ogrinfo_lists_every_collection(ogc_live: Live) -> None:
    listed = _gdal(ogc_live, "ogrinfo", "-ro", "-q", f"OAPIF:{ogc_live.url}/ogc").stdout
    assert [line.split(" ")[1] for line in listed.splitlines() if ": " in line] == [
        "districts", "streets", "communities", "grids", "micro-grids", "dedicated-grids",
        "cameras", "sites", "buildings", "roads", "entrances", "events"]


def test_ogr2ogr_pages_through_every_grid(ogc_live: Live) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "grids.gpkg"
        run = _gdal(ogc_live, "ogr2ogr", "-f", "GPKG", str(out), "-oo", "PAGE_SIZE=2",
                    f"OAPIF:{ogc_live.url}/ogc", "grids", debug=True)
        frame = pyogrio.read_dataframe(out)
    pages = {line.split("/items?")[1].rstrip(")") for line in run.stderr.splitlines()
             if "/ogc/collections/grids/items?" in line}
    assert pages == {"limit=2", "offset=2&limit=2", "offset=4&limit=2"}  # the next links
    assert list(frame["code"]) == GRIDS
    assert frame.loc[0, "name"] == "向阳一网格(新)"
    assert frame.geometry.total_bounds.round(6).tolist() == [113.3, 40.08, 113.32, 40.09]


def test_bbox_and_cql2_filters_run_in_the_server(ogc_live: Live) -> None:
    source = f"OAPIF:{ogc_live.url}/ogc"
    assert _ogr2ogr_codes(ogc_live, source, "grids", "-spat", "113.301", "40.081", "113.309",
                          "40.084") == [GRIDS[2], GRIDS[3]]
    cql = quote("households > 300 AND S_INTERSECTS(geometry, POINT(113.3075 40.081))")
    assert _ogr2ogr_codes(ogc_live, f"OAPIF:{ogc_live.url}/ogc/collections/grids?"
                          f"filter={cql}") == [GRIDS[3]]
    assert _ogr2ogr_codes(ogc_live, source, "grids", "-where", "households > 300") == [
        GRIDS[2], GRIDS[3]]


def test_grids_as_of_a_date(ogc_live: Live) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "asof.geojson"
        _gdal(ogc_live, "ogr2ogr", "-f", "GeoJSON", str(out),
              f"OAPIF:{ogc_live.url}/ogc/collections/grids?datetime=2025-03-01T00:00:00Z")
        then = pyogrio.read_dataframe(out)
    assert list(then["code"]) == GRIDS
    assert (then.loc[0, "name"], then.loc[0, "version"]) == ("向阳一网格", 1)
    assert _ogr2ogr_codes(ogc_live, f"OAPIF:{ogc_live.url}/ogc/collections/grids?"
                          "datetime=2024-12-31T00:00:00Z") == []


def test_gdal_with_the_key_as_basic_password_and_without_a_key(ogc_live: Live) -> None:
    env = {**os.environ, "GDAL_HTTP_AUTH": "BASIC",
           "GDAL_HTTP_USERPWD": f"gridlink:{ogc_live.keys['viewer']}"}
    basic = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{ogc_live.url}/ogc", "cameras"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert "Feature Count: 3" in basic.stdout
    anonymous = subprocess.run(["ogrinfo", "-ro", f"OAPIF:{ogc_live.url}/ogc"],
                               capture_output=True, text=True, timeout=60)
    assert anonymous.returncode == 1
    assert "HTTP error code : 401" in anonymous.stderr


def test_qgis_loads_the_grids_collection(ogc_live: Live) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(
            [SYSTEM_PYTHON, str(QGIS_SCRIPT), f"{ogc_live.url}/ogc", "grids",
             ogc_live.keys["viewer"]], capture_output=True, text=True, timeout=180,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_AUTH_DB_DIR_PATH": tmp,
                 "HOME": tmp, "XDG_RUNTIME_DIR": tmp})
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.splitlines()[-1]) == {
        "valid": True, "count": 6, "codes": GRIDS, "crs": "EPSG:4326"}
