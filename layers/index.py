"""The maps index page (地图首页): links to every view and a search box by grid code or name.

Plain HTML with the locally served Bootstrap stylesheet: no script, nothing from a CDN.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from layers.assets import STATIC_PREFIX

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
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return html.escape(path + ("?" + query if query else ""))


def index_html(areas: Sequence[dict[str, Any]], query: str | None,
               results: Sequence[dict[str, Any]]) -> str:
    """The index page.

    Parameters
    ----------
    areas : districts and streets (code, name, level) to link each view for.
    query : the search text, or None.
    results : search hits (code, name, level, area_code) for ``query``.
    """
    rows = []
    for area in areas:
        links = " · ".join(f'<a href="{_link(path, area=area["code"])}">{html.escape(name)}</a>'
                           for name, path, _ in VIEWS[:3])
        rows.append(f"<tr><td>{html.escape(LEVEL_NAMES.get(area['level'], area['level']))}</td>"
                    f"<td>{html.escape(area['name'])}</td><td><code>{html.escape(area['code'])}"
                    f"</code></td><td>{links}</td></tr>")
    hits = "".join(
        f'<li class="list-group-item"><a href="{_link("/maps/grids", area=r["area_code"])}">'
        f"{html.escape(r['name'])}</a> <code>{html.escape(r['code'])}</code> "
        f"<span class='badge bg-secondary'>{html.escape(LEVEL_NAMES.get(r['level'], r['level']))}"
        "</span></li>" for r in results)
    if query is not None and not results:
        hits = f'<li class="list-group-item">没有找到“{html.escape(query)}”</li>'
    views = "".join(f"<li><b>{html.escape(n)}</b> <code>{html.escape(p)}</code> — "
                    f"{html.escape(d)}</li>" for n, p, d in VIEWS)
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>gridlink 地图</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{STATIC_PREFIX}/npm/bootstrap/dist/css/bootstrap.min.css">
</head><body><main class="container py-4">
<h1 class="h3">gridlink 网格化服务管理 · 地图</h1>
<form class="my-3 d-flex gap-2" method="get" action="/maps">
<input class="form-control" name="q" placeholder="按网格编码或名称搜索"
 value="{html.escape(query or '')}">
<button class="btn btn-primary" type="submit">搜索</button></form>
<ul class="list-group mb-4" id="results">{hits}</ul>
<h2 class="h5">视图</h2><ul>{views}</ul>
<h2 class="h5">按区域打开</h2>
<table class="table table-sm"><thead><tr><th>级别</th><th>名称</th><th>代码</th><th>地图</th>
</tr></thead><tbody>{''.join(rows)}</tbody></table>
</main></body></html>"""
