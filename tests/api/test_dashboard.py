"""/dashboard, its figures and CSV links, and /stats/daily, over HTTP on the small city:
every figure equals what /stats and /stats/daily answer for the same scope and period."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.openapi import AREA_READS
from geo.events import EventIn, apply_action, create_event
from geo.keys import create_key
from layers.assets import BUILD_DIR, external_urls
from tests.conftest import auth
from tests.geo.test_locate import COMMUNITY, DISTRICT, G1, G2, STREET, build_small_city

AT = datetime(2026, 11, 3, 4, 0, tzinfo=UTC)  # 12:00 on 3 November in Beijing
IN_G1, IN_G2 = (113.301, 40.0808), (113.303, 40.0815)


def _event(db: Session, where: tuple[float, float], at: datetime, category: str,
           actions: tuple[str, ...] = ()) -> int:
    event, _ = create_event(db, EventIn(category=category, lon=where[0], lat=where[1],
                                        reported_at=at))
    for action in actions:
        apply_action(db, int(event["id"]), action)  # type: ignore[call-overload]
    return int(event["id"])  # type: ignore[call-overload]


@pytest.fixture
def four_cases(db: Session) -> dict[str, int]:
    """today_open (G1, today), overdue (G1, 29 Oct, dispatched, 50 h overdue at AT),
    closed (G2, 2 Nov) and an alarm (G1, today, dispatched 12 minutes after it came in).
    Cameras (small city): 1, 2, 4 online and 3 offline, all inside G1 (and the school)."""
    build_small_city(db)
    cases = {
        "today_open": _event(db, IN_G1, AT - timedelta(hours=2), "garbage"),
        "overdue": _event(db, IN_G1, datetime(2026, 10, 29, 2, tzinfo=UTC), "garbage",
                          ("dispatch",)),
        "closed": _event(db, IN_G2, datetime(2026, 11, 2, 3, tzinfo=UTC), "parking",
                         ("dispatch", "start", "resolve", "close")),
        "alarm": _event(db, IN_G1, AT - timedelta(hours=1), "alarm", ("dispatch",)),
    }
    db.execute(text("UPDATE events SET dispatched_at = reported_at + interval '12 minutes'"
                    " WHERE id = :a"), {"a": cases["alarm"]})
    db.commit()  # a savepoint release: the city survives a refused (rolled-back) request
    return cases


def _get(client: TestClient, keys: dict[str, str], path: str, **params: Any) -> Any:
    response = client.get(path, params=params, headers=auth(keys, "viewer"))
    assert response.status_code == 200, response.text
    return response.json()


def test_today_panel_figures(client: TestClient, keys: dict[str, str],
                             four_cases: dict[str, int]) -> None:
    d = _get(client, keys, "/dashboard/data", area=STREET, at=AT.isoformat())
    assert d["scope"] == {"code": STREET, "name": "新建南路街道", "level": "street",
                          "child_level": "community"}
    assert d["today"]["by_status"] == [{"status": "dispatched", "events": 1},
                                       {"status": "reported", "events": 1}]
    assert (d["today"]["new_24h"], d["today"]["open_alarms"]) == (2, 1)
    assert d["today"]["overdue"] == [{"id": four_cases["overdue"], "category": "garbage",
                                      "grid_code": G1, "grid_name": "一网格",
                                      "unit": "振华南街社区", "hours": 50.0}]
    stats = _get(client, keys, "/stats", level="street", since=(AT - timedelta(hours=24))
                 .isoformat(), until=AT.isoformat())
    assert [u["accepted"] for u in stats["units"] if u["unit"] == STREET] == [2]


def test_trend_and_ranking_equal_stats(client: TestClient, keys: dict[str, str],
                                       four_cases: dict[str, int]) -> None:
    d = _get(client, keys, "/dashboard/data", area=STREET, at=AT.isoformat())
    trend = d["trend"]
    assert (trend["first_day"], trend["last_day"], len(trend["days"])) == (
        "2026-10-05", "2026-11-03", 30)
    daily = _get(client, keys, "/stats/daily", area=STREET, since="2026-10-05",
                 until="2026-11-03", by="day,category")
    assert trend["by_day_category"] == daily["counts"] == [
        {"day": "2026-10-29", "category": "garbage", "events": 1},
        {"day": "2026-11-02", "category": "parking", "events": 1},
        {"day": "2026-11-03", "category": "alarm", "events": 1},
        {"day": "2026-11-03", "category": "garbage", "events": 1}]
    assert trend["by_unit"] == [{"unit": COMMUNITY, "name": "振华南街社区", "events": 4}]
    nov2 = _get(client, keys, "/stats", level="street", since="2026-11-01T16:00:00Z",
                until="2026-11-02T16:00:00Z")["units"][0]
    assert trend["rates"][-2] == {"day": "2026-11-02", "handling_rate": nov2["handling_rate"],
                                  "on_time_rate": nov2["on_time_rate"]}
    assert nov2["handling_rate"] == 1.0
    month = _get(client, keys, "/stats", level="community", since="2026-10-31T16:00:00Z",
                 until=AT.isoformat())["units"]
    assert d["ranking"]["units"] == month and month[0]["accepted"] == 3


def test_thirty_day_rates_equal_thirty_single_day_stats_calls(
        client: TestClient, keys: dict[str, str], four_cases: dict[str, int]) -> None:
    rates = _get(client, keys, "/dashboard/data", area=STREET, at=AT.isoformat())["trend"]["rates"]
    expected = []
    for i in range(30):  # CST days: 5 Oct 00:00+08 = 4 Oct 16:00Z
        since = datetime(2026, 10, 4, 16, tzinfo=UTC) + timedelta(days=i)
        units = _get(client, keys, "/stats", level="street", since=since.isoformat(),
                     until=(since + timedelta(days=1)).isoformat())["units"]
        row = next((u for u in units if u["unit"] == STREET), None)
        expected.append({"day": (since + timedelta(hours=8)).date().isoformat(),
                         "handling_rate": row["handling_rate"] if row else None,
                         "on_time_rate": row["on_time_rate"] if row else None})
    assert rates == expected
    # the case of 2 November was closed at the real now, after its due time: not on time
    assert [(r["day"], r["handling_rate"], r["on_time_rate"]) for r in rates
            if r["handling_rate"] is not None] == [
        ("2026-10-29", 0.0, None), ("2026-11-02", 1.0, 0.0), ("2026-11-03", 0.0, None)]


def test_cameras_alarms_and_heat(client: TestClient, keys: dict[str, str],
                                 four_cases: dict[str, int]) -> None:
    d = _get(client, keys, "/dashboard/data", area=STREET, at=AT.isoformat())
    assert d["cameras"] == {
        "by_unit": [{"unit": COMMUNITY, "name": "振华南街社区", "status": "offline", "cameras": 1},
                    {"unit": COMMUNITY, "name": "振华南街社区", "status": "online", "cameras": 3}],
        "grids_without_camera": [{"code": G2, "name": "二网格"}]}
    alarms = d["alarms"]
    assert (alarms["alarms"], alarms["dispatched"], alarms["median_min"], alarms["p90_min"]) == (
        1, 1, 12.0, 12.0)
    assert [b["alarms"] for b in alarms["buckets"]] == [0, 1, 0, 0, 0]
    assert sum(c["events"] for c in d["heat"]["cells"]) == 4
    assert d["cycle"] == [{"code": STREET, "name": "新建南路街道"},
                          {"code": COMMUNITY, "name": "振华南街社区"}]


CAMERA_NORTH = "14021300081310000001"  # camera_facing_north of the small city


def test_alarm_to_first_camera_view(client: TestClient, keys: dict[str, str], db: Session,
                                    four_cases: dict[str, int]) -> None:
    alarm, dispatcher = four_cases["alarm"], auth(keys, "dispatcher")
    first = client.post(f"/events/{alarm}/camera-views", json={"camera_code": CAMERA_NORTH},
                        headers=dispatcher)
    assert first.status_code == 201, first.text
    assert (first.json()["camera_code"], first.json()["views"]) == (CAMERA_NORTH, 1)
    again = client.post(f"/events/{alarm}/camera-views", json={"camera_code": CAMERA_NORTH},
                        headers=dispatcher)
    assert again.json()["views"] == 2
    assert again.json()["first_viewed_at"] == first.json()["viewed_at"]
    other = client.post(f"/events/{four_cases['today_open']}/camera-views",
                        json={"camera_code": CAMERA_NORTH}, headers=dispatcher)
    assert other.status_code == 201  # any event may be viewed; the panel counts alarms
    # the alarm was first viewed 3 minutes after it came in, then again at 20 minutes
    db.execute(text("UPDATE event_camera_views v SET viewed_at = e.reported_at + CASE WHEN"
                    " v.id = :first THEN interval '3 minutes' ELSE interval '20 minutes' END"
                    " FROM events e WHERE e.id = v.event_id"),
               {"first": db.scalar(text("SELECT min(id) FROM event_camera_views"))})
    db.commit()
    alarms = _get(client, keys, "/dashboard/data", area=STREET, at=AT.isoformat())["alarms"]
    assert (alarms["alarms"], alarms["dispatched"], alarms["median_min"]) == (1, 1, 12.0)
    assert (alarms["viewed"], alarms["view_median_min"], alarms["view_p90_min"]) == (1, 3.0, 3.0)
    assert [(b["alarms"], b["viewed"]) for b in alarms["buckets"]] == [
        (0, 1), (1, 0), (0, 0), (0, 0), (0, 0)]
    before = _get(client, keys, "/dashboard/data", area=STREET,
                  at=(AT - timedelta(minutes=59)).isoformat())["alarms"]
    assert (before["viewed"], before["view_median_min"]) == (0, None)  # 1 min after the alarm


def test_camera_view_refusals_change_nothing(client: TestClient, keys: dict[str, str],
                                             db: Session, four_cases: dict[str, int]) -> None:
    alarm = four_cases["alarm"]
    unknown = client.post(f"/events/{alarm}/camera-views", json={"camera_code": "999"},
                          headers=auth(keys, "dispatcher"))
    assert unknown.status_code == 422 and unknown.json()["details"] == [
        {"field": "camera_code", "value": "999"}]
    missing = client.post("/events/999999/camera-views", json={"camera_code": CAMERA_NORTH},
                          headers=auth(keys, "dispatcher"))
    assert missing.status_code == 404 and missing.json()["details"] == [
        {"field": "id", "value": 999999}]
    viewer = client.post(f"/events/{alarm}/camera-views", json={"camera_code": CAMERA_NORTH},
                         headers=auth(keys, "viewer"))
    assert viewer.status_code == 403
    assert db.scalar(text("SELECT count(*) FROM event_camera_views")) == 0


def test_each_chart_has_its_csv(client: TestClient, keys: dict[str, str],
                                four_cases: dict[str, int]) -> None:
    def csv(panel: str) -> str:
        response = client.get(f"/dashboard/csv/{panel}", params={"area": STREET,
                              "at": AT.isoformat()}, headers=auth(keys, "viewer"))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        return response.text

    assert csv("status") == "status,events\ndispatched,1\nreported,1\n"
    assert csv("overdue") == ("id,category,grid_code,grid_name,unit,hours\n"
                              f"{four_cases['overdue']},garbage,{G1},一网格,振华南街社区,50.0\n")
    assert csv("units") == f"unit,name,events\n{COMMUNITY},振华南街社区,4\n"
    assert csv("alarm_response") == ("label,alarms,viewed\n0-5 分钟,0,0\n5-15 分钟,1,0\n"
                                     "15-30 分钟,0,0\n30-60 分钟,0,0\n≥60 分钟,0,0\n")
    assert csv("blind_grids") == f"code,name\n{G2},二网格\n"
    daily = client.get("/stats/daily", params={"area": STREET, "since": "2026-11-03",
                       "until": "2026-11-03", "by": "category", "format": "csv"},
                       headers=auth(keys, "viewer"))
    assert daily.text == "category,events\nalarm,1\ngarbage,1\n"


def test_page_is_offline_and_links_every_chart(client: TestClient, keys: dict[str, str],
                                               four_cases: dict[str, int]) -> None:
    page = client.get("/dashboard", params={"area": STREET}, headers=auth(keys, "viewer"))
    assert page.status_code == 200
    assert external_urls(page.text) == []
    [bundle] = re.findall(
        r'<script src="(/static/build/echarts-dashboard\.min\.js\?v=[0-9a-f]{12})">', page.text)
    for panel in ("status", "categories", "units", "rates", "ranking", "cameras",
                  "alarm_response", "heat", "overdue", "blind_grids"):
        assert f'href="/dashboard/csv/{panel}?area={STREET}"' in page.text
    wall = client.get("/dashboard", params={"area": STREET, "wall": "true"},
                      headers=auth(keys, "viewer"))
    assert 'class="wall"' in wall.text and "/dashboard/csv/" not in wall.text
    plain = client.get(bundle, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert plain.content == (BUILD_DIR / "echarts-dashboard.min.js").read_bytes()
    brotli = client.get(bundle, headers={"Accept-Encoding": "gzip, deflate, br"})
    gzipped = client.get(bundle, headers={"Accept-Encoding": "gzip"})
    for packed, coding in ((brotli, "br"), (gzipped, "gzip")):
        assert packed.headers["Content-Encoding"] == coding
        assert packed.headers["Content-Type"].startswith("text/javascript")
        assert packed.headers["Vary"] == "Accept-Encoding"
    assert gzipped.content == plain.content  # httpx decodes gzip
    assert brotli.content == (BUILD_DIR / "echarts-dashboard.min.js.br").read_bytes()
    past = client.get("/dashboard", params={"area": STREET, "at": AT.isoformat()},
                      headers=auth(keys, "viewer"))
    assert 'data-at="2026-11-03T04:00:00+00:00"' in past.text
    assert f"/dashboard/report.xlsx?area={STREET}&amp;month=2026-11-03" in past.text
    assert 'data-stream=""' in past.text  # a viewer polls; a dispatcher streams
    dispatcher = client.get("/dashboard", params={"area": STREET},
                            headers=auth(keys, "dispatcher"))
    assert 'data-stream="/alarms/stream"' in dispatcher.text


def test_bad_scope_or_chart_is_a_clear_error(client: TestClient, keys: dict[str, str],
                                             four_cases: dict[str, int]) -> None:
    viewer = auth(keys, "viewer")
    grid = client.get("/dashboard/data", params={"area": G1}, headers=viewer)
    assert grid.status_code == 422 and grid.json()["details"] == [
        {"field": "area", "value": G1, "allowed": ["district", "street", "community"]}]
    assert client.get("/dashboard", params={"area": "999"}, headers=viewer).status_code == 404
    chart = client.get("/dashboard/csv/pie", params={"area": STREET}, headers=viewer)
    assert chart.status_code == 404 and chart.json()["details"][0]["value"] == "pie"
    by = client.get("/stats/daily", params={"by": "day,geom"}, headers=viewer)
    assert by.status_code == 422 and by.json()["details"][0]["value"] == "geom"
    assert client.get("/dashboard/data").status_code == 401


def test_a_key_with_an_area_reads_that_area_only(client: TestClient, keys: dict[str, str],
                                                db: Session, four_cases: dict[str, int]) -> None:
    street_key = {"X-API-Key": create_key(db, "新建南路街道大屏", "viewer", area_code=STREET)}
    db.commit()

    def get(path: str, **params: Any) -> Any:
        return client.get(path, params={"at": AT.isoformat(), **params}, headers=street_key)

    assert get("/dashboard/data").json()["scope"]["code"] == STREET  # its area by default
    assert get("/dashboard/data", area=COMMUNITY).json()["scope"]["code"] == COMMUNITY
    for path in ("/dashboard", "/dashboard/data", "/dashboard/csv/status", "/stats/daily"):
        refused = get(path, area=DISTRICT)
        assert refused.status_code == 403, path
        assert refused.json()["details"] == [
            {"field": "area", "value": DISTRICT, "key_area": STREET}]
    assert get("/dashboard/report.xlsx", area=DISTRICT, month="2026-11-01").status_code == 403
    assert get("/stats/daily", since="2026-10-05", until="2026-11-03").json()["counts"] == (
        get("/stats/daily", area=STREET, since="2026-10-05", until="2026-11-03").json()["counts"])
    period = {"since": "2026-10-01T00:00:00Z", "until": AT.isoformat()}
    street = get("/stats", level="street", **period).json()
    assert [u["unit"] for u in street["units"]] == [STREET]
    assert (street["events"], street["unattributed"]) == (None, None)  # the city's totals
    assert get("/stats", level="district", **period).json()["units"] == []  # above its area
    department = get("/stats", level="department", **period)
    assert department.status_code == 403 and department.json()["details"] == [
        {"field": "level", "value": "department", "key_area": STREET}]
    assert get("/stats/assessment", month="2026-11", level="department").status_code == 403
    assert [u["unit"] for u in get("/stats/assessment", month="2026-11",
                                   level="community").json()["units"]] == [COMMUNITY]


def test_openapi_lists_403_on_every_area_read(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {path: "403" in paths[path]["get"]["responses"] for path in AREA_READS} == dict.fromkeys(
        AREA_READS, True)


def test_admin_gives_a_key_an_area(client: TestClient, keys: dict[str, str],
                                   four_cases: dict[str, int]) -> None:
    admin = auth(keys, "admin")
    bad = client.post("/admin/keys", json={"name": "x", "role": "viewer", "area_code": G1},
                      headers=admin)
    assert bad.status_code == 422 and bad.json()["details"] == [
        {"field": "area_code", "value": G1}]  # a grid is no area a key is limited to
    made = client.post("/admin/keys", json={"name": "社区大屏", "role": "viewer",
                                            "area_code": COMMUNITY}, headers=admin)
    assert made.status_code == 201, made.text
    listed = client.get("/admin/keys", headers=admin).json()
    assert [(k["name"], k["area_code"]) for k in listed if k["prefix"] == made.json()["prefix"]
            ] == [("社区大屏", COMMUNITY)]
    scoped = client.get("/dashboard/data", params={"area": STREET},
                        headers={"X-API-Key": made.json()["key"]})
    assert scoped.status_code == 403


def test_monthly_report_holds_the_months_ranking_and_cases(
        client: TestClient, keys: dict[str, str], four_cases: dict[str, int]) -> None:
    response = client.get("/dashboard/report.xlsx", params={"area": STREET,
                          "month": "2026-11-15"}, headers=auth(keys, "viewer"))
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        f'attachment; filename="report_{STREET}_2026-11.xlsx"')
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["考核排名", "每日案件", "案件状态", "说明"]
    month = _get(client, keys, "/stats", level="community", since="2026-10-31T16:00:00Z",
                 until="2026-11-30T16:00:00Z")["units"]
    ranking = [dict(zip([c.value for c in book["考核排名"][1]], [c.value for c in row],
                        strict=True)) for row in book["考核排名"].iter_rows(min_row=2)]
    assert [(r["单位代码"], r["受理数"], r["考核得分"]) for r in ranking] == [
        (u["unit"], u["accepted"], u["score"]) for u in month] == [
        (COMMUNITY, 3, month[0]["score"])]
    assert [[c.value for c in row] for row in book["每日案件"].iter_rows()] == [
        ["日期", "alarm", "garbage", "parking"], ["2026-11-02", 0, 0, 1],
        ["2026-11-03", 1, 1, 0]]
    assert [[c.value for c in row] for row in book["案件状态"].iter_rows()] == [
        ["状态", "案件数"], ["closed", 1], ["dispatched", 1], ["reported", 1]]
    assert len(book["考核排名"]._charts) == len(book["每日案件"]._charts) == 1
