"""The feature collections gridlink publishes through OGC API - Features.

A :class:`Collection` names its table, the rows that belong to it (``where``), its feature
id column, its properties (the catalog fields, docs/catalog.md, with their types), whether
it is versioned (grids: ``datetime`` is an as-of instant) or has a temporal property
(events: ``reported_at``), and who may read it. Collection ids are stable URL segments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, and_, true

from geo.catalog import LAYERS, FieldType
from geo.errors import NotFound
from geo.models import AdminArea, Building, Camera, Entrance, Event, Grid, Road, Site

ALL_READERS = None
"""``Collection.roles`` for a collection anyone who may read at all may read (public read
included)."""
KEY_HOLDERS = frozenset({"admin", "planner", "dispatcher", "worker", "viewer"})


@dataclass(frozen=True)
class Collection:
    """One OGC collection over a gridlink table.

    ``where`` gives the rows of the collection (without the version condition, which
    :mod:`geo.ogc.items` adds for ``versioned`` ones); ``key`` is the feature id column;
    ``layer`` the catalog layer whose fields are the properties; ``temporal`` the column
    ``datetime`` filters on; ``roles`` the key roles that may read it (None: every reader).
    """

    id: str
    title: str
    description: str
    table: Table
    key: str
    layer: str
    where: Callable[[Table], ColumnElement[bool]]
    versioned: bool = False
    temporal: str | None = None
    roles: frozenset[str] | None = ALL_READERS
    extra: tuple[tuple[str, FieldType], ...] = ()

    @property
    def properties(self) -> dict[str, FieldType]:
        """Property name → type: the catalog layer's fields, then ``extra`` (the grid a unit
        lies in; a grid's version and validity)."""
        return dict(LAYERS[self.layer].fields) | dict(self.extra)

    def readable_by(self, role: str | None) -> bool:
        """Whether a caller of ``role`` (None: an anonymous public read) may read it."""
        return self.roles is None or role in self.roles


def _level(level: str) -> Callable[[Table], ColumnElement[bool]]:
    return lambda t: t.c.level == level


_IN_GRID: tuple[tuple[str, FieldType], ...] = (("grid_code", "code"),)
_VERSION: tuple[tuple[str, FieldType], ...] = (
    ("version", "int"), ("valid_from", "datetime"), ("valid_to", "datetime"))
_AREAS = AdminArea.__table__
_GRIDS = Grid.__table__

COLLECTIONS: dict[str, Collection] = {c.id: c for c in (
    Collection("districts", "Districts (区/县)", "Administrative districts.",
               _AREAS, "code", "areas", _level("district")),  # type: ignore[arg-type]
    Collection("streets", "Streets (街道/乡镇)", "Streets and towns of the districts.",
               _AREAS, "code", "areas", _level("street")),  # type: ignore[arg-type]
    Collection("communities", "Communities (社区/村)", "Communities and villages.",
               _AREAS, "code", "areas", _level("community")),  # type: ignore[arg-type]
    Collection("grids", "Grids (网格)", "Basic grids (urban and rural) tiling their "
               "communities; versioned: datetime=<instant> gives the grids as of then.",
               _GRIDS, "code", "grids",  # type: ignore[arg-type]
               lambda t: and_(t.c.level == "grid", t.c.kind != "dedicated"), versioned=True,
               extra=_VERSION),
    Collection("micro-grids", "Micro-grids (微网格)", "Micro-grids tiling their grids; "
               "versioned like grids.", _GRIDS, "code", "micro_grids",  # type: ignore[arg-type]
               _level("micro"), versioned=True,
               extra=_VERSION),
    Collection("dedicated-grids", "Dedicated grids (专属网格)", "Schools, hospitals, markets, "
               "parks; versioned like grids.", _GRIDS, "code", "grids",  # type: ignore[arg-type]
               lambda t: and_(t.c.level == "grid", t.c.kind == "dedicated"), versioned=True,
               extra=_VERSION),
    Collection("cameras", "Cameras (摄像机)", "Video cameras with their mounting and field of "
               "view (azimuth from true north, degrees; range in metres).",
               Camera.__table__, "code", "cameras",  # type: ignore[arg-type]
               lambda t: true(), extra=_IN_GRID),
    Collection("sites", "Sites (场所)", "Schools, compounds, markets, stations...",
               Site.__table__, "code", "sites",  # type: ignore[arg-type]
               lambda t: true(), extra=_IN_GRID),
    Collection("buildings", "Buildings (建筑)", "Building footprints with households.",
               Building.__table__, "code", "buildings",  # type: ignore[arg-type]
               lambda t: true(), extra=_IN_GRID),
    Collection("roads", "Roads and paths (道路)", "Roads and paths (主干道, 支路, 步行道...) "
               "that camera coverage measures in length.",
               Road.__table__, "code", "roads",  # type: ignore[arg-type]
               lambda t: true()),
    Collection("entrances", "Entrances (出入口)", "Gates of sites (校门, 小区门...), with the "
               "site they belong to.", Entrance.__table__, "code",  # type: ignore[arg-type]
               "entrances", lambda t: true()),
    Collection("events", "Events (事件)", "Reported events and their case status; only for "
               "callers with an API key (never public reads).",
               Event.__table__, "id", "events",  # type: ignore[arg-type]
               lambda t: true(), temporal="reported_at", roles=KEY_HOLDERS),
)}


def readable_collections(role: str | None) -> list[Collection]:
    """The collections a caller of ``role`` may read (None: an anonymous public read)."""
    return [c for c in COLLECTIONS.values() if c.readable_by(role)]


def get_collection(collection_id: str, role: str | None) -> Collection:
    """The collection ``collection_id``; NotFound (404) when unknown or not readable by
    ``role`` (a collection a caller may not read does not exist for it)."""
    found = COLLECTIONS.get(collection_id)
    if found is None or not found.readable_by(role):
        raise NotFound(f"no collection {collection_id!r}: one of "
                       f"{', '.join(c.id for c in readable_collections(role))}",
                       [{"field": "collectionId", "value": collection_id}])
    return found
