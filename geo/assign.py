"""Set-based assignment of events to grids and cameras, and of units (buildings, sites,
cameras) to grids. Same rules as :mod:`geo.locate` (see its docstring), all in SQL.

Plan (measured in bench/assign.py; see bench/RESULTS.md, Dispatch):

1. the selected events are copied, sorted along the geometry's Hilbert order, into a work
   table with a GiST index, so that nearby points sit on nearby pages;
2. current grids are cut with ``ST_Subdivide`` into small pieces; each piece (prepared once)
   probes the events' index. Owner = smallest covering ordinary grid code, micro-grid =
   smallest covering micro-grid code of that grid, dedicated grids = all covering, sorted;
3. events covered by no grid look up the nearest grid (KNN on the geography index,
   re-ranked by ellipsoidal distance); within ``gps_tolerance_m`` they are ``snapped``;
4. cameras: online cameras probe the events' index with a box that is a superset of their
   range on the ellipsoid, pre-filtered by an approximate bearing ± 3°, then the exact
   geodesic distance/bearing and FOV test of :mod:`geo.cameras`, minus the pairs a building
   hides (the camera's shadows, :mod:`geo.video.views`); the k nearest per event by
   (distance, code) with ``row_number()``;
5. results go to ``event_assignments`` (narrow rows keyed by event id): changed rows are
   updated, new ones inserted; unchanged rows are not written.

Work tables are UNLOGGED tables created inside the caller's transaction (a rollback removes
them; they are dropped before returning), not temporary tables: PostgreSQL never scans
temporary tables with parallel workers, and steps 2 and 4 split well over the cores. For
``SUBDIVIDE_FROM_EVENTS`` events or more, parallel plans are encouraged for the transaction.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import TextClause, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from geo.assign_memory import MEMORY_FROM_EVENTS, assign_in_memory
from geo.cameras import OFF_AXIS_SQL, bearing_sql, facing_sql
from geo.db import local_settings
from geo.errors import NotFound, ValidationFailed
from geo.event_assignments import KEEP_REASSIGNED, write_staged
from geo.events import FINISHED_STATUSES
from geo.nearest_grid import NEAREST_GRIDS
from geo.settings import Settings, get_settings

SUBDIVIDE_VERTICES = 64
BEARING_MARGIN_DEG = 3.0
SUBDIVIDE_FROM_EVENTS = 5000
"""From this many events on, grids are cut into pieces that drive the point-in-polygon join,
and parallel plans are encouraged; below it, each event probes the grids' own GiST index."""

LARGE_RUN_SETTINGS = {"parallel_setup_cost": "0", "parallel_tuple_cost": "0",
                      "min_parallel_table_scan_size": "0", "work_mem": "256MB"}
"""Settings for large runs (transaction-local, restored afterwards): the planner's default
costs keep a 72,000-piece nested loop on one core, and at a million events the default
``work_mem`` sends the sorts and aggregates to disk."""

METRES_PER_DEGREE_LAT_MIN = 110_574.0
"""Shortest degree of latitude on WGS 84 (at the equator), m: range / this ≥ range in °."""
EQUATOR_METRES_PER_DEGREE = 111_319.49
"""a·π/180 for WGS 84, m: a degree of longitude at latitude φ is at least this × cos φ."""


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
    superseded: int = 0
    """Changed rows left as another writer rewrote them while this run computed."""


def assign_events(session: Session, scope: str = "all", *, area_code: str | None = None,
                  area_wkt: str | None = None, open_only: bool = False, k: int | None = None,
                  settings: Settings | None = None,
                  progress: Callable[[int, int, int], None] | None = None) -> AssignSummary:
    """(Re)assign events in one set-based pass; never commits. Cases a dispatcher reassigned
    (``event_reassignments``) keep their grid.

    Parameters
    ----------
    scope
        ``"all"``, ``"unassigned"`` (never assigned, or unassigned last time) or ``"area"``:
        events covered by the admin area or current grid ``area_code``, or intersecting the
        polygon ``area_wkt`` (WKT, EPSG:4326; planning publish passes the changed area).
    open_only
        Leave finished events (closed, rejected) where they were handled.
    k
        Cameras stored per event (``event_assignments.camera_codes``, nearest first), 0-50;
        default ``settings.locate_k`` (as for a single new event).
    progress
        Called after each of the six steps with (events × steps done / 6, events, 0).

    Raises
    ------
    ValidationFailed for a bad scope, area or k; NotFound for an unknown ``area_code``.
    """
    settings = settings or get_settings()
    k = settings.locate_k if k is None else k
    if not 0 <= k <= 50:
        raise ValidationFailed("k must be 0-50", [{"field": "k", "value": k}])
    where, params = _scope_filter(session, scope, area_code, area_wkt)
    if open_only:
        where = f"({where}) AND e.status <> ALL(:finished)"
        params = {**params, "finished": list(FINISHED_STATUSES)}
    where = f"({where}) AND {KEEP_REASSIGNED}"
    clock = _Clock(progress)
    if _selected_at_least(session, where, params, MEMORY_FROM_EVENTS):
        counts = assign_in_memory(session, where, params, k, settings.gps_tolerance_m,
                                  clock.lap, every_event=scope == "all" and not open_only)
        return AssignSummary(events=counts.n, covered=counts.covered, snapped=counts.snapped,
                             unassigned=counts.unassigned, with_cameras=counts.with_cameras,
                             seconds=clock.total(), changed=counts.changed, steps=clock.steps,
                             superseded=counts.superseded)
    work = _WorkTables(session)
    clock.events = work.select_events(where, params)
    large = clock.events >= SUBDIVIDE_FROM_EVENTS
    with local_settings(session, LARGE_RUN_SETTINGS if large else {}):
        clock.lap("select")
        if large:
            work.hits_from_pieces()
        else:
            work.hits_from_grids()
        clock.lap("grids")
        work.owners()
        clock.lap("owners")
        work.snap_outside(settings.gps_tolerance_m)
        clock.lap("snap")
        work.camera_picks(k)
        clock.lap("cameras")
        summary = work.write()
        clock.lap("write")
        work.drop()
    summary.seconds, summary.steps = clock.total(), clock.steps
    return summary


def _selected_at_least(session: Session, where: str, params: dict[str, object],
                       n: int) -> bool:
    """Whether at least ``n`` events match ``where`` (counting stops at ``n``)."""
    return bool(session.execute(text(
        f"SELECT count(*) >= :n FROM (SELECT 1 FROM events e WHERE {where} LIMIT :n) x"),  # noqa: S608
        {**params, "n": n}).scalar_one())


class _Clock:
    STEPS = 6

    def __init__(self, progress: Callable[[int, int, int], None] | None = None) -> None:
        self.start = self.last = time.perf_counter()
        self.steps: dict[str, float] = {}
        self.progress = progress
        self.events = 0

    def lap(self, name: str, events: int | None = None) -> None:
        """Close step ``name`` (``events``: the run's event count, once known)."""
        if events is not None:
            self.events = events
        now = time.perf_counter()
        self.steps[name] = round(now - self.last, 3)
        self.last = now
        if self.progress is not None:
            done = self.events * len(self.steps) // self.STEPS
            self.progress(done, self.events, 0)

    def total(self) -> float:
        return time.perf_counter() - self.start


def _scope_filter(session: Session, scope: str, area_code: str | None,
                  area_wkt: str | None) -> tuple[str, dict[str, object]]:
    """SQL condition on ``events e`` selecting the scope, with its parameters."""
    if scope == "all":
        return "TRUE", {}
    if scope == "unassigned":
        return ("NOT EXISTS (SELECT 1 FROM event_assignments a WHERE a.event_id = e.id"
                " AND a.assignment <> 'unassigned')", {})
    if scope == "area" and (area_code is None) == (area_wkt is None):
        raise ValidationFailed("scope area needs an area code or an area polygon, not both",
                               [{"field": "area"}])
    if scope == "area" and area_wkt is not None:
        _check_wkt(session, area_wkt)
        return "ST_Intersects(e.geom, ST_GeomFromText(:area_wkt, 4326))", {"area_wkt": area_wkt}
    if scope == "area":
        return _area_filter(session, area_code)
    raise ValidationFailed(f"unknown scope {scope!r}",
                           [{"field": "scope", "allowed": ["all", "unassigned", "area"]}])


def _area_filter(session: Session, code: str | None) -> tuple[str, dict[str, object]]:
    found = session.execute(text(
        "SELECT 1 FROM admin_areas WHERE code = :c UNION ALL"
        " SELECT 1 FROM grids WHERE code = :c AND valid_to IS NULL"), {"c": code}).first()
    if found is None:
        raise NotFound(f"no admin area or current grid with code {code!r}",
                       [{"field": "area", "value": code}])
    # one geometry (admin and grid codes differ in length), evaluated once: the events' GiST
    # index finds the candidates (a correlated EXISTS tested all events: 2 s at a million)
    return ("ST_Covers((SELECT geom FROM admin_areas WHERE code = :area UNION ALL"
            " SELECT geom FROM grids WHERE code = :area AND valid_to IS NULL LIMIT 1), e.geom)",
            {"area": code})


_APPROX_OFF_AXIS = OFF_AXIS_SQL.format(
    b="degrees(atan2((e.x - c.x) * c.coslat, e.y - c.y))", a="c.azimuth_deg")
_EXACT_FACING = facing_sql(bearing_sql("c.geom", "e.geom"))
CAMERA_PICKS = """
    SELECT id, array_agg(code ORDER BY rn) AS camera_codes FROM (
      SELECT id, code, row_number() OVER (PARTITION BY id ORDER BY d, code) AS rn
      FROM (
        SELECT e.id, c.code, c.range_m,
               ST_Distance(geography(c.geom), geography(e.geom)) AS d,
               CASE WHEN c.sees_all OR abs(<APPROX>) <= c.fov_deg / 2.0 - :margin THEN true
                    ELSE <EXACT_FACING> END AS facing
        FROM {cam} c JOIN {ev} e ON e.geom && ST_Expand(c.geom, c.dlon, c.dlat)
        WHERE ((e.x - c.x) * c.coslat * :lon_m) ^ 2 + ((e.y - c.y) * :lat_m) ^ 2 <= c.r ^ 2
          AND (c.sees_all OR (e.x = c.x AND e.y = c.y)
               OR abs(<APPROX>) <= c.fov_deg / 2.0 + :margin)) c
      WHERE c.d <= c.range_m AND c.facing
        AND NOT EXISTS (SELECT 1 FROM {hidden} h WHERE h.id = c.id AND h.code = c.code)) ok
    WHERE rn <= :k GROUP BY id""".replace("<APPROX>", _APPROX_OFF_AXIS).replace(
    "<EXACT_FACING>", _EXACT_FACING)
"""Work table ``cam_pick(id, camera_codes)``: the k nearest covering online cameras per event
(:meth:`_WorkTables.camera_picks`); constant fragments of geo.cameras filled in."""


class _Names(dict[str, str]):
    """``{name}`` → ``<prefix>_name`` for any name (the work tables of one run)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def __missing__(self, key: str) -> str:
        return f"{self.prefix}_{key}"


class _WorkTables:
    """The run's work tables ``assign_<random>_<name>`` and the SQL steps that fill them.

    Table names are generated here (never from input), so formatting them into SQL is safe.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.prefix = f"assign_{uuid.uuid4().hex[:12]}"
        self.made: list[str] = []

    def sql(self, template: str) -> TextClause:
        """``template`` with ``{ev}``, ``{own}``... replaced by this run's table names."""
        return text(template.format_map(_Names(self.prefix)))

    def create(self, table: str, select: str, params: dict[str, object] | None = None,
               *, gist: str | None = None) -> None:
        """CREATE UNLOGGED TABLE {table} AS <select> (+ GiST on column ``gist``), analysed."""
        name = _Names(self.prefix)[table]
        self.session.execute(self.sql(f"CREATE UNLOGGED TABLE {name} AS {select}"),
                             params or {})
        self.made.append(name)
        if gist:
            self.session.execute(text(f"CREATE INDEX ON {name} USING gist ({gist})"))
        self.session.execute(text(f"ANALYZE {name}"))

    def drop(self) -> None:
        for name in reversed(self.made):
            self.session.execute(text(f"DROP TABLE IF EXISTS {name}"))
        self.made.clear()

    def select_events(self, where: str, params: dict[str, object]) -> int:
        self.create("ev", "SELECT e.id, e.geom, ST_X(e.geom) AS x, ST_Y(e.geom) AS y"
                    " FROM events e WHERE {where} ORDER BY e.geom".replace("{where}", where),
                    params, gist="geom")
        return int(self.session.execute(self.sql("SELECT count(*) FROM {ev}")).scalar_one())

    def number_grids(self, among: str = "TRUE") -> None:
        """``gl``: current grids (those matching the condition ``among`` on ``grids g``)
        numbered in code order (``gid``), with their class (0 ordinary grid, 1 micro-grid,
        2 dedicated grid) and their parent's number. The point-in-polygon hits and their
        aggregates then carry small integers, not codes: the smallest code is the smallest
        ``gid``. A parent outside the numbered set gets no number, which is right: the owner
        grid of an event is among the grids covering it."""
        self.create("gl", """
            WITH n AS (
              SELECT row_number() OVER (ORDER BY code)::int AS gid, code, parent_code,
                     community_code,
                     (CASE WHEN level = 'micro' THEN 1 WHEN kind = 'dedicated' THEN 2
                           ELSE 0 END)::smallint AS cls
              FROM grids g WHERE valid_to IS NULL AND <among>)
            SELECT n.*, p.gid AS parent_gid FROM n LEFT JOIN n p ON p.code = n.parent_code"""
                    .replace("<among>", among))

    def hits_from_pieces(self) -> None:
        """``hit(id, gid, cls, parent_gid)``: every current grid covering an event; driven
        from grid pieces, so each polygon is prepared once (PostGIS caches the prepared
        geometry of a repeated first argument) and probes the events' index."""
        self.number_grids()
        self.create("gp", """
            SELECT l.gid, l.cls, l.parent_gid, ST_Subdivide(g.geom, :n) AS geom
            FROM grids g JOIN {gl} l ON l.code = g.code WHERE g.valid_to IS NULL""",
                    {"n": SUBDIVIDE_VERTICES})
        self.create("hit", """
            SELECT e.id, g.gid, g.cls, g.parent_gid
            FROM {gp} g CROSS JOIN LATERAL (
              SELECT e.id FROM {ev} e WHERE ST_Covers(g.geom, e.geom)) e""")

    def hits_from_grids(self) -> None:
        """Same as :meth:`hits_from_pieces` for few events: each probes the grids' index,
        and only the grids they hit are numbered (numbering a city's 72,000 grids took
        0.46 s, more than a small run's whole work)."""
        self.create("hit_code", """
            SELECT e.id, g.code FROM {ev} e
            JOIN grids g ON g.valid_to IS NULL AND ST_Covers(g.geom, e.geom)""")
        self.number_grids(among="g.code IN (SELECT code FROM {hit_code})")
        self.create("hit", """
            SELECT h.id, l.gid, l.cls, l.parent_gid
            FROM {hit_code} h JOIN {gl} l ON l.code = h.code""")

    def owners(self) -> None:
        """``own``: one row per event with its grid, community, micro-grid, dedicated grids.

        A hash aggregate settles the common case (one micro-grid, of the owner grid, no
        dedicated grid); the few events on shared edges or in dedicated grids are settled
        afterwards with ordered aggregates.
        """
        self.create("own", """
            SELECT e.id, a.grid_gid, o.code AS grid_code, o.community_code,
                   NULL::text[] AS dedicated,
                   CASE WHEN a.n_micro = 1 AND a.micro_parent = a.grid_gid
                        THEN m.code END AS micro_grid_code,
                   coalesce(a.n_micro > 1 OR a.n_dedicated > 0, false) AS mixed,
                   CASE WHEN a.grid_gid IS NULL THEN NULL ELSE 'covered' END AS assignment,
                   NULL::text AS nearest_grid_code, NULL::float8 AS nearest_distance_m
            FROM {ev} e LEFT JOIN (
              SELECT id,
                min(gid) FILTER (WHERE cls = 0) AS grid_gid,
                min(gid) FILTER (WHERE cls = 1) AS micro_gid,
                min(parent_gid) FILTER (WHERE cls = 1) AS micro_parent,
                count(*) FILTER (WHERE cls = 1) AS n_micro,
                count(*) FILTER (WHERE cls = 2) AS n_dedicated
              FROM {hit} GROUP BY id) a ON a.id = e.id
            LEFT JOIN {gl} o ON o.gid = a.grid_gid
            LEFT JOIN {gl} m ON m.gid = a.micro_gid""")
        self.session.execute(self.sql("""
            UPDATE {own} o SET micro_grid_code = m.code, dedicated = x.dedicated FROM (
              SELECT h.id,
                min(h.gid) FILTER (WHERE h.cls = 1 AND h.parent_gid = w.grid_gid) AS micro,
                array_agg(DISTINCT l.code) FILTER (WHERE h.cls = 2) AS dedicated
              FROM {hit} h JOIN {own} w ON w.id = h.id AND w.mixed
              JOIN {gl} l ON l.gid = h.gid GROUP BY h.id) x
            LEFT JOIN {gl} m ON m.gid = x.micro
            WHERE o.id = x.id"""))

    def snap_outside(self, tolerance_m: float) -> None:
        """Nearest grid (geodesic m, ties by code) for events outside every ordinary grid;
        within ``tolerance_m`` they are ``snapped`` to it (micro-grid: the nearest of it).
        Looked up in a work table (parallel), then copied into ``own``."""
        self.create("near", NEAREST_GRIDS.replace("<points>", """
            SELECT e.id, e.geom FROM {own} o JOIN {ev} e ON e.id = o.id
            WHERE o.grid_code IS NULL"""), {"tol": tolerance_m})
        self.session.execute(self.sql("""
            UPDATE {own} o SET nearest_grid_code = n.code, nearest_distance_m = n.d,
              assignment = CASE WHEN n.d <= :tol THEN 'snapped' ELSE 'unassigned' END,
              grid_code = CASE WHEN n.d <= :tol THEN n.code END,
              community_code = CASE WHEN n.d <= :tol THEN n.community_code END,
              micro_grid_code = n.micro
            FROM {near} n WHERE o.id = n.id"""), {"tol": tolerance_m})

    def camera_picks(self, k: int) -> None:
        """``cam_pick(id, camera_codes)``: the k nearest covering online cameras per event.

        Only cameras whose box reaches the events' extent are kept. Candidates come from a
        longitude/latitude box around each camera that contains its
        range on the ellipsoid (degrees of latitude ≥ 110,574 m, of longitude ≥ 111,319 m ×
        cos of the box's largest latitude); an equirectangular distance (which never exceeds
        the geodesic one by more than the 1 % + 1 m margin) and bearing (error < 0.5° at
        these ranges) pre-filter them: kept within the view ± 3°. The exact geodesic distance
        is computed for every remaining pair; the exact bearing only for pairs within ± 3° of
        an edge of the view (well inside it, the approximate bearing already decides).
        A pair whose spot lies in a building's shadow of that camera (``camera_shadows``,
        :mod:`geo.video.views`) is left out, as /locate marks it ``blocked``: the hidden
        pairs are found from the shadows' side (each shadow probes the events' index).
        """
        self.create("cam", """
            SELECT * FROM (
              SELECT code, camera_type = 'ptz' OR fov_deg >= 360 AS sees_all, azimuth_deg,
                     fov_deg, camera_type, range_m, geom, r, ST_X(geom) AS x, ST_Y(geom) AS y,
                     cos(radians(ST_Y(geom))) AS coslat, r / :lat_m AS dlat,
                     r / (:lon_m * cos(radians(least(89.0, abs(ST_Y(geom)) + r / :lat_m))))
                       AS dlon
              FROM (SELECT *, range_m * 1.01 + 1.0 AS r FROM cameras
                    WHERE status = 'online') c) c
            WHERE ST_Expand(geom, dlon, dlat) && (SELECT ST_Extent(geom) FROM {ev})""",
                    {"lat_m": METRES_PER_DEGREE_LAT_MIN, "lon_m": EQUATOR_METRES_PER_DEGREE})
        self.create("hidden", """
            SELECT DISTINCT e.id, s.camera_code AS code
            FROM camera_shadows s JOIN {cam} c ON c.code = s.camera_code
            JOIN {ev} e ON ST_Covers(s.geom, e.geom)""")
        self.create("cam_pick", CAMERA_PICKS,
                    {"k": k, "margin": BEARING_MARGIN_DEG, "lat_m": METRES_PER_DEGREE_LAT_MIN,
                     "lon_m": EQUATOR_METRES_PER_DEGREE})

    def write(self) -> AssignSummary:
        """Store the run's rows through the one writer
        (:func:`geo.event_assignments.write_staged`: changed rows updated, new ones
        inserted in id order, the daily rollups moved once); ``assigned_at`` = when they
        changed, unchanged rows are not written."""
        self.create("result", """
            SELECT o.id, o.grid_code, o.micro_grid_code, o.community_code,
                   s.code AS street_code, d.code AS district_code,
                   o.dedicated AS dedicated_grid_codes,
                   coalesce(o.assignment, 'unassigned') AS assignment, o.nearest_grid_code,
                   o.nearest_distance_m, coalesce(p.camera_codes, '{{}}') AS camera_codes
            FROM {own} o
            LEFT JOIN admin_areas c ON c.code = o.community_code
            LEFT JOIN admin_areas s ON s.code = c.parent_code
            LEFT JOIN admin_areas d ON d.code = s.parent_code
            LEFT JOIN {cam_pick} p ON p.id = o.id""")
        counts = write_staged(self.session, _Names(self.prefix)["result"],
                              recheck_events=False)
        return AssignSummary(
            events=counts.n, covered=counts.covered, snapped=counts.snapped,
            unassigned=counts.unassigned, with_cameras=counts.with_cameras, seconds=0.0,
            changed=counts.changed)


def _check_wkt(session: Session, area_wkt: str) -> None:
    """ValidationFailed unless ``area_wkt`` is a valid WKT geometry."""
    try:
        with session.begin_nested():
            ok = session.execute(text("SELECT ST_IsValid(ST_GeomFromText(:w, 4326))"),
                                 {"w": area_wkt}).scalar()
    except DBAPIError:
        ok = False
    if not ok:
        raise ValidationFailed("area is not a valid WKT polygon", [{"field": "area_wkt"}])


def assign_units(session: Session, area_wkt: str | None = None) -> dict[str, int]:
    """Set ``grid_code`` (and ``micro_grid_code`` of buildings) of buildings, sites and
    cameras inside ``area_wkt`` (WKT, EPSG:4326), or everywhere when None; never commits.

    A unit's position is its point, or ``ST_PointOnSurface`` of its polygon; the owner is
    the smallest covering current ordinary grid code (NULL when none covers it), its
    micro-grid the smallest covering micro-grid code of that grid. Only rows whose codes
    change are written (no audit row, no dead tuple otherwise). Returns rows updated
    per table. Raises :class:`ValidationFailed` for unreadable WKT.

    Each unit probes ``ix_grids_current_ordinary_geom`` (migration 0035: the owner
    look-up's predicate exactly; 0.05 ms a unit at 36,750 grids) and the micro-grids of its
    grid by ``parent_code``; the position is computed once per unit (the ``OFFSET 0`` fence
    keeps the planner from repeating ``ST_PointOnSurface`` in every probe).
    """
    if area_wkt is not None:
        _check_wkt(session, area_wkt)
    counts: dict[str, int] = {}
    for table, has_micro in (("buildings", True), ("sites", False), ("cameras", False)):
        counts[table] = _assign_table(session, table, has_micro, area_wkt)
    return counts


def _assign_table(session: Session, table: str, has_micro: bool, area_wkt: str | None) -> int:
    area = ("TRUE" if area_wkt is None
            else "ST_Intersects(u.geom, ST_GeomFromText(:area, 4326))")
    micro_set = ", micro_grid_code = x.micro" if has_micro else ""
    micro_changed = " OR t.micro_grid_code IS DISTINCT FROM x.micro" if has_micro else ""
    sql = f"""
        UPDATE {table} t SET grid_code = x.grid{micro_set}
        FROM (
          SELECT q.code, g.code AS grid, m.code AS micro
          FROM (SELECT u.code, CASE WHEN ST_GeometryType(u.geom) = 'ST_Point'
                                    THEN u.geom ELSE ST_PointOnSurface(u.geom) END AS p
                FROM {table} u WHERE {area} OFFSET 0) q
          LEFT JOIN LATERAL (
            SELECT code FROM grids WHERE valid_to IS NULL AND level = 'grid'
              AND kind <> 'dedicated' AND ST_Covers(geom, q.p) ORDER BY code LIMIT 1) g ON TRUE
          LEFT JOIN LATERAL (
            SELECT code FROM grids WHERE valid_to IS NULL AND level = 'micro'
              AND parent_code = g.code AND ST_Covers(geom, q.p) ORDER BY code LIMIT 1) m ON TRUE
          ) x
        WHERE t.code = x.code AND (t.grid_code IS DISTINCT FROM x.grid{micro_changed})"""  # noqa: S608 - table names are constants, values bound
    return session.execute(text(sql), {"area": area_wkt}).rowcount  # type: ignore[attr-defined]
