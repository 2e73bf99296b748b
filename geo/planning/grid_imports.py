"""A planner's import of grids or micro-grids: new versions with author and reason.

An import of the ``grids`` or ``micro_grids`` layer (geo.importer) never overwrites a grid in
place. For each staged row whose code has a current version that differs (any attribute or
the geometry), the current version is closed at the import's time and a new version opened
with ``version + 1``, ``changed_by`` and ``change_reason`` - as a publish does
(geo.planning.changesets.write_versions), lineage included (geo.planning.lineage); a new
code starts at version 1. Rows equal to the
current version (attributes, and the shape to ~1 cm in any vertex order) change nothing.
A draft changeset published later and touching those grids answers 409 (its base is older
than the new versions).

An import that touches a grid an open draft touches (same code, or overlapping area) is
refused with :class:`~geo.errors.Conflict` (409) naming the draft: publish or discard the
draft first.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import Conflict
from geo.planning.changesets import now
from geo.planning.lineage import record_lineage

SOURCE = "gridlink_grid_source"
_SNAPPED = ("ST_SnapToGrid(t.geom, 1e-7)", "ST_SnapToGrid(s.geom, 1e-7)")
SAME_SHAPE = (f"(CASE WHEN ST_IsValid({_SNAPPED[0]}) AND ST_IsValid({_SNAPPED[1]}) "
              f"THEN ST_Equals({_SNAPPED[0]}, {_SNAPPED[1]}) ELSE t.geom = s.geom END)")
"""Same area to 1e-7° (~1 cm, the precision of gridlink's GeoJSON export), whatever the ring
orientation or start vertex: a re-imported export is no change. Should snapping make a shape
invalid (GEOS would raise), exact equality decides instead."""


@dataclass(frozen=True)
class GridChange:
    """Who imports grids and why (stored in ``changed_by`` / ``change_reason``)."""

    author: str
    reason: str


_OPEN_DRAFTS = f"""
SELECT DISTINCT c.id, c.reason, c.author, d.code
FROM plan_draft_grids d JOIN plan_changesets c ON c.id = d.changeset_id
WHERE c.status = 'draft' AND EXISTS (
    SELECT 1 FROM {SOURCE} s
    WHERE s.code IN (d.code, d.previous_code)
       OR (d.geom && s.geom AND ST_Intersects(d.geom, s.geom) AND NOT ST_Touches(d.geom, s.geom)))
ORDER BY c.id, d.code
"""  # noqa: S608 - constant table name


def check_open_drafts(session: Session) -> None:
    """Raise Conflict naming every open draft that touches a staged grid."""
    rows = session.execute(text(_OPEN_DRAFTS)).mappings().all()
    if not rows:
        return
    first = rows[0]
    raise Conflict(
        f"grid {first['code']} is in open draft changeset {first['id']} ({first['reason']!r} "
        f"by {first['author']}); publish or discard that draft before importing",
        [{"changeset": r["id"], "grid": r["code"], "author": r["author"],
          "reason": r["reason"]} for r in rows])


def write_grid_versions(session: Session, stage: str, columns: list[str], exprs: list[str],
                        change: GridChange) -> tuple[int, int]:
    """Version the grids staged in ``stage`` (importer's text table; ``exprs`` turn its text
    into the ``columns`` of grids); returns (new codes, new versions of existing codes).

    Raises Conflict (nothing written) when an open draft touches one of them.
    """
    fields = [c for c in columns if c != "version"]
    source = ", ".join(f"{e} AS {c}" for c, e in zip(columns, exprs, strict=True)
                       if c != "version")
    session.execute(text(f"DROP TABLE IF EXISTS {SOURCE}"))
    session.execute(text(f"CREATE TEMP TABLE {SOURCE} ON COMMIT DROP AS "  # noqa: S608
                         f"SELECT {source} FROM {stage} s"))
    check_open_drafts(session)
    at = now(session)
    old = ", ".join(f"t.{c}" for c in fields if c != "geom")
    new = ", ".join(f"s.{c}" for c in fields)
    attrs = ", ".join(f"s.{c}" for c in fields if c != "geom")
    closed = session.execute(text(
        f"UPDATE grids t SET valid_to = :at FROM {SOURCE} s "  # noqa: S608
        f"WHERE t.code = s.code AND t.valid_to IS NULL AND (ROW({old}) IS DISTINCT FROM "
        f"ROW({attrs}) OR NOT {SAME_SHAPE})"),
        {"at": at}).rowcount  # type: ignore[attr-defined]
    opened = session.execute(text(
        f"INSERT INTO grids ({', '.join(fields)}, version, valid_from, changed_by, "  # noqa: S608
        f"change_reason) SELECT {new}, COALESCE((SELECT max(h.version) FROM grids h "
        "WHERE h.code = s.code), 0) + 1, :at, :author, :reason "
        f"FROM {SOURCE} s WHERE NOT EXISTS (SELECT 1 FROM grids t WHERE t.code = s.code "
        "AND t.valid_to IS NULL)"),
        {"at": at, "author": change.author, "reason": change.reason}).rowcount  # type: ignore[attr-defined]
    session.execute(text(f"DROP TABLE IF EXISTS {SOURCE}"))
    record_lineage(session, at, None, change.reason)
    return int(opened) - int(closed), int(closed)
