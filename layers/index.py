"""The maps index page (地图首页): links to every view and a search box by grid code or name.

Plain HTML (the Jinja2 template ``layers/templates/index.html``) with the locally served
Bootstrap stylesheet: no script, nothing from a CDN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from layers.assets import render_page

LEVEL_NAMES = {"district": "区/县", "street": "街道", "community": "社区", "grid": "网格",
               "micro": "微网格"}

VIEWS: tuple[tuple[str, str, str], ...] = (
    ("网格规划", "/maps/grids", "区、街道、社区、网格、微网格、专属网格；户数与偏差；校验问题"),
    ("视频覆盖", "/maps/coverage", "摄像机视域与每个网格的覆盖率"),
    ("事件分析", "/maps/events", "热力图、按时段的网格事件数、事件点聚合"),
    ("实时报警", "/maps/alarms", "一键报警实时上图"),
    ("事发点定位", "/maps/locate", "输入经纬度：所在网格、网格员、能看到该点的摄像机"),
)


def _link(path: str, **params: Any) -> str:
    """``path`` with the query ``params`` (None values left out); escaped by the template."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return path + ("?" + query if query else "")


def index_html(areas: Sequence[dict[str, Any]], query: str | None,
               results: Sequence[dict[str, Any]]) -> str:
    """The index page (template ``layers/templates/index.html``).

    Parameters
    ----------
    areas : districts and streets (code, name, level) to link each view for.
    query : the search text, or None.
    results : search hits (code, name, level, area_code) for ``query``.
    """
    return render_page("index.html", areas=areas, query=query, results=results,
                       views=VIEWS, area_views=VIEWS[:3], level_names=LEVEL_NAMES, link=_link)
