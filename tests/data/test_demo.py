"""The demo city generator, in memory: tiling, codes, sums, determinism, files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from data.demo import LOAD_ORDER, city_without_events, generate_city, stream_city, write_city
from data.demo_attributes import EVENT_CATEGORIES, EVENT_STATUSES
from data.geometry import to_metric
from data.scale import city_scale

AS_OF = date(2026, 11, 1)
SMALL = {"seed": 7, "streets": 1, "communities": 2, "as_of": AS_OF}
"""A city of one street, two communities, twelve grids."""

Layers = dict[str, gpd.GeoDataFrame | pd.DataFrame]


@pytest.fixture(scope="module")
def small_city() -> Layers:
    return generate_city(**SMALL)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def default_city() -> Layers:
    return generate_city(seed=42, as_of=AS_OF)


def ordinary(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return grids[grids["kind"] != "dedicated"]


def metric(frame: gpd.GeoDataFrame) -> np.ndarray:
    return to_metric(np.asarray(frame.geometry.array, dtype=object), 4547)


def assert_children_tile_parent(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame) -> None:
    """Every parent is exactly the coverage union of its children (EPSG:4547, m²)."""
    assert set(children["parent_code"]) == set(parents["code"])
    child_m, parent_m = metric(children), metric(parents)
    for index, code in enumerate(parents["code"]):
        mine = child_m[(children["parent_code"] == code).to_numpy()]
        assert shapely.coverage_is_valid(mine), code
        union = shapely.coverage_union_all(mine)
        assert shapely.area(shapely.symmetric_difference(union, parent_m[index])) < 1e-6, code
        assert abs(shapely.area(mine).sum() - shapely.area(parent_m[index])) < 1e-3, code


def test_city_scale_keeps_real_proportions() -> None:
    default = city_scale(as_of=AS_OF)
    assert (default.streets, default.communities, default.grids) == (18, 200, 1200)
    assert (default.cameras, default.events) == (3066, 6000)
    bench = city_scale(grids=10_000, cameras=100_000, events=1_000_000, as_of=AS_OF)
    assert (bench.streets, bench.communities) == (150, 1667)
    small = city_scale(**SMALL)  # type: ignore[arg-type]
    assert (small.streets, small.communities, small.grids) == (1, 2, 12)
    assert small.key == "seed7-s1-c2-g12-cam31-ev60-2026-11-01"


def test_city_scale_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match=r"streets \(3\) <= communities \(2\)"):
        city_scale(streets=3, communities=2)
    with pytest.raises(ValueError, match="6-digit GB/T 28181 serial"):
        city_scale(cameras=1_000_000)


def test_small_city_has_the_requested_hierarchy(small_city: Layers) -> None:
    areas, grids, micros = small_city["areas"], small_city["grids"], small_city["micro_grids"]
    assert areas["level"].value_counts().to_dict() == {"district": 1, "street": 1,
                                                       "community": 2}
    assert areas["code"].tolist()[:2] == ["140213", "140213001"]
    assert len(ordinary(grids)) == 12
    assert 60 <= len(micros) <= 84
    assert grids["code"].str.len().eq(15).all() and micros["code"].str.len().eq(17).all()
    for frame in (areas.iloc[1:], grids, micros):
        assert all(code.startswith(parent) for code, parent in
                   zip(frame["code"], frame["parent_code"], strict=True))
    assert (areas.geom_type == "Polygon").all() and (grids.geom_type == "Polygon").all()


def test_grid_codes_run_from_001_in_each_community(small_city: Layers) -> None:
    grids = ordinary(small_city["grids"])
    for _, group in grids.groupby("parent_code"):
        assert group["code"].str[-3:].astype(int).tolist() == list(range(1, len(group) + 1))
        assert group["name"].iloc[0].endswith("第1网格")


def test_every_level_tiles_its_parent_exactly(small_city: Layers) -> None:
    areas = small_city["areas"]
    streets = areas[areas["level"] == "street"]
    communities = areas[areas["level"] == "community"]
    grids = ordinary(small_city["grids"])
    assert_children_tile_parent(streets, areas[areas["level"] == "district"])
    assert_children_tile_parent(communities, streets)
    assert_children_tile_parent(grids, communities)
    assert_children_tile_parent(small_city["micro_grids"], grids)


def test_rounded_coordinates_keep_every_polygon_valid(small_city: Layers) -> None:
    for layer in ("areas", "grids", "micro_grids", "buildings", "events"):
        coords = shapely.get_coordinates(small_city[layer].geometry.array)
        assert np.array_equal(coords, coords.round(7)), layer
        assert shapely.is_valid(small_city[layer].geometry.array).all(), layer


def test_households_are_the_sums_of_buildings(small_city: Layers) -> None:
    buildings, micros = small_city["buildings"], small_city["micro_grids"]
    joined = gpd.sjoin(buildings, micros, predicate="within", lsuffix="b", rsuffix="m")
    assert len(joined) == len(buildings)  # each building in exactly one micro-grid
    assert (joined["code_b"].str[1:18] == joined["code_m"]).all()
    sums = joined.groupby("code_m")[["households_b", "population_b"]].sum()
    by_code = micros.set_index("code")
    assert (sums["households_b"] == by_code.loc[sums.index, "households"]).all()
    assert (sums["population_b"] == by_code.loc[sums.index, "population"]).all()
    grid_sums = micros.groupby("parent_code")["households"].sum()
    grids = ordinary(small_city["grids"]).set_index("code")
    assert (grid_sums == grids.loc[grid_sums.index, "households"]).all()
    assert small_city["areas"]["households"].iloc[0] == buildings["households"].sum()


def test_dedicated_grids_sit_inside_the_ordinary_grids(small_city: Layers) -> None:
    grids = small_city["grids"]
    dedicated = grids[grids["kind"] == "dedicated"]
    assert len(dedicated) >= 1
    assert dedicated["code"].str[12].eq("9").all()
    assert dedicated["name"].str.endswith("专属网格").all()
    cover = shapely.union_all(ordinary(grids).geometry.array)
    assert shapely.within(dedicated.geometry.array, cover).all()


def test_generation_is_deterministic(small_city: Layers) -> None:
    again = generate_city(**SMALL)  # type: ignore[arg-type]
    for layer in LOAD_ORDER:
        first, second = small_city[layer], again[layer]
        table = pd.DataFrame(first.drop(columns="geometry", errors="ignore"))
        other = pd.DataFrame(second.drop(columns="geometry", errors="ignore"))
        assert table.to_csv(index=False).encode() == other.to_csv(index=False).encode(), layer
        if isinstance(first, gpd.GeoDataFrame):
            assert shapely.equals_identical(first.geometry.array, second.geometry.array).all()
    other_seed = generate_city(**{**SMALL, "seed": 8})  # type: ignore[arg-type]
    assert not shapely.equals(other_seed["micro_grids"].geometry.iloc[0],
                              small_city["micro_grids"].geometry.iloc[0])


def test_events_are_realistic_and_include_edge_cases(small_city: Layers) -> None:
    events, areas = small_city["events"], small_city["areas"]
    assert len(events) == 60 and events["client_id"].is_unique
    assert set(events["category"]) <= set(EVENT_CATEGORIES)
    assert set(events["status"]) <= set(EVENT_STATUSES) and events["status"].nunique() >= 2
    end = pd.Timestamp(AS_OF, tz="UTC")
    assert events["reported_at"].between(end - pd.Timedelta(days=182), end).all()
    district = areas.geometry.iloc[0]
    outside = ~shapely.covers(district, events.geometry.array)
    assert outside.sum() == 3
    assert (events.loc[outside, "source"] == "hotline_12345").all()
    grids = ordinary(small_city["grids"])
    touching = gpd.sjoin(events, grids, predicate="intersects").groupby(level=0).size()
    assert (touching >= 2).sum() >= 3  # on shared grid vertices


def test_cameras_follow_gb28181_and_their_sites(small_city: Layers) -> None:
    cameras, sites = small_city["cameras"], small_city["sites"]
    assert len(cameras) == 31 and cameras["code"].is_unique
    assert cameras["code"].str.fullmatch(r"14021300(00|08)13[12]0\d{6}").all()
    assert cameras["azimuth_deg"].between(0, 360, inclusive="left").all()
    ptz = cameras["camera_type"] == "ptz"
    assert (cameras.loc[ptz, "fov_deg"] == 360).all()
    assert cameras.loc[~ptz, "fov_deg"].between(40, 120).all()
    assert cameras["range_m"].between(30, 150).all()
    assert (cameras["stream_url"] == "rtsp://video.local/" + cameras["code"]).all()
    owned = cameras["site_code"].dropna()
    categories = sites.set_index("code").loc[owned, "category"]
    assert set(categories) <= {"old_compound", "smart_compound", "primary_school"}


def test_workers_staff_every_grid(small_city: Layers) -> None:
    workers, grids = small_city["workers"], small_city["grids"]
    roles = workers.groupby("role")["grid_code"].apply(set)
    assert roles["grid_leader"] == set(grids["code"])
    assert roles["grid_worker"] == set(ordinary(grids)["code"])
    assert roles["helper"] == set(small_city["micro_grids"]["code"])
    assert workers["phone"].str.fullmatch(r"1\d{10}").all()


def test_default_city_is_shaped_like_pingcheng(default_city: Layers) -> None:
    areas, grids = default_city["areas"], default_city["grids"]
    assert areas["level"].value_counts().to_dict() == {"district": 1, "street": 18,
                                                       "community": 200}
    assert grids["kind"].value_counts().to_dict() == {"urban": 1020, "dedicated": 270,
                                                      "rural": 180}
    district_km2 = shapely.area(metric(areas.iloc[:1]))[0] / 1e6
    assert 227.9 < district_km2 < 228.1
    assert 280 < ordinary(grids)["households"].mean() < 320
    site_counts = default_city["sites"]["category"].value_counts()
    assert (site_counts["old_compound"], site_counts["primary_school"],
            site_counts["smart_compound"]) == (135, 69, 29)
    assert len(default_city["cameras"]) == 3066
    assert default_city["cameras"]["site_code"].notna().sum() > 1500
    assert 0.03 < (default_city["cameras"]["status"] == "offline").mean() < 0.07


def test_default_city_layers_are_valid_coverages(default_city: Layers) -> None:
    grids = ordinary(default_city["grids"]).geometry.array
    micros = default_city["micro_grids"].geometry.array
    assert shapely.coverage_is_valid(grids) and shapely.coverage_is_valid(micros)
    assert shapely.is_valid(grids).all() and shapely.is_valid(micros).all()
    assert (shapely.get_type_id(grids) == 3).all()  # one polygon each, no stray piece


def test_write_city_round_trips_through_geopackage(small_city: Layers, tmp_path: Path) -> None:
    paths = write_city(small_city, tmp_path)
    assert [p.name for p in paths.values()] == [
        "areas.gpkg", "grids.gpkg", "micro_grids.gpkg", "buildings.gpkg", "sites.gpkg",
        "workers.csv", "cameras.gpkg", "roads.gpkg", "entrances.gpkg", "events.gpkg"]
    grids = pyogrio.read_dataframe(paths["grids"])
    assert grids["code"].tolist() == small_city["grids"]["code"].tolist()
    assert (grids.geom_type == "MultiPolygon").all()
    original = small_city["grids"].geometry.array
    assert shapely.equals(grids.geometry.array, original).all()
    workers = pd.read_csv(paths["workers"], dtype=str)
    assert workers["grid_code"].tolist() == small_city["workers"]["grid_code"].tolist()


def test_write_city_as_geojson(small_city: Layers, tmp_path: Path) -> None:
    paths = write_city(small_city, tmp_path, fmt="geojson")
    events = pyogrio.read_dataframe(paths["events"])
    assert len(events) == 60 and paths["events"].suffix == ".geojson"
    with pytest.raises(ValueError, match="unknown format 'shp'"):
        write_city(small_city, tmp_path, fmt="shp")


def test_roads_are_the_streets_between_blocks(small_city: Layers) -> None:
    """Every road is an edge of the micro-grid tiling inside the district: 主干道 on a
    community boundary, 支路 on a grid boundary, 步行道 inside a grid; none on the
    district's outline."""
    roads = small_city["roads"]
    assert roads["kind"].value_counts().sort_index().to_dict() == {
        "主干道": 12, "支路": 73, "步行道": 95}
    assert set(zip(roads["kind"], roads["width_m"], strict=True)) == {
        ("主干道", 24.0), ("支路", 12.0), ("步行道", 4.0)}
    assert roads["code"].is_unique and roads["code"].str.match(r"^R140213\d{6}$").all()
    middle = shapely.line_interpolate_point(metric(roads), 0.5, normalized=True)
    areas = small_city["areas"]
    district = metric(areas[areas["level"] == "district"])[0]
    communities = shapely.union_all(shapely.boundary(metric(
        areas[areas["level"] == "community"])))
    grids = shapely.union_all(shapely.boundary(metric(ordinary(small_city["grids"]))))
    micros = shapely.union_all(shapely.boundary(metric(small_city["micro_grids"])))
    assert (shapely.distance(middle, micros) < 0.05).all()
    assert (shapely.distance(middle, shapely.boundary(district)) > 0.05).all()
    on_community = shapely.distance(middle, communities) < 0.05
    on_grid = shapely.distance(middle, grids) < 0.05
    kinds = roads["kind"].to_numpy()
    assert (kinds[on_community] == "主干道").all()
    assert (kinds[on_grid & ~on_community] == "支路").all()
    assert (kinds[~on_grid] == "步行道").all()


def test_schools_and_compounds_have_gates_on_their_block(small_city: Layers) -> None:
    gates, sites = small_city["entrances"], small_city["sites"]
    by_site = gates.groupby("site_code").size().to_dict()
    category = dict(zip(sites["code"], sites["category"], strict=True))
    assert sorted(category[s] for s in by_site) == [
        "kindergarten", "old_compound", "primary_school", "smart_compound"]
    assert all(2 <= n <= 3 for s, n in by_site.items() if category[s].endswith("compound"))
    assert sorted(gates["kind"]) == ["小区门", "小区门", "小区门", "小区门", "校门", "校门"]
    assert all(code.startswith(site) for code, site in zip(gates["code"], gates["site_code"],
                                                           strict=True))
    micro_of = {code: "".join(code[1:]) for code in sites["code"]}  # S + micro-grid code
    micros = small_city["micro_grids"].set_index("code")
    blocks = metric(micros.loc[[micro_of[s] for s in gates["site_code"]]])
    assert (shapely.distance(metric(gates), shapely.boundary(blocks)) < 0.05).all()


def test_streamed_events_come_in_batches_deterministic_with_running_client_ids() -> None:
    scale = city_scale(42, grids=60, events=2_500, as_of=date(2026, 12, 1))
    built = city_without_events(scale)
    layers, batches = stream_city(scale, batch=1_000, layers=built)
    frames = list(batches)
    again = pd.concat(list(stream_city(scale, batch=1_000, layers=built)[1]))
    events = pd.concat(frames)
    assert [len(f) for f in frames] == [1_000, 1_000, 500]
    assert len(layers["events"]) == 0 and len(layers["grids"]) == len(
        generate_city(42, grids=60, events=0, as_of=date(2026, 12, 1))["grids"])
    assert events.client_id.tolist() == [f"DEMO42-{i:07d}" for i in range(1, 2_501)]
    assert events.drop(columns="geometry").equals(again.drop(columns="geometry"))
    assert shapely.equals_exact(events.geometry.values, again.geometry.values, 0).all()
    assert frames[0].crs == "EPSG:4326" and (events.reported_at <= pd.Timestamp(
        "2026-12-01", tz="UTC")).all()
    with pytest.raises(ValueError, match="batch must be at least 1"):
        next(stream_city(scale, batch=0, layers=built)[1])
