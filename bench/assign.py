"""Benchmark: set-based assignment in PostGIS vs geopandas in memory, on the demo city.

    .venv/bin/python bench/assign.py --grids 10000 --cameras 100000 --events 1000000

Builds the demo city (data/demo.py), loads it into a scratch database ``gridlink_bench`` on
the test cluster (or ``--url``), then times

* **gridlink**: ``geo.assign.assign_events(session, "all")`` + COMMIT (grid chain, snapping,
  3 FOV-aware cameras, written to ``events``);
* **geopandas** (the oracle): ``sjoin`` (covered_by) for grids / micro-grids / dedicated
  grids, ``sjoin_nearest`` (EPSG:4547) for points outside every grid, an STRtree ``dwithin``
  query for camera candidates and the vectorised geodesic FOV filter of geo.cameras —
  in memory, nothing persisted;

and compares the two on every event, printing each kind of difference with examples.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.demo import generate_city
from geo.assign import assign_events
from geo.cameras import covers, geodesic_bearing_distance, is_facing
from geo.schema import upgrade
from geo.settings import get_settings

K = 3
TOLERANCE_M = get_settings().gps_tolerance_m


# --------------------------------------------------------------------------- database


def scratch_database(url: str | None, name: str = "gridlink_bench") -> str:
    """(Re)create database name with PostGIS and the schema; returns its URL."""
    from cli.cluster import fresh_database, test_server_url

    result = fresh_database(url or test_server_url(), name)
    upgrade(result)
    return result


def copy_frame(engine: Engine, table: str, frame: pd.DataFrame) -> None:
    """COPY ``frame`` (geometry column ``geom`` as hex EWKB-less WKB) into ``table``."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, header=False)
    buf.seek(0)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN (FORMAT csv)") as cp:
            while chunk := buf.read(1 << 20):
                cp.write(chunk)
        raw.commit()
    finally:
        raw.close()


def wkb_hex(gdf: gpd.GeoDataFrame, multi: bool = False) -> np.ndarray:
    geoms = gdf.geometry.to_numpy()
    if multi:
        geoms = np.array([g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
                          for g in geoms], dtype=object)
    return shapely.to_wkb(geoms, hex=True, include_srid=False)


def load_city(engine: Engine, city: dict[str, pd.DataFrame]) -> None:
    """Write the demo layers with COPY (fast; the importer path is benchmarked elsewhere)."""
    areas = city["areas"]
    copy_frame(engine, "admin_areas", pd.DataFrame({
        "code": areas.code, "name": areas.name, "level": areas.level,
        "parent_code": areas.parent_code, "geom": wkb_hex(areas, multi=True)}))
    grids, micro = city["grids"], city["micro_grids"]
    community_of = dict(zip(grids.code, grids.parent_code, strict=True))
    copy_frame(engine, "grids", pd.DataFrame({
        "code": grids.code, "name": grids.name, "kind": grids.kind, "level": "grid",
        "parent_code": grids.parent_code, "community_code": grids.parent_code,
        "households": grids.households.fillna(0).astype(int), "population": 0, "version": 1,
        "geom": wkb_hex(grids, multi=True)}))
    copy_frame(engine, "grids", pd.DataFrame({
        "code": micro.code, "name": micro.name, "kind": "urban", "level": "micro",
        "parent_code": micro.parent_code,
        "community_code": micro.parent_code.map(community_of),
        "households": micro.households.fillna(0).astype(int), "population": 0, "version": 1,
        "geom": wkb_hex(micro, multi=True)}))
    workers = city["workers"]
    copy_frame(engine, "workers", workers[["code", "name", "role", "phone", "grid_code"]])
    sites = city["sites"]
    copy_frame(engine, "sites", pd.DataFrame({"code": sites.code, "name": sites.name,
                                         "category": sites.category, "geom": wkb_hex(sites)}))
    cams = city["cameras"]
    cols = ["code", "name", "camera_type", "height_m", "azimuth_deg", "fov_deg", "range_m",
            "status", "stream_url", "site_code"]
    copy_frame(engine, "cameras",
               pd.DataFrame({**{c: cams[c] for c in cols}, "geom": wkb_hex(cams)}))
    ev = city["events"]
    copy_frame(engine, "events", pd.DataFrame({
        "client_id": ev.client_id, "category": ev.category,
        "reported_at": pd.to_datetime(ev.reported_at, utc=True), "status": "reported",
        "priority": "normal", "handling_level": "grid", "postponements": 0, "reworks": 0,
        "valid": True, "geom": wkb_hex(ev)}))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


# --------------------------------------------------------------------------- oracle


def oracle(city: dict[str, pd.DataFrame], srid: int) -> pd.DataFrame:
    """Grid chain + k cameras per event in memory (geopandas/shapely/numpy)."""
    ev = city["events"].reset_index(drop=True)
    pts = gpd.GeoDataFrame({"eid": np.arange(len(ev))}, geometry=ev.geometry.values,
                           crs=4326)
    grids = city["grids"]
    ordinary = grids[grids.kind != "dedicated"][["code", "parent_code", "geometry"]]
    out = pd.DataFrame({"client_id": ev.client_id.values})
    t = time.perf_counter()
    steps = {}
    out["grid_code"] = _smallest_code(_covering(pts, ordinary), len(out))
    out["assignment"] = [None if g is None else "covered" for g in out.grid_code]
    steps["grids"], t = time.perf_counter() - t, time.perf_counter()
    _micro(out, pts, city["micro_grids"])
    steps["micro"], t = time.perf_counter() - t, time.perf_counter()
    _dedicated(out, pts, grids[grids.kind == "dedicated"][["code", "geometry"]])
    steps["dedicated"], t = time.perf_counter() - t, time.perf_counter()
    _nearest(out, pts, ordinary, city["micro_grids"], srid)
    steps["nearest"], t = time.perf_counter() - t, time.perf_counter()
    out["camera_codes"] = _cameras(pts, city["cameras"], srid)
    steps["cameras"] = time.perf_counter() - t
    print("  geopandas steps (s):", {k: round(v, 2) for k, v in steps.items()})
    return out


def _covering(pts: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame) -> pd.DataFrame:
    """(eid, polygon columns) pairs where the polygon covers the point (edges included).

    Polygons on the left: the tree is built on the points and each polygon is prepared
    once (geopandas' fast direction for few polygons and many points).
    """
    return pd.DataFrame(gpd.sjoin(polygons, pts, predicate="covers", how="inner")
                        .drop(columns="geometry"))


def _micro(out: pd.DataFrame, pts: gpd.GeoDataFrame, micro: gpd.GeoDataFrame) -> None:
    hit = _covering(pts, micro[["code", "parent_code", "geometry"]])
    own = out.grid_code.to_numpy(dtype=object)[hit.eid.to_numpy(dtype=int)]
    hit = hit.loc[hit.parent_code.to_numpy(dtype=object) == own]
    out["micro_grid_code"] = _smallest_code(hit, len(out))


def _smallest_code(hit: pd.DataFrame, n: int) -> np.ndarray:
    """Per event id 0..n-1, the smallest ``code`` among its hits (None when none)."""
    first = hit.sort_values(["eid", "code"]).drop_duplicates("eid")
    codes = np.full(n, None, dtype=object)
    codes[first.eid.to_numpy()] = first.code.to_numpy(dtype=object)
    return codes


def _dedicated(out: pd.DataFrame, pts: gpd.GeoDataFrame, ded: gpd.GeoDataFrame) -> None:
    hit = _covering(pts, ded)
    lists = hit.groupby("eid")["code"].agg(lambda s: sorted(set(s)))
    out["dedicated"] = lists.reindex(out.index)


def _nearest(out: pd.DataFrame, pts: gpd.GeoDataFrame, ordinary: gpd.GeoDataFrame,
             micro: gpd.GeoDataFrame, srid: int) -> None:
    """Points outside every grid: nearest grid (projected), snapped within tolerance."""
    out["nearest_grid_code"] = None
    out["nearest_distance_m"] = np.nan
    lost = pts[out.grid_code.isna().values]
    if lost.empty:
        return
    near = gpd.sjoin_nearest(lost.to_crs(srid), ordinary.to_crs(srid), distance_col="d")
    near = near.sort_values(["eid", "d", "code"]).drop_duplicates("eid")
    idx = near.eid.to_numpy()
    out.loc[idx, "nearest_grid_code"] = near.code.to_numpy()
    out.loc[idx, "nearest_distance_m"] = near.d.to_numpy()
    snapped = idx[near.d.to_numpy() <= TOLERANCE_M]
    out.loc[idx, "assignment"] = "unassigned"
    out.loc[snapped, "assignment"] = "snapped"
    out.loc[snapped, "grid_code"] = out.loc[snapped, "nearest_grid_code"]
    if len(snapped):
        sp = pts.iloc[snapped].to_crs(srid)
        mm = micro.to_crs(srid)
        mm = mm[mm.parent_code.isin(set(out.loc[snapped, "grid_code"]))]
        pairs = gpd.sjoin_nearest(sp, mm[["code", "parent_code", "geometry"]],
                                  distance_col="d")
        pairs = pairs[pairs.parent_code.values == out.grid_code.values[pairs.eid.values]]
        best = pairs.sort_values(["eid", "d", "code"]).drop_duplicates("eid")
        out.loc[best.eid.to_numpy(), "micro_grid_code"] = best.code.to_numpy()


def _cameras(pts: gpd.GeoDataFrame, cams: gpd.GeoDataFrame, srid: int) -> list[list[str]]:
    online = cams[cams.status == "online"].reset_index(drop=True)
    cam_m = online.geometry.to_crs(srid).values
    ev_m = pts.geometry.to_crs(srid).values
    reach = float(online.range_m.max()) * 1.01 + 1.0
    ev_i, cam_i = shapely.STRtree(cam_m).query(ev_m, predicate="dwithin", distance=reach)
    ex, ey = shapely.get_x(pts.geometry.values), shapely.get_y(pts.geometry.values)
    cx, cy = shapely.get_x(online.geometry.values), shapely.get_y(online.geometry.values)
    bearing, dist = geodesic_bearing_distance(cx[cam_i], cy[cam_i], ex[ev_i], ey[ev_i])
    face = is_facing(bearing, online.azimuth_deg.values[cam_i], online.fov_deg.values[cam_i],
                     online.camera_type.values[cam_i])
    ok = covers(dist, online.range_m.values[cam_i], face, online.status.values[cam_i])
    pick = pd.DataFrame({"eid": ev_i[ok], "d": dist[ok],
                         "code": online.code.values[cam_i[ok]]})
    pick = pick.sort_values(["eid", "d", "code"])
    pick = pick[pick.groupby("eid").cumcount().to_numpy() < K]
    lists: list[list[str]] = [[] for _ in range(len(pts))]
    for eid, code in zip(pick.eid.to_numpy(), pick.code.to_numpy(dtype=object), strict=True):
        lists[eid].append(code)
    return lists


# --------------------------------------------------------------------------- compare


def stored(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text(
            "SELECT client_id, grid_code, micro_grid_code, dedicated_grid_codes AS dedicated,"
            " assignment, nearest_grid_code, nearest_distance_m, camera_codes"
            " FROM events_with_assignment"), conn)


def compare(sql: pd.DataFrame, mem: pd.DataFrame) -> dict[str, int]:
    """Count events on which the two paths differ, per field (examples printed)."""
    both = sql.merge(mem, on="client_id", suffixes=("_sql", "_mem"))
    diffs: dict[str, int] = {}
    for field in ("grid_code", "micro_grid_code", "assignment", "nearest_grid_code"):
        a, b = both[f"{field}_sql"], both[f"{field}_mem"]
        bad = ~((a == b) | (a.isna() & b.isna()))
        diffs[field] = int(bad.sum())
        _examples(both[bad], field)
    norm = [(list(x) if isinstance(x, list | np.ndarray) else []) for x in both.dedicated_sql]
    normm = [(list(x) if isinstance(x, list) else []) for x in both.dedicated_mem]
    diffs["dedicated"] = sum(a != b for a, b in zip(norm, normm, strict=True))
    cams = [list(x) if x is not None else [] for x in both.camera_codes_sql]
    bad_cam = [i for i, (a, b) in enumerate(zip(cams, both.camera_codes_mem, strict=True))
               if a != list(b)]
    diffs["camera_codes"] = len(bad_cam)
    _examples(both.iloc[bad_cam], "camera_codes")
    d_sql, d_mem = both.nearest_distance_m_sql, both.nearest_distance_m_mem
    rel = (d_sql - d_mem).abs() / d_mem.clip(lower=1.0)
    diffs["nearest_distance_>0.5%"] = int((rel > 0.005).sum())
    return diffs


def _examples(rows: pd.DataFrame, field: str) -> None:
    for _, row in rows.head(3).iterrows():
        print(f"  differs on {field}: {row.client_id}: sql={row.get(field + '_sql')!r} "
              f"mem={row.get(field + '_mem')!r}")


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=10_000)
    parser.add_argument("--cameras", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--url", default=None, help="server URL (default: test cluster)")
    parser.add_argument("--skip-load", action="store_true", help="reuse gridlink_bench")
    args = parser.parse_args()
    srid = get_settings().metric_srid
    t0 = time.perf_counter()
    city = generate_city(seed=42, grids=args.grids, cameras=args.cameras, events=args.events)
    print(f"generated city in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{k} {len(v):,}" for k, v in city.items()))
    if args.skip_load:
        url = make_url(args.url or "postgresql+psycopg://postgres@127.0.0.1:55433/"
                       ).set(database="gridlink_bench").render_as_string(hide_password=False)
    else:
        url = scratch_database(args.url)
    engine = create_engine(url)
    if not args.skip_load:
        t0 = time.perf_counter()
        load_city(engine, city)
        print(f"loaded with COPY in {time.perf_counter() - t0:.1f} s (not timed below)")

    timings = {}
    for run in ("first", "rerun"):
        t0 = time.perf_counter()
        with Session(engine) as session, session.begin():
            summary = assign_events(session, "all", k=K)
        timings[run] = time.perf_counter() - t0
        print(f"gridlink set-based assign + write + commit ({run} run): {timings[run]:.2f} s, "
              f"{summary.changed:,} rows written")
        print(f"  {summary.events:,} events: {summary.covered:,} covered, {summary.snapped:,} "
              f"snapped, {summary.unassigned:,} unassigned, {summary.with_cameras:,} with "
              "cameras")
        print("  gridlink steps (s):", summary.steps)

    t0 = time.perf_counter()
    mem = oracle(city, srid)
    t_mem = time.perf_counter() - t0
    print(f"geopandas in memory (sjoin + sjoin_nearest + FOV filter): {t_mem:.2f} s")
    for run, seconds in timings.items():
        print(f"ratio gridlink ({run} run, persisted) / geopandas (in memory) = "
              f"{seconds / t_mem:.2f}")
    diffs = compare(stored(engine), mem)
    print("events differing per field:", diffs)
    engine.dispose()


if __name__ == "__main__":
    main()
