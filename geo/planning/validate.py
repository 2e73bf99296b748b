"""Validate the grids of an area: coverage, codes, workload balance and compactness, in PostGIS.

The rule is "moderate size, clear boundaries, seamless coverage": the ordinary grids of a
community tile it exactly and the micro-grids of a grid tile that grid. Everything is measured
in metres / m² in the district's metric CRS (geo.districts.metric_srid_for), after
``ST_MakeValid`` so an invalid polygon is reported as such and still takes part in the
coverage checks.

Which grids are checked: the current published grids, or - given a ``changeset_id`` - the grids
as that draft changeset would publish them (its draft rows replace the current rows they name).
Dedicated grids (专属网格) may overlap ordinary ones and are not checked for tiling. A grid
without any micro-grid is not checked for micro-grid tiling.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.districts import with_district_srid
from geo.errors import NotFound
from geo.grid_counts import COUNTS_OF
from geo.planning.candidates import CANDIDATES
from geo.settings import Settings

ERROR_KINDS = frozenset({"gap", "overlap", "outside_parent", "invalid", "code_duplicate",
                         "code_prefix", "code_length", "empty"})
"""Problem kinds that break the coverage or code rules (publishing refuses them), except
gaps, overlaps and parts outside the parent classed ``hairline`` (warnings)."""

_KIDS = f"""
-- composed from module constants only; values are bound parameters
CREATE TEMP TABLE plan_kids ON COMMIT DROP AS
WITH cand AS ({CANDIDATES}),
scope AS (SELECT code FROM cand WHERE level = 'grid' AND kind <> 'dedicated'
          AND (parent_code = ANY(:communities) OR code = ANY(:grids)))
SELECT row_number() OVER () AS kid, c.code, c.name, c.level, c.kind, c.parent_code,
       c.households, c.geom, v.valid, w.g4, ST_Transform(w.g4, :srid) AS gm
FROM cand c
CROSS JOIN LATERAL (SELECT ST_IsValid(c.geom) AS valid) v
CROSS JOIN LATERAL (SELECT CASE WHEN v.valid THEN c.geom
                    ELSE ST_CollectionExtract(ST_MakeValid(c.geom), 3) END AS g4) w
WHERE c.code IN (SELECT code FROM scope)
   OR (c.level = 'micro' AND c.parent_code IN (SELECT code FROM scope))
ORDER BY c.level, c.parent_code, c.code  -- siblings together: PostGIS reuses prepared parents
"""  # noqa: S608

_CONTAINERS = """
CREATE TEMP TABLE plan_cont ON COMMIT DROP AS
SELECT a.code, 'community'::text AS level, 'grid'::text AS child_level, a.geom,
       ST_IsValid(a.geom) AS valid,
       ST_Transform(ST_CollectionExtract(ST_MakeValid(a.geom), 3), :srid) AS gm
FROM admin_areas a WHERE a.code = ANY(:communities)
UNION ALL
SELECT k.code, 'grid', 'micro', k.geom, true, k.gm
FROM plan_kids k
WHERE k.level = 'grid' AND EXISTS (SELECT 1 FROM plan_kids m
                                   WHERE m.level = 'micro' AND m.parent_code = k.code)
"""

_NODED = """
-- node each parent: its children's vertices within :snap metres are inserted into its edges
UPDATE plan_cont c SET gm = CASE WHEN ST_IsValid(n.g) THEN n.g ELSE c.gm END
FROM (SELECT c2.code, ST_Snap(c2.gm, ST_Collect(k.gm), :snap) AS g
      FROM plan_cont c2 JOIN plan_kids k ON k.parent_code = c2.code AND k.level = c2.child_level
      GROUP BY c2.code, c2.gm) n
WHERE n.code = c.code
"""

_SHAPES = """
WITH kin AS MATERIALIZED (
    SELECT k.code, k.level, k.parent_code, k.gm, c.gm AS cgm,
           ST_CoveredBy(k.gm, c.gm) AS inside
    FROM plan_kids k JOIN plan_cont c ON c.code = k.parent_code AND c.child_level = k.level
), ov AS MATERIALIZED (
    SELECT a.level, a.parent_code, ARRAY[least(a.code, b.code), greatest(a.code, b.code)] AS codes,
           ST_Intersection(a.gm, b.gm) AS g
    FROM plan_kids a JOIN plan_kids b
      ON a.parent_code = b.parent_code AND a.level = b.level AND a.kid < b.kid
     AND a.gm && b.gm AND ST_Relate(a.gm, b.gm, '2********')
), ka AS (
    SELECT parent_code, level, count(*) AS n, sum(ST_Area(gm)) AS area, bool_and(inside) AS inside
    FROM kin GROUP BY parent_code, level
), agg AS (
    SELECT c.code, c.child_level, c.gm, COALESCE(ka.n, 0) AS n, COALESCE(ka.area, 0) AS area,
           COALESCE(ka.inside, true) AS inside
    FROM plan_cont c LEFT JOIN ka ON ka.parent_code = c.code AND ka.level = c.child_level
), u AS (
    -- the (noded) parent minus the union of its children
    SELECT 'gap' AS kind, a.child_level AS level, a.code AS parent_code,
           ARRAY[]::text[] AS codes,  -- exact: every piece with an area, however small
           ST_Difference(a.gm, COALESCE(
               (SELECT ST_Union(k.gm) FROM plan_kids k
                WHERE k.parent_code = a.code AND k.level = a.child_level),
               ST_SetSRID('POLYGON EMPTY'::geometry, :srid))) AS g
    FROM agg a
    UNION ALL
    SELECT 'overlap', level, parent_code, codes, g FROM ov
    UNION ALL
    SELECT 'outside_parent', level, parent_code, ARRAY[code], ST_Difference(gm, cgm)
    FROM kin WHERE NOT inside
), pieces AS (
    SELECT kind, level, parent_code, codes, d.geom AS g
    FROM u CROSS JOIN LATERAL ST_Dump(ST_CollectionExtract(u.g, 3)) d
)
SELECT p.kind, p.level, p.parent_code, p.codes, ST_Area(p.g) AS area_m2,
       ST_Perimeter(p.g) AS perimeter_m, ST_AsGeoJSON(ST_Transform(p.g, 4326), 7) AS geojson,
       ST_X(pt) AS lon, ST_Y(pt) AS lat,
       ARRAY(SELECT k.code FROM plan_kids k
             WHERE k.parent_code = p.parent_code AND k.level = p.level
               AND ST_DWithin(k.gm, p.g, 0.01) ORDER BY k.code) AS near
FROM pieces p CROSS JOIN LATERAL ST_Transform(ST_PointOnSurface(p.g), 4326) pt
WHERE ST_Area(p.g) > 0
ORDER BY p.kind, p.parent_code, p.codes, ST_Area(p.g) DESC
"""

_INVALID = """
SELECT k.code, k.level, k.parent_code, ST_IsValidReason(k.geom) AS reason,
       ST_AsGeoJSON((ST_IsValidDetail(k.geom)).location, 7) AS location
FROM plan_kids k WHERE NOT k.valid
UNION ALL
SELECT c.code, c.level, NULL, ST_IsValidReason(c.geom),
       ST_AsGeoJSON((ST_IsValidDetail(c.geom)).location, 7)
FROM plan_cont c WHERE NOT c.valid
ORDER BY 1
"""

_METRICS = """
SELECT k.code, k.level, k.parent_code, k.households AS attr_households,
       ST_Area(k.gm) AS area_m2, ST_Perimeter(k.gm) AS perimeter_m,
       n.households AS building_households, n.buildings,
       CASE WHEN ST_Area(k.gm) < :sliver_area
              OR 2 * ST_Area(k.gm) / NULLIF(ST_Perimeter(k.gm), 0) < :sliver_width
            THEN ST_AsGeoJSON(k.g4, 7) END AS sliver_geojson
FROM plan_kids k
JOIN ({counts}) n ON n.id = k.kid  -- the counts every view uses (geo.grid_counts)
ORDER BY k.level, k.code
"""


@dataclass
class Problem:
    """One thing wrong with the grids of an area.

    ``kind``: gap, overlap, outside_parent, invalid, empty, code_duplicate, code_prefix,
    code_length (errors); sliver, households_out_of_band, not_compact (warnings).
    ``level`` is the level of the grids concerned (grid or micro), ``parent_code`` the
    community or grid they should tile, ``codes`` the grids concerned. ``area_m2`` in m²,
    ``location`` a lon/lat point (EPSG:4326) inside the problem, ``geometry`` GeoJSON.
    Gaps, overlaps and parts outside carry ``width_m`` (mean width 2·A/P, metres) and
    ``size`` (:func:`size_class`: hairline, sliver or area; a hairline is a warning);
    ``sliver`` is True for hairlines and slivers.
    """

    kind: str
    severity: str
    level: str
    parent_code: str | None
    codes: list[str]
    message: str
    area_m2: float | None = None
    location: list[float] | None = None
    geometry: dict[str, Any] | None = None
    sliver: bool = False
    width_m: float | None = None
    size: str | None = None


@dataclass
class GridMetrics:
    """Workload and shape of one grid or micro-grid.

    ``households`` counts buildings whose point-on-surface lies in the grid when the area has
    buildings, else the grid's own ``households`` attribute (``households_source`` says which).
    ``deviation`` = (households - target) / target; ``compactness`` = Polsby-Popper 4πA/P²
    (1 = disc, a long snake tends to 0); ``area_m2`` in m².
    """

    code: str
    level: str
    parent_code: str
    households: int
    households_source: str
    buildings: int
    target: int
    band: tuple[int, int]
    deviation: float
    status: str
    area_m2: float
    compactness: float


@dataclass
class ValidationReport:
    """Everything found in one area; ``ok`` is True when no problem is an error."""

    area_code: str
    changeset_id: int | None
    problems: list[Problem] = field(default_factory=list)
    grids: list[GridMetrics] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def counts(self) -> dict[str, int]:
        """Number of problems per kind."""
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report: ok, counts, problems (with GeoJSON geometries), grid metrics."""
        return {"area_code": self.area_code, "changeset_id": self.changeset_id, "ok": self.ok,
                "counts": self.counts(), "problems": [asdict(p) for p in self.problems],
                "grids": [asdict(g) for g in self.grids]}

    def to_geojson(self) -> dict[str, Any]:
        """The problems with a geometry, as a GeoJSON FeatureCollection (lon/lat)."""
        feats = [{"type": "Feature", "geometry": p.geometry,
                  "properties": {k: v for k, v in asdict(p).items() if k != "geometry"}}
                 for p in self.problems if p.geometry is not None]
        return {"type": "FeatureCollection", "features": feats}


def scope_of(session: Session, area_code: str) -> tuple[list[str], list[str]]:
    """The communities and the grids whose tiling validating ``area_code`` checks.

    A district or street gives all its communities; a community itself; a grid code gives
    that grid (its micro-grids are checked). Raises NotFound for an unknown code.
    """
    communities = session.scalars(text("""
        WITH RECURSIVE t AS (
            SELECT code, level FROM admin_areas WHERE code = :c
            UNION ALL
            SELECT a.code, a.level FROM admin_areas a JOIN t ON a.parent_code = t.code)
        SELECT code FROM t WHERE level = 'community' ORDER BY code"""), {"c": area_code}).all()
    if communities:
        return list(communities), []
    level = session.scalar(text("SELECT level FROM grids WHERE code = :c AND valid_to IS NULL"),
                           {"c": area_code})
    if level == "grid":
        return [], [area_code]
    is_area = session.scalar(text("SELECT 1 FROM admin_areas WHERE code = :c"), {"c": area_code})
    if is_area:
        return [], []
    raise NotFound(f"no community, street, district or grid has code {area_code!r}",
                   [{"field": "area", "value": area_code}])


def validate_area(session: Session, area_code: str, changeset_id: int | None = None,
                  settings: Settings | None = None) -> ValidationReport:
    """Validate the grids of ``area_code`` (district, street, community or grid code).

    Parameters
    ----------
    session : an open session; two temporary tables are created (dropped at commit).
    area_code : admin area code (every community below it) or a grid code (its micro-grids).
    changeset_id : validate the grids as this draft would publish them; None = as published.

    Returns
    -------
    ValidationReport with problems (areas in m², GeoJSON in EPSG:4326) and per-grid metrics.
    Raises NotFound for an unknown area code.
    """
    settings = with_district_srid(session, area_code, settings)  # the district's metric CRS
    communities, grids = scope_of(session, area_code)
    parts = [_validate_part(session, chunk, grids, changeset_id, settings)
             for chunk in community_chunks(communities, changeset_id)]
    invalid = [p for part in parts for p in part.invalid]
    shapes = [p for part in parts for p in part.shapes]
    codes = [p for part in parts for p in part.codes]
    metrics = [r for part in parts for r in part.metrics]
    if len(parts) > 1:  # the order one statement over the whole scope gives
        shapes.sort(key=lambda p: (p.kind, p.parent_code or "",
                                   [] if p.kind == "gap" else p.codes, -(p.area_m2 or 0)))
        metrics.sort(key=lambda r: (r["level"], r["code"]))
        codes.sort(key=lambda p: p.codes)
    counted = {r["level"] for r in metrics if r["buildings"] > 0}
    report = ValidationReport(area_code=area_code, changeset_id=changeset_id)
    report.grids = [grid_metrics(row, row["level"] in counted, settings) for row in metrics]
    report.problems = [*invalid, *shapes, *metric_problems(metrics, report.grids, settings),
                       *codes]
    return report


CHUNK_COMMUNITIES = 40
"""Communities validated per round when a published area has more (a 10,000-grid district has
1,665): each round's statements stay far below the statement timeout (60 s; one statement
over that district ran longer under load), and the temporary tables stay small."""


def community_chunks(communities: list[str], changeset_id: int | None) -> list[list[str]]:
    """The rounds of a validation: ``communities`` in sorted groups of
    :data:`CHUNK_COMMUNITIES` for published grids (whose current codes are unique, so no
    duplicate can span two groups); one round for a draft (a duplicate code it creates may be
    anywhere in its area) or an area of up to that many communities."""
    if changeset_id is not None or len(communities) <= CHUNK_COMMUNITIES:
        return [communities]
    return [communities[i:i + CHUNK_COMMUNITIES]
            for i in range(0, len(communities), CHUNK_COMMUNITIES)]


@dataclass
class _Part:
    """What one round of a validation found (its metric rows not yet judged)."""

    invalid: list[Problem]
    shapes: list[Problem]
    codes: list[Problem]
    metrics: list[Any]


def _validate_part(session: Session, communities: list[str], grids: list[str],
                   changeset_id: int | None, settings: Settings) -> _Part:
    """Stage the grids of ``communities`` (and ``grids``) and find their problems."""
    _stage(session, communities, grids, changeset_id, settings.metric_srid,
           settings.plan_coverage_snap_m)
    invalid = invalid_problems(session)
    shapes = shape_problems(session, settings)
    metrics = session.execute(text(_METRICS.format(counts=COUNTS_OF.format(
        grids="SELECT kid AS id, code, g4 AS geom FROM plan_kids"))), {
        "sliver_area": settings.plan_sliver_area_m2,
        "sliver_width": settings.plan_sliver_width_m}).mappings().all()
    codes = code_problems(session, settings)
    session.execute(text("DROP TABLE IF EXISTS pg_temp.plan_kids, pg_temp.plan_cont"))
    return _Part(invalid, shapes, codes, list(metrics))


_PUBLISHED_REVISION = """
SELECT (SELECT string_agg(format('%s.%s.%s', layer, revision, extract(epoch FROM changed_at)),
                          ';' ORDER BY layer)
        FROM layer_revisions WHERE layer IN ('grids', 'buildings'))
       || ';areas.' || coalesce((SELECT max(id) FROM layer_changes WHERE layer = 'areas'), 0)
"""


def published_revision(session: Session) -> str | None:
    """A token that changes with every committed write that validating published grids
    depends on: the revision counters of ``grids`` and ``buildings`` (migration 0011) and the
    last change of an admin area (the change feed, migration 0010). Both are written at
    commit, inside the writing transaction, so a reader sees the token that goes with the
    rows it sees.

    None when this transaction has written anything itself (its own uncommitted rows move no
    counter, so no token describes what it sees): do not cache then.
    """
    if session.scalar(text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")):
        return None
    return session.scalar(text(_PUBLISHED_REVISION))


def _stage(session: Session, communities: list[str], grids: list[str],
           changeset_id: int | None, srid: int, snap_m: float) -> None:
    """Create the temporary tables plan_kids (grids checked) and plan_cont (what they tile,
    noded with its children's vertices within ``snap_m`` metres)."""
    session.execute(text("DROP TABLE IF EXISTS pg_temp.plan_kids, pg_temp.plan_cont"))
    params = {"cs": changeset_id, "communities": communities, "grids": grids, "srid": srid}
    session.execute(text(_KIDS), params)
    session.execute(text("CREATE INDEX ON plan_kids USING gist (gm)"))
    session.execute(text("CREATE INDEX ON plan_kids (parent_code, level)"))
    session.execute(text(_CONTAINERS), params)
    session.execute(text(_NODED), {"snap": snap_m})
    session.execute(text("ANALYZE plan_kids"))
    session.execute(text("ANALYZE plan_cont"))


def invalid_problems(session: Session) -> list[Problem]:
    """Invalid geometries (bow-ties, self-intersections...) with GEOS's reason and location."""
    out = []
    for row in session.execute(text(_INVALID)).mappings():
        loc = json.loads(row["location"])["coordinates"] if row["location"] else None
        out.append(Problem(
            kind="invalid", severity="error", level=row["level"], parent_code=row["parent_code"],
            codes=[row["code"]], location=loc,
            message=f"{row['level']} {row['code']} has an invalid geometry: {row['reason']}"))
    return out


def shape_problems(session: Session, settings: Settings) -> list[Problem]:
    """Gaps (including along the outer boundary), overlaps and parts outside the parent."""
    rows = session.execute(text(_SHAPES), {"srid": settings.metric_srid}).mappings()
    out = []
    for row in rows:
        area, perim = float(row["area_m2"]), float(row["perimeter_m"])
        width = 2 * area / perim if perim > 0 else 0.0
        size = size_class(area, width, settings)
        codes = list(row["codes"]) or list(row["near"])
        out.append(Problem(
            kind=row["kind"], severity="warning" if size == "hairline" else "error",
            level=row["level"], parent_code=row["parent_code"], codes=codes,
            area_m2=_significant(area), width_m=_significant(width), size=size,
            location=[round(row["lon"], 7), round(row["lat"], 7)],
            geometry=json.loads(row["geojson"]), sliver=size != "area",
            message=_shape_message(row["kind"], row["level"], row["parent_code"], codes, area,
                                   width, size)))
    return out


def size_class(area_m2: float, width_m: float, settings: Settings) -> str:
    """``hairline`` (mean width under ``plan_hairline_width_m``), ``sliver`` (under
    ``plan_sliver_area_m2`` or ``plan_sliver_width_m``) or ``area``."""
    if width_m < settings.plan_hairline_width_m:
        return "hairline"
    if area_m2 < settings.plan_sliver_area_m2 or width_m < settings.plan_sliver_width_m:
        return "sliver"
    return "area"


def _significant(value: float) -> float:
    """``value`` to 4 significant digits (a 1e-9 m² piece stays visible), 3 decimals above."""
    return round(value, 3) if abs(value) >= 1 else float(f"{value:.4g}")


def _shape_message(kind: str, level: str, parent: str, codes: list[str], area: float,
                   width: float, size: str) -> str:
    what = "micro-grids" if level == "micro" else "grids"
    how = f"{area:.3g} m², {width:.3g} m wide" + (f", {size}" if size != "area" else "")
    if kind == "gap":
        near = f" next to {', '.join(codes)}" if codes else ""
        return f"gap ({how}) in {parent} not covered by any of its {what}{near}"
    if kind == "overlap":
        return f"{codes[0]} and {codes[1]} overlap ({how})"
    return f"{codes[0]} reaches outside its parent {parent} ({how})"


def grid_metrics(row: Any, use_buildings: bool, settings: Settings) -> GridMetrics:
    """Households against the target band, and Polsby-Popper compactness, for one grid."""
    micro = row["level"] == "micro"
    target = settings.plan_micro_households_target if micro else settings.plan_households_target
    band = settings.plan_micro_households_band if micro else settings.plan_households_band
    households = int(row["building_households"] if use_buildings else row["attr_households"] or 0)
    status = "under" if households < band[0] else "over" if households > band[1] else "ok"
    area, perim = float(row["area_m2"]), float(row["perimeter_m"])
    compactness = 4 * 3.141592653589793 * area / perim**2 if perim > 0 else 0.0
    return GridMetrics(
        code=row["code"], level=row["level"], parent_code=row["parent_code"],
        households=households, households_source="buildings" if use_buildings else "attribute",
        buildings=int(row["buildings"]), target=target, band=(band[0], band[1]),
        deviation=round((households - target) / target, 4), status=status,
        area_m2=round(area, 3), compactness=round(compactness, 4))


def metric_problems(rows: Any, metrics: list[GridMetrics], settings: Settings) -> list[Problem]:
    """Warnings: sliver grids, households outside the band, snake-shaped grids."""
    out = []
    for row, m in zip(rows, metrics, strict=True):
        what = "micro-grid" if m.level == "micro" else "grid"
        if m.area_m2 == 0:
            out.append(Problem("empty", "error", m.level, m.parent_code, [m.code],
                               f"{what} {m.code} has no area"))
            continue
        if row["sliver_geojson"]:
            out.append(Problem(
                "sliver", "warning", m.level, m.parent_code, [m.code],
                f"{what} {m.code} is a sliver ({m.area_m2:.2f} m²)", area_m2=m.area_m2,
                geometry=json.loads(row["sliver_geojson"]), sliver=True))
        if m.status != "ok":
            out.append(Problem(
                "households_out_of_band", "warning", m.level, m.parent_code, [m.code],
                f"{what} {m.code} has {m.households} households, outside {m.band[0]}-"
                f"{m.band[1]} (target {m.target}, deviation {m.deviation:+.0%})"))
        if m.compactness < settings.plan_min_compactness:
            out.append(Problem(
                "not_compact", "warning", m.level, m.parent_code, [m.code],
                f"{what} {m.code} is snake-shaped: Polsby-Popper {m.compactness:.3f} < "
                f"{settings.plan_min_compactness}"))
    return out


def code_problems(session: Session, settings: Settings) -> list[Problem]:
    """Duplicate codes, a code not starting with its parent's, a code of the wrong length."""
    rows = session.execute(text(
        "SELECT code, level, parent_code, count(*) OVER (PARTITION BY code) AS n "
        "FROM plan_kids ORDER BY code")).mappings().all()
    out, seen = [], set()
    for r in rows:
        code, parent, level = r["code"], r["parent_code"], r["level"]
        if r["n"] > 1 and code not in seen:
            seen.add(code)
            out.append(Problem("code_duplicate", "error", level, parent, [code],
                               f"code {code} is used by {r['n']} {level}s"))
        if not code.startswith(parent):
            out.append(Problem("code_prefix", "error", level, parent, [code],
                               f"{level} code {code} does not start with its parent's {parent}"))
        elif not _length_ok(code, parent, level, settings):
            out.append(Problem("code_length", "error", level, parent, [code],
                               f"{level} code {code} has {len(code)} digits"))
    return out


def _length_ok(code: str, parent: str, level: str, settings: Settings) -> bool:
    if not code.isdigit():
        return False
    if level == "micro":
        return len(code) - len(parent) in settings.micro_grid_suffix_lengths
    return len(code) in settings.grid_code_lengths
