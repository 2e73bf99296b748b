"""Drawing page (网格绘制): edit a draft's grids in the browser with Leaflet-Geoman, snapping to
neighbouring edges, and post each edited shape back to the planning API as a draft edit
(``POST /planning/changesets/{id}/reshape``); the draft's validation
(``GET /planning/changesets/{id}/validate``) is then shown in a panel and its problems drawn
in red. The planning API reshapes the neighbours too; their new shapes are reloaded from
``GET /planning/changesets/{id}``."""

from __future__ import annotations

import folium
import geopandas as gpd
from folium.plugins import GeoMan

from layers.base import (
    Basemap,
    LegendEntry,
    add_legend,
    base_map,
    json_literal,
    page_header,
    rounded_geojson,
    script,
)

GRID_COLOR = "#3182bd"
EDITED_COLOR = "#e6550d"
PROBLEM_COLOR = "#e31a1c"
NO_TOOLS = {f"draw{t}": False for t in ("Marker", "CircleMarker", "Polyline", "Rectangle",
                                          "Polygon", "Circle", "Text")}


def drawing_map(title: str, changeset_id: int, grids: gpd.GeoDataFrame,
                basemap: Basemap) -> folium.Map:
    """The drawing page for draft ``changeset_id`` over its ``grids`` (code, name, households).

    Only the edit tool is offered (no new shapes, no deletion: split/merge have their own API
    calls). Snapping to the vertices and edges of the other grids is on (15 px).
    """
    bounds = grids.total_bounds if not grids.empty else (112.0, 36.0, 113.0, 37.0)
    fmap = base_map(bounds, basemap, title=title)
    group = folium.FeatureGroup(name="草案网格（可编辑）").add_to(fmap)
    folium.GeoJson(rounded_geojson(grids, ["code", "name", "households"], decimals=7),
                   style_function=lambda _f: {"color": GRID_COLOR, "weight": 2,
                                              "fillOpacity": 0.15},
                   tooltip=folium.GeoJsonTooltip(["code", "name"], aliases=["网格编码", "名称"]),
                   ).add_to(group)
    GeoMan(feature_group=group, **NO_TOOLS, cutPolygon=False, rotateMode=False,
           removalMode=False, dragMode=False, editMode=True).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    _add_panel(fmap, group, changeset_id)
    add_legend(fmap, "网格绘制", [LegendEntry(GRID_COLOR, "草案网格"),
                                 LegendEntry(EDITED_COLOR, "已修改未保存"),
                                 LegendEntry(PROBLEM_COLOR, "校验问题")])
    return fmap


def _add_panel(fmap: folium.Map, group: folium.FeatureGroup, changeset_id: int) -> None:
    page_header(fmap).add_child(folium.Element(
        "<style>.gl-draw {background:white; padding:8px 10px; border-radius:4px; width:260px;"
        " font-size:13px; box-shadow:0 1px 4px rgba(0,0,0,.3);} .gl-draw input {width:100%;"
        " margin:4px 0;} .gl-draw .bad {color:#e31a1c;} .gl-draw .good {color:#1a9850;}"
        "</style>"), name="gridlink_draw")
    base = f"/planning/changesets/{int(changeset_id)}"
    script(fmap, f"""
    (function() {{
      var map = {fmap.get_name()}, group = {group.get_name()}, base = {json_literal(base)};
      var edited = {{}}, problems = L.layerGroup().addTo(map), byCode = {{}};
      map.pm.setGlobalOptions({{snappable: true, snapDistance: 15, allowSelfIntersection: false}});
      group.eachLayer(function(gj) {{ if (gj.eachLayer) gj.eachLayer(function(l) {{
        byCode[l.feature.properties.code] = l;
        l.on('pm:edit', function() {{ edited[l.feature.properties.code] = l;
          l.setStyle({{color: '{EDITED_COLOR}'}}); status(); }});
      }}); }});
      var panel = L.control({{position: 'topleft'}});
      panel.onAdd = function() {{
        var div = L.DomUtil.create('div', 'gl-draw');
        div.innerHTML = '<b>草案 #{int(changeset_id)}</b><br>用右侧“编辑”工具拖动顶点（吸附相邻边界）'
          + '<input id="gl-key" type="password" placeholder="规划员 API 密钥（可选）">'
          + '<button id="gl-save" class="btn btn-primary btn-sm">保存修改并校验</button>'
          + '<div id="gl-status"></div><div id="gl-result"></div>';
        L.DomEvent.disableClickPropagation(div);
        return div;
      }};
      panel.addTo(map);
      function status() {{
        document.getElementById('gl-status').textContent =
          '已修改 ' + Object.keys(edited).length + ' 个网格';
      }}
      function headers() {{
        var key = document.getElementById('gl-key').value, h = {{'Content-Type': 'application/json'}};
        if (key) h['X-API-Key'] = key;
        return h;
      }}
      function call(method, url, body) {{
        return fetch(url, {{method: method, headers: headers(), credentials: 'same-origin',
                           body: body ? JSON.stringify(body) : undefined}})
          .then(function(r) {{ return r.json().then(function(j) {{
            if (!r.ok) throw new Error(j.message || r.status); return j; }}); }});
      }}
      function show(report) {{
        problems.clearLayers();
        var counts = Object.keys(report.counts).map(function(k) {{
          return k + ' ' + report.counts[k]; }}).join('，') || '无问题';
        document.getElementById('gl-result').innerHTML = '<b class="'
          + (report.ok ? 'good">校验通过' : 'bad">校验未通过') + '</b>：' + counts;
        report.problems.forEach(function(p) {{
          if (!p.geometry) return;
          L.geoJson(p.geometry, {{style: {{color: '{PROBLEM_COLOR}', fillOpacity: 0.6}}}})
            .bindTooltip(p.message).addTo(problems);
        }});
        window.glValidation = report;
      }}
      function reload(draft) {{
        draft.features.forEach(function(f) {{
          var l = byCode[f.properties.code];
          if (l && f.geometry) {{ l.setLatLngs(L.GeoJSON.coordsToLatLngs(
            f.geometry.type === 'Polygon' ? f.geometry.coordinates
              : f.geometry.coordinates[0], 1)); l.setStyle({{color: '{GRID_COLOR}'}}); }}
        }});
      }}
      document.getElementById('gl-save').onclick = function() {{
        var codes = Object.keys(edited);
        var chain = Promise.resolve();
        codes.forEach(function(code) {{ chain = chain.then(function() {{
          return call('POST', base + '/reshape', {{code: code,
                      geometry: edited[code].toGeoJSON().geometry}}); }}); }});
        chain.then(function() {{ edited = {{}}; status(); return call('GET', base); }})
          .then(function(cs) {{ reload(cs.draft); return call('GET', base + '/validate'); }})
          .then(show)
          .catch(function(e) {{ document.getElementById('gl-result').innerHTML =
            '<b class="bad">保存失败：</b>' + e.message; }});
      }};
      status();
    }})();""")
