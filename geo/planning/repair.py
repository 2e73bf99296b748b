"""Auto-repair of a community's coverage, as a draft changeset with a report of what changed.

For each container (the community for its grids, each grid for its micro-grids):

1. invalid shapes are made valid (``make_valid``, polygonal part kept);
2. vertices within ``settings.plan_snap_tolerance_m`` (default 0.5 m) of the parent's or a
   lower-coded neighbour's vertices are snapped to them (the lower code is the reference);
3. parts outside the parent are clipped off;
4. overlaps are removed: the grid with the lower code keeps the overlapping area;
5. sliver gaps (under ``plan_sliver_area_m2`` or thinner than ``plan_sliver_width_m``) go to
   the neighbour sharing the longest edge with them; larger gaps are left and reported.

Geometry work is in metres (``settings.metric_srid``, the CRS validation measures in), so the
tolerance and the areas in the report (m²) are exact; only the grids that changed are
written back (to lon/lat, EPSG:4326), the others keep their coordinates untouched.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from geo.crs import to_lonlat, to_metric
from geo.models import PlanChangeset
from geo.planning.changesets import open_changeset
from geo.planning.kernel import (
    WorkingGrid,
    give_away,
    is_noise_m,
    parent_shape,
    polygonal,
    put,
    working,
)
from geo.settings import Settings, get_settings

GRID_SIZE_M = 1e-6
"""Coordinates are first snapped to this grid (1 µm) so float noise from the lon/lat ->
metres transformation (~1e-10 m) cannot leave invisible spikes along shared edges."""


def _length(geom: BaseGeometry) -> float:
    return float(geom.length)


def _is_sliver(geom: BaseGeometry, settings: Settings) -> bool:
    return bool(geom.area < settings.plan_sliver_area_m2
                or 2 * geom.area / max(geom.length, 1e-9) < settings.plan_sliver_width_m)


def repair_container(parent: BaseGeometry, children: dict[str, BaseGeometry],
                     settings: Settings) -> tuple[dict[str, BaseGeometry], list[dict[str, Any]]]:
    """Repaired shapes of the children of one parent (all in metres), and the actions taken.

    Returns only the children whose shape changed by more than ``plan_noise_area_m2``, and
    a list of actions (dicts with ``action``, ``grids``, ``area_m2``, metric ``location``).
    """
    actions: list[dict[str, Any]] = []
    parent = shapely.set_precision(parent, GRID_SIZE_M)
    shapes: dict[str, BaseGeometry] = {
        c: polygonal(shapely.set_precision(g, GRID_SIZE_M)) for c, g in sorted(children.items())}
    done: list[BaseGeometry] = [parent]
    for code in shapes:  # by code: a grid snaps to the parent and the lower codes
        others = list(done)
        snapped = polygonal(shapely.snap(shapes[code], shapely.union_all(others),
                                         settings.plan_snap_tolerance_m))
        clipped = polygonal(snapped.intersection(parent))
        _note(actions, "clip", [code], snapped.difference(clipped), settings)
        shapes[code] = clipped
        done.append(clipped)
    kept: list[BaseGeometry] = []
    for code, geom in shapes.items():
        taken = polygonal(geom.intersection(shapely.union_all(kept))) if kept else None
        if taken is not None and not taken.is_empty:
            _note(actions, "remove_overlap", [code], taken, settings)
            shapes[code] = polygonal(geom.difference(taken))
        kept.append(shapes[code])
    _fill_gaps(parent, shapes, actions, settings)
    changed = {c: g for c, g in shapes.items()
               if g.symmetric_difference(polygonal(children[c])).area
               > settings.plan_noise_area_m2}
    for code in changed:
        if not any(code in a["grids"] for a in actions):
            _note(actions, "snap", [code], changed[code].symmetric_difference(
                polygonal(children[code])), settings, force=True)
    return changed, actions


def _fill_gaps(parent: BaseGeometry, shapes: dict[str, BaseGeometry],
               actions: list[dict[str, Any]], settings: Settings) -> None:
    gaps = polygonal(parent.difference(shapely.union_all(list(shapes.values()))))
    for gap in gaps.geoms:
        if gap.area <= settings.plan_noise_area_m2:
            continue
        grown = (give_away(gap, shapes, length=_length, noise=is_noise_m, grid_size=GRID_SIZE_M)
                 if _is_sliver(gap, settings) else {})
        if not grown:
            _note(actions, "gap_left", [], gap, settings)
        for code, geom in grown.items():
            _note(actions, "fill_gap", [code], gap, settings)
            shapes[code] = polygonal(shapely.set_precision(geom, GRID_SIZE_M))


def _note(actions: list[dict[str, Any]], action: str, grids: list[str], geom: BaseGeometry,
          settings: Settings, force: bool = False) -> None:
    if geom.is_empty or (geom.area <= settings.plan_noise_area_m2 and not force):
        return
    point = geom.representative_point()
    actions.append({"action": action, "grids": grids, "area_m2": round(geom.area, 3),
                    "location": [point.x, point.y]})


def repair(session: Session, community: str, author: str,
           reason: str = "auto-repair of coverage", settings: Settings | None = None
           ) -> PlanChangeset:
    """Open a draft changeset repairing the grids and micro-grids of ``community``.

    The draft is to be reviewed (preview, validate) and published like any other; its
    ``report`` lists every action. Raises NotFound for an unknown community.
    """
    settings = settings or get_settings()
    changeset = open_changeset(session, community, reason, author, kind="repair")
    cs = changeset.id
    actions = _repair_level(session, cs, "grid", community, settings)
    for grid in working(session, cs, "@parent_code = :p AND @level = 'grid' "
                         "AND @kind <> 'dedicated'", {"p": community}):
        actions += _repair_level(session, cs, "micro", grid.code, settings)
    changeset.report = {"actions": actions, "changed": sorted(
        {g for a in actions for g in a["grids"]})}
    session.flush()
    return changeset


def _repair_level(session: Session, cs: int, level: str, parent_code: str,
                  settings: Settings) -> list[dict[str, Any]]:
    children: dict[str, WorkingGrid] = {g.code: g for g in working(
        session, cs, "@parent_code = :p AND @level = :level AND @kind <> 'dedicated'",
        {"p": parent_code, "level": level})}
    if not children:
        return []
    parent = to_metric(polygonal(parent_shape(session, cs, level, parent_code)))
    changed, actions = repair_container(
        parent, {c: to_metric(g.geom) for c, g in children.items()}, settings)
    for code, geom in changed.items():
        put(session, cs, replace(children[code], geom=to_lonlat(geom)))
    for a in actions:
        lon, lat = to_lonlat(shapely.Point(a["location"])).coords[0]
        a.update(level=level, parent_code=parent_code, location=[round(lon, 7), round(lat, 7)])
    return actions
