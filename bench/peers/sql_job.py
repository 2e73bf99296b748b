"""The assignment job as SQL for the in-process engines (DuckDB + spatial, SedonaDB), so both
run the same statements on the same inputs (bench/assign_city.py :class:`EngineInputs`).

* grid chain: a spatial join ``ST_Covers(grid, point)`` (each engine's own spatial join),
  owner = smallest ordinary code, micro-grid = smallest covering micro code of the owner,
  dedicated = every covering dedicated code, sorted;
* outside every ordinary grid: the nearest ordinary grid in the metric CRS (EPSG ``srid``;
  ``ST_DWithin`` candidates within :data:`NEAREST_SEARCH_M`, ties by code), snapped within
  the tolerance, then the nearest micro-grid of that grid;
* cameras: a hash join on 0.001° cells (each camera's lon/lat box, the superset of its range
  that gridlink uses, unnested into cells), the Gauss mid-latitude bearing/distance in SQL
  (geo/short_geodesic.py), pairs whose decision that formula's error bound could flip
  recomputed exactly in Python (pyproj, GeographicLib: as PostGIS), building shadows by
  ``ST_Covers(shadow, point)``, then the ``k`` nearest by (distance, code).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import shapely

from bench.assign_city import EngineInputs
from geo.cameras import angle_off_axis, geodesic_bearing_distance
from geo.short_geodesic import E2, MAX_DISTANCE_M, MAX_LATITUDE, MIN_DISTANCE_M, SAFETY, A

CELL_DEG = 0.001
NEAREST_SEARCH_M = 3000.0

Sql = Callable[[str, str], None]
"""Run a statement that creates a table or view from a query (engine-specific)."""


def input_frames(inputs: EngineInputs) -> dict[str, pd.DataFrame]:
    """The inputs as plain frames with WKB geometries, the form every engine registers."""
    g = inputs.grids
    cls = np.where(g.level.values == "micro", 1, np.where(g.kind.values == "dedicated", 2, 0))
    grids = pd.DataFrame({"code": g.code.values, "cls": cls.astype("int32"),
                          "parent_code": g.parent_code.values,
                          "community_code": g.community_code.values,
                          "wkb": shapely.to_wkb(g.geometry.values)})
    cams = inputs.cameras.copy()
    cams["sees_all"] = (cams.camera_type == "ptz") | (cams.fov_deg >= 360)
    cams = cams.drop(columns="camera_type")
    shadows = pd.DataFrame({"camera_code": inputs.shadows.camera_code.values,
                            "wkb": shapely.to_wkb(inputs.shadows.geometry.values)})
    return {"ev_in": inputs.events, "grids_in": grids, "cams_in": cams,
            "shadows_in": shadows}


GRID_STEPS = [
    ("ev", "SELECT id, x, y, ST_Point(x, y) AS geom,"
           " CAST(floor(x / {cell}) AS BIGINT) AS cx, CAST(floor(y / {cell}) AS BIGINT) AS cy"
           " FROM ev_in"),
    ("gl", "SELECT CAST(row_number() OVER (ORDER BY code) AS INTEGER) AS gid, code, cls,"
           " parent_code, community_code, wkb FROM grids_in"),
    ("g", "SELECT gid, cls, ST_GeomFromWKB(wkb) AS geom FROM gl"),
    ("gp", "SELECT a.gid, b.gid AS parent_gid FROM gl a JOIN gl b ON b.code = a.parent_code"),
    ("hit", "SELECT e.id, g.gid, g.cls FROM ev e JOIN g ON ST_Intersects(g.geom, e.geom)"),
    ("own", "SELECT id, min(gid) AS grid_gid FROM hit WHERE cls = 0 GROUP BY id"),
    ("micro", "SELECT h.id, min(h.gid) AS micro_gid FROM hit h JOIN gp ON gp.gid = h.gid"
              " JOIN own o ON o.id = h.id AND gp.parent_gid = o.grid_gid"
              " WHERE h.cls = 1 GROUP BY h.id"),
    ("ded", "SELECT h.id, array_agg(DISTINCT l.code ORDER BY l.code) AS dedicated FROM hit h"
            " JOIN gl l ON l.gid = h.gid WHERE h.cls = 2 GROUP BY h.id"),
]
"""(table, query) of the grid chain, in order."""

NEAREST_STEPS = [
    ("lost", "SELECT e.id, <transform e.geom> AS gm"
             " FROM ev e LEFT JOIN own o ON o.id = e.id WHERE o.id IS NULL"),
    ("gm", "SELECT code, cls, parent_code, community_code,"
           " <transform ST_GeomFromWKB(wkb)> AS gm FROM gl"
           " WHERE cls <> 2"),
    ("near_all", "SELECT l.id, g.code, g.cls, g.parent_code, g.community_code,"
                 " ST_Distance(g.gm, l.gm) AS d FROM lost l JOIN gm g"
                 " ON ST_DWithin(g.gm, l.gm, {search})"),
    ("near", "SELECT id, code AS nearest_grid_code, community_code, d AS nearest_distance_m"
             " FROM (SELECT *, row_number() OVER (PARTITION BY id ORDER BY d, code) AS rn"
             " FROM near_all WHERE cls = 0) x WHERE rn = 1"),
    ("near_micro", "SELECT id, micro_grid_code FROM (SELECT a.id, a.code AS micro_grid_code,"
                   " row_number() OVER (PARTITION BY a.id ORDER BY a.d, a.code) AS rn"
                   " FROM near_all a JOIN near n ON n.id = a.id"
                   " AND a.parent_code = n.nearest_grid_code"
                   " WHERE a.cls = 1 AND n.nearest_distance_m <= {tol}) x WHERE rn = 1"),
]
"""(table, query) of the nearest grid of events outside every ordinary grid."""

_PHI = "radians((c.y + e.y) / 2)"
_W2 = f"(1 - {E2!r} * sin({_PHI}) * sin({_PHI}))"
_DLON = "radians(e.x - c.x)"
_DX = f"({A!r} / sqrt({_W2})) * cos({_PHI}) * {_DLON}"
_DY = f"({A!r} * (1 - {E2!r}) / ({_W2} * sqrt({_W2}))) * radians(e.y - c.y)"
_BEARING = f"degrees(atan2({_DX}, {_DY}) - 0.5 * {_DLON} * sin({_PHI}))"

CAMERA_STEPS = [
    ("c", "SELECT code, x, y, azimuth_deg, fov_deg, sees_all, range_m,"
          " (range_m * 1.01 + 1.0) / 110574.0 AS dlat,"
          " (range_m * 1.01 + 1.0) / (111319.49 * cos(radians(least(89.0,"
          "   abs(y) + (range_m * 1.01 + 1.0) / 110574.0)))) AS dlon FROM cams_in"),
    ("ccol", "SELECT code, unnest(range(CAST(floor((x - dlon) / {cell}) AS BIGINT),"
             " CAST(floor((x + dlon) / {cell}) AS BIGINT) + 1)) AS cx FROM c"),
    ("crow", "SELECT code, unnest(range(CAST(floor((y - dlat) / {cell}) AS BIGINT),"
             " CAST(floor((y + dlat) / {cell}) AS BIGINT) + 1)) AS cy FROM c"),
    ("ccell", "SELECT a.code, a.cx, b.cy FROM ccol a JOIN crow b ON a.code = b.code"),
    ("cand", f"SELECT e.id, e.x AS ex, e.y AS ey, c.code, c.x, c.y, c.azimuth_deg,"  # noqa: S608
             " c.fov_deg,"
             f" c.sees_all, c.range_m, {_BEARING} AS b0,"
             f" sqrt(({_DX}) * ({_DX}) + ({_DY}) * ({_DY})) AS d"
             " FROM ccell k JOIN ev e ON e.cx = k.cx AND e.cy = k.cy"
             " JOIN c ON c.code = k.code"
             " WHERE e.x BETWEEN c.x - c.dlon AND c.x + c.dlon"
             " AND e.y BETWEEN c.y - c.dlat AND c.y + c.dlat"),
    ("pairs0", "SELECT *, CASE WHEN d = 0 THEN 0.0 WHEN b0 < 0 THEN b0 + 360 ELSE b0 END AS b"
               " FROM cand"),
    ("pairs", "SELECT *, abs((b - azimuth_deg + 540) - 360 * floor((b - azimuth_deg + 540)"  # noqa: S608
              " / 360) - 180) AS off,"
              f" (d > {MAX_DISTANCE_M} OR d < {MIN_DISTANCE_M} OR abs(y) > {MAX_LATITUDE}"
              f"  OR abs(ey) > {MAX_LATITUDE}"
              f"  OR abs(d - range_m) <= {SAFETY} * (1e-8 * d + 4e-14 * d * d * d + 1e-7))"
              " AS doubt_d FROM pairs0"),
]
"""(table, query) of the camera candidates with approximate bearing/distance."""

PICK_STEPS = [
    ("fixed", "SELECT p.id, p.code, p.ex, p.ey, coalesce(x.d, p.d) AS d,"
              " coalesce(x.off, p.off) AS off, p.fov_deg, p.sees_all, p.range_m"
              " FROM pairs p LEFT JOIN exact x ON x.id = p.id AND x.code = p.code"),
    ("ok", "SELECT id, code, ex, ey, d FROM fixed"
           " WHERE d <= range_m AND (sees_all OR off <= fov_deg / 2.0)"),
    ("sh", "SELECT camera_code, ST_GeomFromWKB(wkb) AS geom FROM shadows_in"),
    ("hidden", "SELECT DISTINCT o.id, o.code FROM ok o JOIN sh s ON s.camera_code = o.code"
               " WHERE ST_Covers(s.geom, ST_Point(o.ex, o.ey))"),
    ("ranked", "SELECT o.id, o.code, row_number() OVER (PARTITION BY o.id ORDER BY o.d, o.code)"
               " AS rn FROM ok o LEFT JOIN hidden h ON h.id = o.id AND h.code = o.code"
               " WHERE h.id IS NULL"),
    ("picks", "SELECT id, array_agg(code ORDER BY rn) AS camera_codes FROM ranked"
              " WHERE rn <= {k} GROUP BY id"),
]
"""(table, query) from the exactly tested pairs to the ``k`` picks per event."""

RESULT = """
SELECT e.id, go.code AS covered_grid, gm.code AS covered_micro, d.dedicated,
       n.nearest_grid_code, n.nearest_distance_m, nm.micro_grid_code AS near_micro,
       p.camera_codes
FROM ev e LEFT JOIN own o ON o.id = e.id LEFT JOIN micro m ON m.id = e.id
LEFT JOIN gl go ON go.gid = o.grid_gid LEFT JOIN gl gm ON gm.gid = m.micro_gid
LEFT JOIN ded d ON d.id = e.id LEFT JOIN near n ON n.id = e.id
LEFT JOIN near_micro nm ON nm.id = e.id LEFT JOIN picks p ON p.id = e.id"""


def doubtful_pairs_exact(doubt: pd.DataFrame) -> pd.DataFrame:
    """Exact (GeographicLib) distance and off-axis angle of the pairs ``doubt`` (columns
    id, code, x, y, ex, ey, azimuth_deg)."""
    b, d = geodesic_bearing_distance(doubt.x.values, doubt.y.values, doubt.ex.values,
                                     doubt.ey.values)
    return pd.DataFrame({"id": doubt.id.values, "code": doubt.code.values, "d": d,
                         "off": np.abs(angle_off_axis(b, doubt.azimuth_deg.values))})


DOUBT_QUERY = (
    "SELECT id, code, x, y, ex, ey, azimuth_deg FROM pairs WHERE doubt_d OR (NOT sees_all"  # noqa: S608
    f" AND abs(off - fov_deg / 2.0) <= {SAFETY} * (2e-12 * d * d + 1e-6))")
"""Pairs whose decision the approximation could flip (geo/short_geodesic.py bounds)."""


def finish(result: pd.DataFrame, tolerance_m: float) -> pd.DataFrame:
    """The engines' result as the bench's comparable frame (id, grid_code, micro_grid_code,
    dedicated, assignment, nearest_grid_code, nearest_distance_m, camera_codes)."""
    covered = result.covered_grid.notna().to_numpy()
    near = result.nearest_distance_m.to_numpy(dtype=float)
    snapped = ~covered & (near <= tolerance_m)
    return pd.DataFrame({
        "id": result.id.to_numpy(),
        "grid_code": np.where(covered, result.covered_grid,
                              np.where(snapped, result.nearest_grid_code, None)),
        "micro_grid_code": np.where(covered, result.covered_micro, result.near_micro),
        "dedicated": [list(v) if _is_list(v) and len(v) else None for v in result.dedicated],
        "assignment": np.where(covered, "covered", np.where(snapped, "snapped",
                                                            "unassigned")),
        "nearest_grid_code": np.where(covered, None, result.nearest_grid_code),
        "nearest_distance_m": np.where(covered, np.nan, near),
        "camera_codes": [list(v) if _is_list(v) else [] for v in result.camera_codes]})


def _is_list(value: object) -> bool:
    return isinstance(value, list | tuple | np.ndarray)


def run_job(create: Sql, fetch: Callable[[str], pd.DataFrame],
            register: Callable[[str, pd.DataFrame], None], inputs: EngineInputs, k: int,
            tolerance_m: float, srid: int, transform: str) -> pd.DataFrame:
    """Run every step with the engine's ``create(name, query)``, ``fetch(query)`` and
    ``register(name, frame)``; ``transform`` is the engine's SQL for WGS 84 ``{g}`` in EPSG
    ``{srid}``, lon/lat order. Returns :func:`finish`'s frame."""
    for name, frame in input_frames(inputs).items():
        register(name, frame)
    fill = {"cell": CELL_DEG, "srid": srid, "search": NEAREST_SEARCH_M, "tol": tolerance_m,
            "k": k}
    for name, query in GRID_STEPS + NEAREST_STEPS + CAMERA_STEPS:
        for column in ("e.geom", "ST_GeomFromWKB(wkb)"):
            query = query.replace(f"<transform {column}>", transform.replace("{g}", column))
        create(name, query.format(**fill))  # type: ignore[call-arg]
    register("exact", doubtful_pairs_exact(fetch(DOUBT_QUERY)))
    for name, query in PICK_STEPS:
        create(name, query.format(**fill))  # type: ignore[call-arg]
    return finish(fetch(RESULT), tolerance_m)
