"""QGIS's own vector-tile provider (Debian's python3-qgis 3.22, headless) loads gridlink's grid
tiles over HTTP and draws them where the grids are.

QGIS 3.22 sends no ``X-API-Key`` (DOMAIN.md), so this server reads with
``GRIDLINK_PUBLIC_READ=true``. Its Python API has no call returning a tile's features, so the
test renders the layer with one fill colour and reads the pixels at each grid's centre, in the
gap between grids and outside the city. QGIS runs in Debian's own Python (``/usr/bin/python3``,
where ``qgis`` is installed), in a subprocess.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine

from api.app import create_app
from api.settings import ApiSettings
from tests.e2e.city import GAP_CENTRE, GRID_CENTRES, clear_small_city, seed_small_city

pytestmark = pytest.mark.e2e

DEBIAN_PYTHON = "/usr/bin/python3"
OUTSIDE = (113.2995, 40.0905)
"""North-west of the city, outside every grid (lon, lat)."""

QGIS_SCRIPT = r"""
import json, sys
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsCoordinateTransform,
                       QgsFillSymbol, QgsMapRendererSequentialJob, QgsMapSettings, QgsPointXY,
                       QgsProject, QgsRectangle, QgsVectorTileBasicRenderer,
                       QgsVectorTileBasicRendererStyle, QgsVectorTileLayer, QgsWkbTypes)

url, points = sys.argv[1], json.loads(sys.argv[2])
app = QgsApplication([], False)
app.initQgis()
layer = QgsVectorTileLayer(f"type=xyz&url={url}&zmin=0&zmax=20", "grids")
style = QgsVectorTileBasicRendererStyle("grids", "grids", QgsWkbTypes.PolygonGeometry)
style.setSymbol(QgsFillSymbol.createSimple({"color": "255,0,0,255", "outline_style": "no"}))
renderer = QgsVectorTileBasicRenderer()
renderer.setStyles([style])
layer.setRenderer(renderer)
wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
mercator = QgsCoordinateReferenceSystem("EPSG:3857")
to_map = QgsCoordinateTransform(wgs84, mercator, QgsProject.instance())
settings = QgsMapSettings()
settings.setLayers([layer])
settings.setDestinationCrs(mercator)
settings.setOutputSize(QSize(800, 400))
settings.setBackgroundColor(QColor(255, 255, 255))
settings.setExtent(to_map.transformBoundingBox(QgsRectangle(113.299, 40.079, 113.321, 40.091)))
job = QgsMapRendererSequentialJob(settings)
job.start()
job.waitForFinished()
image = job.renderedImage()
colours = []
for lon, lat in points:
    px = settings.mapToPixel().transform(to_map.transform(QgsPointXY(lon, lat)))
    c = image.pixelColor(int(px.x()), int(px.y()))
    colours.append([c.red(), c.green(), c.blue()])
print(json.dumps({"valid": layer.isValid(), "source_max_zoom": layer.sourceMaxZoom(),
                  "colours": colours}))
app.exitQgis()
"""


@pytest.fixture(scope="module")
def public_server(engine: Engine) -> Iterator[str]:
    """The app with public reads over the committed small city, on a free 127.0.0.1 port."""
    with engine.begin() as conn:
        clear_small_city(conn)
        seed_small_city(conn)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ApiSettings(public_read=True)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    with engine.begin() as conn:
        clear_small_city(conn)


def test_qgis_loads_the_grid_tiles_and_draws_every_grid(public_server: str,
                                                       tmp_path: Path) -> None:
    assert Path(DEBIAN_PYTHON).exists(), "python3-qgis (Debian) is required for this test"
    points = [*GRID_CENTRES.values(), GAP_CENTRE, OUTSIDE]
    url = public_server + "/tiles/grids/WebMercatorQuad/{z}/{y}/{x}?area=140213"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "XDG_RUNTIME_DIR": str(tmp_path)}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([DEBIAN_PYTHON, "-c", QGIS_SCRIPT, url, json.dumps(points)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["valid"] is True
    assert answer["source_max_zoom"] == 20
    red, white = [255, 0, 0], [255, 255, 255]
    assert answer["colours"] == [red] * len(GRID_CENTRES) + [white, white]
