"""layers.assets: every CDN address is rewritten to /static and the files exist locally."""

from __future__ import annotations

import inspect
import re

import folium
import folium.plugins
import pytest

from geo.settings import PROJECT_ROOT
from layers.assets import (
    CDN_TO_STATIC,
    DROPPED,
    FOLIUM_TEMPLATES_DIR,
    LAYERS_STATIC_DIR,
    OfflineAssetMissing,
    external_urls,
    localize_html,
    page_html,
)
from layers.base import Basemap, base_map

USED_PLUGINS = (folium.plugins.Fullscreen, folium.plugins.MeasureControl,
                folium.plugins.MarkerCluster, folium.plugins.HeatMap,
                folium.plugins.TimeSliderChoropleth, folium.plugins.GeoMan,
                folium.plugins.SemiCircle)


def local_file(path: str) -> object:
    """The file behind a /static path."""
    for prefix, root in (("/static/npm/", PROJECT_ROOT / "node_modules"),
                         ("/static/folium/", FOLIUM_TEMPLATES_DIR),
                         ("/static/gridlink/", LAYERS_STATIC_DIR)):
        if path.startswith(prefix):
            return root / path.removeprefix(prefix)
    raise AssertionError(path)


@pytest.mark.parametrize("cls", [folium.Map, *USED_PLUGINS], ids=lambda c: c.__name__)
def test_every_default_asset_of_used_classes_is_mapped(cls: type) -> None:
    for _, url in [*getattr(cls, "default_js", []), *getattr(cls, "default_css", [])]:
        assert url in CDN_TO_STATIC or url in DROPPED, url


def test_every_mapped_file_exists_on_disk() -> None:
    missing = [p for p in CDN_TO_STATIC.values() if not local_file(p).is_file()]  # type: ignore[attr-defined]
    assert missing == []


def test_a_rendered_map_loads_nothing_from_outside() -> None:
    html = page_html(base_map((113.30, 40.08, 113.32, 40.09), Basemap(), title="测试"))
    assert external_urls(html) == []
    srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert srcs and all(s.startswith("/static/") for s in srcs)
    assert "bootstrap-glyphicons" not in html


def test_an_unmapped_cdn_script_fails_loudly() -> None:
    with pytest.raises(OfflineAssetMissing, match="cdn.example.com"):
        localize_html('<script src="https://cdn.example.com/x.js"></script>')


def test_plugins_not_in_the_mapping_are_not_silently_used() -> None:
    names = {name for name, cls in inspect.getmembers(folium.plugins, inspect.isclass)
             if all(u in CDN_TO_STATIC for _, u in getattr(cls, "default_js", []))}
    assert {"Fullscreen", "MeasureControl", "MarkerCluster", "HeatMap",
            "TimeSliderChoropleth"} <= names
