"""The demo city's layers as (Geo)DataFrames: sites, dedicated grids, cameras, workers, events.

Takes the projected :class:`data.city.City` and returns the file layers of docs/catalog.md in
lon/lat (EPSG:4326). Everything is vectorised with numpy/shapely: a million events or a
hundred thousand cameras take no per-row Python loop. Each layer draws from its own seeded
stream, so changing ``--events`` does not move a camera.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from data import geometry as g
from data.city import DISTRICT_CODE, DISTRICT_NAME, City, Strs
from data.demo_attributes import (
    DEDICATED_CATEGORIES,
    EVENT_CATEGORIES,
    EVENT_PRIORITIES,
    EVENT_SOURCES,
    EVENT_STATUSES,
    SITE_CAMERAS,
    SITE_CATEGORIES,
    building_floors,
    person_names,
    phone_numbers,
    zero_padded,
)
from data.demo_roads import gates_frame, roads_frame

if TYPE_CHECKING:
    from data.scale import CityScale

Frame: TypeAlias = gpd.GeoDataFrame | pd.DataFrame
CAMERA_AREA = DISTRICT_CODE + "00"
"""GB/T 28181 centre/area code (8 digits): the district code padded."""
START_DATE = "2024-01-01"


@dataclass
class Sites:
    """Sites in the projected CRS; ``micro`` is the micro-grid each one stands in."""

    codes: Strs
    names: Strs
    category: Strs
    micro: g.Labels
    xy: g.XY


def city_frames(city: City, scale: CityScale) -> dict[str, Frame]:
    """All layers of ``city`` in lon/lat, keyed by layer name (see data.demo.LOAD_ORDER)."""
    streams = [np.random.default_rng([scale.seed, k]) for k in range(2, 6)]
    counts = _household_sums(city)
    sites = _sites(city, scale.factor, streams[0])
    dedicated = _dedicated_grids(city, sites)
    polygons = _lonlat_polygons(city, dedicated[0])
    frames: dict[str, Frame] = {
        "areas": _areas_frame(city, counts, polygons),
        "grids": _grids_frame(city, counts, polygons, dedicated),
        "micro_grids": _micro_frame(city, counts, polygons),
        "buildings": _buildings_frame(city, np.random.default_rng([scale.seed, 6])),
        "sites": _point_frame({"code": sites.codes, "name": sites.names,
                               "category": sites.category}, sites.xy, city.srid),
        "workers": _workers(city, dedicated[1], streams[2]),
    }
    frames["cameras"] = _cameras(city, sites, scale.cameras, streams[1])
    frames["roads"] = roads_frame(city)
    frames["entrances"] = gates_frame(city, sites.codes, sites.names, sites.category,
                                      sites.micro, sites.xy,
                                      np.random.default_rng([scale.seed, 7]))
    frames["events"] = _events(city, scale, streams[3])
    return frames


def _household_sums(city: City) -> dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """(households, population) per micro-grid, grid, community and street: building sums."""
    def up(parent: g.Labels, values: NDArray[np.int64], size: int) -> NDArray[np.int64]:
        return np.bincount(parent, weights=values, minlength=size).astype(np.int64)

    sums: dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]] = {}
    households, population = city.households, city.population
    for name, level, child in (("micro", city.micros, city.buildings),
                               ("grid", city.grids, city.micros),
                               ("community", city.communities, city.grids),
                               ("street", city.streets, city.communities)):
        households = up(child.parent, households, len(level.codes))
        population = up(child.parent, population, len(level.codes))
        sums[name] = (households, population)
    return sums


def _sites(city: City, factor: float, rng: np.random.Generator) -> Sites:
    """Sites of every DOMAIN.md category, each in its own micro-grid (scaled counts)."""
    n_micro = len(city.micros.codes)
    wanted = [(cat, max(1, round(n * factor))) for cat, (_, n) in SITE_CATEGORIES.items()]
    category = np.repeat([c for c, _ in wanted], [n for _, n in wanted])[:n_micro]
    micro = rng.choice(n_micro, len(category), replace=False)
    dedicated = np.isin(category, DEDICATED_CATEGORIES)
    xy = g.points_toward_vertices(city.micros.geoms, city.micro_xy, micro, rng)
    xy[dedicated] = city.micro_xy[micro[dedicated]]
    community = city.grids.parent[city.micros.parent[micro]]
    base = np.char.replace(np.char.replace(city.communities.names[community], "社区", ""),
                           "村", "")
    suffix = np.asarray([SITE_CATEGORIES[c][0] for c in category], dtype=str)
    return Sites(np.char.add("S", city.micros.codes[micro]), np.char.add(base, suffix),
                 category.astype(str), micro.astype(np.int64), xy)


def _dedicated_grids(city: City, sites: Sites) -> tuple[g.Geoms, pd.DataFrame]:
    """Dedicated grids (专属网格) around school/hospital/market/park sites (projected).

    The site's micro-grid shrunk to 55 % around its generator (inside it), else a 20 m
    disc. Codes: community code + 9 + 2-digit sequence (901, 902 ... inside a community).
    """
    chosen = np.flatnonzero(np.isin(sites.category, DEDICATED_CATEGORIES))
    micro = sites.micro[chosen]
    coords, index = shapely.get_coordinates(shapely.get_exterior_ring(
        city.micros.geoms[micro]), return_index=True)
    anchor = city.micro_xy[micro]
    shrunk = np.asarray(shapely.polygons(shapely.linearrings(
        anchor[index] + 0.55 * (coords - anchor[index]), indices=index)), dtype=object)
    inside = shapely.within(shrunk, city.micros.geoms[micro])
    shrunk[~inside] = shapely.buffer(shapely.points(anchor[~inside]), 20.0, quad_segs=4)
    community = city.grids.parent[city.micros.parent[micro]]
    seq = pd.Series(community).groupby(community).cumcount().to_numpy(dtype=np.int64) + 1
    table = pd.DataFrame({
        "code": np.char.add(np.char.add(city.communities.codes[community], "9"),
                            zero_padded(seq, 2)),
        "name": np.char.add(sites.names[chosen], "专属网格"),
        "parent_code": city.communities.codes[community],
        "responsible_party": sites.names[chosen],
    })
    hits = shapely.STRtree(city.buildings.geoms).query(shrunk, predicate="contains")
    table["households"] = np.bincount(hits[0], weights=city.households[hits[1]],
                                      minlength=len(chosen)).astype(np.int64)
    table["population"] = np.bincount(hits[0], weights=city.population[hits[1]],
                                      minlength=len(chosen)).astype(np.int64)
    return shrunk, table


def _lonlat_polygons(city: City, dedicated: g.Geoms) -> dict[str, g.Geoms]:
    """Every polygon level in lon/lat, rounded to 7 decimals when that keeps the tiling
    valid (every polygon valid, micro-grids and grids each a valid coverage), else unrounded.
    """
    levels = {"district": np.array([city.district], dtype=object),
              "streets": city.streets.geoms, "communities": city.communities.geoms,
              "grids": city.grids.geoms, "micros": city.micros.geoms, "dedicated": dedicated}
    sizes = np.cumsum([len(v) for v in levels.values()])[:-1]
    stacked = np.concatenate(list(levels.values()))
    for decimals in (7, None):
        lonlat = g.to_lonlat(stacked, city.srid, decimals)
        parts = dict(zip(levels, np.split(lonlat, sizes), strict=True))
        if (shapely.is_valid(lonlat).all() and shapely.coverage_is_valid(parts["micros"])
                and shapely.coverage_is_valid(parts["grids"])):
            break
    return parts


def _areas_frame(city: City, counts: dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]],
                 polygons: dict[str, g.Geoms]) -> gpd.GeoDataFrame:
    streets, communities = city.streets, city.communities
    table = pd.DataFrame({
        "code": np.concatenate([[DISTRICT_CODE], streets.codes, communities.codes]),
        "name": np.concatenate([[DISTRICT_NAME], streets.names, communities.names]),
        "level": ["district"] + ["street"] * len(streets.codes)
        + ["community"] * len(communities.codes),
        "parent_code": np.concatenate([[None], [DISTRICT_CODE] * len(streets.codes),
                                       streets.codes[communities.parent]]),
        "households": np.concatenate([[counts["street"][0].sum()], counts["street"][0],
                                      counts["community"][0]]),
        "population": np.concatenate([[counts["street"][1].sum()], counts["street"][1],
                                      counts["community"][1]]),
    })
    geoms = np.concatenate([polygons["district"], polygons["streets"], polygons["communities"]])
    return gpd.GeoDataFrame(table, geometry=geoms, crs="EPSG:4326")


def _grids_frame(city: City, counts: dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]],
                 polygons: dict[str, g.Geoms],
                 dedicated: tuple[g.Geoms, pd.DataFrame]) -> gpd.GeoDataFrame:
    """Ordinary grids (urban/rural, tiling their community) then dedicated grids."""
    grids, communities = city.grids, city.communities
    rural = city.rural[grids.parent]
    committee = np.where(rural, "村民委员会", "居民委员会")
    ordinary = pd.DataFrame({
        "code": grids.codes, "name": grids.names,
        "parent_code": communities.codes[grids.parent],
        "kind": np.where(rural, "rural", "urban"),
        "households": counts["grid"][0], "population": counts["grid"][1],
        "responsible_party": np.char.add(communities.names[grids.parent], committee),
        "management_level": "community", "start_date": START_DATE,
    })
    special = dedicated[1].assign(kind="dedicated", management_level="unit",
                                  start_date=START_DATE)[ordinary.columns]
    table = pd.concat([ordinary, special], ignore_index=True)
    geoms = np.concatenate([polygons["grids"], polygons["dedicated"]])
    return gpd.GeoDataFrame(table, geometry=geoms, crs="EPSG:4326")


def _micro_frame(city: City, counts: dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]],
                 polygons: dict[str, g.Geoms]) -> gpd.GeoDataFrame:
    micros = city.micros
    table = pd.DataFrame({"code": micros.codes, "name": micros.names,
                          "parent_code": city.grids.codes[micros.parent],
                          "households": counts["micro"][0], "population": counts["micro"][1]})
    return gpd.GeoDataFrame(table, geometry=polygons["micros"], crs="EPSG:4326")


def _point_frame(columns: dict[str, object], xy: g.XY, srid: int) -> gpd.GeoDataFrame:
    """Points at projected ``xy`` as a lon/lat GeoDataFrame (7 decimals, ~1 cm)."""
    points = g.to_lonlat(np.asarray(shapely.points(xy), dtype=object), srid, 7)
    return gpd.GeoDataFrame(pd.DataFrame(columns), geometry=points, crs="EPSG:4326")


def _buildings_frame(city: City, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Buildings (points or footprint polygons) in lon/lat, 7 decimals, with floors by
    estate kind (:func:`data.demo_attributes.building_floors`, from their own stream)."""
    table = pd.DataFrame({"code": city.buildings.codes, "name": city.buildings.names,
                          "households": city.households, "population": city.population,
                          "floors": building_floors(city.buildings.names, rng)})
    geoms = g.to_lonlat(city.buildings.geoms, city.srid, 7)
    return gpd.GeoDataFrame(table, geometry=geoms, crs="EPSG:4326")


def _workers(city: City, dedicated: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A grid leader per grid (dedicated too), a grid worker per ordinary grid, a helper
    per micro-grid. Codes: GL/GW + grid code, HP + micro-grid code."""
    leaders = np.concatenate([city.grids.codes, dedicated["code"].to_numpy(dtype=str)])
    grid_code = np.concatenate([leaders, city.grids.codes, city.micros.codes])
    prefix = np.repeat(["GL", "GW", "HP"],
                       [len(leaders), len(city.grids.codes), len(city.micros.codes)])
    role = np.repeat(["grid_leader", "grid_worker", "helper"],
                     [len(leaders), len(city.grids.codes), len(city.micros.codes)])
    return pd.DataFrame({"code": np.char.add(prefix, grid_code),
                         "name": person_names(len(grid_code), rng), "role": role,
                         "phone": phone_numbers(len(grid_code), rng), "grid_code": grid_code})


def _cameras(city: City, sites: Sites, total: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Site cameras (old/smart compounds, primary schools) then street cameras.

    Site cameras stand 8-60 m from their site; street cameras on micro-grid edges (the
    streets between blocks). GB/T 28181 ids: 14021300 + industry (00 public security for
    sites, 08 urban management for streets) + type 131/132 + network 0 + 6-digit serial.
    """
    per_site = np.zeros(len(sites.codes), dtype=np.int64)
    industry_of = np.full(len(sites.codes), "08", dtype="<U2")
    for category, (low, high, industry_code) in SITE_CAMERAS.items():
        mine = sites.category == category
        per_site[mine] = rng.integers(low, high + 1, int(mine.sum()))
        industry_of[mine] = industry_code
    owner = np.repeat(np.arange(len(sites.codes)), per_site)[: round(0.65 * total)]
    n_street = total - len(owner)
    street_micro = rng.integers(0, len(city.micros.codes), n_street)
    angle = rng.uniform(0, 2 * np.pi, len(owner))
    offset = rng.uniform(8, 60, len(owner))[:, None] * np.column_stack([np.sin(angle),
                                                                        np.cos(angle)])
    xy = np.concatenate([sites.xy[owner] + offset,
                         g.points_on_edges(city.micros.geoms, street_micro, rng)])
    community = city.grids.parent[city.micros.parent[street_micro]]
    names = np.concatenate([
        _numbered(sites.names[owner], owner, "号摄像机"),
        _numbered(np.char.add(city.communities.names[community], "道路监控"), community, "号"),
    ])
    industry = np.concatenate([industry_of[owner], np.full(n_street, "08", dtype="<U2")])
    at_site = np.repeat([True, False], [len(owner), n_street])
    table = _camera_table(industry, names, at_site, rng)
    table["site_code"] = np.concatenate([sites.codes[owner], np.full(n_street, None)])
    return _point_frame(dict(table), xy, city.srid)


def _numbered(names: Strs, group: g.Labels, suffix: str) -> Strs:
    """``names`` + running number inside ``group`` + ``suffix`` ("…3号摄像机")."""
    number = pd.Series(group).groupby(group).cumcount().to_numpy() + 1
    return np.char.add(np.char.add(names, number.astype(str)), suffix)


def _camera_table(industry: Strs, names: Strs, at_site: NDArray[np.bool_],
                  rng: np.random.Generator) -> pd.DataFrame:
    """Camera attributes: type mix, azimuth 0-360°, FOV 40-120° (PTZ 360°), range 30-150 m,
    height 3-12 m, ~5 % offline, rtsp://video.local/<id>."""
    n = len(names)
    kind = np.where(at_site, rng.choice(3, n, p=[0.55, 0.35, 0.10]),
                    rng.choice(3, n, p=[0.45, 0.25, 0.30]))
    camera_type = np.asarray(["fixed", "dome", "ptz"])[kind]
    fov = np.where(kind == 0, rng.uniform(40, 90, n), rng.uniform(60, 120, n)).round()
    fov = np.where(kind == 2, 360.0, fov)
    range_m = np.where(kind == 2, rng.uniform(80, 150, n), rng.uniform(30, 150, n)).round()
    device = np.asarray(["131", "132"])[rng.choice(2, n, p=[0.3, 0.7])]
    codes = np.char.add(np.char.add(np.char.add(CAMERA_AREA, industry), device),
                        np.char.add("0", zero_padded(np.arange(1, n + 1), 6)))
    return pd.DataFrame({
        "code": codes, "name": names, "camera_type": camera_type,
        "height_m": rng.uniform(3, 12, n).round(1),
        "azimuth_deg": rng.uniform(0, 360, n).round(1) % 360.0,
        "fov_deg": fov, "range_m": range_m,
        "status": np.where(rng.random(n) < 0.05, "offline", "online"),
        "stream_url": np.char.add("rtsp://video.local/", codes),
    })


def _events(city: City, scale: CityScale, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Events of the last six months before ``scale.as_of``: mostly where people live,
    ~1 % exactly on shared grid vertices, ~0.2 % (at least 3) just outside the district."""
    n = scale.events
    n_out = min(n, max(3, round(0.002 * n)))
    n_edge = min(n - n_out, max(3, round(0.01 * n)))
    n_in = n - n_out - n_edge
    weight = np.bincount(city.buildings.parent, weights=city.households,
                         minlength=len(city.micros.codes))
    micro_in = rng.choice(len(weight), n_in, p=weight / weight.sum())
    micro_edge = rng.integers(0, len(weight), n_edge)
    xy = np.concatenate([
        g.points_toward_vertices(city.micros.geoms, city.micro_xy, micro_in, rng, (0.0, 0.9)),
        g.points_on_edges(city.micros.geoms, micro_edge, rng, at_vertex=True),
        _outside_points(city.district, n_out, rng),
    ])
    grid = np.concatenate([city.micros.parent[micro_in], city.micros.parent[micro_edge],
                           np.full(n_out, -1)])
    shuffle = rng.permutation(n)
    table = _event_table(city, grid[shuffle], scale, rng)
    return _point_frame(dict(table), xy[shuffle], city.srid)


def event_batches(city: City, scale: CityScale, batch: int) -> Iterator[gpd.GeoDataFrame]:
    """The ``scale.events`` events of ``city`` in frames of at most ``batch`` rows, one at a
    time (memory stays that of one batch, e.g. 10^7 events as ten frames of 10^6).

    Batch ``b`` draws from its own seeded stream ``[seed, 5, b]`` (same seed and batch size,
    same events; not the events of :func:`city_frames`, which draws them in one go) with the
    demo's shares (~1 % on shared vertices, ~0.2 % outside the district); client ids run on
    across batches (``DEMO<seed>-0000001`` ...). Columns and CRS as ``city_frames``' events.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1 event, not {batch}")
    for first in range(0, scale.events, batch):
        size = min(batch, scale.events - first)
        rng = np.random.default_rng([scale.seed, 5, first // batch])
        frame = _events(city, replace(scale, events=size), rng)
        frame["client_id"] = np.char.add(f"DEMO{scale.seed}-",
                                         zero_padded(np.arange(first + 1, first + size + 1), 7))
        yield frame


def _outside_points(district: shapely.Geometry, n: int, rng: np.random.Generator) -> g.XY:
    """``n`` points 30-300 m outside the district outline (pushed out from its vertices)."""
    ring = shapely.get_coordinates(shapely.get_exterior_ring(
        max(shapely.get_parts(district), key=lambda p: p.area)))[:-1]
    centre = shapely.get_coordinates(shapely.centroid(district))[0]
    found: list[g.XY] = [np.empty((0, 2))]
    while sum(len(block) for block in found) < n:
        vertex = ring[rng.integers(0, len(ring), 4 * n + 8)]
        outward = vertex - centre
        outward /= np.linalg.norm(outward, axis=1)[:, None]
        xy = vertex + rng.uniform(30, 300, len(vertex))[:, None] * outward
        found.append(xy[~shapely.contains_xy(district, xy[:, 0], xy[:, 1])])
    return np.concatenate(found)[:n]


def _event_table(city: City, grid: g.Labels, scale: CityScale,
                 rng: np.random.Generator) -> pd.DataFrame:
    """Category, Chinese description, time, status (older → more often closed), source."""
    n = len(grid)
    names = list(EVENT_CATEGORIES)
    shares = np.asarray([EVENT_CATEGORIES[c][0] for c in names])
    category = rng.choice(len(names), n, p=shares / shares.sum())
    texts = [EVENT_CATEGORIES[c][1] for c in names]
    flat = np.asarray([t for group in texts for t in group])
    first = np.concatenate([[0], np.cumsum([len(t) for t in texts])[:-1]])
    length = np.asarray([len(t) for t in texts])
    description = flat[first[category] + np.floor(rng.random(n) * length[category]).astype(int)]
    end = pd.Timestamp(scale.as_of, tz="UTC")
    age_s = rng.integers(0, 182 * 86_400, n)
    reported_at = end - pd.to_timedelta(age_s, unit="s")
    source = rng.choice(len(EVENT_SOURCES), n, p=[0.6, 0.2, 0.1, 0.1])
    source = np.where(grid < 0, 1, source)  # outside every grid: only the hotline
    reporter = np.asarray(["", "12345热线", "视频巡查", "市民随手拍"], dtype=object)[source]
    worker = np.char.add("GW", city.grids.codes[np.maximum(grid, 0)])
    reporter = np.where(source == 0, worker, reporter)
    return pd.DataFrame({
        "client_id": np.char.add(f"DEMO{scale.seed}-", zero_padded(np.arange(1, n + 1), 7)),
        "category": np.asarray(names)[category], "description": description,
        "reported_at": reported_at, "reporter": reporter,
        "source": np.asarray(EVENT_SOURCES)[source], "status": _statuses(age_s, rng),
        "priority": np.asarray(EVENT_PRIORITIES)[rng.choice(3, n, p=[0.85, 0.1, 0.05])],
    })


def _statuses(age_s: NDArray[np.int64], rng: np.random.Generator) -> Strs:
    """Status by age: fresh events are open, older ones mostly closed (~92 %)."""
    table = np.asarray([[0.30, 0.25, 0.25, 0.10, 0.10],   # < 3 days
                        [0.03, 0.05, 0.10, 0.22, 0.60],   # 3-30 days
                        [0.005, 0.005, 0.02, 0.05, 0.92]])  # older
    bucket = np.digitize(age_s, [3 * 86_400, 30 * 86_400])
    cumulative = np.cumsum(table, axis=1)[bucket]
    pick = (rng.random(len(age_s))[:, None] > cumulative[:, :-1]).sum(axis=1)
    return np.asarray(EVENT_STATUSES)[pick]
