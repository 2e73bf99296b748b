"""The single-point answer: who is responsible for a spot and which live cameras show it.

:func:`locate` returns the grid chain (district → street → community → grid → micro-grid,
plus dedicated grids), the grid's workers, the k nearest cameras that cover the spot, and the
nearby sites. Rules (the same as the set-based :mod:`geo.assign`):

* **Boundary owner**: a point is covered by a grid when ``ST_Covers`` holds (edges and
  vertices included). When several current ordinary grids cover it (a shared edge or vertex),
  the owner is the one with the **smallest code** (text order); the micro-grid is the
  smallest-code covering micro-grid of that grid. Dedicated grids are listed, all of them.
* **Outside every grid**: the nearest current ordinary grid (geodesic metres, ties by code)
  is reported; within ``settings.gps_tolerance_m`` (30 m) the point is assigned to it with
  ``assignment = "snapped"``, otherwise ``"unassigned"``.
* **Boundary doubt**: every current ordinary grid whose boundary lies within
  ``settings.doubt_tolerance_m`` (15 m) of the point is a candidate, with its geodesic
  distance to the boundary; the answer is *in doubt* when a candidate other than the chosen
  grid exists. ``rule`` says why the chosen grid won: ``inside`` (the only grid covering the
  point), ``smallest_code`` (on a shared edge or vertex), ``nearest`` (snapped from outside),
  ``reassigned`` (a dispatcher's decision, stored events only) or ``none`` (unassigned).
* **Cameras**: see :mod:`geo.cameras`; ordered by distance then code.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import psycopg
from pydantic import BaseModel
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from geo.cameras import bearing_sql, facing_sql
from geo.crs import to_wgs84
from geo.districts import service_area
from geo.errors import OutOfArea, ValidationFailed
from geo.settings import Settings, get_settings
from geo.video.pointing import VIEW_FIELDS, blocked_by_sql, lens_sql, view_values_sql

Assignment = Literal["covered", "snapped", "unassigned"]
DoubtRule = Literal["inside", "smallest_code", "nearest", "reassigned", "none"]
POINT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
ROLE_ORDER = {"grid_leader": 0, "grid_worker": 1, "helper": 2}
"""Workers are listed by role in this order (others last), then by code."""


def role_order_sql(column: str) -> str:
    """SQL sort key of a worker's role ``column`` after :data:`ROLE_ORDER` (constant SQL)."""
    whens = " ".join(f"WHEN '{role}' THEN {rank}" for role, rank in ROLE_ORDER.items())
    return f"CASE {column} {whens} ELSE 9 END"


Executor = Session | Connection
"""Anything :func:`locate` can run its statements on (an ORM session or a Core connection)."""


ADMIN_SQL = (
    "SELECT c.name AS c_name, s.code AS s_code, s.name AS s_name,"
    " d.code AS d_code, d.name AS d_name FROM admin_areas c"
    " LEFT JOIN admin_areas s ON s.code = c.parent_code"
    " LEFT JOIN admin_areas d ON d.code = s.parent_code WHERE c.code = :code")
WORKERS_SQL = ("SELECT code, name, role, phone, grid_code FROM workers"  # noqa: S608
               " WHERE grid_code = :grid OR grid_code = :micro"
               f" ORDER BY {role_order_sql('role')}, code")
SITES_SQL = (
    "SELECT code, name, category, grid_code,"  # noqa: S608
    f" ST_Distance(geography(geom), geography({POINT})) AS distance_m FROM sites"
    f" WHERE ST_DWithin(geography(geom), geography({POINT}), :radius)")
"""Statements of :func:`locate` (LOCATE_SQL below builds on SITES_SQL: the sites within
``:radius`` metres, unordered: the JSON aggregates order them by distance, then code)."""


class Ref(BaseModel):
    """A coded unit: admin area, grid or micro-grid."""

    code: str
    name: str


class WorkerRef(BaseModel):
    code: str
    name: str
    role: str
    phone: str | None
    grid_code: str


class CameraHit(BaseModel):
    """A camera seen from the spot. Distances in metres, angles in degrees from true north.

    ``reason`` is None for a camera that sees the spot, else ``offline``, ``out_of_range``,
    ``not_facing`` or ``blocked`` (a building hides the spot: ``blocked_by`` is its code;
    :mod:`geo.video.visibility`). A PTZ camera gets ``pan_deg``, ``tilt_deg`` and ``zoom``,
    a fixed or dome camera ``offset_deg`` (the spot's angle from the image centre, + to the
    right); ``scene_width_m`` is the picture's width at the spot at its tightest view
    (:mod:`geo.video.pointing`); ``preset`` names the best PTZ preset whose view shows the
    spot (the narrowest, :mod:`geo.video.presets`).
    """

    code: str
    name: str
    lon: float
    lat: float
    distance_m: float
    bearing_deg: float
    azimuth_deg: float
    fov_deg: float
    range_m: float
    camera_type: str
    status: str
    stream_url: str | None
    pan_deg: float | None
    facing: bool
    reason: str | None = None
    blocked_by: str | None = None
    tilt_deg: float | None = None
    zoom: float | None = None
    offset_deg: float | None = None
    scene_width_m: float | None = None
    preset: str | None = None


class SiteHit(BaseModel):
    code: str
    name: str
    category: str
    distance_m: float
    grid_code: str | None


class GridCandidate(BaseModel):
    """A grid the point may belong to given the GPS error: ``distance_m`` from the point to
    the grid's boundary (geodesic metres), ``covers`` whether the point is inside or on it."""

    code: str
    name: str
    distance_m: float
    covers: bool


class BoundaryDoubt(BaseModel):
    """Whether another grid is within the GPS tolerance (``tolerance_m``, metres) of the
    point: the candidate grids, nearest boundary first (ties by code), the ``chosen`` grid
    code and the ``rule`` that chose it (see the module docstring)."""

    in_doubt: bool = False
    tolerance_m: float = 0.0
    chosen: str | None = None
    rule: DoubtRule = "none"
    candidates: list[GridCandidate] = []


def boundary_doubt(candidates: list[dict[str, Any]], chosen: str | None, rule: DoubtRule,
                   tolerance_m: float) -> BoundaryDoubt:
    """The :class:`BoundaryDoubt` of ``candidates`` (rows of :data:`NEAR_GRIDS_SQL`, nearest
    first) for the ``chosen`` grid code; the same rule LOCATE_SQL applies in SQL."""
    return BoundaryDoubt(
        in_doubt=any(c["code"] != chosen for c in candidates), tolerance_m=tolerance_m,
        chosen=chosen, rule=rule, candidates=[GridCandidate(**c) for c in candidates])


class LocateResult(BaseModel):
    """Everything a dispatcher needs about one spot (WGS 84 lon/lat)."""

    lon: float
    lat: float
    assignment: Assignment
    snapped: bool
    district: Ref | None = None
    street: Ref | None = None
    community: Ref | None = None
    grid: Ref | None = None
    micro_grid: Ref | None = None
    dedicated_grids: list[Ref] = []
    nearest_grid: Ref | None = None
    nearest_distance_m: float | None = None
    boundary: BoundaryDoubt = BoundaryDoubt()
    workers: list[WorkerRef] = []
    cameras: list[CameraHit] = []
    cameras_wanted: int = 3
    enough_cameras: bool = True
    other_cameras: list[CameraHit] = []
    sites: list[SiteHit] = []


def check_point(lon: float, lat: float, settings: Settings | None = None,
                where: dict[str, Any] | None = None, session: Session | None = None) -> None:
    """Reject non-finite, out-of-range or out-of-area WGS 84 coordinates.

    Raises :class:`OutOfArea` naming the field; when the swapped pair (lat, lon) would fall
    inside the service area (:func:`geo.districts.service_area`, from ``session``) the
    message says the coordinates are likely swapped. ``where`` is merged into the error
    detail (e.g. ``{"row": 12}``).
    """
    settings = settings or get_settings()
    area = service_area(session, settings)
    base = dict(where or {})
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise OutOfArea("coordinates must be finite numbers",
                        [{**base, "field": "lon/lat", "lon": str(lon), "lat": str(lat)}])
    swapped = _in_area(lat, lon, area)
    hint = "; lon and lat look swapped" if swapped else ""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise OutOfArea(f"lon {lon} / lat {lat} out of range (lon ±180, lat ±90){hint}",
                        [{**base, "field": "lon" if abs(lon) > 180 else "lat",
                          "lon": lon, "lat": lat, "likely_swapped": swapped}])
    if not _in_area(lon, lat, area):
        raise OutOfArea(f"point ({lon}, {lat}) is outside the service area{hint}",
                        [{**base, "field": "lon/lat", "lon": lon, "lat": lat,
                          "likely_swapped": swapped,
                          "service_area": list(area)}])


def _in_area(lon: float, lat: float, area: tuple[float, float, float, float]) -> bool:
    west, south, east, north = area
    return west <= lon <= east and south <= lat <= north


def to_wgs84_point(lon: float, lat: float, crs: str | int | None) -> tuple[float, float]:
    """Convert one input point from ``crs`` (4326, 4490, gcj02, bd09) to WGS 84 lon/lat.

    Raises :class:`geo.errors.UnknownCRS` for an unknown name (via :mod:`geo.crs`).
    """
    if crs is None or str(crs).strip().lower() in ("4326", "epsg:4326"):
        return float(lon), float(lat)
    xs, ys = to_wgs84(lon, lat, crs)
    return float(xs.ravel()[0]), float(ys.ravel()[0])


def locate(session: Executor, lon: float, lat: float, *, k: int | None = None,
           radius_m: float | None = None, settings: Settings | None = None) -> LocateResult:
    """The whole answer for the WGS 84 point (``lon``, ``lat``): the sync path.

    ``k`` cameras at most (1-50, default ``settings.locate_k``), sites within ``radius_m``
    metres (0-5000, default ``settings.locate_radius_m``). Raises :class:`OutOfArea` for bad
    coordinates, :class:`ValidationFailed` for bad k/radius. Read-only: never writes or
    commits.
    """
    settings = settings or get_settings()
    k, radius_m = _checked_request(lon, lat, k, radius_m, settings)
    params = {"lon": lon, "lat": lat, "radius": radius_m, "tol": settings.doubt_tolerance_m}
    answer = session.execute(_LOCATE_TEXT, {**params, "k": k}).scalar_one()
    if answer is not None:
        return LocateResult.model_validate_json(answer)
    outside = session.execute(_OUTSIDE_TEXT, params).one()
    return _answer_outside(session, lon, lat, k, settings, outside._asdict())


async def locate_json_async(conn: psycopg.AsyncConnection[Any], lon: float, lat: float, *,
                            k: int | None = None, radius_m: float | None = None,
                            settings: Settings | None = None) -> str | None:
    """:func:`locate`'s answer as JSON text for a point inside a grid, else None: the async
    path, sending the same statement (:data:`LOCATE_SQL`).

    One prepared statement on a psycopg connection (autocommit in production: no
    BEGIN/COMMIT round trips); PostgreSQL builds the JSON text, which the HTTP route sends
    as it is: SQLAlchemy's Core layer, JSON decoding and pydantic cost most of a /locate
    request (bench/RESULTS.md). None means no ordinary grid covers the point: that rare
    case needs the nearest-grid queries of :func:`locate`. Same rules, units and errors as
    :func:`locate`; read-only.
    """
    settings = settings or get_settings()
    k, radius_m = _checked_request(lon, lat, k, radius_m, settings)
    async with psycopg.AsyncRawCursor(conn) as cursor:
        await cursor.execute(LOCATE_RAW_SQL, (lon, lat, radius_m, k,
                                              settings.doubt_tolerance_m), prepare=True)
        values = await cursor.fetchone()
    return None if values is None or values[0] is None else str(values[0])


def _checked_request(lon: float, lat: float, k: int | None, radius_m: float | None,
                     settings: Settings) -> tuple[int, float]:
    """(k, radius_m) with the settings' defaults filled in; raises for bad values."""
    check_point(lon, lat, settings)
    k = settings.locate_k if k is None else k
    radius_m = settings.locate_radius_m if radius_m is None else radius_m
    if not 1 <= k <= 50 or not 0 <= radius_m <= 5000:
        raise ValidationFailed("k must be 1-50 and radius 0-5000 m",
                               [{"field": "k", "value": k}, {"field": "radius", "value": radius_m}])
    return k, radius_m


def _answer_outside(session: Executor, lon: float, lat: float, k: int, settings: Settings,
                    row: dict[str, Any]) -> LocateResult:
    """The result for a point inside no ordinary grid (dedicated grids may cover it): the
    nearest grid, snapped within the GPS tolerance, from the JSON columns of OUTSIDE_SQL."""
    result = LocateResult(lon=lon, lat=lat, assignment="unassigned", snapped=False,
                          cameras_wanted=k)
    result.dedicated_grids = [Ref(code=g["code"], name=g["name"]) for g in row["grids"] or []
                              if g["level"] == "grid" and g["kind"] == "dedicated"]
    _fill_nearest(session, {"lon": lon, "lat": lat}, result, settings.gps_tolerance_m)
    if result.grid is not None:
        _fill_admin_chain(session, result.community.code if result.community else "", result)
        result.workers = workers_of(session, result.grid.code,
                                    result.micro_grid.code if result.micro_grid else None)
    result.cameras, result.other_cameras = _split_cameras(row["cameras"] or [], k)
    result.enough_cameras = len(result.cameras) >= k
    if result.enough_cameras:
        result.other_cameras = []
    result.sites = [SiteHit(**site) for site in row["sites"] or []]
    chosen = result.grid.code if result.grid else None
    result.boundary = boundary_doubt(row["near_grids"] or [], chosen,
                                     "nearest" if chosen else "none", settings.doubt_tolerance_m)
    return result


def _fill_nearest(session: Executor, params: dict[str, Any], result: LocateResult,
                  tolerance_m: float) -> None:
    """Nearest grid and distance; within ``tolerance_m`` the point is snapped to it (grid,
    community code, nearest micro-grid of it)."""
    near = nearest_grid(session, params["lon"], params["lat"])
    if near is None:
        return
    grid, distance = near
    result.nearest_grid = Ref(code=grid.code, name=grid.name)
    result.nearest_distance_m = distance
    if distance > tolerance_m:
        return
    result.assignment, result.snapped = "snapped", True
    result.grid = Ref(code=grid.code, name=grid.name)
    result.community = Ref(code=grid.community_code, name="")
    micro = _nearest_micro(session, params, grid.code)
    if micro:
        result.micro_grid = Ref(code=micro[0].code, name=micro[0].name)


def nearest_grid(session: Executor, lon: float, lat: float) -> tuple[Any, float] | None:
    """The nearest current ordinary grid to a WGS 84 point and its geodesic distance (m).

    KNN on the geography index picks 8 candidates (sphere distance); they are re-ranked by
    the ellipsoidal distance, ties by code. None when there is no grid at all.
    """
    row = session.execute(text(
        "SELECT code, name, level, kind, parent_code, community_code, d FROM ("  # noqa: S608
        " SELECT g.*, ST_Distance(geography(g.geom), geography(" + POINT + ")) AS d"
        " FROM grids g WHERE g.valid_to IS NULL AND g.level = 'grid' AND g.kind <> 'dedicated'"
        " ORDER BY geography(g.geom) <-> geography(" + POINT + ") LIMIT 8) c"
        " ORDER BY d, code LIMIT 1"), {"lon": lon, "lat": lat}).first()
    return None if row is None else (row, float(row.d))


def near_grids(session: Executor, lon: float, lat: float,
               tolerance_m: float) -> list[dict[str, Any]]:
    """Rows of :data:`NEAR_GRIDS_SQL` (code, name, distance_m, covers) for the WGS 84 point:
    current ordinary grids whose boundary is within ``tolerance_m`` metres. Read-only."""
    rows = session.execute(text(NEAR_GRIDS_SQL), {"lon": lon, "lat": lat, "tol": tolerance_m})
    return [dict(r) for r in rows.mappings().all()]


def nearest_micro_grid(session: Executor, lon: float, lat: float,
                       grid_code: str) -> Ref | None:
    """The micro-grid of ``grid_code`` nearest to the WGS 84 point (0 m when it covers the
    point; ties by code), None when the grid has none."""
    rows = _nearest_micro(session, {"lon": lon, "lat": lat}, grid_code)
    return Ref(code=rows[0].code, name=rows[0].name) if rows else None


def _nearest_micro(session: Executor, params: dict[str, Any], grid_code: str) -> list[Any]:
    return list(session.execute(text(
        "SELECT code, name, level, kind, parent_code, community_code FROM grids g"  # noqa: S608
        " WHERE valid_to IS NULL AND level = 'micro' AND parent_code = :grid"
        f" ORDER BY ST_Distance(geography(g.geom), geography({POINT})), code LIMIT 1"),
        {**params, "grid": grid_code}).all())


def _fill_admin_chain(session: Executor, community_code: str, result: LocateResult) -> None:
    row = session.execute(text(ADMIN_SQL), {"code": community_code}).first()
    if row is None:
        return
    result.community = Ref(code=community_code, name=row.c_name)
    if row.s_code:
        result.street = Ref(code=row.s_code, name=row.s_name)
    if row.d_code:
        result.district = Ref(code=row.d_code, name=row.d_name)


def workers_of(session: Executor, grid_code: str, micro_code: str | None) -> list[WorkerRef]:
    """Grid leader(s), grid worker(s) of the grid and helper(s) of the micro-grid."""
    rows = session.execute(text(WORKERS_SQL),
                           {"grid": grid_code, "micro": micro_code}).mappings().all()
    return [WorkerRef(**r) for r in rows]


_CAMERA_CTES = f"""cand AS (
  SELECT c.code, c.name, c.camera_type, c.status, c.stream_url, c.azimuth_deg, c.fov_deg,
         c.range_m, c.height_m, c.fov_tele_deg, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
         ST_Distance(geography(c.geom), geography({POINT})) AS distance_m,
         {bearing_sql("c.geom", POINT)} AS bearing_deg
  FROM cameras c
  WHERE ST_DWithin(geography(c.geom), geography({POINT}),
                   (SELECT max(range_m) FROM cameras))
  OFFSET 0)"""  # noqa: S608 - constant fragments
"""CTE ``cand``: every camera within the largest range of the spot ``:lon``/``:lat``, with
its distance (geodesic metres) and bearing (degrees), each computed once (``OFFSET 0``)."""

_FACING = facing_sql("c.bearing_deg")
_IN_VIEW = f"c.status = 'online' AND c.distance_m <= c.range_m AND {_FACING}"
_JUDGED = f"""(
  SELECT c.*, {_FACING} AS facing, {_IN_VIEW} AS in_view,
         {", ".join(f"{sql} AS {name}" for name, sql in lens_sql("c").items())},
         CASE WHEN {_IN_VIEW} THEN {blocked_by_sql("c", POINT)} END AS blocked_by
  FROM cand c OFFSET 0) j"""  # noqa: S608 - constant fragments
"""Each candidate judged once: ``facing``, ``in_view`` (online, in range and facing the
spot), its lens (:func:`geo.video.pointing.lens_sql`) and, only for a camera in view, the
building whose shadow hides the spot (``blocked_by``; ``OFFSET 0`` keeps PostgreSQL from
repeating that lookup for every use)."""

_REASON = ("CASE WHEN j.status <> 'online' THEN 'offline'"
           " WHEN j.distance_m > j.range_m THEN 'out_of_range'"
           " WHEN NOT j.facing THEN 'not_facing'"
           " WHEN j.blocked_by IS NOT NULL THEN 'blocked' END")
_VIEW_VALUES = view_values_sql("j", POINT)


def camera_rows_sql(extra: str = "") -> str:
    """SELECT of every candidate as a :class:`CameraHit` row (its fields, ``reason`` None
    when the camera sees the spot, the view fields) plus the ``extra`` columns; needs the
    CTEs of :data:`_CAMERA_CTES` (:data:`CAMERA_SQL`)."""
    values = ", ".join(f"{sql} AS {name}" for name, sql in _VIEW_VALUES.items())
    return (f"SELECT j.code, j.name, j.lon, j.lat, j.distance_m, j.bearing_deg,"  # noqa: S608
            f" j.azimuth_deg, j.fov_deg, j.range_m, j.camera_type, j.status, j.stream_url,"
            f" j.facing, {_REASON} AS reason, {values}{extra} FROM {_JUDGED}")


CAMERA_SQL = f"""
WITH {_CAMERA_CTES}
{camera_rows_sql()}
ORDER BY j.distance_m, j.code
"""
"""Every camera within the largest range of the spot ``:lon``/``:lat``, nearest first (ties
by code), with its distance, bearing, ``reason`` (None: it sees the spot), the building that
blocks it, its pointing values and the preset that shows the spot."""


_CAMERA_FIELDS = ("code", "name", "lon", "lat", "distance_m", "bearing_deg", "azimuth_deg",
                  "fov_deg", "range_m", "camera_type", "status", "stream_url", "facing",
                  "reason", *VIEW_FIELDS)
_JSON_HIT = ", ".join(f"'{f}', x.{f}" for f in _CAMERA_FIELDS[:12]) + (
    ", 'pan_deg', CASE WHEN x.camera_type = 'ptz' THEN x.bearing_deg END,"
    " 'facing', x.facing, 'reason', x.reason, ") + ", ".join(
    f"'{f}', x.{f}" for f in VIEW_FIELDS)
"""A :class:`CameraHit` as JSON (its field order; PTZ cameras get the pan angle) from a
:data:`CAMERA_SQL` row ``x``. (Computing the view values here, for the listed cameras only,
cost more server CPU than computing them for every candidate: bench/RESULTS.md, #16.)"""

_JSON_REF = "json_build_object('code', {t}.code, 'name', {t}.name)"

_TOL_DEG = "(CAST(:tol AS float8) / (110000.0 * cos(radians(CAST(:lat AS float8)))))"
"""``:tol`` metres as degrees, never less than the planar lon/lat distance of anything
``:tol`` metres away (a degree of longitude is at least 111,320·cos φ m on WGS 84)."""
_NEAR_GRIDS = (
    "SELECT code, name, distance_m, covers FROM ("  # noqa: S608 - constant, values bound
    " SELECT g.code, g.name, ST_Covers(g.geom, " + POINT + ") AS covers,"
    " ST_Distance(geography(ST_Boundary(g.geom)), geography(" + POINT + ")) AS distance_m"
    " FROM grids g WHERE g.valid_to IS NULL AND g.level = 'grid' AND g.kind <> 'dedicated'"
    " AND g.geom && ST_Expand(" + POINT + ", " + _TOL_DEG + ")"
    " AND ST_DWithin(ST_Boundary(g.geom), " + POINT + ", " + _TOL_DEG + ") OFFSET 0) n"
    " WHERE distance_m <= :tol")
NEAR_GRIDS_SQL = _NEAR_GRIDS + " ORDER BY distance_m, code"
"""Boundary-doubt candidates of the point within ``:tol`` metres: the grids' GiST index
(``ix_grids_current_geom``) finds the grids whose box is near, a planar test in degrees keeps
those whose boundary may be within ``:tol`` (conservative, cheap), and only those few get
the geodesic distance to their boundary (WGS 84 ellipsoid), which decides (``OFFSET 0``
keeps PostgreSQL from testing that distance first). A geodesic test
on every grid whose box is near cost 1.2 ms per point (bench/locate.py --doubt). Nearest
first, ties by code (``_NEAR_GRIDS``: the same unordered, for the JSON aggregates)."""
_JSON_CANDIDATE = ("json_build_object('code', n.code, 'name', n.name,"
                   " 'distance_m', n.distance_m, 'covers', n.covers)")
_DOUBT_JOIN = f"""
  LEFT JOIN LATERAL (
    SELECT bool_or(n.code <> own.code) AS in_doubt,
           json_agg({_JSON_CANDIDATE} ORDER BY n.distance_m, n.code) AS candidates
    FROM ({_NEAR_GRIDS}) n) nd ON true"""  # noqa: S608 - constant SQL
_JSON_BOUNDARY = """
     'boundary', json_build_object(
       'in_doubt', coalesce(nd.in_doubt, false),
       'tolerance_m', CAST(:tol AS float8), 'chosen', own.code,
       'rule', CASE WHEN covs.ordinary > 1 THEN 'smallest_code' ELSE 'inside' END,
       'candidates', coalesce(nd.candidates, '[]')),"""
"""The boundary doubt of the answer from ``nd`` (:data:`NEAR_GRIDS_SQL`'s candidates)."""


def locate_sql(doubt: bool = True) -> str:
    """The statement of :data:`LOCATE_SQL`; ``doubt=False`` leaves the boundary doubt out
    (only bench/locate.py asks for that, to measure what the doubt costs)."""
    return (_LOCATE_SQL_TEMPLATE
            .replace("/*DOUBT_JOIN*/", _DOUBT_JOIN if doubt else "")
            .replace("/*BOUNDARY*/", _JSON_BOUNDARY if doubt else ""))


def raw_sql(sql: str) -> str:
    """``sql`` with PostgreSQL's own ``$n`` placeholders in :data:`LOCATE_PARAMS` order."""
    return re.sub(r"(?<!:):(lon|lat|radius|k|tol)\b",
                  lambda m: f"${LOCATE_PARAMS.index(m.group(1)) + 1}", sql)


_COV = f"""cov AS (SELECT code, name, level, kind, parent_code, community_code FROM grids
        WHERE valid_to IS NULL AND ST_Covers(geom, {POINT}))"""  # noqa: S608 - constant SQL
"""CTE ``cov``: every current grid covering the spot, dedicated grids included."""

_LOCATE_SQL_TEMPLATE = f"""
WITH {_COV},
own AS (SELECT code, name, community_code FROM cov
        WHERE level = 'grid' AND kind <> 'dedicated' ORDER BY code LIMIT 1),
mic AS (SELECT cov.code, cov.name FROM cov JOIN own ON cov.parent_code = own.code
        WHERE cov.level = 'micro' ORDER BY cov.code LIMIT 1),
covs AS (SELECT json_agg({_JSON_REF.format(t="cov")} ORDER BY cov.code)
                  FILTER (WHERE level = 'grid' AND kind = 'dedicated') AS dedicated,
                count(*) FILTER (WHERE level = 'grid' AND kind <> 'dedicated') AS ordinary
         FROM cov),
adm AS (SELECT c.name AS c_name, s.code AS s_code, s.name AS s_name, d.code AS d_code,
               d.name AS d_name FROM own
        JOIN admin_areas c ON c.code = own.community_code
        LEFT JOIN admin_areas s ON s.code = c.parent_code
        LEFT JOIN admin_areas d ON d.code = s.parent_code),
{_CAMERA_CTES},
cams AS (
  SELECT count(*) FILTER (WHERE h.reason IS NULL) AS n,
         json_agg(h.hit ORDER BY h.rn) FILTER (WHERE h.reason IS NULL AND h.rn <= :k) AS seeing,
         json_agg(h.hit ORDER BY h.rn)
           FILTER (WHERE h.reason IS NOT NULL AND h.rn <= :k) AS others
  FROM (SELECT x.reason, x.rn, json_build_object({_JSON_HIT}) AS hit
        FROM ({camera_rows_sql(
            ", row_number() OVER (PARTITION BY j.in_view AND j.blocked_by IS NULL"
            " ORDER BY j.distance_m, j.code) AS rn")}) x OFFSET 0) h)
SELECT (SELECT json_build_object(
     'lon', CAST(:lon AS float8), 'lat', CAST(:lat AS float8), 'assignment', 'covered',
     'snapped', false,
     'district', CASE WHEN adm.d_code IS NOT NULL THEN
                   json_build_object('code', adm.d_code, 'name', adm.d_name) END,
     'street', CASE WHEN adm.s_code IS NOT NULL THEN
                 json_build_object('code', adm.s_code, 'name', adm.s_name) END,
     'community', json_build_object('code', own.community_code,
                                    'name', coalesce(adm.c_name, '')),
     'grid', {_JSON_REF.format(t="own")},
     'micro_grid', CASE WHEN mic.code IS NOT NULL THEN {_JSON_REF.format(t="mic")} END,
     'dedicated_grids', coalesce(covs.dedicated, '[]'),
     'nearest_grid', NULL, 'nearest_distance_m', NULL,/*BOUNDARY*/
     'workers', coalesce((SELECT json_agg(json_build_object('code', w.code, 'name', w.name,
                            'role', w.role, 'phone', w.phone, 'grid_code', w.grid_code)
                          ORDER BY {role_order_sql("w.role")}, w.code)
                          FROM workers w
                          WHERE w.grid_code = ANY (ARRAY[own.code, mic.code])), '[]'),
     'cameras', coalesce(cams.seeing, '[]'),
     'cameras_wanted', CAST(:k AS integer),
     'enough_cameras', cams.n >= :k,
     'other_cameras', CASE WHEN cams.n < :k THEN coalesce(cams.others, '[]') ELSE '[]' END,
     'sites', coalesce((SELECT json_agg(json_build_object('code', x.code, 'name', x.name,
                          'category', x.category, 'distance_m', x.distance_m,
                          'grid_code', x.grid_code) ORDER BY x.distance_m, x.code)
                        FROM ({SITES_SQL}) x), '[]'))::text
  FROM own CROSS JOIN covs CROSS JOIN cams LEFT JOIN adm ON true LEFT JOIN mic ON true
  /*DOUBT_JOIN*/) AS answer
"""  # noqa: S608 - constant fragments, values bound
LOCATE_SQL = locate_sql()
"""The whole answer in one round trip, for a point inside a grid: ``answer`` is the
complete :class:`LocateResult` as JSON text, built by PostgreSQL (the HTTP route sends it as
it is); NULL when no ordinary grid covers the point (then :data:`OUTSIDE_SQL` feeds the
nearest-grid path in Python, :func:`_answer_outside`). Each table is read once and each
part of the answer is one join or subquery: the executor's start-up, which grows with the
plan's nodes, is a third of the statement's CPU (bench/RESULTS.md, #16)."""
_LOCATE_TEXT = text(LOCATE_SQL)
"""Built once: ``text()`` parses the statement for its parameters (~8 % of a request)."""
LOCATE_PARAMS = ("lon", "lat", "radius", "k", "tol")
LOCATE_RAW_SQL = raw_sql(LOCATE_SQL)
"""LOCATE_SQL with PostgreSQL's own ``$n`` placeholders, in :data:`LOCATE_PARAMS` order, for
psycopg's raw cursors: psycopg converts ``%(name)s`` queries on every call when they are
longer than 4 kB (this one is 8.3 kB), ~9 % of a /locate request (bench/RESULTS.md)."""

OUTSIDE_SQL = f"""
WITH {_COV},
{_CAMERA_CTES}
SELECT
  (SELECT json_agg(json_build_object('code', code, 'name', name, 'level', level,
     'kind', kind, 'parent_code', parent_code, 'community_code', community_code)
     ORDER BY code) FROM cov) AS grids,
  (SELECT json_agg(json_build_object({_JSON_HIT}) ORDER BY x.distance_m, x.code)
   FROM ({camera_rows_sql()}) x) AS cameras,
  (SELECT json_agg(json_build_object('code', x.code, 'name', x.name, 'category', x.category,
     'grid_code', x.grid_code, 'distance_m', x.distance_m) ORDER BY x.distance_m, x.code)
   FROM ({SITES_SQL}) x) AS sites,
  coalesce((SELECT json_agg({_JSON_CANDIDATE} ORDER BY n.distance_m, n.code)
            FROM ({_NEAR_GRIDS}) n), '[]') AS near_grids
"""  # noqa: S608 - constant fragments, values bound
"""For a point inside no ordinary grid: the covering (dedicated) grids, every camera in
reach as :class:`CameraHit` JSON (nearest first), the sites within ``:radius`` and the
boundary-doubt candidates, as JSON columns for :func:`_answer_outside`."""
_OUTSIDE_TEXT = text(OUTSIDE_SQL)


def camera_hits(session: Executor, lon: float, lat: float, codes: list[str]) -> list[CameraHit]:
    """The cameras ``codes`` as seen from the WGS 84 point now (distance, bearing, whether
    they cover it), in the order of ``codes``; codes of cameras gone or out of every range
    are left out. Read-only."""
    rows = session.execute(text(
        f"SELECT * FROM ({CAMERA_SQL}) x WHERE x.code = ANY(:codes)"),  # noqa: S608
        {"lon": lon, "lat": lat, "codes": list(codes)}).mappings().all()
    found = {row["code"]: hit_of(row) for row in rows}
    return [found[code] for code in codes if code in found]


def hit_of(row: Any) -> CameraHit:
    """A :data:`CAMERA_SQL` row as a :class:`CameraHit` (PTZ cameras get the pan angle)."""
    return CameraHit(**{f: row[f] for f in _CAMERA_FIELDS},
                     pan_deg=row["bearing_deg"] if row["camera_type"] == "ptz" else None)


def refs_of(session: Executor, codes: list[str | None]) -> list[Ref | None]:
    """Each code as a :class:`Ref` with the name of its admin area or grid (a grid's latest
    version; a grid redrawn since keeps its code), None for None; an unknown code keeps an
    empty name."""
    wanted = [c for c in codes if c]
    rows = session.execute(text(
        "SELECT code, name FROM admin_areas WHERE code = ANY(:codes) UNION ALL"
        " SELECT * FROM (SELECT DISTINCT ON (code) code, name FROM grids"
        " WHERE code = ANY(:codes) ORDER BY code, valid_to DESC NULLS FIRST) g"),
        {"codes": wanted}).all()
    names = {str(r.code): str(r.name) for r in rows}
    return [Ref(code=c, name=names.get(c, "")) if c else None for c in codes]


def _split_cameras(rows: list[dict[str, Any]],
                   k: int) -> tuple[list[CameraHit], list[CameraHit]]:
    """The first k covering cameras and the first k others (rows come nearest first, as
    :data:`_JSON_HIT` objects); models are built only for the rows kept."""
    good: list[CameraHit] = []
    other: list[CameraHit] = []
    for row in rows:
        kept = good if row["reason"] is None else other
        if len(kept) < k:
            kept.append(CameraHit(**row))
        if len(good) >= k:
            break
    return good, other
