"""The dashboard in headless Chromium, offline: every chart drew (pixels on its canvas), the
numbers shown equal /stats and /stats/daily, a new alarm arrives live, the wall screen fits
1920×1080 (its screenshot, tests/e2e/output/dashboard_wall.png, is the README's
docs/screenshots/dashboard-wall.png)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from geo.rollups import LOCAL_TZ
from tests.e2e.city import CAMERAS, GRID_CENTRES
from tests.e2e.conftest import OUTPUT, Server, Visit, visit

pytestmark = pytest.mark.e2e

DISTRICT, STREET = "140213", "140213001"
CHARTS = ("status", "categories", "units", "rates", "ranking", "cameras", "alarm_response",
          "heat")
SATURATED = """(id) => { const c = document.querySelector('#chart-' + id + ' canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 200 && Math.max(d[i], d[i + 1], d[i + 2])
          - Math.min(d[i], d[i + 1], d[i + 2]) > 80) n++; }
    return n; }"""
"""JS: pixels of a chart's canvas in a saturated colour (data, not grey axes or labels)."""


@pytest.fixture(scope="module")
def recent(server: Server) -> Iterator[list[int]]:
    """Six cases of the last days (the seeded ones are older than the 30 days shown):
    three today (China Standard Time), one closed 26 hours ago, one dispatched five days ago
    (so it is overdue), and a one-click alarm now, dispatched at once and viewed through a
    camera."""
    now = datetime.now(UTC)
    today = now - datetime.combine(now.astimezone(LOCAL_TZ).date(), time(0), LOCAL_TZ)
    # today's three: within today (CST) at any hour the test runs, e.g. 00:20 in Beijing
    plan = [("140213001001001", "垃圾暴露", today / 4, ()),
            ("140213001001002", "占道经营", today / 2, ()),
            ("140213001002001", "垃圾暴露", today * 3 / 4, ("dispatch",)),
            ("140213001001003", "占道经营", timedelta(hours=26),
             ("dispatch", "start", "resolve", "close")),
            ("140213001002002", "垃圾暴露", timedelta(hours=120), ("dispatch",))]
    ids = []
    for grid, category, ago, actions in plan:
        lon, lat = GRID_CENTRES[grid]
        reply = _call(server, "post", "/events", json={
            "category": category, "lon": lon, "lat": lat, "reporter": "W001",
            "reported_at": (now - ago).isoformat()})
        for action in actions:
            _call(server, "post", f"/events/{reply['id']}/actions", json={"action": action})
        ids.append(reply["id"])
    lon, lat = GRID_CENTRES["140213001001004"]
    alarm = httpx.post(server.url + "/alarms", json={"lon": lon, "lat": lat}, timeout=10,
                       headers={"X-API-Key": server.worker_key})
    assert alarm.status_code == 201, alarm.text
    _call(server, "post", f"/events/{alarm.json()['event']['id']}/actions",
          json={"action": "dispatch"})
    _call(server, "post", f"/events/{alarm.json()['event']['id']}/camera-views",
          json={"camera_code": CAMERAS[0][0]})
    return iter([[*ids, alarm.json()["event"]["id"]]])  # type: ignore[return-value]


def _call(server: Server, method: str, path: str, **kw: Any) -> Any:
    response = httpx.request(method, server.url + path, timeout=30,
                             headers={"X-API-Key": server.dispatcher_key}, **kw)
    assert response.status_code < 300, response.text
    return response.json()


def _shown(v: Visit) -> dict[str, str]:
    return dict(v.page.evaluate("() => [...document.querySelectorAll('[data-figure]')]"
                                ".map(e => [e.dataset.figure, e.textContent])"))


def _assert_drawn(v: Visit) -> None:
    assert v.blocked == [] and v.errors == [], (v.blocked, v.errors)
    for chart in CHARTS:
        assert v.page.evaluate(SATURATED, chart) > 30, f"chart {chart} drew nothing"


@pytest.mark.parametrize("area", [DISTRICT, STREET])
def test_every_chart_draws_and_every_number_equals_stats(
        browser: Browser, server: Server, recent: list[int], area: str) -> None:
    v = visit(browser, server, f"/dashboard?area={area}", f"dashboard_{area}",
              ready="body[data-loaded]")
    _assert_drawn(v)
    figures = v.page.evaluate("window.gridlinkDashboard.figures")
    now = datetime.fromisoformat(figures["now"])
    level = figures["scope"]["level"]
    shown = _shown(v)
    day = figures["today"]["day"]
    today = _call(server, "get", "/stats/daily", params={"area": area, "since": day,
                                                        "until": day, "by": ""})
    assert shown["today_total"] == str(today["counts"][0]["events"]) == "4"
    last_24h = _call(server, "get", "/stats", params={
        "level": level, "since": (now - timedelta(hours=24)).isoformat(),
        "until": now.isoformat()})
    assert [shown["new_24h"]] == [str(u["accepted"]) for u in last_24h["units"]
                                  if u["unit"] == area] == ["4"]
    alarms = _call(server, "get", "/stats/daily", params={
        "area": area, "since": "1970-01-01", "until": day, "by": "status", "category": "alarm"})
    open_alarms = sum(r["events"] for r in alarms["counts"]
                      if r["status"] in ("reported", "dispatched", "in_progress"))
    assert shown["open_alarms"] == str(open_alarms)
    assert shown["overdue"] == str(len(figures["today"]["overdue"])) == "1"
    response = v.page.evaluate("window.gridlinkDashboard.charts.alarm_response.getOption()"
                               ".series.map(s => s.data.reduce((a, b) => a + b, 0))")
    assert response == [figures["alarms"]["dispatched"], figures["alarms"]["viewed"]] == [1, 1]
    trend = figures["trend"]
    daily = _call(server, "get", "/stats/daily", params={
        "area": area, "since": trend["first_day"], "until": trend["last_day"],
        "by": "day,category"})
    drawn = v.page.evaluate("window.gridlinkDashboard.charts.categories.getOption().series"
                            ".map(s => s.data.reduce((a, b) => a + b, 0))")
    assert sum(drawn) == sum(r["events"] for r in daily["counts"]) == 6
    ranking = _call(server, "get", "/stats", params={
        "level": figures["ranking"]["level"], "since": figures["ranking"]["since"],
        "until": figures["ranking"]["until"]})
    scores = {u["unit"]: u["score"] for u in ranking["units"] if u["unit"].startswith(area)}
    bars = v.page.evaluate("window.gridlinkDashboard.charts.ranking.getOption().series[0]"
                           ".data.map(d => d.value)")
    assert sorted(bars, key=lambda s: (s is None, s or 0)) == sorted(
        scores.values(), key=lambda s: (s is None, s or 0))


def test_a_new_alarm_appears_live(browser: Browser, server: Server, recent: list[int]) -> None:
    v = visit(browser, server, f"/dashboard?area={STREET}", "dashboard_live",
              ready="body[data-loaded]", key=server.dispatcher_key)
    v.page.wait_for_function("window.gridlinkDashboard.source.readyState === 1",
                             timeout=10_000)
    v.page.wait_for_timeout(500)  # the stream is listening
    before = int(_shown(v)["open_alarms"])
    loads = v.page.evaluate("window.gridlinkDashboard.loads")
    lon, lat = GRID_CENTRES["140213001001002"]
    response = httpx.post(server.url + "/alarms", json={"lon": lon, "lat": lat,
                                                        "note": "大屏 e2e 报警"},
                          headers={"X-API-Key": server.worker_key}, timeout=10)
    assert response.status_code == 201, response.text
    v.page.wait_for_function(f"window.gridlinkDashboard.loads > {loads}"
                             " && window.gridlinkDashboard.alarms.length === 1", timeout=10_000)
    assert int(_shown(v)["open_alarms"]) == before + 1
    assert v.page.locator("#toast.on").inner_text().startswith(
        f"新报警 #{response.json()['event']['id']}")
    assert v.errors == [] and v.blocked == []


def test_wall_screen_fits_1920_by_1080(browser: Browser, server: Server,
                                       recent: list[int]) -> None:
    v = visit(browser, server, f"/dashboard?area={DISTRICT}&wall=true&cycle_s=3600",
              "dashboard_wall", ready="body[data-loaded]",
              viewport={"width": 1920, "height": 1080})
    _assert_drawn(v)
    assert v.page.locator("a").count() == 0
    size = v.page.evaluate("[document.documentElement.scrollWidth,"
                           " document.documentElement.scrollHeight]")
    assert size == [1920, 1080]
    assert (OUTPUT / "dashboard_wall.png").is_file()  # docs/screenshots/dashboard-wall.png
