"""Mapbox Vector Tiles of gridlink's layers in WebMercatorQuad (EPSG:3857), built by PostGIS.

Every tile is one statement: ``ST_TileEnvelope(z, x, y)`` gives the tile's square in
EPSG:3857; rows are selected with the envelope transformed to lon/lat (the input is
transformed, never the indexed column), clipped and quantised by ``ST_AsMVTGeom`` (4,096 units
a side, 64 units of buffer) and encoded by ``ST_AsMVT``. A tile with no feature is ``b""``.
Values are always bound parameters; the SQL text is built only from the constants below.

Layers (:data:`TILE_LAYERS`), one MVT layer each, named like the tile layer:

- ``grids``: current ordinary grids with ``households`` (buildings' households when the grid's
  community has buildings, else the grid's attribute, the rule of planning validation) and
  ``deviation`` = (households - target) / target (``deviation_pct`` in %);
- ``micro_grids``: current micro-grids with their households;
- ``cameras``: every camera's view wedge (:data:`geo.mapdata.WEDGE_SQL`) with its fields;
- ``coverage``: ordinary grids with the share of their area seen by an online camera
  (``covered_share`` 0-1, ``covered_pct`` in %, geodesic areas), as
  :func:`geo.mapdata.grid_camera_coverage`;
- ``views``: the cameras' current visibility polygons (``camera_views``, geo.video: the view
  minus what buildings hide), one per camera and PTZ preset, with the camera's status;
- ``events``: below :attr:`TileQuery.points_zoom` one grid polygon per ordinary grid with its
  number of ``events`` in the period, from it on the events themselves as points.

Freshness: :func:`layer_revision` reads the counters of ``layer_revisions`` (migration 0011,
bumped by every committed write to grids, cameras, buildings) so a caller can tag tiles and
answer a revisit without building the tile again; the events layer has no counter (its
tiles are tagged by content).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.codes import prefix_pattern
from geo.errors import NotFound, ValidationFailed
from geo.mapdata import (
    COVERED_SHARE_SQL,
    SEEN_BY_ONLINE_CAMERAS_SQL,
    WEDGE_SQL,
    area_outline,
)

EXTENT = 4096
"""Tile coordinate units per side (the MVT default)."""
BUFFER = 64
"""Units drawn beyond each tile edge, so strokes do not stop at tile seams."""
WORLD_ZOOM_LIMIT = 24
"""Deepest zoom any tile may be asked for (callers set a tighter maximum)."""


@dataclass(frozen=True)
class TileLayer:
    """One vector-tile layer: its title, the tables its revision follows (empty: no counter)
    and its attributes (name → TileJSON type: ``String``, ``Number``)."""

    name: str
    title: str
    tables: tuple[str, ...]
    fields: dict[str, str]


TILE_LAYERS: dict[str, TileLayer] = {layer.name: layer for layer in (
    TileLayer("grids", "网格（户数、偏差）", ("grids", "buildings"),
              {"code": "String", "name": "String", "households": "Number",
               "deviation": "Number", "deviation_pct": "Number"}),
    TileLayer("dedicated_grids", "专属网格", ("grids",),
              {"code": "String", "name": "String", "households": "Number"}),
    TileLayer("micro_grids", "微网格", ("grids", "buildings"),
              {"code": "String", "name": "String", "parent_code": "String",
               "households": "Number"}),
    TileLayer("cameras", "摄像机视域", ("cameras",),
              {"code": "String", "name": "String", "camera_type": "String",
               "status": "String", "azimuth_deg": "Number", "fov_deg": "Number",
               "range_m": "Number", "stream_url": "String"}),
    TileLayer("coverage", "网格视频覆盖率", ("grids", "cameras"),
              {"code": "String", "name": "String", "covered_share": "Number",
               "covered_pct": "Number"}),
    TileLayer("views", "摄像机可见区域（扣除建筑遮挡）", ("cameras", "buildings"),
              {"camera_code": "String", "preset": "String", "status": "String",
               "area_m2": "Number"}),
    TileLayer("events", "事件（低缩放按网格计数，高缩放为点）", (),
              {"code": "String", "name": "String", "events": "Number", "id": "Number",
               "category": "String", "status": "String", "reported_at": "String",
               "grid_code": "String"}),
)}
"""The layers served as vector tiles, by name."""


@dataclass(frozen=True)
class TileQuery:
    """What one tile shows besides its address.

    Attributes
    ----------
    area : admin area or grid code whose features are kept (code prefix); None = all.
    target : households per grid aimed at (``deviation`` of the grids layer).
    start, end : events reported in [start, end) (events layer).
    category : only events of this category; None = all.
    points_zoom : from this zoom the events layer has points instead of per-grid counts.
    """

    area: str | None = None
    target: int = 300
    start: datetime | None = None
    end: datetime | None = None
    category: str | None = None
    points_zoom: int = 15


def check_tile_address(z: int, x: int, y: int, max_zoom: int) -> None:
    """Raise ValidationFailed naming ``z``, ``x`` or ``y`` when the address is not a tile of
    WebMercatorQuad at zoom 0..``max_zoom`` (x, y in 0..2^z - 1)."""
    if not 0 <= z <= min(max_zoom, WORLD_ZOOM_LIMIT):
        raise ValidationFailed(f"zoom {z} is outside 0-{max_zoom}",
                               [{"field": "z", "value": z, "problem": f"0 to {max_zoom}"}])
    for field, value in (("x", x), ("y", y)):
        if not 0 <= value < 2**z:
            raise ValidationFailed(
                f"tile {field}={value} does not exist at zoom {z}",
                [{"field": field, "value": value, "problem": f"0 to {2**z - 1} at zoom {z}"}])


def tile_layer(name: str) -> TileLayer:
    """The layer ``name``; NotFound naming the layer and the ones that exist."""
    found = TILE_LAYERS.get(name)
    if found is None:
        raise NotFound(f"no tile layer {name!r}; layers: {', '.join(TILE_LAYERS)}",
                       [{"field": "layer", "value": name}])
    return found


def layer_revision(session: Session, layer: TileLayer) -> str | None:
    """A token that changes with every committed write to the tables ``layer`` is built from
    (revision and time of change of each, see migration 0011); None for a layer without one
    (events)."""
    if not layer.tables:
        return None
    rows = session.execute(text(
        "SELECT layer, revision, extract(epoch FROM changed_at) AS at FROM layer_revisions"
        " WHERE layer = ANY(:tables) ORDER BY layer"), {"tables": list(layer.tables)}).all()
    return ";".join(f"{r.layer}.{r.revision}.{r.at:.6f}" for r in rows)


def vector_tile(session: Session, layer: TileLayer, z: int, x: int, y: int,
                query: TileQuery) -> bytes:
    """The MVT tile (z, x, y) of ``layer`` (WebMercatorQuad, x from the west, y from the
    north), ``b""`` when no feature touches it. NotFound for an unknown ``query.area``."""
    if query.area is not None:
        area_outline(session, query.area)
    sql = _LAYER_SQL[layer.name]
    if layer.name == "events" and z >= query.points_zoom:
        sql = _EVENT_POINTS
    params = {"z": z, "x": x, "y": y, "margin": BUFFER / EXTENT, "layer": layer.name,
              "p": prefix_pattern(query.area or ""), "target": query.target,
              "start": query.start, "end": query.end, "cat": query.category}
    return bytes(session.execute(text(_TILE.format(features=sql)), params).scalar_one())


_TILE = """
WITH t AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env,
                  ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4326) AS box)
SELECT coalesce(ST_AsMVT(f.*, :layer, 4096, 'geom'), '') FROM ({features}) f
WHERE f.geom IS NOT NULL
  AND ST_Intersects(f.geom, ST_MakeEnvelope(0, 0, 4096, 4096, ST_SRID(f.geom)))
"""
"""One tile: ``{features}`` selects rows with a ``geom`` already clipped by :data:`_MVT_GEOM`
to the tile and its buffer (tile units; NULL when nothing is left); a row only in the buffer
is dropped (the neighbouring tile has it)."""

_MVT_GEOM = "ST_AsMVTGeom(ST_Transform({geom}, 3857), t.env, 4096, 64, true) AS geom"

_CURRENT = "g.valid_to IS NULL AND g.geom && t.box AND g.code LIKE :p"

_HOUSEHOLDS = """CASE WHEN EXISTS (
        SELECT 1 FROM admin_areas a JOIN buildings b ON b.geom && a.geom
        WHERE a.code = g.community_code AND ST_Intersects(a.geom, b.geom))
    THEN (SELECT coalesce(sum(b.households), 0) FROM buildings b WHERE b.geom && g.geom
          AND ST_Covers(g.geom, CASE WHEN ST_GeometryType(b.geom) = 'ST_Point' THEN b.geom
                                     ELSE ST_PointOnSurface(b.geom) END))
    ELSE g.households END"""
"""Households of grid ``g``: its buildings' (a building counts where its point on surface
lies, the rule of ``geo.grid_counts``) when its community has buildings, else its attribute."""

_GRIDS = f"""
SELECT {_MVT_GEOM.format(geom="g.geom")}, g.code, g.name, h.households,
       round((h.households - :target) / CAST(:target AS numeric), 4)::float8 AS deviation,
       round(100 * (h.households - :target) / CAST(:target AS numeric), 1)::float8
           AS deviation_pct
FROM grids g CROSS JOIN t CROSS JOIN LATERAL (SELECT {_HOUSEHOLDS} AS households) h
WHERE {_CURRENT} AND g.level = 'grid' AND g.kind <> 'dedicated'"""  # noqa: S608 - constant pieces

_MICRO_GRIDS = f"""
SELECT {_MVT_GEOM.format(geom="g.geom")}, g.code, g.name, g.parent_code,
       {_HOUSEHOLDS} AS households
FROM grids g CROSS JOIN t WHERE {_CURRENT} AND g.level = 'micro'"""  # noqa: S608 - constant pieces

_DEDICATED_GRIDS = f"""
SELECT {_MVT_GEOM.format(geom="g.geom")}, g.code, g.name, g.households
FROM grids g CROSS JOIN t
WHERE {_CURRENT} AND g.level = 'grid' AND g.kind = 'dedicated'"""  # noqa: S608 - constant pieces
"""Dedicated grids (专属网格: schools, hospitals, markets) with their households attribute."""

_CAMERAS = f"""
SELECT {_MVT_GEOM.format(geom=WEDGE_SQL)}, c.code, c.name, c.camera_type, c.status,
       c.azimuth_deg, c.fov_deg, c.range_m, c.stream_url
FROM cameras c CROSS JOIN t
CROSS JOIN (SELECT coalesce(max(range_m), 0) / 60000.0 AS deg FROM cameras) pad
WHERE c.geom && ST_Expand(t.box, pad.deg) AND coalesce(c.grid_code, '') LIKE :p"""  # noqa: S608 - constant pieces
"""Cameras whose wedge may reach the tile: position within the largest range of it
(``max(range_m) / 60,000`` degrees, safe up to 57° N, as the coverage query)."""

_COVERAGE = f"""
SELECT {_MVT_GEOM.format(geom="g.geom")}, g.code, g.name,
       {COVERED_SHARE_SQL}::float8 AS covered_share,
       round(100 * {COVERED_SHARE_SQL}::numeric, 1)::float8 AS covered_pct
FROM grids g CROSS JOIN t {SEEN_BY_ONLINE_CAMERAS_SQL}
WHERE {_CURRENT} AND g.level = 'grid' AND g.kind <> 'dedicated'"""  # noqa: S608 - constant pieces
"""Coverage share per grid: the same computation as ``geo.mapdata.grid_camera_coverage``."""

_EVENT_PERIOD = """e.reported_at >= :start AND e.reported_at < :end
    AND (CAST(:cat AS text) IS NULL OR e.category = :cat)"""

_EVENT_COUNTS = f"""
SELECT {_MVT_GEOM.format(geom="g.geom")}, g.code, g.name, coalesce(n.events, 0) AS events
FROM grids g CROSS JOIN t
LEFT JOIN LATERAL (SELECT count(*) AS events FROM events_with_assignment e
                   WHERE e.grid_code = g.code AND {_EVENT_PERIOD}) n ON true
WHERE {_CURRENT} AND g.level = 'grid' AND g.kind <> 'dedicated'"""  # noqa: S608 - constant pieces

_EVENT_POINTS = f"""
SELECT {_MVT_GEOM.format(geom="e.geom")}, e.id, e.category, e.status,
       to_char(e.reported_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS reported_at,
       e.grid_code
FROM events_with_assignment e CROSS JOIN t
WHERE e.geom && t.box AND {_EVENT_PERIOD} AND coalesce(e.grid_code, '') LIKE :p"""  # noqa: S608 - constant pieces

_VIEWS = f"""
SELECT {_MVT_GEOM.format(geom="v.geom")}, v.camera_code, v.preset, c.status,
       round(v.area_m2)::float8 AS area_m2
FROM camera_views v JOIN cameras c ON c.code = v.camera_code CROSS JOIN t
WHERE v.valid_to IS NULL AND v.geom && t.box
  AND coalesce(c.grid_code, '') LIKE :p"""  # noqa: S608 - constant pieces
"""Current visibility polygons (geo.video: the view minus building shadows), one per camera
and PTZ preset, with the camera's status."""

_LAYER_SQL = {"grids": _GRIDS, "dedicated_grids": _DEDICATED_GRIDS, "micro_grids": _MICRO_GRIDS,
              "cameras": _CAMERAS, "coverage": _COVERAGE, "views": _VIEWS,
              "events": _EVENT_COUNTS}
