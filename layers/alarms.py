"""Live alarm board (一键报警): one-click alarms appear without reloading the page and the
map pans to the newest one. Alarms arrive by Server-Sent Events from the dispatch stream
(``stream_url``, ``event: alarm``) and, whenever that stream is not open (no stream for the
caller's role, or a dropped connection), by polling a JSON feed (``feed_url?after=<last id>``)
every ``poll_ms`` ms; each alarm is drawn once (``window.glAlarmVia`` says which path
delivered the last one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import folium
from branca.element import JavascriptLink

from layers.assets import STATIC_PREFIX
from layers.base import (
    Basemap,
    LegendEntry,
    add_legend,
    base_map,
    json_literal,
    page_header,
    script,
)

ALARM_COLOR = "#d7301f"
OVERDUE_COLOR = "#fd8d3c"
OVERDUE_POLL_MS = 60_000
"""How often the board refreshes the overdue patrols (they change by the day, not by the
second)."""


def alarm_feature(alarm: dict[str, Any]) -> dict[str, Any]:
    """One alarm (id, lon, lat, category, reporter, reported_at, grid_code) as a GeoJSON
    point feature whose properties are JSON-safe strings/numbers."""
    props = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
             for k, v in alarm.items() if k not in ("lon", "lat")}
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "Point", "coordinates": [alarm["lon"], alarm["lat"]]}}


def alarms_map(title: str, bounds: Sequence[float], alarms: Sequence[dict[str, Any]],
               feed_url: str, basemap: Basemap, poll_ms: int = 2000,
               stream_url: str | None = "/alarms/stream",
               overdue: Sequence[dict[str, Any]] = ()) -> folium.Map:
    """The alarm board: the latest ``alarms`` drawn now, newer ones added as they arrive.

    ``bounds`` (lon/lat) frames the board initially; ``feed_url`` answers
    ``{"alarms": [feature...], "last_id": n}`` for ``?after=<id>``, and with ``&overdue=1``
    also ``"overdue_patrols"`` (asked every :data:`OVERDUE_POLL_MS`). ``overdue``: grids with
    overdue patrols (:func:`overdue_patrol_feature` rows), drawn as dashed orange circles.
    """
    fmap = base_map(bounds, basemap, title=title)
    group = folium.FeatureGroup(name="报警").add_to(fmap)
    last_id = max((int(a["id"]) for a in alarms), default=0)
    features = [alarm_feature(a) for a in alarms]
    page_header(fmap).add_child(JavascriptLink(f"{STATIC_PREFIX}/gridlink/alarms.js"),
                                name="gridlink_alarms_js")
    options = {"lastId": last_id, "feed": feed_url, "stream": stream_url, "pollMs": poll_ms,
               "color": ALARM_COLOR, "features": features, "overdueColor": OVERDUE_COLOR,
               "overdue": [overdue_patrol_feature(g) for g in overdue],
               "overdueMs": OVERDUE_POLL_MS}
    script(fmap, f"glAlarmBoard({fmap.get_name()}, {group.get_name()}, "
                 f"{json_literal(options)});")
    folium.LayerControl(collapsed=False).add_to(fmap)
    add_legend(fmap, "实时报警", [LegendEntry(ALARM_COLOR, "一键报警（新报警自动定位）"),
                                  LegendEntry(OVERDUE_COLOR, "逾期巡查（按网格）")])
    return fmap


def overdue_patrol_feature(grid: dict[str, Any]) -> dict[str, Any]:
    """A grid with overdue patrols (grid_code, grid_name, overdue, lon, lat: a point inside
    the grid) as a GeoJSON point feature for the alarm board."""
    return {"type": "Feature",
            "properties": {"grid_code": grid["grid_code"], "grid_name": grid["grid_name"],
                           "overdue": int(grid["overdue"])},
            "geometry": {"type": "Point", "coordinates": [grid["lon"], grid["lat"]]}}
