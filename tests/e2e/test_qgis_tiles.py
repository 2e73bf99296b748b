"""QGIS's own vector-tile provider (Debian's python3-qgis 3.22, headless) loads gridlink's grid
tiles over HTTP and draws them where the grids are.

QGIS 3.22 sends no ``X-API-Key`` (DOMAIN.md), so this server reads with
``GRIDLINK_PUBLIC_READ=true``. Two checks: the layer rendered with one fill colour, read at
each grid's centre, in the gap between grids and outside the city; and the features QGIS
itself decoded, counted by a renderer of ours that QGIS hands every decoded tile (its Python
API has no other call returning a tile's features). QGIS runs in Debian's own Python
(``/usr/bin/python3``, where ``qgis`` is installed), in a subprocess.
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


COUNT_SCRIPT = r"""
import json, sys
from qgis.PyQt.QtCore import QSize
from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsCoordinateTransform,
                       QgsGeometry, QgsMapRendererSequentialJob, QgsMapSettings, QgsPointXY,
                       QgsProject, QgsRectangle, QgsVectorTileLayer, QgsVectorTileRenderer)


class Counting(QgsVectorTileRenderer):
    # draws nothing; keeps the geometries QGIS decoded from each tile of layer "grids"

    def __init__(self, tiles):
        super().__init__()
        self.tiles = tiles
    def type(self): return "counting"
    def clone(self): return Counting(self.tiles)
    def startRender(self, context, tile_zoom, tile_range): pass
    def stopRender(self, context): pass
    def requiredLayers(self, context, tile_zoom): return {"grids"}
    def writeXml(self, elem, context): pass
    def readXml(self, elem, context): pass
    def renderTile(self, tile, context):
        t = tile.id()
        self.tiles[f"{t.zoomLevel()}/{t.column()}/{t.row()}"] = [
            QgsGeometry(f.geometry()) for f in tile.layerFeatures("grids")]


url, zoom, points = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
app = QgsApplication([], False)
app.initQgis()
layer = QgsVectorTileLayer(f"type=xyz&url={url}&zmin={zoom}&zmax={zoom}", "grids")
tiles = {}
layer.setRenderer(Counting(tiles))
wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
mercator = QgsCoordinateReferenceSystem("EPSG:3857")
to_map = QgsCoordinateTransform(wgs84, mercator, QgsProject.instance())
settings = QgsMapSettings()
settings.setLayers([layer])
settings.setDestinationCrs(mercator)
settings.setOutputSize(QSize(800, 400))
settings.setExtent(to_map.transformBoundingBox(QgsRectangle(113.299, 40.079, 113.321, 40.091)))
job = QgsMapRendererSequentialJob(settings)
job.start()
job.waitForFinished()
inside = {key: [[g.contains(to_map.transform(QgsPointXY(lon, lat))) for g in geometries]
                for lon, lat in points] for key, geometries in tiles.items()}
print(json.dumps({"valid": layer.isValid(),
                  "features": {key: len(g) for key, g in tiles.items()}, "inside": inside}))
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


def test_qgis_decodes_one_feature_per_grid(public_server: str, tmp_path: Path) -> None:
    """At zoom 12 the small city lies in one tile: QGIS decodes one feature per grid, each
    grid's centre lies in exactly its own feature, the gap and the outside in none."""
    points = [*GRID_CENTRES.values(), GAP_CENTRE, OUTSIDE]
    url = public_server + "/tiles/grids/WebMercatorQuad/{z}/{y}/{x}?area=140213"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "XDG_RUNTIME_DIR": str(tmp_path)}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([DEBIAN_PYTHON, "-c", COUNT_SCRIPT, url, "12", json.dumps(points)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["valid"] is True
    assert list(answer["features"].values()) == [len(GRID_CENTRES)], answer["features"]
    (inside,) = answer["inside"].values()
    per_point = [sum(hits) for hits in inside]
    assert per_point == [1] * len(GRID_CENTRES) + [0, 0]
    owners = [hits.index(True) for hits in inside[:len(GRID_CENTRES)]]
    assert sorted(owners) == list(range(len(GRID_CENTRES)))  # a different feature each
