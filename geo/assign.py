"""Set-based assignment of events to grids and cameras, and of units (buildings, sites,
cameras) to grids. Same rules as :mod:`geo.locate` (see its docstring), all in SQL.

Plan (measured in bench/assign.py):

1. the selected events are copied to a temporary table with their position projected to
   ``settings.metric_srid`` (metres), GiST-indexed;
2. current grids are cut with ``ST_Subdivide`` into small pieces (GiST-indexed), so each
   point-in-polygon test is cheap; owner = smallest covering ordinary grid code, micro-grid =
   smallest covering micro-grid code of that grid, dedicated grids = all covering, sorted;
3. events covered by no grid look up the nearest grid (KNN on the geography index,
   re-ranked by ellipsoidal distance); within ``gps_tolerance_m`` they are ``snapped``;
4. cameras: online cameras joined to events with ``ST_DWithin`` on the projected columns
   (range + 1 % + 1 m, a superset), pre-filtered by planar bearing ± 3°, then the exact
   geodesic distance/bearing and FOV test of :mod:`geo.cameras`; the k nearest per event by
   (distance, code) with ``row_number()``;
5. one ``UPDATE events ... FROM`` writes everything.

The projected pre-filters are exact supersets for points within ±3° longitude of the metric
zone's central meridian (scale error < 0.2 %, meridian convergence < 3°).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from geo.cameras import OFF_AXIS_SQL, bearing_sql, facing_sql
from geo.errors import NotFound, ValidationFailed
from geo.settings import Settings, get_settings

SUBDIVIDE_VERTICES = 64
BEARING_MARGIN_DEG = 3.0
SUBDIVIDE_FROM_EVENTS = 5000
"""Below this many events the grids are joined directly (their own GiST index)."""


@dataclass
class AssignSummary:
    """What one assignment run did; ``seconds`` is wall time, ``steps`` per step (s)."""

    events: int
    covered: int
    snapped: int
    unassigned: int
    with_cameras: int
    seconds: float
    changed: int = 0
    steps: dict[str, float] = field(default_factory=dict)


def assign_events(session: Session, scope: str = "all", *, area_code: str | None = None,
                  k: int = 3, settings: Settings | None = None) -> AssignSummary:
    """(Re)assign events in one set-based pass; never commits.

    Parameters
    ----------
    scope
        ``"all"``, ``"unassigned"`` (never assigned, or unassigned last time) or ``"area"``
        (events covered by the admin area or current grid ``area_code``).
    k
        Cameras stored per event (``events.camera_codes``, nearest first), 0-50.

    Raises
    ------
    ValidationFailed for a bad scope or k; NotFound for an unknown ``area_code``.
    """
    settings = settings or get_settings()
    if not 0 <= k <= 50:
        raise ValidationFailed("k must be 0-50", [{"field": "k", "value": k}])
    clock = _Clock()
    _roomy_temp_buffers(session)
    count = _select_events(session, scope, area_code, settings.metric_srid)
    clock.lap("select")
    hits = HITS_FROM_PIECES.format(pieces=_grid_pieces(session)) if (
        count >= SUBDIVIDE_FROM_EVENTS) else HITS_FROM_EVENTS
    clock.lap("subdivide")
    _grid_owners(session, hits)
    clock.lap("grids")
    _snap_outside(session, settings.gps_tolerance_m)
    clock.lap("snap")
    _camera_picks(session, k, settings.metric_srid)
    clock.lap("cameras")
    summary = _write_events(session)
    clock.lap("write")
    summary.seconds, summary.steps = clock.total(), clock.steps
    return summary


class _Clock:
    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.steps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = round(now - self.last, 3)
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


def _select_events(session: Session, scope: str, area_code: str | None, srid: int) -> int:
    params: dict[str, object] = {}
    if scope == "all":
        where = "TRUE"
    elif scope == "unassigned":
        where = "(e.assignment IS NULL OR e.assignment = 'unassigned')"
    elif scope == "area":
        where, params = _area_filter(session, area_code)
    else:
        raise ValidationFailed(f"unknown scope {scope!r}",
                               [{"field": "scope", "allowed": ["all", "unassigned", "area"]}])
    session.execute(text("DROP TABLE IF EXISTS _ev"))
    session.execute(text(
        "CREATE TEMP TABLE _ev ON COMMIT DROP AS SELECT e.id, e.geom,"  # noqa: S608 - constant SQL fragments, values bound
        " ST_Transform(e.geom, :srid) AS geom_m FROM events e WHERE " + where
        + " ORDER BY e.geom"),
        {"srid": srid, **params})
    session.execute(text("ALTER TABLE _ev ADD PRIMARY KEY (id)"))
    session.execute(text("CREATE INDEX ON _ev USING gist (geom)"))
    session.execute(text("CREATE INDEX ON _ev USING gist (geom_m)"))
    session.execute(text("ANALYZE _ev"))
    return int(session.execute(text("SELECT count(*) FROM _ev")).scalar_one())


def _area_filter(session: Session, code: str | None) -> tuple[str, dict[str, object]]:
    found = session.execute(text(
        "SELECT 1 FROM admin_areas WHERE code = :c UNION ALL"
        " SELECT 1 FROM grids WHERE code = :c AND valid_to IS NULL"), {"c": code}).first()
    if found is None:
        raise NotFound(f"no admin area or current grid with code {code!r}",
                       [{"field": "area", "value": code}])
    return ("EXISTS (SELECT 1 FROM (SELECT geom FROM admin_areas WHERE code = :area UNION ALL"
            " SELECT geom FROM grids WHERE code = :area AND valid_to IS NULL) a"
            " WHERE ST_Covers(a.geom, e.geom))", {"area": code})


def _grid_pieces(session: Session) -> str:
    """Current grids cut into pieces of at most SUBDIVIDE_VERTICES vertices: "_gp"."""
    session.execute(text("DROP TABLE IF EXISTS _gp"))
    session.execute(text(
        "CREATE TEMP TABLE _gp ON COMMIT DROP AS SELECT code, level, kind, parent_code,"
        " community_code, ST_Subdivide(geom, :n) AS geom FROM grids WHERE valid_to IS NULL"),
        {"n": SUBDIVIDE_VERTICES})
    session.execute(text("CREATE INDEX ON _gp USING gist (geom)"))
    session.execute(text("ANALYZE _gp"))
    return "_gp"


HITS_FROM_PIECES = """
    SELECT x.id, g.code, g.level, g.kind, g.parent_code, g.community_code
    FROM {pieces} g CROSS JOIN LATERAL (
      SELECT e.id FROM _ev e WHERE ST_Covers(g.geom, e.geom) OFFSET 0) x"""
"""Many events: drive from the grid pieces, so each polygon is prepared once (PostGIS caches
the prepared geometry of a repeated first argument) and probes the events' index."""

HITS_FROM_EVENTS = """
    SELECT e.id, g.code, g.level, g.kind, g.parent_code, g.community_code
    FROM _ev e JOIN grids g ON g.valid_to IS NULL AND ST_Covers(g.geom, e.geom)"""
"""Few events: probe the grids' own GiST index per event."""


def _grid_owners(session: Session, hits: str) -> None:
    """_own(id, grid_code, community_code, micro_grid_code, dedicated): covering grids.

    ``hits`` is one of HITS_FROM_PIECES / HITS_FROM_EVENTS (constant SQL). A hash
    aggregate settles the common case (one micro-grid, of the owner grid, no dedicated
    grid); the few events on shared edges or in dedicated grids are settled afterwards
    with ordered aggregates.
    """
    for name in ("_hit", "_own"):
        session.execute(text(f"DROP TABLE IF EXISTS {name}"))
    session.execute(text(f"CREATE TEMP TABLE _hit ON COMMIT DROP AS {hits}"))
    session.execute(text("""
        CREATE TEMP TABLE _own ON COMMIT DROP AS
        SELECT a.id, a.grid_code, g.community_code, NULL::text[] AS dedicated,
               CASE WHEN a.n_micro = 1 AND a.micro_parent = a.grid_code
                    THEN a.micro END AS micro_grid_code,
               (a.n_micro > 1 OR a.n_dedicated > 0) AS mixed,
               CASE WHEN a.grid_code IS NULL THEN NULL ELSE 'covered' END AS assignment,
               NULL::text AS nearest_grid_code, NULL::float8 AS nearest_distance_m
        FROM (
          SELECT id,
            min(code) FILTER (WHERE level = 'grid' AND kind <> 'dedicated') AS grid_code,
            min(code) FILTER (WHERE level = 'micro') AS micro,
            min(parent_code) FILTER (WHERE level = 'micro') AS micro_parent,
            count(*) FILTER (WHERE level = 'micro') AS n_micro,
            count(*) FILTER (WHERE kind = 'dedicated') AS n_dedicated
          FROM _hit GROUP BY id) a
        LEFT JOIN grids g ON g.code = a.grid_code AND g.valid_to IS NULL"""))
    session.execute(text("""
        UPDATE _own o SET micro_grid_code = x.micro, dedicated = x.dedicated FROM (
          SELECT h.id,
            min(h.code) FILTER (WHERE h.level = 'micro' AND h.parent_code = m.grid_code)
              AS micro,
            array_agg(DISTINCT h.code) FILTER (WHERE h.kind = 'dedicated') AS dedicated
          FROM _hit h JOIN _own m ON m.id = h.id AND m.mixed GROUP BY h.id) x
        WHERE o.id = x.id"""))
    session.execute(text(
        "INSERT INTO _own (id) SELECT e.id FROM _ev e"
        " WHERE NOT EXISTS (SELECT 1 FROM _own o WHERE o.id = e.id)"))
    session.execute(text("CREATE UNIQUE INDEX ON _own (id)"))


def _roomy_temp_buffers(session: Session) -> None:
    """Let this connection keep its temporary tables in memory (up to 1 GB, allocated only as
    used); PostgreSQL refuses once the session has touched a temporary table: then no-op."""
    try:
        with session.begin_nested():
            session.execute(text("SET temp_buffers = '1GB'"))
    except DBAPIError:
        pass


def _snap_outside(session: Session, tolerance_m: float) -> None:
    """Nearest grid (geodesic m, ties by code) for events outside every ordinary grid."""
    session.execute(text("""
        UPDATE _own o SET nearest_grid_code = n.code, nearest_distance_m = n.d,
          assignment = CASE WHEN n.d <= :tol THEN 'snapped' ELSE 'unassigned' END,
          grid_code = CASE WHEN n.d <= :tol THEN n.code END,
          community_code = CASE WHEN n.d <= :tol THEN n.community_code END
        FROM _ev e CROSS JOIN LATERAL (
          SELECT code, community_code, d FROM (
            SELECT g.code, g.community_code,
                   ST_Distance(geography(g.geom), geography(e.geom)) AS d
            FROM grids g WHERE g.valid_to IS NULL AND g.level = 'grid'
              AND g.kind <> 'dedicated'
            ORDER BY geography(g.geom) <-> geography(e.geom) LIMIT 8) c
          ORDER BY d, code LIMIT 1) n
        WHERE o.id = e.id AND o.grid_code IS NULL"""), {"tol": tolerance_m})
    session.execute(text("""
        UPDATE _own o SET micro_grid_code = (
          SELECT g.code FROM grids g WHERE g.valid_to IS NULL AND g.level = 'micro'
            AND g.parent_code = o.grid_code
          ORDER BY ST_Distance(geography(g.geom), geography(e.geom)), g.code LIMIT 1)
        FROM _ev e WHERE o.id = e.id AND o.assignment = 'snapped'"""))


def _camera_picks(session: Session, k: int, srid: int) -> None:
    """_cam_pick(id, camera_codes): the k nearest covering online cameras per event."""
    session.execute(text("DROP TABLE IF EXISTS _cam_pick"))
    planar = OFF_AXIS_SQL.format(
        b="degrees(ST_Azimuth(c.geom_m, e.geom_m))", a="c.azimuth_deg")
    session.execute(text(f"""
        CREATE TEMP TABLE _cam_pick ON COMMIT DROP AS
        WITH cam AS MATERIALIZED (
          SELECT code, camera_type, azimuth_deg, fov_deg, range_m, geom,
                 ST_Transform(geom, :srid) AS geom_m
          FROM cameras WHERE status = 'online'),
        cand AS MATERIALIZED (
          SELECT e.id, e.geom AS spot, c.*
          FROM cam c JOIN _ev e ON ST_DWithin(e.geom_m, c.geom_m, c.range_m * 1.01 + 1.0)
          WHERE c.camera_type = 'ptz' OR c.fov_deg >= 360 OR e.geom_m = c.geom_m
             OR abs({planar}) <= c.fov_deg / 2.0 + :margin),
        pair AS MATERIALIZED (
          SELECT c.id, c.code, c.range_m, c.azimuth_deg, c.fov_deg, c.camera_type,
                 ST_Distance(geography(c.geom), geography(c.spot)) AS d,
                 {bearing_sql("c.geom", "c.spot")} AS b
          FROM cand c),
        ok AS (
          SELECT id, code, d, row_number() OVER (PARTITION BY id ORDER BY d, code) AS rn
          FROM pair c WHERE c.d <= c.range_m AND {facing_sql("c.b")})
        SELECT id, array_agg(code ORDER BY rn) AS camera_codes
        FROM ok WHERE rn <= :k GROUP BY id"""),  # noqa: S608 - constant fragments
        {"srid": srid, "k": k, "margin": BEARING_MARGIN_DEG})
    session.execute(text("CREATE UNIQUE INDEX ON _cam_pick (id)"))


def _write_events(session: Session) -> AssignSummary:
    """One UPDATE of the events whose assignment changed (``assigned_at`` = when it did)."""
    changed = session.execute(text("""
        UPDATE events ev SET
          grid_code = x.grid_code, micro_grid_code = x.micro_grid_code,
          community_code = x.community_code, street_code = x.street_code,
          district_code = x.district_code, dedicated_grid_codes = x.dedicated,
          assignment = x.assignment, nearest_grid_code = x.nearest_grid_code,
          nearest_distance_m = x.nearest_distance_m, camera_codes = x.camera_codes,
          assigned_at = now()
        FROM (
          SELECT o.id, o.grid_code, o.micro_grid_code, o.community_code, s.code AS street_code,
                 d.code AS district_code, o.dedicated,
                 coalesce(o.assignment, 'unassigned') AS assignment, o.nearest_grid_code,
                 o.nearest_distance_m, coalesce(p.camera_codes, '{}') AS camera_codes
          FROM _own o
          LEFT JOIN admin_areas c ON c.code = o.community_code
          LEFT JOIN admin_areas s ON s.code = c.parent_code
          LEFT JOIN admin_areas d ON d.code = s.parent_code
          LEFT JOIN _cam_pick p ON p.id = o.id) x
        WHERE ev.id = x.id AND (ev.grid_code, ev.micro_grid_code, ev.community_code,
          ev.street_code, ev.district_code, ev.dedicated_grid_codes, ev.assignment,
          ev.nearest_grid_code, ev.nearest_distance_m, ev.camera_codes)
          IS DISTINCT FROM (x.grid_code, x.micro_grid_code, x.community_code, x.street_code,
          x.district_code, x.dedicated, x.assignment, x.nearest_grid_code,
          x.nearest_distance_m, x.camera_codes)"""))
    row = session.execute(text("""
        SELECT count(*) AS n,
          count(*) FILTER (WHERE o.assignment = 'covered') AS covered,
          count(*) FILTER (WHERE o.assignment = 'snapped') AS snapped,
          count(*) FILTER (WHERE o.assignment IS DISTINCT FROM 'covered'
                           AND o.assignment IS DISTINCT FROM 'snapped') AS unassigned,
          (SELECT count(*) FROM _cam_pick) AS with_cameras
        FROM _own o""")).one()
    return AssignSummary(events=row.n, covered=row.covered, snapped=row.snapped,
                         unassigned=row.unassigned, with_cameras=row.with_cameras, seconds=0.0,
                         changed=int(changed.rowcount))  # type: ignore[attr-defined]


def assign_units(session: Session, area_wkt: str | None = None) -> dict[str, int]:
    """Set ``grid_code`` (and ``micro_grid_code`` of buildings) of buildings, sites and
    cameras inside ``area_wkt`` (WKT, EPSG:4326), or everywhere when None; never commits.

    A unit's position is its point, or ``ST_PointOnSurface`` of its polygon; the owner is
    the smallest covering current ordinary grid code (NULL when none covers it), its
    micro-grid the smallest covering micro-grid code of that grid. Returns rows updated
    per table. Raises :class:`ValidationFailed` for unreadable WKT.
    """
    if area_wkt is not None:
        ok = session.execute(text(
            "SELECT ST_IsValid(ST_GeomFromText(:w, 4326))"), {"w": area_wkt}).scalar()
        if not ok:
            raise ValidationFailed("area is not a valid WKT polygon", [{"field": "area_wkt"}])
    counts: dict[str, int] = {}
    for table, has_micro in (("buildings", True), ("sites", False), ("cameras", False)):
        counts[table] = _assign_table(session, table, has_micro, area_wkt)
    return counts


def _assign_table(session: Session, table: str, has_micro: bool, area_wkt: str | None) -> int:
    area = ("TRUE" if area_wkt is None
            else "ST_Intersects(u.geom, ST_GeomFromText(:area, 4326))")
    micro_set = ", micro_grid_code = x.micro" if has_micro else ""
    sql = f"""
        UPDATE {table} t SET grid_code = x.grid{micro_set}
        FROM (
          SELECT u.code, g.code AS grid, m.code AS micro
          FROM {table} u
          CROSS JOIN LATERAL (SELECT CASE WHEN ST_GeometryType(u.geom) = 'ST_Point'
                                  THEN u.geom ELSE ST_PointOnSurface(u.geom) END AS p) q
          LEFT JOIN LATERAL (
            SELECT code FROM grids WHERE valid_to IS NULL AND level = 'grid'
              AND kind <> 'dedicated' AND ST_Covers(geom, q.p) ORDER BY code LIMIT 1) g ON TRUE
          LEFT JOIN LATERAL (
            SELECT code FROM grids WHERE valid_to IS NULL AND level = 'micro'
              AND parent_code = g.code AND ST_Covers(geom, q.p) ORDER BY code LIMIT 1) m ON TRUE
          WHERE {area}) x
        WHERE t.code = x.code"""  # noqa: S608 - table names are constants, values bound
    return session.execute(text(sql), {"area": area_wkt}).rowcount  # type: ignore[attr-defined]
