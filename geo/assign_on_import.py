"""Units get their grid as soon as they (or the grids) are imported.

After an import of buildings, sites or cameras, the imported units get their ``grid_code``
(and buildings their ``micro_grid_code``); after an import of grids or micro-grids, every
unit in the imported grids' extent does. The rule is :func:`geo.assign.assign_units`
(point or point on surface, smallest covering ordinary grid code), so per-grid exports and
counts are right without running anything else. Runs in the caller's transaction.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.assign import assign_units
from geo.errors import NotFound

UNIT_TABLES = frozenset({"buildings", "sites", "cameras"})
GRID_TABLES = frozenset({"grids"})


def assign_after_import(session: Session, table: str, codes: list[str]) -> dict[str, int]:
    """Assign the units touched by an import of ``codes`` into ``table``; rows updated per
    table (empty when ``table`` holds neither units nor grids)."""
    if table not in UNIT_TABLES | GRID_TABLES or not codes:
        return {}
    current = " AND valid_to IS NULL" if table in GRID_TABLES else ""
    extent = session.scalar(text(
        f"SELECT ST_AsText(ST_Expand(ST_Envelope(ST_Collect(geom)), 1e-7)) FROM {table} "  # noqa: S608
        f"WHERE code = ANY(:codes){current}"), {"codes": codes})
    return assign_units(session, extent) if extent else {}


def area_wkt(session: Session, code: str) -> str:
    """The WKT (lon/lat) of admin area or current grid ``code``; NotFound if there is none."""
    found = session.scalar(text(
        "SELECT ST_AsText(geom) FROM admin_areas WHERE code = :c UNION ALL "
        "SELECT ST_AsText(geom) FROM grids WHERE code = :c AND valid_to IS NULL LIMIT 1"),
        {"c": code})
    if found is None:
        raise NotFound(f"no admin area or current grid with code {code!r}",
                       [{"field": "area", "value": code}])
    return str(found)
