"""Vocabulary of the demo city: Chinese names, site categories, event categories, people.

All functions draw from a seeded ``numpy.random.Generator`` and are vectorised (no
per-row Python loops), so a million events cost the same code path as a thousand.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

PLACE_WORDS = (
    "南关 北关 东关 西关 新华 新建 向阳 先锋 和阳 站东 开源 永泰 兴云 御河 文瀛 魏都 平城 "
    "云冈 大同 恒安 文昌 鼓楼 华严 善化 九龙 柳港 马军 操场 振华 幸福 光明 红旗 建设 团结 "
    "胜利 民主 友谊 和平 长青 迎宾 同泉 龙城 凤凰 金山 银河 富乐 安康 兴和 永和 德胜 "
    "清远 怀仁 广灵 阳和 镇川 水泊 古店 西韩 七里 新荣 马家 孙家 高家 李家 沙岭 口泉"
).split()
"""Two-character place words; names combine them, so any number of units get names."""

SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
                "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥建国建华志强海燕"
             "晓东晓红春梅冬梅桂芝淑珍凤英文斌浩然子涵欣怡宇轩雨婷佳琪俊杰")

SITE_CATEGORIES: dict[str, tuple[str, int]] = {
    # category: (name suffix, count in the default 1,200-grid district)
    "old_compound": ("老旧小区", 135),
    "smart_compound": ("智安小区", 29),
    "primary_school": ("小学", 69),
    "kindergarten": ("幼儿园", 80),
    "hospital": ("医院", 36),
    "market": ("农贸市场", 55),
    "industrial_park": ("工业园区", 30),
    "service_station": ("党群服务站", 92),
    "key_enterprise": ("重点企业", 40),
    "small_canteen": ("小饭桌", 60),
    "waste_station": ("垃圾中转站", 100),
}
"""Site categories (DOMAIN.md) with their Chinese name suffix and default count."""

DEDICATED_CATEGORIES = ("primary_school", "kindergarten", "hospital", "market", "industrial_park")
"""Sites that get a dedicated grid (专属网格): 69 + 80 + 36 + 55 + 30 = 270 by default."""

SITE_CAMERAS: dict[str, tuple[int, int, str]] = {
    # category: (min cameras, max cameras, GB/T 28181 industry code)
    "old_compound": (6, 10, "00"),
    "smart_compound": (10, 14, "00"),
    "primary_school": (5, 7, "00"),
}
"""Cameras owned by sites: the 135 old compounds, 69 primary schools, 29 smart compounds."""

EVENT_CATEGORIES: dict[str, tuple[float, tuple[str, ...]]] = {
    # category: (share of events, Chinese descriptions)
    "illegal_ads": (0.16, ("墙面张贴小广告", "电线杆上喷涂办证广告", "楼道内散发小广告")),
    "piled_materials": (0.12, ("人行道堆放建筑材料", "楼道堆放杂物堵塞通道", "路边乱堆废品")),
    "unclean_road": (0.14, ("道路积存垃圾未清扫", "路面油污严重", "背街小巷卫生脏乱")),
    "exposed_garbage": (0.13, ("垃圾桶满溢未清运", "绿地内暴露垃圾", "小区门口垃圾堆积")),
    "broken_streetlight": (0.08, ("路灯不亮", "路灯杆倾斜存在隐患", "小区照明设施损坏")),
    "fire_hazard": (0.05, ("楼道电动车充电存在火灾隐患", "消防通道被占用", "灭火器过期")),
    "gas_hazard": (0.03, ("居民反映楼道有燃气异味", "燃气管道老化锈蚀",)),
    "dispute": (0.09, ("邻里噪音纠纷", "物业与业主停车纠纷", "家庭矛盾需调解")),
    "flooding": (0.04, ("雨后路面积水严重", "下水道堵塞污水外溢")),
    "elderly_assistance": (0.10, ("独居老人需要帮扶", "高龄老人就医需协助", "老人走失求助")),
    "epidemic_control": (0.06, ("重点人员健康监测", "环境消杀需求", "返乡人员登记")),
}
"""Event categories from DOMAIN.md with realistic shares (sum 1.0) and descriptions."""

EVENT_STATUSES = ("reported", "dispatched", "in_progress", "resolved", "closed")
EVENT_SOURCES = ("grid_worker", "hotline_12345", "camera", "citizen_app")
EVENT_PRIORITIES = ("normal", "high", "urgent")


def place_names(n: int, rng: np.random.Generator) -> NDArray[np.str_]:
    """``n`` distinct two-word place names (e.g. "南关永泰"), cycling with a number if needed."""
    words = np.asarray(PLACE_WORDS)
    pairs = np.array([a + b for a in words for b in words if a != b])
    picked = pairs[rng.permutation(len(pairs))]
    if n <= len(picked):
        return picked[:n]
    repeat = np.arange(n) // len(picked)
    base = picked[np.arange(n) % len(picked)]
    return np.where(repeat == 0, base, np.char.add(base, repeat.astype(str)))


def person_names(n: int, rng: np.random.Generator) -> NDArray[np.str_]:
    """``n`` Chinese personal names (surname + one or two given characters)."""
    surnames = np.asarray(SURNAMES)[rng.integers(0, len(SURNAMES), n)]
    first = np.asarray(GIVEN)[rng.integers(0, len(GIVEN), n)]
    second = np.asarray(GIVEN)[rng.integers(0, len(GIVEN), n)]
    second = np.where(rng.random(n) < 0.6, second, "")
    return np.char.add(np.char.add(surnames, first), second)


def phone_numbers(n: int, rng: np.random.Generator) -> NDArray[np.str_]:
    """``n`` 11-digit mainland mobile numbers as text (e.g. "13912345678")."""
    prefixes = np.asarray(["134", "135", "138", "139", "150", "152", "158", "186", "187", "177"])
    head = prefixes[rng.integers(0, len(prefixes), n)]
    tail = pd.Series(rng.integers(0, 100_000_000, n)).astype(str).str.zfill(8).to_numpy()
    return np.char.add(head, tail.astype(str))


def zero_padded(values: NDArray[np.integer[Any]], width: int) -> NDArray[np.str_]:
    """Integers as fixed-width text with leading zeros (codes are text, never numbers)."""
    return pd.Series(values).astype(str).str.zfill(width).to_numpy().astype(str)


ESTATE_FLOORS: dict[str, tuple[int, int]] = {
    "新村": (1, 3),     # old low-rise housing, courtyard houses
    "小区": (5, 7),     # walk-up blocks of the 1980s-2000s
    "苑": (6, 11),     # mid-rise with a lift
    "家园": (11, 18),  # high-rise
    "花园": (18, 33),  # towers
}
"""Floors (inclusive range) of a demo residential building by its estate's name word."""


def building_floors(names: NDArray[np.str_], rng: np.random.Generator) -> NDArray[np.int64]:
    """Floors of each building from the estate word in its name ("…新村3号楼": 1-3 floors,
    :data:`ESTATE_FLOORS`), uniform inside the range; a name without one gets 6. Its
    obstacle height is floors × 3 m (geo.video.model)."""
    word = pd.Series(names).str.extract("(" + "|".join(ESTATE_FLOORS) + r")\d+号楼$")[0]
    low = word.map({w: r[0] for w, r in ESTATE_FLOORS.items()}).fillna(6).to_numpy(dtype=int)
    high = word.map({w: r[1] for w, r in ESTATE_FLOORS.items()}).fillna(6).to_numpy(dtype=int)
    return np.asarray(rng.integers(low, high + 1), dtype=np.int64)
