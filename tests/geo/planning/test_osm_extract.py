"""A real-world extract through planning: OpenStreetMap buildings shipped by pyrosm.

pyrosm's bundled ``test.osm.pbf`` (a small town in south-east Finland, 26.93-26.97°E,
60.52-60.54°N; nothing is downloaded) gives real footprints. A 700 m x 500 m window of it
becomes community 140213001001 with four Voronoi grids; the buildings are imported (with
``make_valid``), households estimated from footprint area and levels. Then: validation,
a proposal, a balanced split, its preview, publish and undo - with the coverage exact after
each publish and the undo restoring the layer byte for byte. The metric CRS is the local
UTM zone 35N (EPSG:32635), the service area the extract's.
"""

from __future__ import annotations

from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyrosm import OSM, get_data
from shapely.geometry import MultiPolygon, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import to_lonlat, to_metric
from geo.importer import import_frame
from geo.planning.changesets import discard, open_changeset, publish
from geo.planning.history import undo
from geo.planning.preview import preview
from geo.planning.propose import propose
from geo.planning.units import split_balanced
from geo.planning.validate import validate_area
from geo.settings import get_settings
from tests.geo.planning.cases import COMMUNITY, DISTRICT, STREET, code
from tests.geo.planning.test_exact_coverage import coverage_error_areas, layer

UTM35N = 32635


@pytest.fixture
def finnish_town(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings for the extract: metric CRS UTM 35N, service area around it."""
    monkeypatch.setenv("GRIDLINK_METRIC_SRID", str(UTM35N))
    monkeypatch.setenv("GRIDLINK_SERVICE_AREA", "[26.0, 60.0, 28.0, 61.0]")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def osm_buildings() -> gpd.GeoDataFrame:
    """Real footprints (lon/lat) with an estimated number of households (90 m² of floor per
    household, 2 levels unless tagged)."""
    raw = OSM(get_data("test_pbf")).get_buildings()
    levels = raw["building:levels"].astype(float).fillna(2).clip(1, 30)
    area = gpd.GeoSeries(raw.geometry, crs=4326).to_crs(UTM35N).area
    households = np.maximum(1, np.round(area * levels / 90)).astype(int)
    return gpd.GeoDataFrame({"code": [f"OSM{i}" for i in raw["id"]], "name": raw["name"],
                             "households": households, "population": 2 * households},
                            geometry=raw.geometry.values, crs=4326)


def load_window(db: Session) -> gpd.GeoDataFrame:
    """Community = a 700 x 500 m window (UTM), four Voronoi grids; returns its buildings."""
    buildings = osm_buildings()
    centre = to_metric(shapely.Point(26.95, 60.53))
    window_m = box(centre.x - 350, centre.y - 250, centre.x + 350, centre.y + 250)
    window = to_lonlat(window_m)
    inside = buildings[buildings.geometry.representative_point().within(window)]
    for c, level, parent in ((DISTRICT, "district", None), (STREET, "street", DISTRICT)):
        db.execute(text("INSERT INTO admin_areas (code, name, level, parent_code, geom) VALUES "
                        "(:c, :c, :l, :p, ST_Multi(ST_Expand(ST_GeomFromText(:w, 4326), 0.1)))"),
                   {"c": c, "l": level, "p": parent, "w": window.wkt})
    seeds = shapely.MultiPoint([(centre.x + dx, centre.y + dy)
                                for dx, dy in ((-200, -100), (150, -120), (-120, 130), (220, 140))])
    cells = [MultiPolygon([to_lonlat(shapely.set_precision(shapely.intersection(c, window_m),
                                                            1e-3))])
             for c in shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=window_m))]
    db.execute(text("INSERT INTO admin_areas (code, name, level, parent_code, geom) VALUES "
                    "(:c, 'town', 'community', :p, ST_Multi(ST_GeomFromWKB(:w, 4326)))"),
               {"c": COMMUNITY, "p": STREET, "w": shapely.coverage_union_all(cells).wkb})
    grids = gpd.GeoDataFrame({"code": [code(i + 1) for i in range(len(cells))],
                              "name": [f"grid {i + 1}" for i in range(len(cells))],
                              "parent_code": COMMUNITY}, geometry=cells, crs=4326)
    import_frame(db, "grids", grids)
    report = import_frame(db, "buildings", inside, make_valid=True)
    assert report.inserted == len(inside)
    return inside


def test_osm_extract_through_planning(db: Session, finnish_town: None) -> None:
    inside = load_window(db)
    assert len(inside) == 144  # the window of the bundled extract
    placed = db.execute(text("SELECT count(*) FILTER (WHERE grid_code IS NOT NULL), count(*) "
                             "FROM buildings")).one()
    assert placed[0] == placed[1] == len(inside)  # every building has its grid on import

    report = validate_area(db, COMMUNITY)
    assert report.errors == []
    total = int(inside["households"].sum())
    assert sum(g.households for g in report.grids) == total

    draft = propose(db, COMMUNITY, "li")
    assert sum(g["households"] for g in draft.report["grids"]) == total
    assert validate_area(db, COMMUNITY, changeset_id=draft.id).errors == []
    discard(db, draft.id, "li")

    before = layer(db)
    cs = open_changeset(db, COMMUNITY, "split the busiest grid", "li").id
    busiest = max(report.grids, key=lambda g: g.households)
    changed = split_balanced(db, cs, "li", busiest.code, 2)
    view = preview(db, cs)
    sums = {g["code"]: (g["before"]["households"], g["after"]["households"])
            for g in view.grids}
    assert sums[busiest.code][0] == busiest.households
    assert sum(a for _, a in sums.values()) == busiest.households
    publish(db, cs, "li")
    assert coverage_error_areas(db) == (0.0, 0.0)
    after = layer(db)
    assert {c: v for c, v in after.items() if c not in changed} == {
        c: v for c, v in before.items() if c not in changed}

    inverse = undo(db, cs, "li").id
    publish(db, inverse, "li")
    assert {c: g for c, (_, g) in layer(db).items()} == {c: g for c, (_, g) in before.items()}
    assert coverage_error_areas(db) == (0.0, 0.0)
