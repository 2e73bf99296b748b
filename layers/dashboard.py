"""The command-centre dashboard page (指挥中心大屏): Jinja2 template ``dashboard.html`` with
Apache ECharts (a bundle of the charts it draws only, built from the npm package at install
time: ``/static/build/echarts-dashboard.min.js``) and gridlink's ``dashboard.js``.

The page holds no figure itself: ``dashboard.js`` fetches ``/dashboard/data`` and draws every
chart, refetches on each alarm of ``/alarms/stream`` (SSE, for dispatchers; other readers
poll every 30 s) and every minute (cases become overdue without any write), and in wall
mode cycles through the area and its child areas.
"""

from __future__ import annotations

from layers.assets import built_asset, render_page

STATUS_NAMES = {"reported": "已上报", "dispatched": "已派遣", "in_progress": "处置中",
                "resolved": "已处置", "closed": "已结案", "rejected": "不予受理"}
CATEGORY_NAMES = {"alarm": "一键报警"}
"""Display names of the categories gridlink itself creates (others are shown as stored)."""
CAMERA_STATUS_NAMES = {"online": "在线", "offline": "离线", "fault": "故障"}
LEVEL_NAMES = {"district": "区/县", "street": "街道", "community": "社区", "grid": "网格"}
SCORE_BANDS = ((90.0, "优秀", "#2e7d32"), (80.0, "良好", "#1565c0"), (60.0, "合格", "#ef6c00"),
               (0.0, "不合格", "#c62828"))
"""(lowest score, name, colour) of the assessment bands, best first (score out of 100)."""

ECHARTS_BUNDLE = "echarts-dashboard.min.js"
"""ECharts with the pie, bar, line and heatmap charts, grid, legend, tooltip and continuous
visualMap only (layers/static/src/echarts-dashboard.js; 0.6 MB instead of 1.1 MB, 0.18 MB
as brotli)."""

PANELS = (
    ("status", "今日案件（按状态）"), ("categories", "近30天每日案件（按类别）"),
    ("units", "近30天案件（按下级区域）"), ("rates", "近30天处置率与按期结案率"),
    ("ranking", "本月考核排名"), ("cameras", "视频监控在线情况"),
    ("alarm_response", "报警响应（至派遣 / 至首次调看视频）"), ("heat", "近7天事件热力"),
)
"""Chart id → title; each chart's "数据" link is ``/dashboard/csv/<id>``."""


def dashboard_html(area: str, name: str, wall: bool, cycle_s: int,
                   stream_url: str | None, month: str, at: str = "") -> str:
    """The dashboard page of area ``area`` (code) named ``name``.

    Parameters
    ----------
    wall : wall-screen mode: a fixed 1920×1080 layout without links or controls, cycling
        every ``cycle_s`` seconds through the area and its child areas.
    stream_url : the alarm stream (SSE) the viewer may open, or None: then the page polls
        its figures every 30 s instead of on each alarm (and every 60 s).
    month : ISO date of the month the "月度报告" link exports.
    at : ISO instant the figures are computed for (empty: now, at each refresh).
    """
    return render_page("dashboard.html", echarts=built_asset(ECHARTS_BUNDLE), area=area,
                       name=name, wall=wall, cycle_s=cycle_s, stream_url=stream_url or "",
                       month=month, at=at,
                       panels=PANELS, status_names=STATUS_NAMES,
                       camera_status_names=CAMERA_STATUS_NAMES, category_names=CATEGORY_NAMES,
                       level_names=LEVEL_NAMES,
                       score_bands=SCORE_BANDS)
