"""The worker's patrol route map and the overdue patrols on the alarm board, in Chromium."""

from __future__ import annotations

import httpx
from playwright.sync_api import Browser

from tests.e2e.conftest import Server, assert_clean, reddish, visit

GRID_2 = "140213001001002"
"""向阳二网格: buildings B001 (113.3055, 40.0870) and B002 (113.3080, 40.0870)."""


def _generate(server: Server, day: str) -> dict[str, int]:
    made = httpx.post(server.url + "/patrols/generate", params={"date": day},
                      headers={"X-API-Key": server.dispatcher_key}, timeout=30)
    assert made.status_code == 200, made.text
    return made.json()


def test_worker_route_map_and_overdue_on_the_alarm_board(browser: Browser,
                                                          server: Server) -> None:
    _generate(server, "2026-11-02")  # November's tasks: overdue by now
    _generate(server, "2026-12-09")
    v = visit(browser, server, f"/maps/patrols/{GRID_2}?date=2026-12-09", "patrol_route",
              key=server.worker_key)
    assert_clean(v)
    assert v.page.evaluate("window.glPatrolStops") == ["B001", "B002"]
    assert v.page.locator(".gl-stop").count() == 2
    assert v.page.locator(".gl-stop").first.inner_text() == "1"
    assert reddish(v.pixel_at(113.3055, 40.0870))  # B001: overdue since November, red
    assert "向阳二网格 巡查路线 2026-12-09（2 处" in v.page.title()
    board = visit(browser, server, "/maps/alarms?area=140213001", "alarms_overdue_patrols")
    assert_clean(board)
    assert board.page.evaluate("window.glOverdueGrids") >= 2  # grids 001 (school) and 002
