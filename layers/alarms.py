"""Live alarm board (一键报警): one-click alarms appear without reloading the page and the
map pans to the newest one. Alarms arrive by Server-Sent Events from the dispatch stream
(``stream_url``, ``event: alarm``) and, as a safety net for dropped connections, by polling a
JSON feed (``feed_url?after=<last id>``) every ``poll_ms`` ms; each alarm is drawn once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import folium

from layers.base import Basemap, LegendEntry, add_legend, base_map, json_literal, script

ALARM_COLOR = "#d7301f"


def alarm_feature(alarm: dict[str, Any]) -> dict[str, Any]:
    """One alarm (id, lon, lat, category, reporter, reported_at, grid_code) as a GeoJSON
    point feature whose properties are JSON-safe strings/numbers."""
    props = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
             for k, v in alarm.items() if k not in ("lon", "lat")}
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "Point", "coordinates": [alarm["lon"], alarm["lat"]]}}


def alarms_map(title: str, bounds: Sequence[float], alarms: Sequence[dict[str, Any]],
               feed_url: str, basemap: Basemap, poll_ms: int = 2000,
               stream_url: str | None = "/alarms/stream") -> folium.Map:
    """The alarm board: the latest ``alarms`` drawn now, newer ones added as they arrive.

    ``bounds`` (lon/lat) frames the board initially; ``feed_url`` answers
    ``{"alarms": [feature...], "last_id": n}`` for ``?after=<id>``.
    """
    fmap = base_map(bounds, basemap, title=title)
    group = folium.FeatureGroup(name="报警").add_to(fmap)
    last_id = max((int(a["id"]) for a in alarms), default=0)
    features = [alarm_feature(a) for a in alarms]
    script(fmap, f"""
    (function() {{
      var map = {fmap.get_name()}, group = {group.get_name()};
      var lastId = {int(last_id)}, feed = {json_literal(feed_url)};
      var stream = {json_literal(stream_url)}, seen = {{}};
      window.glAlarmCount = 0;
      function esc(s) {{ return String(s == null ? '' : s).replace(/[&<>"]/g,
          function(c) {{ return {{'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}}[c]; }}); }}
      function add(f, pan) {{
        var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
        if (seen[p.id]) return;
        seen[p.id] = true; lastId = Math.max(lastId, p.id);
        var m = L.circleMarker(ll, {{radius: 9, color: '{ALARM_COLOR}', fillColor: '{ALARM_COLOR}',
                                    fillOpacity: 0.9, weight: 2}}).addTo(group);
        m.bindPopup('<b>一键报警 #' + esc(p.id) + '</b><br>上报人：' + esc(p.reporter)
          + '<br>时间：' + esc(p.reported_at) + '<br>网格：' + esc(p.grid_code)
          + '<br>' + esc(p.description));
        window.glAlarmCount += 1;
        if (pan) {{ map.once('moveend', function() {{ m.openPopup(); }}); map.panTo(ll); }}
      }}
      {json_literal(features)}.forEach(function(f) {{ add(f, false); }});
      function poll() {{
        fetch(feed + '?after=' + lastId, {{credentials: 'same-origin'}})
          .then(function(r) {{ return r.ok ? r.json() : null; }})
          .then(function(body) {{
            if (!body) return;
            body.alarms.forEach(function(f) {{ add(f, true); }});
            lastId = Math.max(lastId, body.last_id);
          }}).catch(function() {{}});
      }}
      setInterval(poll, {int(poll_ms)});
      if (stream && window.EventSource) {{
        var source = new EventSource(stream);
        source.addEventListener('alarm', function(e) {{
          var a = JSON.parse(e.data);
          add({{type: 'Feature', geometry: {{type: 'Point', coordinates: [a.lon, a.lat]}},
               properties: {{id: a.event_id, reporter: a.worker, reported_at: a.reported_at,
                            grid_code: a.grid ? a.grid.code : '', description: a.note}}}}, true);
        }});
      }}
    }})();""")
    folium.LayerControl(collapsed=False).add_to(fmap)
    add_legend(fmap, "实时报警", [LegendEntry(ALARM_COLOR, "一键报警（新报警自动定位）")])
    return fmap
