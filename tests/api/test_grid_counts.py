"""One set of numbers: the planner map, validation, the preview and /planning/counts agree,
and imported buildings and cameras have their grid without running anything else."""

from __future__ import annotations

import re

import geopandas as gpd
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import Point, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.grid_counts import COUNT_KINDS, grid_counts
from geo.importer import import_frame
from geo.planning import operations as ops
from geo.planning.changesets import open_changeset, publish
from geo.planning.preview import preview
from geo.planning.validate import validate_area
from tests.conftest import auth
from tests.geo.planning import cases
from tests.geo.planning.cases import COMMUNITY, code

CAMERA_1, CAMERA_4 = "14021300001310000001", "14021300001310000004"  # GB/T 28181 ids
HOUSEHOLDS = {code(1): 300, code(2): 300, code(3): 150, code(4): 450}


def four_grids_with_imported_units(db: Session) -> None:
    """Community 0..400 x 0..100 m, grids 001-004 of 100 m (stored households 0); one
    building per grid centre and a camera in grids 001 and 004, imported."""
    cases.community(db, width=400)
    for i in range(4):
        cases.add_grid(db, code(i + 1), box(100 * i, 0, 100 * (i + 1), 100))
    buildings = gpd.GeoDataFrame(
        {"code": [f"B{i + 1}" for i in range(4)], "name": [f"B{i + 1}" for i in range(4)],
         "households": list(HOUSEHOLDS.values()),
         "population": [3 * h for h in HOUSEHOLDS.values()]},
        geometry=[cases.lonlat(Point(100 * i + 50, 50)) for i in range(4)], crs=4326)
    import_frame(db, "buildings", buildings)
    cameras = gpd.GeoDataFrame(
        {"code": [CAMERA_1, CAMERA_4], "name": ["C1", "C4"]},
        geometry=[cases.lonlat(Point(20, 20)), cases.lonlat(Point(380, 80))], crs=4326)
    import_frame(db, "cameras", cameras)


def test_imported_buildings_and_cameras_have_their_grid(db: Session) -> None:
    four_grids_with_imported_units(db)
    placed = dict(db.execute(text(
        "SELECT code, grid_code FROM buildings UNION ALL SELECT code, grid_code FROM cameras"
        " ORDER BY 1")).all())
    assert placed == {"B1": code(1), "B2": code(2), "B3": code(3), "B4": code(4),
                      CAMERA_1: code(1), CAMERA_4: code(4)}


def test_map_validation_preview_and_counts_agree(client: TestClient, keys: dict[str, str],
                                                 db: Session) -> None:
    four_grids_with_imported_units(db)
    validated = {g.code: g.households for g in validate_area(db, COMMUNITY).grids}
    counted = {c: n["households"] for c, n in grid_counts(db, list(HOUSEHOLDS)).items()}
    assert validated == counted == HOUSEHOLDS

    api = client.get(f"/planning/counts?area={COMMUNITY}", headers=auth(keys, "viewer"))
    assert api.status_code == 200, api.text
    assert {c: n["households"] for c, n in api.json().items()} == HOUSEHOLDS
    assert api.json()[code(1)] == {"buildings": 1, "households": 300, "population": 900,
                                   "sites": 0, "cameras": 1, "workers": 0, "open_events": 0}

    page = client.get(f"/maps/grids?area={COMMUNITY}", headers=auth(keys, "viewer")).text
    shown = dict(re.findall(r'"code": "(\d{15})", [^{}]*?"households": (\d+)', page))
    assert {c: int(h) for c, h in shown.items()} == HOUSEHOLDS
    footprints = re.findall(r'"code": "(B\d)", "households": (\d+)', page)
    assert sorted((c, int(h)) for c, h in footprints) == [
        (f"B{i + 1}", h) for i, h in enumerate(HOUSEHOLDS.values())]

    # grid 001 takes the east half of 002 with its building: only those two are listed,
    # with their full counts before and after
    cs = open_changeset(db, COMMUNITY, "take B2", "li").id
    ops.reshape(db, cs, "li", code(1), shapely.geometry.mapping(cases.lonlat(box(0, 0, 160, 100))))
    view = preview(db, cs)
    after = {g.code: g.households for g in validate_area(db, COMMUNITY, changeset_id=cs).grids}
    assert {g["code"]: (g["before"]["households"], g["after"]["households"])
            for g in view.grids} == {code(1): (300, 600), code(2): (300, 0)}
    assert after == {**HOUSEHOLDS, code(1): 600, code(2): 0}
    drafted = client.get(f"/planning/counts?area={COMMUNITY}&changeset={cs}",
                         headers=auth(keys, "viewer")).json()
    assert {c: n["households"] for c, n in drafted.items()} == after



def households_per_view(client: TestClient, head: dict[str, str], db: Session
                        ) -> dict[str, dict[str, int]]:
    """Households per grid of the community from the planner map's data, validation,
    /planning/counts and /stats?level=grid (published grids)."""
    page = client.get(f"/maps/grids?area={COMMUNITY}", headers=head).text
    stats = client.get("/stats?level=grid", headers=head)
    assert stats.status_code == 200, stats.text
    return {
        "map": {c: int(h) for c, h in re.findall(
            r'"code": "(\d{15})", [^{}]*?"households": (\d+)', page)},
        "validation": {g.code: g.households for g in validate_area(db, COMMUNITY).grids},
        "counts": {c: n["households"] for c, n in client.get(
            f"/planning/counts?area={COMMUNITY}", headers=head).json().items()},
        "stats": {u["unit"]: u["households"] for u in stats.json()["units"]}}


def test_stats_gives_the_same_households_per_grid(client: TestClient, keys: dict[str, str],
                                                  db: Session) -> None:
    """Map data, preview, validation, /planning/counts and /stats?level=grid agree, before
    and after grid 001 takes the east half of 002 with its building."""
    four_grids_with_imported_units(db)
    for i in range(4):  # one event per grid, so that /stats lists every grid
        spot = cases.lonlat(Point(100 * i + 80, 30))  # east of the new edge
        made = client.post("/events", json={"category": "light", "lon": spot.x, "lat": spot.y},
                           headers=auth(keys, "worker"))
        assert made.status_code == 201, made.text
    head = auth(keys, "viewer")
    assert households_per_view(client, head, db) == dict.fromkeys(
        ("map", "validation", "counts", "stats"), HOUSEHOLDS)

    cs = open_changeset(db, COMMUNITY, "take B2", "li").id
    ops.reshape(db, cs, "li", code(1), shapely.geometry.mapping(cases.lonlat(box(0, 0, 160, 100))))
    moved = {**HOUSEHOLDS, code(1): 600, code(2): 0}
    previewed = {g["code"]: (g["before"]["households"], g["after"]["households"])
                 for g in preview(db, cs).grids}
    assert previewed == {c: (HOUSEHOLDS[c], moved[c]) for c in (code(1), code(2))}
    publish(db, cs, "li")
    db.commit()
    assert households_per_view(client, head, db) == dict.fromkeys(
        ("map", "validation", "counts", "stats"), moved)

    stats = client.get("/stats?level=grid", headers=head).json()["units"]
    assert {k: stats[0][k] for k in (*COUNT_KINDS, "unit", "accepted", "score")} == {
        "unit": code(1), "accepted": 1, "score": None, "buildings": 2, "households": 600,
        "population": 1800, "sites": 0, "cameras": 1, "workers": 0, "open_events": 1}
    csv_lines = client.get("/stats?level=grid&format=csv", headers=head).text.splitlines()
    assert csv_lines[0].endswith(",score,reassigned_in,reassigned_out,buildings,households,"
                                 "population,sites,cameras,workers,open_events")
    assert [line.split(",")[-6] for line in csv_lines[1:]] == [str(h) for h in moved.values()]
