"""The common scaffold of every gridlink map: base tiles, legend, scale bar, fullscreen, measure.

Data enter as lon/lat (EPSG:4326); Folium wants lat/lon, and that swap happens only here in
``layers/``. Base tiles come from :class:`Basemap`: none (a plain background, the offline
default), Tianditu (天地图, CGCS2000/WGS 84, no offset) with a key, or any internal XYZ URL.
GCJ-02 tiles (Amap, Tencent) are refused because gridlink's WGS 84 data would sit 300-700 m off.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element, Figure, MacroElement
from folium.plugins import Fullscreen, MeasureControl
from jinja2 import Template

MAX_ZOOM = 19
"""Deepest zoom of every map (also what marker clusters need without a tile layer)."""

PLAIN_BACKGROUND = "#eef0f2"
"""Map background colour when no tiles are configured."""

GCJ02_TILE_HOSTS = ("autonavi.com", "amap.com", "gtimg.com", "map.qq.com", "map.baidu.com",
                    "bdimg.com", "google.cn")
"""Hosts of offset (GCJ-02/BD-09) tiles: WGS 84 overlays would be misplaced on them."""

TIANDITU_URL = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}")


@dataclass(frozen=True)
class Basemap:
    """Which base tiles a map shows.

    Attributes
    ----------
    tile_url : str or None
        Internal XYZ URL (``{z}/{x}/{y}``); wins over ``tianditu_key``.
    attribution : str
        Attribution shown for ``tile_url``.
    tianditu_key : str or None
        Tianditu (天地图) token: vector map + Chinese annotation layers.
    """

    tile_url: str | None = None
    attribution: str = ""
    tianditu_key: str | None = None

    def __post_init__(self) -> None:
        url = (self.tile_url or "").lower()
        if any(host in url for host in GCJ02_TILE_HOSTS):
            raise ValueError(f"tile URL {self.tile_url!r} serves GCJ-02/BD-09 offset tiles; "
                             "gridlink data are WGS 84: use Tianditu or an internal WGS 84 URL")

    @property
    def offline(self) -> bool:
        return not self.tile_url and not self.tianditu_key


@dataclass(frozen=True)
class LegendEntry:
    """One legend line: a colour swatch (or a line when ``line``) and its label."""

    color: str
    label: str
    line: bool = False


def base_map(bounds: Sequence[float], basemap: Basemap, *, title: str,
             canvas: bool = False) -> folium.Map:
    """An empty map fitted to ``bounds`` with the common controls.

    Parameters
    ----------
    bounds : (minx, miny, maxx, maxy)
        lon/lat degrees, EPSG:4326. A point bound (min == max) gets a ~300 m frame.
    basemap : Basemap
        Base tiles; offline by default (plain background, no tile request at all).
    title : str
        Page title (Chinese), shown in the browser tab and the top-left title box.
    canvas : bool
        Draw vector layers on one canvas instead of one SVG element each: several times
        faster for thousands of polygons (district views); popups and tooltips still work.

    Returns
    -------
    folium.Map
        With scale bar (metric), fullscreen, measure control (metres, m²) and fitted bounds.
    """
    minx, miny, maxx, maxy = _padded(bounds)
    fmap = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=14,
                      tiles=None, control_scale=True, prefer_canvas=canvas, maxZoom=MAX_ZOOM)
    page_header(fmap).add_child(Element(
        f"<title>{html.escape(title)}</title><style>.folium-map {{background: {PLAIN_BACKGROUND};"
        "} .gl-title {background: white; padding: 4px 10px; border-radius: 4px; "
        "font-size: 15px; font-weight: bold; box-shadow: 0 1px 4px rgba(0,0,0,.3);}</style>"
    ), name="gridlink_head")
    _add_tiles(fmap, basemap)
    Fullscreen(title="全屏", title_cancel="退出全屏").add_to(fmap)
    MeasureControl(primary_length_unit="meters", secondary_length_unit="kilometers",
                   primary_area_unit="sqmeters", secondary_area_unit="hectares").add_to(fmap)
    _TitleBox(title).add_to(fmap)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


def page_header(fmap: folium.Map) -> Element:
    """The ``<head>`` of the page holding ``fmap`` (for titles and small style blocks)."""
    root = fmap.get_root()
    assert isinstance(root, Figure)
    return root.header


def _padded(bounds: Sequence[float]) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    pad = 0.003  # ~300 m: frame around a single point
    if maxx - minx < 1e-6:
        minx, maxx = minx - pad, maxx + pad
    if maxy - miny < 1e-6:
        miny, maxy = miny - pad, maxy + pad
    return minx, miny, maxx, maxy


def _add_tiles(fmap: folium.Map, basemap: Basemap) -> None:
    if basemap.tile_url:
        folium.TileLayer(basemap.tile_url, attr=basemap.attribution or "内部底图",
                         name="底图", max_zoom=20).add_to(fmap)
    elif basemap.tianditu_key:
        for layer, name in (("vec", "天地图矢量"), ("cva", "天地图注记")):
            folium.TileLayer(TIANDITU_URL.format(layer=layer, key=basemap.tianditu_key, s="{s}"),
                             attr="© 天地图 Tianditu", name=name, subdomains="01234567",
                             max_zoom=18, overlay=layer == "cva").add_to(fmap)


class _TitleBox(MacroElement):
    """A Leaflet control in the top-left corner with the page title."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function() {
            var box = L.control({position: 'topleft'});
            box.onAdd = function() {
                var div = L.DomUtil.create('div', 'gl-title');
                div.innerHTML = {{ this.title|tojson }};
                return div;
            };
            box.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
    """)

    def __init__(self, title: str) -> None:
        super().__init__()
        self._name = "TitleBox"
        self.title = title


class Legend(MacroElement):
    """A legend control (bottom right): a title and coloured swatches with labels."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function() {
            var legend = L.control({position: 'bottomright'});
            legend.onAdd = function() {
                var div = L.DomUtil.create('div', 'gl-legend');
                div.style.cssText = 'background:white;padding:6px 10px;border-radius:4px;'
                    + 'font-size:12px;line-height:18px;box-shadow:0 1px 4px rgba(0,0,0,.3)';
                div.innerHTML = {{ this.html|tojson }};
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
    """)

    def __init__(self, title: str, entries: Sequence[LegendEntry]) -> None:
        super().__init__()
        self._name = "Legend"
        self.title = title
        self.entries = list(entries)
        rows = [f"<b>{html.escape(title)}</b>"]
        for entry in entries:
            shape = ("height:3px;margin-bottom:4px" if entry.line else "height:12px")
            rows.append(f'<div><span style="display:inline-block;width:16px;{shape};'
                        f'background:{entry.color};margin-right:6px;opacity:.8"></span>'
                        f"{html.escape(entry.label)}</div>")
        self.html = "".join(rows)


def add_legend(fmap: folium.Map, title: str, entries: Sequence[LegendEntry]) -> Legend:
    """Add a :class:`Legend` to ``fmap`` and return it."""
    legend = Legend(title, entries)
    legend.add_to(fmap)
    return legend


class Panel(MacroElement):
    """A Leaflet control holding trusted HTML (the caller escapes values), with a CSS class
    ``css_class`` (tests and styles find it by that class)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function() {
            var panel = L.control({position: {{ this.position|tojson }}});
            panel.onAdd = function() {
                var div = L.DomUtil.create('div', {{ this.css_class|tojson }});
                div.style.cssText = 'background:white;padding:6px 10px;border-radius:4px;'
                    + 'font-size:12px;line-height:18px;max-width:360px;'
                    + 'box-shadow:0 1px 4px rgba(0,0,0,.3)';
                div.innerHTML = {{ this.html|tojson }};
                return div;
            };
            panel.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
    """)

    def __init__(self, css_class: str, html_text: str, position: str) -> None:
        super().__init__()
        self._name = "Panel"
        self.css_class, self.html, self.position = css_class, html_text, position


def add_panel(fmap: folium.Map, css_class: str, html_text: str,
              position: str = "topright") -> Panel:
    """Add a :class:`Panel` (Leaflet corner ``position``) to ``fmap`` and return it."""
    panel = Panel(css_class, html_text, position)
    panel.add_to(fmap)
    return panel


def rounded_geojson(gdf: gpd.GeoDataFrame, columns: Sequence[str], decimals: int = 6
                    ) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of ``gdf`` (EPSG:4326) with rounded coordinates.

    Rounding every vertex the same way keeps shared edges shared (same input, same output).
    6 decimals ≈ 0.1 m, 5 ≈ 1 m. Only ``columns`` go into the properties (JSON-safe values).
    """
    geoms = shapely.transform(np.asarray(gdf.geometry.values),
                              lambda xy: np.round(xy, decimals))
    features = []
    for geom, (_, row) in zip(geoms, gdf[list(columns)].iterrows(), strict=True):
        props = {col: _json_value(row[col]) for col in columns}
        features.append({"type": "Feature", "properties": props,
                         "geometry": shapely.geometry.mapping(geom)})
    return {"type": "FeatureCollection", "features": features}


def _json_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return round(float(value), 6)
    if isinstance(value, float):
        return round(value, 6)
    return value if isinstance(value, (int, str, bool)) else str(value)


def popup_table(rows: Sequence[tuple[str, Any]]) -> str:
    """Popup HTML: a two-column table of Chinese labels and escaped values."""
    cells = "".join(f"<tr><th style='padding-right:8px'>{html.escape(k)}</th>"
                    f"<td>{html.escape(str(v))}</td></tr>" for k, v in rows if v is not None)
    return f"<table style='font-size:12px'>{cells}</table>"


class _Script(MacroElement):
    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this.js }}
        {% endmacro %}
    """)

    def __init__(self, js: str) -> None:
        super().__init__()
        self._name = "GridlinkScript"
        self.js = js


def script(fmap: folium.Map, js: str) -> None:
    """Append raw JavaScript to the map, run after every layer added to it before this call."""
    _Script(js).add_to(fmap)


def json_literal(value: Any) -> str:
    """``value`` as a JavaScript literal safe inside a ``<script>`` block."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")
