"""Offline assets: every script and stylesheet a map page needs, served by gridlink.

Folium and its plugins point at public CDNs. Command centres run on closed networks, so
:func:`page_html` renders a map and rewrites every CDN address through :data:`CDN_TO_STATIC`
to a path under ``/static`` (served by ``api/routers/maps.py``):

- ``/static/npm/...``     the repo's ``node_modules`` (``package.json``; ``npm ci`` at setup),
- ``/static/folium/...``  scripts shipped inside the folium wheel (``folium/templates``),
- ``/static/gridlink/...`` gridlink's own small scripts and styles (``layers/static``).

A CDN address missing from the mapping makes rendering fail loudly (:class:`OfflineAssetMissing`)
instead of producing a page that silently reaches the Internet.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

import folium
import jinja2
from branca.element import Element

STATIC_PREFIX = "/static"
LAYERS_STATIC_DIR = Path(__file__).resolve().parent / "static"
FOLIUM_TEMPLATES_DIR = Path(folium.__file__).resolve().parent / "templates"
LAYERS_TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

_PAGES = jinja2.Environment(loader=jinja2.FileSystemLoader(LAYERS_TEMPLATES_DIR),
                            autoescape=True, undefined=jinja2.StrictUndefined)
"""gridlink's HTML pages that are not maps (Jinja2 templates in ``layers/templates``)."""


BUILD_DIR = LAYERS_STATIC_DIR / "build"
"""Bundles built from node_modules at install time (scripts/build_assets.mjs), served with
their brotli/gzip copies and a year's cache under ``/static/build`` (api/precompressed.py)."""


def built_asset(name: str) -> str:
    """The URL of bundle ``name`` of :data:`BUILD_DIR`, versioned by its content
    (``?v=`` + 12 hex digits of its SHA-256), so a rebuilt bundle gets a new URL.

    Raises :class:`OfflineAssetMissing` when it was not built (run ``npm run build``)."""
    path = BUILD_DIR / name
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise OfflineAssetMissing(f"{path} is not built: run `npm run build` (scripts/"
                                  "bootstrap.sh does after installing the npm packages)") from None
    return f"{STATIC_PREFIX}/build/{name}?v={_digest(path, stat.st_mtime_ns, stat.st_size)}"


@functools.lru_cache(maxsize=16)
def _digest(path: Path, mtime_ns: int, size: int) -> str:
    """12 hex digits of the SHA-256 of ``path`` (cached per modification time and size)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def render_page(template: str, **context: object) -> str:
    """The template ``template`` of ``layers/templates`` filled with ``context`` (every value
    HTML-escaped; ``static`` is the prefix of the locally served assets)."""
    return _PAGES.get_template(template).render(static=STATIC_PREFIX, **context)

_NPM = f"{STATIC_PREFIX}/npm"
CDN_TO_STATIC: dict[str, str] = {
    # folium.Map
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": f"{_NPM}/leaflet/dist/leaflet.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css":
        f"{_NPM}/leaflet/dist/leaflet.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": f"{_NPM}/jquery/dist/jquery.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js":
        f"{_NPM}/bootstrap/dist/js/bootstrap.bundle.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css":
        f"{_NPM}/bootstrap/dist/css/bootstrap.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/"
    "leaflet.awesome-markers.js": f"{_NPM}/leaflet.awesome-markers/dist/leaflet.awesome-markers.js",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/"
    "leaflet.awesome-markers.css":
        f"{_NPM}/leaflet.awesome-markers/dist/leaflet.awesome-markers.css",
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css":
        f"{_NPM}/@fortawesome/fontawesome-free/css/all.min.css",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/"
    "leaflet.awesome.rotate.min.css": f"{STATIC_PREFIX}/gridlink/leaflet.awesome.rotate.css",
    # plugins used by gridlink's views
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js":
        f"{_NPM}/leaflet.fullscreen/Control.FullScreen.js",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css":
        f"{_NPM}/leaflet.fullscreen/Control.FullScreen.css",
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.js":
        f"{_NPM}/leaflet-measure/dist/leaflet-measure.min.js",
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.css":
        f"{_NPM}/leaflet-measure/dist/leaflet-measure.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js":
        f"{_NPM}/leaflet.markercluster/dist/leaflet.markercluster.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css":
        f"{_NPM}/leaflet.markercluster/dist/MarkerCluster.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/"
    "MarkerCluster.Default.css": f"{_NPM}/leaflet.markercluster/dist/MarkerCluster.Default.css",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium@main/folium/templates/"
    "leaflet_heat.min.js": f"{STATIC_PREFIX}/folium/leaflet_heat.min.js",
    "https://d3js.org/d3.v4.min.js": f"{_NPM}/d3/build/d3.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/moment.js/2.18.1/moment.min.js":
        f"{_NPM}/moment/min/moment.min.js",
    "https://cdn.jsdelivr.net/npm/leaflet-semicircle@2.0.4/Semicircle.min.js":
        f"{_NPM}/leaflet-semicircle/Semicircle.js",
    "https://unpkg.com/@geoman-io/leaflet-geoman-free@latest/dist/leaflet-geoman.js":
        f"{_NPM}/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js",
    "https://unpkg.com/@geoman-io/leaflet-geoman-free@latest/dist/leaflet-geoman.css":
        f"{_NPM}/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css",
    # vector tiles of gridlink's /tiles (layers/tiles.py)
    "https://unpkg.com/leaflet.vectorgrid@1.3.0/dist/Leaflet.VectorGrid.bundled.min.js":
        f"{_NPM}/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js",
}
"""CDN address → local ``/static`` path, for every asset gridlink's maps load."""

DROPPED = frozenset({
    # Bootstrap 3 glyphicons: gridlink's markers use Font Awesome (prefix "fa") only.
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",
})
"""CDN addresses that gridlink's pages do not need at all: their tags are removed."""

_EXTERNAL_TAG = re.compile(
    r"""<(?:script|link)\b[^>]*?(?:src|href)\s*=\s*["'](?P<url>(?:https?:)?//[^"']+)["'][^>]*>"""
    r"""(?:\s*</script>)?""",
    re.IGNORECASE,
)


class OfflineAssetMissing(RuntimeError):
    """A rendered page references an external script/stylesheet with no local copy."""


def localize_html(html: str) -> str:
    """Rewrite every external ``<script src>``/``<link href>`` of ``html`` to ``/static``.

    Parameters
    ----------
    html : str
        A complete page as rendered by Folium/branca.

    Returns
    -------
    str
        The page with CDN addresses replaced and :data:`DROPPED` tags removed.

    Raises
    ------
    OfflineAssetMissing
        When a script or stylesheet address is neither mapped nor dropped.
    """

    def swap(match: re.Match[str]) -> str:
        url = match.group("url")
        if url in DROPPED:
            return ""
        local = CDN_TO_STATIC.get(url)
        if local is None:
            raise OfflineAssetMissing(f"no local copy of {url}; add it to CDN_TO_STATIC")
        return match.group(0).replace(url, local)

    return _EXTERNAL_TAG.sub(swap, html)


def page_html(fmap: folium.Map | Element) -> str:
    """The complete offline HTML page of a Folium map (or any branca element)."""
    return localize_html(fmap.get_root().render())


def external_urls(html: str) -> list[str]:
    """Every ``http(s)://`` or protocol-relative address loaded by a tag in ``html``.

    Used by tests: an offline page has none (tile URLs live in JavaScript strings and are
    checked separately).
    """
    pattern = re.compile(r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)["']""", re.I)
    return pattern.findall(html)
