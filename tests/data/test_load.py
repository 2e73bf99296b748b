"""``load_demo``: the demo files go through the importer into PostGIS and tile exactly there."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.demo import ensure_files, load_demo
from data.scale import city_scale

SMALL = {"streets": 1, "communities": 2, "as_of": date(2026, 11, 1)}


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small city's files, generated once for the module."""
    directory = tmp_path_factory.mktemp("demo") / "small"
    ensure_files(city_scale(7, **SMALL), directory)  # type: ignore[arg-type]
    return directory


@pytest.fixture
def loaded(db: Session, demo_files: Path) -> dict[str, int]:
    return load_demo(db, seed=7, directory=demo_files, **SMALL)  # type: ignore[arg-type]


def test_load_demo_imports_every_layer_in_hierarchy_order(
        db: Session, loaded: dict[str, int]) -> None:
    assert list(loaded) == ["areas", "grids", "micro_grids", "buildings", "sites", "workers",
                            "cameras", "roads", "entrances", "events"]
    assert loaded["areas"] == 4 and loaded["cameras"] == 31 and loaded["events"] == 60
    counts = {str(level): int(n) for level, n in db.execute(text(
        "SELECT level, count(*) FROM grids WHERE valid_to IS NULL GROUP BY level")).all()}
    assert counts == {"grid": loaded["grids"], "micro": loaded["micro_grids"]}


def test_grids_tile_their_community_in_postgis(db: Session, loaded: dict[str, int]) -> None:
    rows = db.execute(text("""
        SELECT c.code,
               ST_Area(ST_SymDifference(ST_Union(g.geom), c.geom)::geography) AS gap_m2
        FROM admin_areas c JOIN grids g ON g.parent_code = c.code
        WHERE c.level = 'community' AND g.level = 'grid' AND g.kind <> 'dedicated'
        GROUP BY c.code, c.geom""")).all()
    assert len(rows) == 2
    assert all(row.gap_m2 < 0.01 for row in rows), rows


def test_micro_grids_tile_their_grid_in_postgis(db: Session, loaded: dict[str, int]) -> None:
    worst = db.execute(text("""
        SELECT max(gap_m2) FROM (
            SELECT ST_Area(ST_SymDifference(ST_Union(m.geom), g.geom)::geography) AS gap_m2
            FROM grids g JOIN grids m ON m.parent_code = g.code AND m.level = 'micro'
            WHERE g.level = 'grid' AND g.kind <> 'dedicated'
            GROUP BY g.code, g.geom) AS per_grid""")).scalar_one()
    assert worst < 0.01


@pytest.mark.parametrize("level", ["grid", "micro"])
def test_no_two_grids_overlap_in_postgis(db: Session, loaded: dict[str, int],
                                         level: str) -> None:
    overlapping = db.execute(text("""
        SELECT count(*) FROM grids a JOIN grids b
          ON a.code < b.code AND a.geom && b.geom
        WHERE a.level = :level AND b.level = :level
          AND a.kind <> 'dedicated' AND b.kind <> 'dedicated'
          AND (ST_Overlaps(a.geom, b.geom)
               OR ST_Area(ST_Intersection(a.geom, b.geom)::geography) > 0)"""),
        {"level": level}).scalar_one()
    assert overlapping == 0


def test_households_in_postgis_equal_their_buildings(db: Session,
                                                     loaded: dict[str, int]) -> None:
    mismatched = db.execute(text("""
        SELECT count(*) FROM grids m
        JOIN LATERAL (SELECT coalesce(sum(b.households), 0) AS total FROM buildings b
                      WHERE ST_Covers(m.geom, b.geom)) s ON true
        WHERE m.level = 'micro' AND m.households <> s.total""")).scalar_one()
    assert mismatched == 0


def test_files_are_reused_when_present(tmp_path: Path) -> None:
    scale = city_scale(7, **SMALL)  # type: ignore[arg-type]
    first = ensure_files(scale, tmp_path / "demo")
    stamp = first["grids"].stat().st_mtime_ns
    again = ensure_files(scale, tmp_path / "demo")
    assert again == first and again["grids"].stat().st_mtime_ns == stamp
    assert (tmp_path / "demo" / "manifest.json").is_file()
    assert not (tmp_path / "demo.partial").exists()


def test_load_demo_skips_empty_layers(db: Session, tmp_path: Path) -> None:
    counts = load_demo(db, seed=7, directory=tmp_path / "quiet", cameras=0, events=0,
                       **SMALL)  # type: ignore[arg-type]
    assert counts["cameras"] == 0 and counts["events"] == 0 and counts["grids"] > 0
    assert db.execute(text("SELECT count(*) FROM events")).scalar_one() == 0
