"""layers.alarms: initial alarms, polling feed and SSE stream wiring."""

from __future__ import annotations

from datetime import UTC, datetime

from layers.alarms import alarm_feature, alarms_map
from layers.assets import page_html
from layers.base import Basemap

ALARM = {"id": 7, "lon": 113.3025, "lat": 40.0868, "category": "alarm", "reporter": "W002",
         "reported_at": datetime(2026, 11, 3, 1, tzinfo=UTC), "grid_code": "140213001001001"}


def test_alarm_feature_is_a_lon_lat_point_with_iso_time() -> None:
    f = alarm_feature(ALARM)
    assert f["geometry"] == {"type": "Point", "coordinates": [113.3025, 40.0868]}
    assert f["properties"]["reported_at"] == "2026-11-03T01:00:00+00:00"
    assert "lon" not in f["properties"]


def test_board_polls_the_feed_after_the_last_id_and_listens_to_the_stream() -> None:
    html = page_html(alarms_map("实时报警", (113.30, 40.08, 113.32, 40.09), [ALARM],
                                "/maps/alarms/feed", Basemap(), poll_ms=1500))
    assert '<script src="/static/gridlink/alarms.js"></script>' in html
    assert '"lastId": 7, "feed": "/maps/alarms/feed", "stream": "/alarms/stream"' in html
    assert '"pollMs": 1500' in html and '"grid_code": "140213001001001"' in html
    quiet = page_html(alarms_map("t", (113.30, 40.08, 113.32, 40.09), [], "/f", Basemap(),
                                 stream_url=None))
    assert '"lastId": 0, "feed": "/f", "stream": null' in quiet
