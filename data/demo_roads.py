"""The demo city's roads (the streets between blocks) and the gates of its schools and
compounds, in the projected CRS of :class:`data.city.City`, returned in lon/lat.

**Roads** are the edges of the micro-grid tiling inside the district (its outer boundary is
no road): one road per edge between two junctions (``shapely.line_merge`` of the noded
boundaries). An edge on a community boundary is a 主干道 (24 m wide), on a grid boundary a
支路 (12 m), between two micro-grids of a grid a 步行道 (4 m). Street cameras stand on
these edges (:func:`data.demo_frames._cameras`), so roads are where most cameras look.

**Gates**: every compound (老旧小区, 智安小区: 2-3 小区门) and school (小学, 幼儿园: 1-2 校门)
gets gates on the boundary of its micro-grid (the streets around its block): the first at
the boundary point nearest the site, the others evenly spaced along the boundary. Each is
named by its side of the site (东门/南门/西门/北门, numbered when a side has two).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from data import geometry as g
from data.city import DISTRICT_CODE, City
from data.demo_attributes import zero_padded

ROAD_KINDS = (("主干道", 24.0), ("支路", 12.0), ("步行道", 4.0))
"""(kind, width m) of community-boundary, grid-boundary and inner micro-grid edges."""
ON_LINE_M = 0.01
"""An edge whose midpoint is this close (m) to a boundary lies on it."""
GATES: dict[str, tuple[str, int, int]] = {
    "old_compound": ("小区门", 2, 3), "smart_compound": ("小区门", 2, 3),
    "primary_school": ("校门", 1, 2), "kindergarten": ("校门", 1, 2)}
"""Site category → (gate kind, fewest gates, most gates)."""
SIDES = np.asarray(["北门", "东门", "南门", "西门"])


def roads_frame(city: City) -> gpd.GeoDataFrame:
    """The roads layer (code R + district + 6-digit number, name, kind, width_m; lon/lat
    LineStrings, 7 decimals), in edge order from ``line_merge``."""
    edges = shapely.get_parts(shapely.line_merge(shapely.union_all(
        shapely.boundary(city.micros.geoms))))
    middle = shapely.line_interpolate_point(edges, 0.5, normalized=True)
    outside = _near(middle, shapely.boundary(city.district))
    edges, middle = edges[~outside], middle[~outside]
    level = np.full(len(edges), 2)
    level[_near(middle, shapely.boundary(city.grids.geoms))] = 1
    level[_near(middle, shapely.boundary(city.communities.geoms))] = 0
    number = np.arange(1, len(edges) + 1)
    kinds = np.asarray([k for k, _ in ROAD_KINDS])[level]
    frame = pd.DataFrame({
        "code": np.char.add("R" + DISTRICT_CODE, zero_padded(number, 6)),
        "name": np.char.add(kinds, number.astype(str)), "kind": kinds,
        "width_m": np.asarray([w for _, w in ROAD_KINDS])[level]})
    lines = g.to_lonlat(np.asarray(edges, dtype=object), city.srid, 7)
    return gpd.GeoDataFrame(frame, geometry=lines, crs="EPSG:4326")


def _near(points: NDArray[np.object_], lines: shapely.Geometry | NDArray[np.object_]
          ) -> NDArray[np.bool_]:
    """Which ``points`` lie within :data:`ON_LINE_M` of ``lines`` (an STRtree query)."""
    tree = shapely.STRtree(shapely.get_parts(np.asarray(lines, dtype=object).ravel()))
    hit, _ = tree.query(points, predicate="dwithin", distance=ON_LINE_M)
    found = np.zeros(len(points), dtype=bool)
    found[hit] = True
    return found


def gates_frame(city: City, site_codes: NDArray[np.str_], site_names: NDArray[np.str_],
                category: NDArray[np.str_], micro: NDArray[np.int64], xy: g.XY,
                rng: np.random.Generator) -> gpd.GeoDataFrame:
    """The entrances layer (code = site code + 2 digits, name, site_code, kind; lon/lat
    points, 7 decimals) of the sites whose ``category`` has gates (:data:`GATES`)."""
    has = np.flatnonzero(np.isin(category, list(GATES)))
    low = np.asarray([GATES[c][1] for c in category[has]])
    high = np.asarray([GATES[c][2] for c in category[has]])
    count = rng.integers(low, high + 1)
    site = np.repeat(has, count)
    first = np.repeat(np.cumsum(count) - count, count)
    nth = np.arange(len(site)) - first
    rings = shapely.boundary(city.micros.geoms[micro[site]])
    length = shapely.length(rings)
    start = shapely.line_locate_point(rings, shapely.points(xy[site]))
    gates = shapely.line_interpolate_point(
        rings, (start + nth * length / np.repeat(count, count)) % length)
    at = shapely.get_coordinates(gates)
    return _gate_table(city, site_codes[site], site_names[site], category[site], nth,
                       at, xy[site])


def _gate_table(city: City, codes: NDArray[np.str_], names: NDArray[np.str_],
                category: NDArray[np.str_], nth: NDArray[np.int64], at: g.XY,
                centre: g.XY) -> gpd.GeoDataFrame:
    """Gate rows: named by their side of the site, numbered when a side has two."""
    bearing = np.degrees(np.arctan2(at[:, 0] - centre[:, 0], at[:, 1] - centre[:, 1])) % 360
    side = SIDES[np.round(bearing / 90).astype(int) % 4]
    frame = pd.DataFrame({"site": codes, "side": side})
    repeat = frame.groupby(["site", "side"]).cumcount().to_numpy()
    label = np.where(repeat > 0, np.char.add(side, (repeat + 1).astype(str)), side)
    table = pd.DataFrame({
        "code": np.char.add(codes, zero_padded(nth + 1, 2)),
        "name": np.char.add(names, label), "site_code": codes,
        "kind": np.asarray([GATES[c][0] for c in category])})
    points = g.to_lonlat(np.asarray(shapely.points(at), dtype=object), city.srid, 7)
    return gpd.GeoDataFrame(table, geometry=points, crs="EPSG:4326")

