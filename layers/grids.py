"""Planner grid view (网格规划): the admin hierarchy, grids, micro-grids and dedicated grids,
household choropleths, grid-code labels and validation problems, simplified for display.

Simplification keeps shared edges shared: the grids of an area are one *coverage* and are
simplified together with :func:`shapely.coverage_simplify` in a projected CRS (metres,
EPSG:4547 by default), with a tolerance of about one screen pixel at the zoom they are shown at.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import folium
import geopandas as gpd
import shapely

from geo.planning.validate import ValidationReport
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
from layers.tiles import VectorTiles, binned_fill_style, keyed_line_style, tile_url

HOUSEHOLD_BINS: tuple[tuple[float, str, str], ...] = (
    (100, "#f7fbff", "< 100 户"), (200, "#c6dbef", "100–199 户"), (300, "#6baed6", "200–299 户"),
    (400, "#2171b5", "300–399 户"), (math.inf, "#08306b", "≥ 400 户"))
"""Households per grid: (upper bound exclusive, colour, label)."""

DEVIATION_BINS: tuple[tuple[float, str, str], ...] = (
    (-0.33, "#2166ac", "低于目标 > 33%"), (-0.10, "#92c5de", "低于目标 10–33%"),
    (0.10, "#f7f7f7", "目标 ±10%"), (0.33, "#f4a582", "高于目标 10–33%"),
    (math.inf, "#b2182b", "高于目标 > 33%"))
"""Deviation (households − target) / target: (upper bound exclusive, colour, label)."""

LEVEL_STYLE = {
    "district": {"color": "#000000", "weight": 4, "name": "区/县"},
    "street": {"color": "#4d4d4d", "weight": 3, "name": "街道/乡镇"},
    "community": {"color": "#7f3b08", "weight": 2, "name": "社区/村"},
}
PROBLEM_COLOR = "#e31a1c"
DEDICATED_COLOR = "#6a3d9a"
MICRO_COLOR = "#35978f"
HOUSEHOLD_LAYER = "网格（户数）"
DEVIATION_LAYER = "户数偏差（相对目标）"
MAX_MICRO_FEATURES = 2500
"""Above this many micro-grids the layer is left out of a page (size budget), see notes."""


@dataclass
class PlannerData:
    """What the planner view draws. All geometries lon/lat EPSG:4326.

    Attributes
    ----------
    title : page title (Chinese).
    areas : admin areas (code, name, level, households).
    grids : grids and micro-grids (code, name, kind, level, households).
    deviation : grid code → (households − target) / target, from planning validation.
    target : households per grid aimed at (e.g. 300).
    problems_url : address of the validation problems as a GeoJSON FeatureCollection
        (``/planning/validate?area=…&format=geojson``: properties kind, sliver, area_m2,
        message), fetched by the page once it is shown; None = no problem layer.
    focus : (minlon, minlat, maxlon, maxlat) the map fits (the requested area); None = all.
    buildings : building footprints (code, households) to draw, or None (over the budget).
    tiles_area : when set, every grid (households, deviation), dedicated grid and micro-grid
        comes from the vector tiles of this area (``/tiles``) and ``grids`` is empty.
    """

    title: str
    areas: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    deviation: Mapping[str, float] = field(default_factory=dict)
    target: int = 300
    problems_url: str | None = None
    focus: tuple[float, float, float, float] | None = None
    buildings: gpd.GeoDataFrame | None = None
    tiles_area: str | None = None


def planner_data(name: str, areas: gpd.GeoDataFrame, grids: gpd.GeoDataFrame | None,
                 report: ValidationReport | None, target: int,
                 focus: tuple[float, float, float, float] | None = None,
                 buildings: gpd.GeoDataFrame | None = None,
                 tiles_area: str | None = None,
                 problems_url: str | None = None) -> PlannerData:
    """The planner view of area ``name``: its areas and grids (lon/lat), each grid's
    households and deviation as planning validation counts them (``report``, from
    :mod:`geo.grid_counts`, as everywhere; None when the grids come from tiles, which carry
    the same counts); the map fits ``focus``, draws ``buildings`` when given and loads the
    problems from ``problems_url`` once shown; ``tiles_area``: see :class:`PlannerData`."""
    if grids is None:  # every grid comes from the tiles
        grids = gpd.GeoDataFrame({c: [] for c in ("code", "name", "kind", "level", "households")},
                                 geometry=[], crs=4326)
    metrics = report.grids if report is not None else []
    counted = {g.code: g.households for g in metrics}
    grids = grids.assign(households=grids["code"].map(counted).fillna(grids["households"])
                         .astype(int))
    deviation = {g.code: g.deviation for g in metrics if g.level == "grid"}
    return PlannerData(f"{name} 网格规划", areas, grids, deviation, target,
                       problems_url=problems_url, focus=focus, buildings=buildings,
                       tiles_area=tiles_area)


def bin_color(value: float | None, bins: Sequence[tuple[float, str, str]]) -> str:
    """Colour of the first bin whose upper bound exceeds ``value`` (grey for None/NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "#bdbdbd"
    for upper, color, _ in bins:
        if value < upper:
            return color
    return bins[-1][1]


def zoom_for_bounds(bounds: Sequence[float], width_px: int = 1200, height_px: int = 800) -> int:
    """Web-map zoom level (10-18) at which lon/lat ``bounds`` fit a ``width × height`` view."""
    minx, miny, maxx, maxy = bounds
    lat = math.radians((miny + maxy) / 2)
    width_m = max((maxx - minx) * 111_320 * math.cos(lat), 1.0)
    height_m = max((maxy - miny) * 110_574, 1.0)
    mpp = max(width_m / width_px, height_m / height_px)
    zoom = math.floor(math.log2(156_543.03 * math.cos(lat) / mpp))
    return max(10, min(18, zoom))


def metres_per_pixel(zoom: int, lat: float) -> float:
    """Ground resolution (m/pixel) of a Web-Mercator map at ``zoom`` and latitude ``lat``°."""
    return 156_543.03 * math.cos(math.radians(lat)) / 2**zoom


def simplify_coverage(gdf: gpd.GeoDataFrame, zoom: int, metric_crs: int = 4547
                      ) -> gpd.GeoDataFrame:
    """Simplify polygons that tile an area together, keeping shared edges shared.

    Parameters
    ----------
    gdf : polygons in EPSG:4326 forming a coverage (no overlaps).
    zoom : display zoom; tolerance = one pixel in metres at that zoom.
    metric_crs : projected CRS (metres) to simplify in.

    Returns
    -------
    GeoDataFrame in EPSG:4326, same rows. An invalid coverage (overlaps: the very thing a
    planner must see) is simplified polygon by polygon with half the tolerance instead.
    """
    if gdf.empty:
        return gdf
    miny, maxy = gdf.total_bounds[1], gdf.total_bounds[3]
    lat = float(miny + maxy) / 2
    tolerance = metres_per_pixel(zoom, lat)
    projected = gdf.geometry.to_crs(metric_crs)
    geoms = projected.values
    if bool(shapely.coverage_is_valid(geoms)):
        simple = shapely.coverage_simplify(geoms, tolerance, simplify_boundary=True)
    else:
        simple = shapely.simplify(geoms, tolerance / 2, preserve_topology=True)
    out = gdf.copy()
    out["geometry"] = gpd.GeoSeries(simple, index=gdf.index, crs=metric_crs).to_crs(4326)
    return out.set_geometry("geometry")


def decimals_for(zoom: int, lat: float = 40.0) -> int:
    """Coordinate decimals worth keeping at ``zoom``: about a tenth of a pixel
    (4 decimals ≈ 10 m, 5 ≈ 1 m, 6 ≈ 0.1 m)."""
    tolerance = metres_per_pixel(zoom, lat)
    return 4 if tolerance >= 25 else 5 if tolerance >= 2.5 else 6


def planner_map(data: PlannerData, basemap: Basemap, zoom: int | None = None,
                metric_crs: int = 4547) -> folium.Map:
    """The planner view: one layer per level, household and deviation choropleths, labels,
    problems in red; layer control, legend, scale, fullscreen and measure on the map.

    The deviation layer is built in the browser from the household layer's features (same
    geometries, other colours), so the page carries each grid polygon once.
    """
    frame = data.areas if not data.areas.empty else data.grids
    bounds = data.focus or (frame.total_bounds if not frame.empty
                            else (112.0, 36.0, 113.0, 37.0))
    zoom = zoom or zoom_for_bounds(bounds)
    digits = decimals_for(zoom, float(bounds[1] + bounds[3]) / 2)
    fmap = base_map(bounds, basemap, title=data.title, canvas=True)
    for level in ("district", "street", "community"):
        _add_area_layer(fmap, data.areas, level, zoom, metric_crs, digits)
    grids = data.grids
    households = None
    if data.tiles_area is not None:
        _add_grid_tiles(fmap, data.tiles_area, bounds)
    else:
        ordinary = grids[(grids["level"] == "grid") & (grids["kind"] != "dedicated")]
        ordinary = simplify_coverage(ordinary, zoom, metric_crs)
        households = _add_household_layer(fmap, ordinary, data.deviation, digits)
        _add_outline_layer(fmap, grids[grids["level"] == "micro"], "微网格", MICRO_COLOR,
                           zoom, metric_crs, digits, dashed=True)
        _add_outline_layer(fmap, grids[(grids["level"] == "grid")
                                       & (grids["kind"] == "dedicated")],
                           "专属网格", DEDICATED_COLOR, zoom, metric_crs, digits)
    _add_buildings(fmap, data.buildings, digits)
    control = folium.LayerControl(collapsed=False)
    control.add_to(fmap)
    if data.problems_url is not None:
        _add_problem_loader(fmap, control, data.problems_url)
    if households is not None:
        _add_deviation_overlay(fmap, households, control)
    if data.tiles_area is None:
        _add_labels(fmap)
    add_legend(fmap, f"网格户数（目标 {data.target} 户）", [
        *(LegendEntry(c, label) for _, c, label in HOUSEHOLD_BINS),
        LegendEntry(PROBLEM_COLOR, "校验问题（缺口/重叠/碎片）"),
        LegendEntry(DEDICATED_COLOR, "专属网格", line=True),
        LegendEntry(MICRO_COLOR, "微网格", line=True)])
    return fmap


GRID_TILE_FIELDS = (("code", "网格编码"), ("name", "网格名称"), ("households", "户数"),
                    ("deviation_pct", "偏差 %"))


def _add_grid_tiles(fmap: folium.Map, area: str, bounds: Sequence[float]) -> None:
    """Households, deviation (off at first), dedicated grids and micro-grids (off) from the
    area's tiles (only those touching lon/lat ``bounds``)."""
    VectorTiles("grids", tile_url("grids", area), HOUSEHOLD_LAYER,
                binned_fill_style("households", HOUSEHOLD_BINS, opacity=0.6),
                GRID_TILE_FIELDS, bounds=bounds).add_to(fmap)
    VectorTiles("grids", tile_url("grids", area), DEVIATION_LAYER,
                binned_fill_style("deviation", DEVIATION_BINS, opacity=0.7),
                GRID_TILE_FIELDS, show=False, bounds=bounds).add_to(fmap)
    VectorTiles("dedicated_grids", tile_url("dedicated_grids", area), "专属网格",
                keyed_line_style("kind", {}, DEDICATED_COLOR, fill_opacity=0),
                [("code", "编码"), ("name", "名称"), ("households", "户数")],
                bounds=bounds).add_to(fmap)
    VectorTiles("micro_grids", tile_url("micro_grids", area), "微网格",
                keyed_line_style("level", {}, MICRO_COLOR, fill_opacity=0, dashed=True),
                [("code", "编码"), ("name", "名称"), ("households", "户数")],
                show=False, bounds=bounds).add_to(fmap)


def _add_buildings(fmap: folium.Map, buildings: gpd.GeoDataFrame | None, digits: int) -> None:
    """Building footprints (grey, tooltip code and households), when given."""
    if buildings is None or buildings.empty:
        return
    folium.GeoJson(
        rounded_geojson(buildings, ["code", "households"], decimals=digits),
        name="楼栋",
        style_function=lambda _f: {"color": "#636363", "weight": 0.5, "fillColor": "#969696",
                                   "fillOpacity": 0.5},
        tooltip=folium.GeoJsonTooltip(["code", "households"], aliases=["楼栋", "户数"]),
        marker=folium.CircleMarker(radius=3),  # a building stored as a point
    ).add_to(fmap)


def _add_area_layer(fmap: folium.Map, areas: gpd.GeoDataFrame, level: str, zoom: int,
                    metric_crs: int, digits: int) -> None:
    rows = areas[areas["level"] == level]
    if rows.empty:
        return
    style = LEVEL_STYLE[level]
    rows = simplify_coverage(rows, zoom, metric_crs)
    folium.GeoJson(
        rounded_geojson(rows, ["code", "name", "level"], decimals=digits),
        name=str(style["name"]),
        style_function=lambda _f, s=style: {"color": s["color"], "weight": s["weight"],
                                            "fill": False},
        tooltip=folium.GeoJsonTooltip(["name", "code"], aliases=["名称", "代码"]),
    ).add_to(fmap)


def _add_household_layer(fmap: folium.Map, grids: gpd.GeoDataFrame,
                         deviation: Mapping[str, float], digits: int) -> folium.GeoJson | None:
    if grids.empty:
        return None
    dev = [deviation.get(str(c)) for c in grids["code"]]
    grids = grids.assign(
        fill=[bin_color(float(h), HOUSEHOLD_BINS) for h in grids["households"]],
        deviation_pct=[None if d is None else round(100 * d, 1) for d in dev],
        dev_fill=[bin_color(d, DEVIATION_BINS) for d in dev])
    layer = folium.GeoJson(
        rounded_geojson(grids, ["code", "name", "households", "deviation_pct", "fill",
                                "dev_fill"], decimals=digits),
        name=HOUSEHOLD_LAYER,
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "fillOpacity": 0.6,
                                  "color": "#525252", "weight": 1},
        tooltip=folium.GeoJsonTooltip(["code", "name", "households", "deviation_pct"],
                                      aliases=["网格编码", "网格名称", "户数", "偏差 %"]),
    )
    layer.add_to(fmap)
    return layer


def _add_deviation_overlay(fmap: folium.Map, households: folium.GeoJson,
                           control: folium.LayerControl) -> None:
    """Add the deviation choropleth (hidden at first) built from the household features."""
    script(fmap, f"""
    (function() {{
      var source = {households.get_name()};
      var dev = L.geoJson(source.toGeoJSON(), {{
        style: function(f) {{ return {{fillColor: f.properties.dev_fill, fillOpacity: 0.7,
                                      color: '#525252', weight: 1}}; }},
        onEachFeature: function(f, layer) {{
          var p = f.properties;
          layer.bindTooltip(p.code + ' ' + p.name + '<br>户数 ' + p.households
                            + '，偏差 ' + (p.deviation_pct === null ? '—' : p.deviation_pct + '%'));
        }}
      }});
      {control.get_name()}.addOverlay(dev, {json_literal(DEVIATION_LAYER)});
    }})();""")


def _add_outline_layer(fmap: folium.Map, rows: gpd.GeoDataFrame, name: str, color: str,
                       zoom: int, metric_crs: int, digits: int, dashed: bool = False) -> None:
    if rows.empty or len(rows) > MAX_MICRO_FEATURES:
        return
    rows = simplify_coverage(rows, zoom, metric_crs)
    folium.GeoJson(
        rounded_geojson(rows, ["code", "name", "households"], decimals=digits), name=name,
        show=not dashed,
        style_function=lambda _f: {"color": color, "weight": 1.5, "fill": False,
                                   "dashArray": "4 4" if dashed else None},
        tooltip=folium.GeoJsonTooltip(["code", "name", "households"],
                                      aliases=["编码", "名称", "户数"]),
    ).add_to(fmap)


PROBLEM_LAYER = "校验问题"
PROBLEM_NAMES = {"gap": "缺口", "overlap": "重叠", "sliver": "碎片", "outside_parent": "越界",
                 "invalid": "无效几何"}
"""Chinese names of the problem kinds drawn on the map (a sliver or hairline: 碎片)."""


def _add_problem_loader(fmap: folium.Map, control: folium.LayerControl, url: str) -> None:
    """The validation problems layer (red, tooltip: kind with its area in m², message),
    listed at once and filled from ``url`` (a GeoJSON FeatureCollection, same origin: the
    page's key or session cookie) after the page is shown, so the map never waits for the
    validation. A status line in the corner says loading, the number drawn, or the failure;
    it gets the class ``gl-problems-done`` when finished and ``window.glProblems`` the count.
    """
    script(fmap, f"""
    (function() {{
      var map = {fmap.get_name()}, names = {json_literal(PROBLEM_NAMES)};
      function esc(v) {{ return String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;'); }}
      var layer = L.geoJson(null, {{
        style: function() {{ return {{color: {json_literal(PROBLEM_COLOR)},
          fillColor: {json_literal(PROBLEM_COLOR)}, fillOpacity: 0.7, weight: 2}}; }},
        onEachFeature: function(f, l) {{
          var p = f.properties || {{}}, kind = p.sliver ? 'sliver' : p.kind;
          var label = (names[kind] || kind) + (p.area_m2 === null || p.area_m2 === undefined
            ? '' : ' ' + Math.round(p.area_m2).toLocaleString('en-US') + ' m²');
          l.bindTooltip('<b>' + esc(label) + '</b><br>' + esc(p.message || ''));
        }}
      }}).addTo(map);
      {control.get_name()}.addOverlay(layer, {json_literal(PROBLEM_LAYER)});
      var box = L.control({{position: 'bottomleft'}});
      box.onAdd = function() {{
        var d = L.DomUtil.create('div', 'gl-problems');
        d.style.cssText = 'background:#fff;padding:2px 6px;font-size:12px;border:1px solid #999';
        d.textContent = '校验问题：加载中…'; return d; }};
      box.addTo(map);
      function done(text) {{
        box.getContainer().textContent = text;
        box.getContainer().classList.add('gl-problems-done');
      }}
      fetch({json_literal(url)}, {{credentials: 'same-origin',
                                   headers: {{Accept: 'application/geo+json'}}}})
        .then(function(r) {{ return r.ok ? r.json() : Promise.reject(r.status); }})
        .then(function(fc) {{
          layer.addData(fc); window.glProblems = fc.features.length;
          var n = fc.features.length;
          done(n ? '校验问题 ' + n + ' 处' : '校验通过：无缺口/重叠');
        }})
        .catch(function(e) {{ window.glProblems = -1; done('校验问题加载失败 (' + e + ')'); }});
    }})();""")


def _add_labels(fmap: folium.Map) -> None:
    """Labels on the household layer from zoom 15 — households (bold) over the grid code —
    only for grids in view (made on the fly after each move, so a district page does not
    build 1,000+ hidden labels). 12 px on an almost opaque white box: readable over
    building footprints at the community zoom."""
    script(fmap, f"""
    (function() {{
      var map = {fmap.get_name()}, labelled = [];
      function relabel() {{
        labelled.forEach(function(layer) {{ layer.unbindTooltip(); }});
        labelled = [];
        if (map.getZoom() < 15) return;
        var view = map.getBounds();
        map.eachLayer(function(layer) {{
          if (!layer.feature || !layer.feature.properties || !layer.feature.properties.fill
              || !layer.getBounds || !view.intersects(layer.getBounds())) return;
          var p = layer.feature.properties, households = Number(p.households);
          layer.bindTooltip((isNaN(households) ? '' : '<b>' + households + ' 户</b><br>')
            + p.code, {{permanent: true, direction: 'center', className: 'gl-label',
                        opacity: 0.9}});
          labelled.push(layer);
        }});
      }}
      map.on('moveend', relabel); relabel();
    }})();""")
    page_header(fmap).add_child(folium.Element(
        "<style>.gl-label {font-size: 12px; line-height: 1.3; text-align: center;"
        " padding: 1px 4px; color: #111; background: rgba(255,255,255,.92);"
        " border: 1px solid #888; box-shadow: none;} .gl-label b {font-size: 14px;}</style>"),
        name="gridlink_labels")
