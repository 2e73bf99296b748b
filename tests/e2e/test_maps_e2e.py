"""Each map view in headless Chromium, offline: no blocked request, no console error,
features drawn where expected (pixel checks on the screenshot in tests/e2e/output/)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine, text

from tests.e2e.city import (
    GAP_CENTRE,
    GRID_CENTRES,
    INCIDENT,
    new_alarm,
)
from tests.e2e.conftest import OUTPUT, Server, assert_clean, bluish, reddish, visit

pytestmark = pytest.mark.e2e


def test_planner_view_draws_grids_by_households_and_the_gap_in_red(
        browser: Browser, server: Server) -> None:
    v = visit(browser, server, "/maps/grids?area=140213001", "planner_grids",
              ready=".gl-problems-done")  # the problems arrive after the map is shown
    assert_clean(v)
    assert v.page.evaluate("window.glProblems") == 1
    assert v.page.locator(".gl-problems").inner_text() == "校验问题 1 处"
    assert reddish(v.pixel_at(*GAP_CENTRE))
    # 350 households → "300–399" blue bin; 450 → darkest blue
    assert bluish(v.pixel_at(113.3010, 40.0810))  # grid 003, away from its code label
    assert bluish(v.pixel_at(113.3110, 40.0810))  # grid 002-001
    layers = v.page.locator(".leaflet-control-layers-overlays").inner_text()
    for name in ("区/县", "街道/乡镇", "社区/村", "网格（户数）", "户数偏差", "微网格",
                 "专属网格", "校验问题"):
        assert name in layers
    assert v.page.locator(".leaflet-control-scale").count() == 1
    assert v.page.locator(".leaflet-control-measure").count() == 1
    assert v.page.locator(".leaflet-control-zoom-fullscreen").count() == 1
    assert "网格户数" in v.page.locator(".gl-legend").inner_text()


def test_coverage_view_shows_wedges_and_uncovered_grids_in_red(
        browser: Browser, server: Server) -> None:
    v = visit(browser, server, "/maps/coverage?area=140213001", "coverage")
    assert_clean(v)
    assert reddish(v.pixel_at(*GRID_CENTRES["140213001002002"]))
    r_in, _, b_in = v.pixel_at(INCIDENT[0], 40.0864, dx=3)
    r_out, _, b_out = v.pixel_at(113.3045, 40.0895)  # same grid, outside every wedge
    assert (b_in - r_in) > (b_out - r_out) + 40  # the blue online wedge
    assert "网格视频覆盖率" in v.page.locator(".gl-legend").inner_text()


def test_events_view_has_slider_heat_clusters_and_counts(browser: Browser, server: Server
                                                          ) -> None:
    v = visit(browser, server, "/maps/events?area=140213001&start=2026-10-31T16:00:00Z"
              "&end=2026-11-03T16:00:00Z&category=%E5%8D%A0%E9%81%93%E7%BB%8F%E8%90%A5",
              "events")
    assert_clean(v)
    assert v.page.locator("input[type=range]").count() == 1
    assert v.page.locator("canvas.leaflet-heatmap-layer").count() == 1
    assert v.page.locator(".marker-cluster, .awesome-marker").count() >= 1
    busy = v.pixel_at(113.3045, 40.0895)  # grid 001: 2 stall events on day one
    quiet = v.pixel_at(*GRID_CENTRES["140213001002002"])  # no event
    assert busy[0] - busy[2] > 40 and abs(quiet[0] - quiet[2]) < 20
    links = v.page.locator(".gl-categories a")
    assert links.all_inner_texts() == ["全部", "alarm", "占道经营", "垃圾暴露"]
    links.nth(3).click()
    v.page.wait_for_load_state("load")
    assert "事件分析（垃圾暴露）" in v.page.title()


def test_alarm_board_adds_a_new_alarm_without_reload_and_pans_to_it(
        browser: Browser, server: Server, engine: Engine) -> None:
    v = visit(browser, server, "/maps/alarms?area=140213001", "alarms_before")
    assert_clean(v)
    assert v.page.evaluate("window.glAlarmCount") == 1
    with engine.begin() as conn:
        new_alarm(conn, "e2e-alarm-1", 113.3185, 40.0815)
    v.page.wait_for_function("window.glAlarmCount === 2", timeout=10_000)
    v.page.wait_for_timeout(800)
    centre = v.page.evaluate("(() => { const c = window.glMap().getCenter();"
                             " return [c.lng, c.lat]; })()")
    assert centre == pytest.approx([113.3185, 40.0815], abs=2e-4)
    v.page.screenshot(path=str(OUTPUT / "alarms_after.png"))
    assert v.errors == [] and v.blocked == []


def test_incident_view_colours_cameras_that_see_the_spot(browser: Browser, server: Server
                                                        ) -> None:
    v = visit(browser, server, f"/maps/locate?lon={INCIDENT[0]}&lat={INCIDENT[1]}", "incident")
    assert_clean(v)
    r, g, b = v.pixel_at(INCIDENT[0], 40.0864, dx=8)  # in the wedge of the camera seeing it
    assert g > r + 20 and g > b
    r, g, b = v.pixel_at(INCIDENT[0], 40.0884, dx=8)  # in the wedge facing away: orange
    assert r > b + 60 and g > b
    assert reddish(v.pixel_at(*INCIDENT, dy=-22))  # the red incident marker above the spot
    text = v.page.content()
    assert "向阳一网格" in text and "张网格长" in text and "rtsp://10.0.0.1/" in text


def test_event_view_centres_on_the_event(browser: Browser, server: Server, engine: Engine
                                         ) -> None:
    with engine.connect() as conn:
        event_id = conn.execute(text("SELECT id FROM events WHERE client_id = 'e1'")).scalar()
    v = visit(browser, server, f"/maps/events/{event_id}", "event")
    assert_clean(v)
    assert reddish(v.pixel_at(113.3022, 40.0872, dy=-22))
    assert f"事件 #{event_id} 占道经营" in v.page.title()


def test_index_lists_views_and_finds_a_grid_by_name(browser: Browser, server: Server) -> None:
    v = visit(browser, server, "/maps?q=%E4%B8%89%E7%BD%91%E6%A0%BC", "index", ready="form")
    assert v.blocked == [] and v.errors == []
    hit = v.page.locator("#results a")
    assert hit.inner_text() == "向阳三网格"
    assert hit.get_attribute("href") == "/maps/grids?area=140213001001"
    assert v.page.locator("table a").count() == 6  # 3 views × (district, street)


def test_changeset_view_swipes_between_before_and_after(browser: Browser, server: Server
                                                       ) -> None:
    v = visit(browser, server, f"/maps/changesets/{server.changeset_id}", "changeset")
    assert_clean(v)
    probe = (113.3055, 40.0890)  # in the strip that moves from grid 002 to grid 001
    v.page.evaluate("window.glSwipe(1)")  # bar at the right edge: all "before"
    v.page.wait_for_timeout(100)
    v.screenshot = v.shot("changeset_before")
    r, g, b = v.pixel_at(*probe)
    assert b > r + 40  # blue: before
    v.page.evaluate("window.glSwipe(0)")  # bar at the left edge: all "after"
    v.page.wait_for_timeout(100)
    v.screenshot = v.shot("changeset_after")
    r, g, b = v.pixel_at(*probe)
    assert r > b + 40  # orange: after
    assert "向阳小区1号楼：30 户" in v.page.content()


def test_drawing_page_posts_an_edit_and_shows_the_validation(
        browser: Browser, server: Server, engine: Engine) -> None:
    v = visit(browser, server, f"/maps/changesets/{server.changeset_id}/draw", "drawing",
              key=server.planner_key)
    assert_clean(v)
    assert v.page.locator(".leaflet-pm-toolbar").count() >= 1  # Geoman's edit tool
    assert bluish(v.pixel_at(*GRID_CENTRES["140213001001003"]))
    # a planner drags grid 003's north-east corner 0.001° east; Geoman fires pm:edit
    v.page.evaluate("""() => {
        const map = window.glMap(); let grid;
        map.eachLayer(l => { if (l.feature && l.feature.properties.code === '140213001001003')
                               grid = l; });
        grid.setLatLngs([[[40.080, 113.300], [40.080, 113.305], [40.085, 113.306],
                          [40.085, 113.300]]]);
        grid.fire('pm:edit');
    }""")
    assert "已修改 1 个网格" in v.page.locator("#gl-status").inner_text()
    v.page.click("#gl-save")
    v.page.wait_for_function("document.getElementById('gl-result').textContent", timeout=15_000)
    result = v.page.locator("#gl-result").inner_text()
    assert "校验未通过" in result and "gap" in result  # the community's old gap is still there
    v.shot("drawing_after_save")
    assert v.errors == [] and v.blocked == []
    with engine.connect() as conn:
        changed = conn.execute(text(
            "SELECT code FROM plan_draft_grids WHERE changeset_id = :cs ORDER BY code"),
            {"cs": server.changeset_id}).scalars().all()
    assert "140213001001003" in changed


def test_alarm_board_of_a_dispatcher_gets_alarms_from_the_live_stream(
        browser: Browser, server: Server) -> None:
    v = visit(browser, server, "/maps/alarms?area=140213001", "alarms_stream",
              key=server.dispatcher_key)
    assert_clean(v)
    v.page.wait_for_function("window.glAlarmStream && window.glAlarmStream.readyState === 1",
                             timeout=10_000)
    v.page.wait_for_timeout(500)  # the stream is listening
    before = v.page.evaluate("window.glAlarmCount")
    response = httpx.post(server.url + "/alarms", json={"lon": 113.3005, "lat": 40.0895,
                                                        "note": "e2e 一键报警"},
                          headers={"X-API-Key": server.worker_key}, timeout=10)
    assert response.status_code == 201, response.text
    v.page.wait_for_function(f"window.glAlarmCount === {before + 1}", timeout=10_000)
    assert v.page.evaluate("window.glAlarmVia") == "stream"
    assert v.errors == [] and v.blocked == []


NEAR_EDGE = (113.305 - 5.0 / 85_180, 40.0875)
"""5 m west of the edge x = 113.305 shared by 向阳一网格 (west) and 向阳二网格 (east)."""


def test_incident_view_shows_candidate_grids_when_in_doubt(browser: Browser, server: Server
                                                           ) -> None:
    v = visit(browser, server, f"/maps/locate?lon={NEAR_EDGE[0]}&lat={NEAR_EDGE[1]}",
              "incident_doubt", ready=".gl-doubt")
    assert_clean(v)
    panel = v.page.inner_text(".gl-doubt")
    assert "GPS 误差 15 m 内有 2 个网格" in panel
    assert "✔ 向阳一网格" in panel and "向阳二网格" in panel
    assert "140213001001002" in panel and "点在所选网格内" in panel
    assert panel.count("5.0 m") == 2
    # the neighbour's outline (dashed orange) runs along its far edge x = 113.310
    along = [v.pixel_at(113.3100, 40.0860 + i * 0.0002) for i in range(10)]
    orange = [p for p in along if p[0] > 200 and 90 < p[1] < 190 and p[2] < 90]
    assert len(orange) >= 3, along


def test_incident_view_without_doubt_has_no_panel(browser: Browser, server: Server) -> None:
    v = visit(browser, server, f"/maps/locate?lon={INCIDENT[0]}&lat={INCIDENT[1]}",
              "incident_no_doubt")
    assert v.page.query_selector(".gl-doubt") is None


def test_planner_view_lists_grids_by_reassignments(browser: Browser, server: Server,
                                                   engine: Engine) -> None:
    with engine.begin() as conn:
        event_id = conn.execute(text("SELECT id FROM events WHERE client_id = 'e1'")).scalar()
        conn.execute(text(
            "INSERT INTO event_reassignments (event_id, from_grid_code, to_grid_code, reason,"
            " actor) VALUES (:e, '140213001001001', '140213001001002', 'e2e', 'e2e')"),
            {"e": event_id})
    try:
        v = visit(browser, server, "/maps/grids?area=140213001", "planner_reassignments",
                  ready=".gl-reassignments")
        assert_clean(v)
        rows = v.page.locator(".gl-reassigned-grids tr").all_inner_texts()
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM event_reassignments WHERE reason = 'e2e'"))
    assert [r.split("\t") for r in rows] == [
        ["网格", "编码", "改出", "改入"], ["向阳一网格", "140213001001001", "1", "0"],
        ["向阳二网格", "140213001001002", "0", "1"]]
