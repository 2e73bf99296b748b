"""layers.index: links per area and search results, local stylesheet only."""

from __future__ import annotations

from layers.assets import external_urls
from layers.index import index_html

AREAS = [{"code": "140213", "name": "平城区", "level": "district"}]


def test_index_links_each_view_for_each_area_and_lists_hits() -> None:
    html = index_html(AREAS, "三网格", [{"code": "140213001001003", "name": "向阳三网格",
                                         "level": "grid", "area_code": "140213001001"}])
    assert 'href="/maps/grids?area=140213"' in html
    assert 'href="/maps/coverage?area=140213"' in html
    assert 'href="/maps/events?area=140213"' in html
    assert '<a href="/maps/grids?area=140213001001">向阳三网格</a>' in html
    assert external_urls(html) == []


def test_index_escapes_the_query_and_says_when_nothing_is_found() -> None:
    html = index_html([], "<script>", [])
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "没有找到" in html
