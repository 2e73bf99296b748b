"""The coverage and planner pages drawn from vector tiles (``?tiles=true``, what a whole
district gets) in headless Chromium, every non-local request blocked: the tiles load from
gridlink, every feature is drawn (pixels on the screenshot) and a click opens its popup."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser

from tests.e2e.city import GAP_CENTRE, GRID_CENTRES, INCIDENT
from tests.e2e.conftest import Server, Visit, bluish, reddish, visit

pytestmark = pytest.mark.e2e

TILES_DRAWN = """(layers) => window.glTileFeatures
    && layers.every(l => window.glTileFeatures[l] !== undefined)"""
"""JS: every named tile layer has loaded its tiles in view (layers/tiles.py records them)."""


def tiled_visit(browser: Browser, server: Server, path: str, name: str,
                layers: list[str]) -> Visit:
    v = visit(browser, server, path, name, ready="canvas.leaflet-tile")
    v.page.wait_for_function(TILES_DRAWN, arg=layers, timeout=15_000)
    v.page.wait_for_timeout(300)
    v.screenshot = v.shot(name)
    assert v.blocked == [], f"non-local requests: {v.blocked}"
    assert v.errors == [], f"console errors: {v.errors}"
    return v


def test_coverage_page_draws_grids_and_wedges_from_tiles(browser: Browser,
                                                         server: Server) -> None:
    v = tiled_visit(browser, server, "/maps/coverage?area=140213&tiles=true",
                    "coverage_tiles", ["coverage", "cameras"])
    assert v.page.evaluate("window.glTileFeatures") == {"coverage": 6, "cameras": 3}
    assert "/tiles/coverage/WebMercatorQuad/" in v.page.content()
    assert v.html_bytes < 20_000  # no feature in the page itself
    assert reddish(v.pixel_at(*GRID_CENTRES["140213001002002"]))  # nobody sees it
    r_in, _, b_in = v.pixel_at(INCIDENT[0], 40.0864, dx=3)
    r_out, _, b_out = v.pixel_at(113.3045, 40.0895)  # same grid, outside every wedge
    assert (b_in - r_in) > (b_out - r_out) + 40  # the blue online wedge
    layers = v.page.locator(".leaflet-control-layers-overlays").inner_text()
    assert "网格视频覆盖率" in layers and "摄像机视域" in layers
    x, y = v.page.evaluate(
        "([lon, lat]) => { const p = window.glMap().latLngToContainerPoint([lat, lon]);"
        " const b = window.glMap().getContainer().getBoundingClientRect();"
        " return [b.left + p.x, b.top + p.y]; }", [INCIDENT[0], 40.0864])
    v.page.mouse.click(x, y)
    popup = v.page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5_000)
    assert "向阳路北口" in popup.inner_text()
    assert "rtsp://10.0.0.1/14021300081310000001" in popup.inner_text()


def test_planner_page_draws_households_from_tiles(browser: Browser, server: Server) -> None:
    v = tiled_visit(browser, server, "/maps/grids?area=140213&tiles=true", "planner_tiles",
                    ["grids", "dedicated_grids"])
    assert v.page.evaluate("window.glTileFeatures") == {"grids": 6, "dedicated_grids": 1}
    assert bluish(v.pixel_at(113.3010, 40.0810))  # grid 003: 350 households, blue bin
    v.page.wait_for_selector(".gl-problems-done", state="attached", timeout=15_000)
    assert v.page.evaluate("window.glProblems") == 1  # the gap, loaded after the map
    v.page.wait_for_timeout(300)
    v.screenshot = v.shot("planner_tiles_problems")
    assert reddish(v.pixel_at(*GAP_CENTRE))
    layers = v.page.locator(".leaflet-control-layers-overlays").inner_text()
    for name in ("网格（户数）", "户数偏差（相对目标）", "微网格", "专属网格"):
        assert name in layers
    v.page.locator(".leaflet-control-layers-overlays span").filter(
        has_text=re.compile(r"^\s*微网格$")).last.click()  # switch the micro-grid tiles on
    v.page.wait_for_function(TILES_DRAWN, arg=["grids", "micro_grids"], timeout=15_000)
    assert v.page.evaluate("window.glTileFeatures.micro_grids") == 2
