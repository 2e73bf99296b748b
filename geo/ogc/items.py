"""The items of a collection (OGC API Features ``/items``): one page of GeoJSON Features.

PostGIS composes each Feature as JSON text (``json_build_object`` + ``ST_AsGeoJSON``), as the
export does (geo/exporter.py), so a page is joined without parsing a feature in Python.
Geometries are stored in EPSG:4326; ``crs`` transforms them on output (7 decimals for
degrees, 3 for metres), ``bbox``/``bbox-crs`` and filter literals are transformed on input
so the column's spatial index is used. Versioned collections (grids) show the current
versions, or with ``datetime`` the versions valid at that instant (as-of).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.orm import Session

from geo.errors import InvalidQuery, NotFound
from geo.ogc.collections import Collection
from geo.ogc.crs import CRS84, OgcCrs
from geo.roles import EVENT_IN_AREA, key_area_params

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
Instant = dt.datetime
Interval = tuple[dt.datetime | None, dt.datetime | None]
"""A half-open ``[start, end)`` time interval (UTC); None is unbounded."""


@dataclass(frozen=True)
class ItemsQuery:
    """What a client asked for. ``bbox`` is (x0, y0, x1, y1) in ``bbox_crs``'s axis order;
    ``when`` is an instant or an interval (:func:`parse_datetime`); ``properties`` None
    means all; ``condition`` is a CQL2 filter already translated (geo.ogc.cql2); ``area``
    is the area of a key limited to one (geo.roles): the events collection then holds only
    the events assigned inside it."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    bbox: tuple[float, float, float, float] | None = None
    bbox_crs: OgcCrs = OgcCrs(CRS84, 4326, False)
    when: Instant | Interval | None = None
    properties: list[str] | None = None
    condition: ColumnElement[bool] | None = None
    crs: OgcCrs = field(default=OgcCrs(CRS84, 4326, False))
    area: str | None = None


@dataclass(frozen=True)
class ItemsPage:
    """One page: the Features as JSON texts, and how many features match in all."""

    features: list[str]
    matched: int


def parse_datetime(value: str | None) -> Instant | Interval | None:
    """An RFC 3339 instant (``2025-12-31T16:00:00Z``), a date (its whole UTC day, an
    interval) or an interval ``start/end`` with ``..`` or nothing for an open end.

    Times without a zone are UTC. Raises InvalidQuery (400) naming ``datetime``.
    """
    if value is None:
        return None
    try:
        if "/" not in value:
            if "T" not in value.upper():
                day = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(),
                                          tzinfo=dt.UTC)
                return (day, day + dt.timedelta(days=1))
            return _instant(value)
        start, end = value.split("/")
        interval = (_bound(start, False), _bound(end, True))
    except ValueError:
        raise InvalidQuery(f"datetime {value!r} is not an RFC 3339 instant or interval "
                           "(2025-12-31T16:00:00Z, 2025-12-31, 2025-01-01/.., ../2025-12-31)",
                           [{"field": "datetime", "value": value}]) from None
    if interval[0] and interval[1] and interval[0] >= interval[1]:
        raise InvalidQuery(f"datetime {value!r} ends before it starts",
                           [{"field": "datetime", "value": value}])
    return interval


def _instant(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("z", "Z"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _bound(text: str, end: bool) -> dt.datetime | None:
    if text in ("", ".."):
        return None
    if "T" in text.upper():
        return _instant(text)
    day = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)
    return day + dt.timedelta(days=1) if end else day


def parse_bbox(value: str | None, crs: OgcCrs) -> tuple[float, float, float, float] | None:
    """``x0,y0,x1,y1`` (6 numbers: the heights are ignored) in ``crs``'s axis order.

    Raises InvalidQuery (400) naming ``bbox`` when malformed, or, in CRS84, outside
    -180..180 / -90..90 or crossing the antimeridian.
    """
    if value is None:
        return None
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        numbers = []
    if not all(math.isfinite(n) for n in numbers):
        numbers = []
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    ok = len(numbers) == 4 and numbers[0] <= numbers[2] and numbers[1] <= numbers[3]
    if ok and crs.uri == CRS84:
        ok = -180 <= numbers[0] and numbers[2] <= 180 and -90 <= numbers[1] and numbers[3] <= 90
    if not ok:
        raise InvalidQuery(f"bbox {value!r} must be minx,miny,maxx,maxy in {crs.uri}'s axis "
                           "order (lon/lat for CRS84), min <= max", [{"field": "bbox",
                                                                    "value": value}])
    return numbers[0], numbers[1], numbers[2], numbers[3]


def _version_condition(collection: Collection, when: Instant | Interval | None
                       ) -> ColumnElement[bool] | None:
    """Current versions, or the versions valid at instant ``when`` (as-of)."""
    c = collection.table.c
    if when is None:
        return c.valid_to.is_(None)
    if isinstance(when, tuple):
        raise InvalidQuery(f"collection {collection.id!r} is versioned: datetime must be one "
                           "instant, the moment the grids are shown as of (e.g. "
                           "2025-12-31T16:00:00Z)", [{"field": "datetime"}])
    at = literal(when)
    return and_(c.valid_from <= at, or_(c.valid_to.is_(None), c.valid_to > at))


def _time_condition(collection: Collection, when: Instant | Interval | None
                    ) -> ColumnElement[bool] | None:
    if collection.versioned:
        return _version_condition(collection, when)
    if collection.temporal is None or when is None:
        return None
    column = collection.table.c[collection.temporal]
    if not isinstance(when, tuple):
        return column == literal(when)
    start, end = when
    return and_(*([column >= literal(start)] if start else []),
                *([column < literal(end)] if end else []))


def _conditions(collection: Collection, query: ItemsQuery) -> list[ColumnElement[bool]]:
    t = collection.table
    found = [collection.where(t)]
    if (when := _time_condition(collection, query.when)) is not None:
        found.append(when)
    if query.bbox is not None:
        x0, y0, x1, y1 = query.bbox
        if query.bbox_crs.swap_axes:
            x0, y0, x1, y1 = y0, x0, y1, x1
        box = func.ST_MakeEnvelope(x0, y0, x1, y1, query.bbox_crs.srid)
        found.append(func.ST_Intersects(t.c.geom, func.ST_Transform(box, 4326)))
    if query.condition is not None:
        found.append(query.condition)
    if query.area is not None and collection.id == "events":
        found.append(and_(text(EVENT_IN_AREA.format(event="events"))
                          .bindparams(**key_area_params(query.area))))
    return found


def _geometry_json(collection: Collection, crs: OgcCrs) -> Any:
    geom: Any = collection.table.c.geom
    if crs.srid != 4326:
        geom = func.ST_Transform(geom, crs.srid)
    if crs.swap_axes:
        geom = func.ST_FlipCoordinates(geom)
    digits = 7 if crs.srid in (4326, 4490) else 3
    return cast(func.ST_AsGeoJSON(geom, digits), JSON)


def _feature_json(collection: Collection, query: ItemsQuery) -> Any:
    c = collection.table.c
    names = query.properties if query.properties is not None else list(collection.properties)
    pairs = [part for name in names for part in (literal(name, String), c[name])]
    head = [literal(v, String) for v in ("type", "Feature", "id")]
    return cast(func.json_build_object(
        *head, c[collection.key], literal("geometry", String),
        _geometry_json(collection, query.crs), literal("properties", String),
        func.json_build_object(*pairs)), String)


def check_properties(collection: Collection, names: list[str]) -> list[str]:
    """``names`` when each is a property of ``collection``; InvalidQuery (400) otherwise."""
    unknown = [n for n in names if n not in collection.properties]
    if unknown:
        raise InvalidQuery(f"properties {', '.join(map(repr, unknown))} are not properties "
                           f"of {collection.id!r}: {', '.join(collection.properties)}",
                           [{"field": "properties", "value": n} for n in unknown])
    return names


def items_page(session: Session, collection: Collection, query: ItemsQuery) -> ItemsPage:
    """One page of ``collection``'s features matching ``query``, ordered by feature id,
    with the number matched in all (one count query)."""
    where = _conditions(collection, query)
    key = collection.table.c[collection.key]
    rows = session.scalars(select(_feature_json(collection, query)).where(*where)
                           .order_by(key).limit(query.limit).offset(query.offset))
    matched = session.scalar(select(func.count()).select_from(collection.table).where(*where))
    return ItemsPage(list(rows), int(matched or 0))


def one_item(session: Session, collection: Collection, fid: str, query: ItemsQuery) -> str:
    """Feature ``fid`` of ``collection`` as GeoJSON text (the version valid at
    ``query.when`` for versioned collections). Raises NotFound (404) naming it."""
    key = collection.table.c[collection.key]
    value: Any = fid
    if isinstance(key.type, Integer | BigInteger):
        value = int(fid) if fid.isdigit() and len(fid) < 19 else None
    found = None if value is None else session.scalar(
        select(_feature_json(collection, query)).where(*_conditions(collection, query),
                                                       key == value))
    if found is None:
        raise NotFound(f"no feature {fid!r} in collection {collection.id!r}",
                       [{"field": "featureId", "value": fid}])
    return str(found)
