"""Accepted column names and value aliases per layer field (next to geo.catalog).

A file column feeds a layer field when its name (trimmed, case-insensitive) is

* the canonical English name (``azimuth_deg``);
* that name cut to 10 characters, as a Shapefile's DBF stores it (``azimuth_de``);
* one of the aliases below: the Chinese headers real registers use (国标编码, 方位角 ...)
  and common English variants (``device_id``), also cut to the DBF's 10 bytes in GBK or
  UTF-8 (a GBK DBF holds 5 Chinese characters per field name).

Value aliases turn the words registers use into the catalogue's choices (枪机 → fixed,
故障 → fault). docs/import-export.md lists both tables; ``gridlink import --dry-run``
prints the mapping actually used for a file.
"""

from __future__ import annotations

from functools import lru_cache

from geo.catalog import LAYERS

DBF_NAME_BYTES = 10

COMMON: dict[str, tuple[str, ...]] = {
    "code": ("编码", "代码"),
    "name": ("名称",),
    "parent_code": ("上级编码", "上级代码", "parent"),
    "households": ("户数",),
    "population": ("人口", "人口数"),
}
"""Aliases shared by every layer that has the field."""

PER_LAYER: dict[str, dict[str, tuple[str, ...]]] = {
    "areas": {"code": ("区划代码", "行政区划代码"), "level": ("级别", "层级"),
              "name": ("区划名称",)},
    "grids": {"code": ("网格编码", "网格代码", "grid_code"), "name": ("网格名称",),
              "parent_code": ("所属社区", "社区编码", "community_code"),
              "kind": ("网格类型", "类型"), "responsible_party": ("责任人", "网格长"),
              "management_level": ("管理层级",), "start_date": ("启用日期", "开始日期"),
              "end_date": ("停用日期", "结束日期")},
    "micro_grids": {"code": ("微网格编码",), "name": ("微网格名称",),
                    "parent_code": ("所属网格", "网格编码", "grid_code")},
    "buildings": {"code": ("建筑编码", "楼栋编码"), "name": ("建筑名称", "楼栋名称"),
                  "floors": ("层数", "楼层数", "地上层数", "levels", "building:levels"),
                  "height_m": ("建筑高度", "楼高", "height")},
    "sites": {"code": ("场所编码",), "name": ("场所名称",), "category": ("类别", "场所类别")},
    "workers": {"code": ("人员编码", "工号"), "name": ("姓名",), "role": ("角色", "岗位"),
                "phone": ("电话", "手机", "联系电话"), "grid_code": ("网格编码", "所属网格")},
    "cameras": {"code": ("国标编码", "设备编码", "device_id", "id", "gb_code"),
                "name": ("设备名称", "点位名称"),
                "camera_type": ("类型", "设备类型", "摄像机类型", "type"),
                "height_m": ("安装高度", "高度", "height"), "azimuth_deg": ("方位角", "朝向"),
                "fov_deg": ("视场角",), "range_m": ("可视距离", "监控半径"),
                "status": ("状态", "设备状态", "在线状态"), "stream_url": ("视频流地址", "url"),
                "site_code": ("场所编码",),
                "tilt_min_deg": ("俯仰下限", "最小俯仰角", "tilt_min"),
                "tilt_max_deg": ("俯仰上限", "最大俯仰角", "tilt_max"),
                "fov_tele_deg": ("长焦视场角", "最小视场角", "fov_tele")},
    "roads": {"code": ("道路编码", "路段编码", "road_id"), "name": ("道路名称", "路名"),
              "kind": ("道路等级", "道路类型", "等级", "类型", "highway"),
              "width_m": ("路宽", "道路宽度", "宽度", "width")},
    "entrances": {"code": ("出入口编码", "门编码"), "name": ("出入口名称", "门名称"),
                  "site_code": ("场所编码", "所属场所", "site"),
                  "kind": ("出入口类型", "门类型", "类型")},
    "events": {"client_id": ("案件编号", "事件编号", "编号", "案卷号"),
               "category": ("类别", "案件类别", "事件类型", "问题类型"),
               "description": ("描述", "问题描述"), "reported_at": ("上报时间",),
               "reporter": ("上报人",), "source": ("来源", "案件来源"),
               "status": ("状态", "案件状态"), "priority": ("优先级",),
               "department": ("责任单位", "处置单位"),
               "due_at": ("应结案时间", "处置时限", "截止时间"),
               "dispatched_at": ("派遣时间",), "closed_at": ("结案时间",),
               "postponements": ("延期次数",), "reworks": ("返工次数",),
               "first_time": ("一次性完成", "一次办结")},
}
"""Aliases of one layer's fields (Chinese register headers, vendor English names)."""

VALUE_ALIASES: dict[str, dict[str, dict[str, str]]] = {
    "areas": {"level": {"区": "district", "县": "district", "区县": "district",
                        "街道": "street", "乡镇": "street", "镇": "street", "乡": "street",
                        "社区": "community", "村": "community"}},
    "grids": {"kind": {"城镇": "urban", "城市": "urban", "基础网格": "urban", "农村": "rural",
                       "专属": "dedicated", "专属网格": "dedicated"}},
    "workers": {"role": {"网格长": "grid_leader", "网格员": "grid_worker",
                         "专职网格员": "grid_worker", "协管员": "helper", "信息员": "helper"}},
    "cameras": {"camera_type": {"枪机": "fixed", "半球": "dome", "球机": "ptz",
                                "bullet": "fixed"},
                "status": {"在线": "online", "离线": "offline", "故障": "fault",
                           "维护": "maintenance", "维修": "maintenance"}},
    "roads": {"kind": {"motorway": "主干道", "trunk": "主干道", "primary": "主干道",
                       "secondary": "次干道", "tertiary": "支路", "residential": "支路",
                       "service": "支路", "unclassified": "支路", "living_street": "支路",
                       "footway": "步行道", "path": "步行道", "pedestrian": "步行道",
                       "steps": "步行道", "cycleway": "步行道"}},
    "events": {"status": {"上报": "reported", "已上报": "reported", "已派遣": "dispatched",
                          "派遣": "dispatched", "处置中": "in_progress", "已处置": "resolved",
                          "结案": "closed", "已结案": "closed", "作废": "rejected"},
               "first_time": {"是": "true", "否": "false", "yes": "true", "no": "false",
                              "1": "true", "0": "false", "y": "true", "n": "false"}},
}
"""Words in a register → the catalogue's value, per layer and field."""


def dbf_cuts(name: str) -> set[str]:
    """``name`` as a DBF field name may store it: cut to 10 bytes in GBK and in UTF-8."""
    cuts = {name[:DBF_NAME_BYTES]}
    for encoding in ("gbk", "utf-8"):
        try:
            raw = name.encode(encoding)
        except UnicodeEncodeError:
            continue
        cuts.add(raw[:DBF_NAME_BYTES].decode(encoding, errors="ignore"))
    return {c for c in cuts if c}


def aliases_of(layer: str, field_name: str) -> tuple[str, ...]:
    """The documented aliases of ``field_name`` in ``layer`` (without the canonical name)."""
    return PER_LAYER.get(layer, {}).get(field_name, ()) + COMMON.get(field_name, ())


@lru_cache
def canonical_names(layer: str) -> dict[str, str]:
    """The fields' own names and their 10-character DBF forms (lower-cased) → field."""
    names: dict[str, str] = {}
    for field_name in LAYERS[layer].fields:
        for cut in {field_name} | dbf_cuts(field_name):
            names.setdefault(cut.lower(), field_name)
    return names


@lru_cache
def alias_names(layer: str) -> dict[str, str]:
    """Every documented alias (and its DBF cuts, lower-cased) of ``layer`` → its field.

    A name that is some field's own canonical name is never an alias of another field.
    """
    canonical = canonical_names(layer)
    names: dict[str, str] = {}
    for field_name in LAYERS[layer].fields:
        for alias in aliases_of(layer, field_name):
            for cut in {alias} | dbf_cuts(alias):
                if cut.lower() not in canonical:
                    names.setdefault(cut.lower(), field_name)
    return names


def value_words(layer: str, field_name: str) -> dict[str, str]:
    """The register words of ``field_name`` in ``layer`` → catalogue values ({} if none)."""
    return VALUE_ALIASES.get(layer, {}).get(field_name, {})

