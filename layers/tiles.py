"""Vector-tile layers on Folium maps: gridlink's own ``/tiles`` drawn by Leaflet.VectorGrid.

A page that would otherwise carry more than :data:`TILE_FEATURE_BUDGET` features as GeoJSON
(the whole-district coverage and planner pages) draws those layers from Mapbox Vector Tiles
instead: the page stays small and the browser fetches only the tiles in view, each answered
from its ETag when nothing changed. Tiles come from the same origin, so the map page's
session cookie (or the ``X-API-Key`` a proxy adds) authorises them. Features are drawn on
canvas tiles; clicking one opens a popup of its fields (Chinese labels).

The script is the npm package ``leaflet.vectorgrid`` (bundled build), served from ``/static``
like every other asset (:data:`layers.assets.CDN_TO_STATIC`).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from folium.elements import JSCSSMixin
from folium.map import Layer
from jinja2 import Template

from layers.base import json_literal

VECTORGRID_JS = ("https://unpkg.com/leaflet.vectorgrid@1.3.0/dist/"
                 "Leaflet.VectorGrid.bundled.min.js")
TILE_FEATURE_BUDGET = 2000
"""Above this many features a page draws its big layers from vector tiles."""
TILE_MAX_NATIVE_ZOOM = 18
"""Deepest zoom whose tiles are fetched; deeper zooms scale those tiles."""


def tiles_wanted(feature_count: int, forced: bool | None = None) -> bool:
    """Whether a page of ``feature_count`` features draws them from tiles: ``forced`` when
    given (``?tiles=true|false`` on the page), else above :data:`TILE_FEATURE_BUDGET`."""
    return forced if forced is not None else feature_count > TILE_FEATURE_BUDGET


def tile_url(layer: str, area: str | None = None) -> str:
    """Root-relative URL template of ``layer``'s tiles as ``api/routers/tiles.py`` serves them
    (``{z}/{y}/{x}`` placeholders, filled by name by Leaflet and QGIS; the router's TileJSON
    uses this too), limited to ``area`` (admin area or grid code) when given."""
    query = f"?{urlencode({'area': area})}" if area else ""
    return f"/tiles/{layer}/WebMercatorQuad/{{z}}/{{y}}/{{x}}{query}"


def binned_fill_style(field: str, bins: Sequence[tuple[float, str, str]], *,
                      opacity: float = 0.55, outline: str = "#525252",
                      empty_outline: str | None = None) -> str:
    """JS style function of polygons filled by the bin of property ``field`` (bins: upper
    bound exclusive, colour, label; grey when missing); ``empty_outline`` draws a thick
    outline of that colour where the value is 0."""
    uppers = [None if upper == float("inf") else upper for upper, _, _ in bins]
    colors = [color for _, color, _ in bins]
    thick = json_literal(empty_outline)
    return f"""function(p) {{
      var v = p[{json_literal(field)}], ups = {json_literal(uppers)},
          cs = {json_literal(colors)}, c = '#bdbdbd';
      if (v !== undefined && v !== null) {{
        c = cs[cs.length - 1];
        for (var i = 0; i < ups.length; i++) {{
          if (ups[i] === null || v < ups[i]) {{ c = cs[i]; break; }}
        }}
      }}
      var none = {thick} !== null && v === 0;
      return {{fill: true, fillColor: c, fillOpacity: {opacity},
               color: none ? {thick} : {json_literal(outline)}, weight: none ? 3 : 1}};
    }}"""


def keyed_line_style(field: str, colors: dict[str, str], default: str, *,
                     fill_opacity: float = 0.45, dashed: bool = False) -> str:
    """JS style function colouring by the value of property ``field`` (``colors``: value →
    colour, else ``default``); filled at ``fill_opacity`` (0: outline only)."""
    dash = "'4 4'" if dashed else "null"
    return f"""function(p) {{
      var c = {json_literal(colors)}[p[{json_literal(field)}]] || {json_literal(default)};
      return {{fill: {str(fill_opacity > 0).lower()}, fillColor: c, fillOpacity: {fill_opacity},
               color: c, weight: 1.5, dashArray: {dash}}};
    }}"""


class VectorTiles(JSCSSMixin, Layer):
    """One layer of gridlink's vector tiles on a Folium map (a layer-control entry).

    Parameters
    ----------
    layer : tile layer name (``grids``, ``micro_grids``, ``cameras``, ``coverage``, ``events``).
    url : tile URL template (:func:`tile_url`).
    name : layer-control entry (Chinese).
    style : JS function ``(properties, zoom) → Leaflet path options`` (e.g.
        :func:`binned_fill_style`).
    fields : (property, Chinese label) pairs shown in the click popup; a property whose
        value is a share (0-1) is shown as it comes.
    show : drawn at first (else only listed in the layer control). The layer is added once
        the page's first zoom animation (``fitBounds``) has ended, so no tile is fetched for
        the zoom the map starts at.
    bounds : (minlon, minlat, maxlon, maxlat) of the features (the page's area): only tiles
        touching it are fetched; None = every tile in view.
    """

    default_js = [("leaflet.vectorgrid", VECTORGRID_JS)]

    _template = Template("""
        {% macro script(this, kwargs) %}
        if (!L.DomEvent.fakeStop) {  // Leaflet 1.8+ removed it; VectorGrid 1.3 calls it
            L.DomEvent.fakeStop = function (e) { e._stopped = true; };
        }
        var {{ this.get_name() }} = L.vectorGrid.protobuf({{ this.url|tojson }}, {
            rendererFactory: L.canvas.tile, interactive: true,
            maxNativeZoom: {{ this.max_native_zoom }}, maxZoom: 19,
            {% if this.bounds %}bounds: L.latLngBounds({{ this.bounds|tojson }}),{% endif %}
            getFeatureId: function (f) { return f.properties.code || f.properties.id; },
            vectorTileLayerStyles: { {{ this.layer|tojson }}: {{ this.style }} }
        });
        {{ this.get_name() }}.on('click', function (e) {
            var p = e.layer.properties || {}, rows = '';
            {{ this.fields|tojson }}.forEach(function (f) {
                if (p[f[0]] === undefined || p[f[0]] === null) { return; }
                var v = String(p[f[0]]).replace(/&/g, '&amp;').replace(/</g, '&lt;');
                rows += '<tr><th style="padding-right:8px">' + f[1] + '</th><td>' + v
                    + '</td></tr>';
            });
            L.popup().setLatLng(e.latlng).setContent('<table style="font-size:12px">' + rows
                + '</table>').openOn({{ this._parent.get_name() }});
        });
        {{ this.get_name() }}.on('load', function () {  // distinct features drawn, for tests
            var ids = {};
            Object.values({{ this.get_name() }}._vectorTiles || {}).forEach(function (t) {
                Object.keys(t._features || {}).forEach(function (id) { ids[id] = true; }); });
            window.glTileFeatures = window.glTileFeatures || {};
            window.glTileFeatures[{{ this.layer|tojson }}] = Object.keys(ids).length;
        });
        {% if this.drawn_at_start %}
        (function (m, layer) {  // after the page's fitBounds zoom, not at the first zoom
            function add() { layer.addTo(m); }
            L.Util.requestAnimFrame(function () {
                if (m._animatingZoom) { m.once('zoomend', add); } else { add(); }
            });
        })({{ this._parent.get_name() }}, {{ this.get_name() }});
        {% endif %}
        {% endmacro %}
    """)

    def __init__(self, layer: str, url: str, name: str, style: str,
                 fields: Sequence[tuple[str, str]], show: bool = True,
                 bounds: Sequence[float] | None = None) -> None:
        super().__init__(name=name, overlay=True, control=True, show=False)
        self.drawn_at_start = show  # added by the script once the map has its zoom
        self._name = "VectorTiles"
        self.layer = layer
        self.url = url
        self.style = style
        self.fields = [list(f) for f in fields]
        self.max_native_zoom = TILE_MAX_NATIVE_ZOOM
        self.bounds = None if bounds is None else [
            [float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]]
