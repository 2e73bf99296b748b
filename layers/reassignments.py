"""The planner's list of grids by reassignments: a grid whose cases dispatchers often move
away has a boundary that misleads (boundary doubt, geo.reassignments)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import folium

from layers.base import Panel, add_panel

SHOWN = 10
"""Grids listed in the panel (most reassignments first); /stats/reassignments has them all."""


def reassignment_panel_html(rows: Sequence[dict[str, Any]], days: int) -> str:
    """The panel: the first :data:`SHOWN` grids of ``rows`` (geo.reassignments
    ``grids_by_reassignments``: code, name, moved_out, moved_in, reassignments) over the
    last ``days`` days, as escaped HTML; a line saying there were none otherwise."""
    title = f"<b>近 {days} 天改派最多的网格</b>"
    if not rows:
        return title + "<div>没有改派</div>"
    cells = "".join(
        f"<tr><td>{html.escape(r['name'] or '')}</td><td>{html.escape(r['code'])}</td>"
        f"<td style='text-align:right'>{r['moved_out']}</td>"
        f"<td style='text-align:right'>{r['moved_in']}</td></tr>" for r in rows[:SHOWN])
    return (title + "<table class='gl-reassigned-grids' style='font-size:12px'>"
            "<tr><th>网格</th><th>编码</th><th>改出</th><th>改入</th></tr>" + cells + "</table>")


def add_reassignment_panel(fmap: folium.Map, rows: Sequence[dict[str, Any]],
                           days: int) -> Panel:
    """Add the reassignment panel (bottom left, CSS class ``gl-reassignments``) to ``fmap``."""
    return add_panel(fmap, "gl-reassignments", reassignment_panel_html(rows, days),
                     position="bottomleft")
