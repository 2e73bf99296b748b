"""CQL2 text filters (OGC API Features Part 3) as SQLAlchemy expressions.

pygeofilter parses the text; this module turns its syntax tree into a SQLAlchemy boolean
expression over a collection's columns, with every literal a bound parameter (never SQL text
built from the filter). Supported, as declared in ``/conformance``: Basic CQL2 (``=``,
``<>``, ``<``, ``<=``, ``>``, ``>=``, ``AND``/``OR``/``NOT``, ``IS [NOT] NULL``), advanced
comparisons (``LIKE`` with ``%``/``_``, ``BETWEEN``, ``IN``) and ``S_INTERSECTS`` of the
geometry with a ``BBOX``, ``POINT``, ``LINESTRING``, ``POLYGON`` or ``MULTI*`` literal.
Spatial literals are in the ``filter-crs`` (CRS84 lon/lat by default) and are transformed to
EPSG:4326 in the query, so the geometry column's index stays usable.

Anything else - an unknown property, a literal of the wrong type, another function - is
:class:`~geo.errors.InvalidQuery` (HTTP 400) naming the property or the construct.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import shapely
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_text import parse
from shapely.geometry import shape
from sqlalchemy import ColumnElement, Table, and_, func, literal, not_, or_

from geo.catalog import FieldType
from geo.errors import InvalidQuery
from geo.ogc.crs import OgcCrs

GEOMETRY_NAMES = frozenset({"geometry", "geom"})
_PYTHON_TYPES: dict[FieldType, tuple[type, ...]] = {
    "code": (str,), "text": (str,), "int": (int,), "float": (int, float),
    "date": (dt.date,), "datetime": (dt.datetime, dt.date), "bool": (bool,)}
_COMPARE = {ast.Equal: "__eq__", ast.NotEqual: "__ne__", ast.LessThan: "__lt__",
            ast.LessEqual: "__le__", ast.GreaterThan: "__gt__", ast.GreaterEqual: "__ge__"}


def cql2_filter(text: str, table: Table, properties: dict[str, FieldType],
                crs: OgcCrs) -> ColumnElement[bool]:
    """The SQLAlchemy condition for CQL2 text ``text`` over ``table``.

    ``properties`` are the queryable property names and types (each a column of ``table``);
    the geometry is ``geometry`` (alias ``geom``). Raises InvalidQuery for a filter that does
    not parse or uses what is not supported (the message names the property or operator).
    """
    try:
        tree = parse(text)
    except Exception as exc:  # lark's errors carry the position
        raise InvalidQuery(f"filter does not parse as CQL2 text: {exc}".splitlines()[0],
                           [{"field": "filter", "value": text}]) from None
    return _Translator(table, properties, crs).condition(tree)


class _Translator:
    def __init__(self, table: Table, properties: dict[str, FieldType], crs: OgcCrs) -> None:
        self.table, self.properties, self.crs = table, properties, crs

    def condition(self, node: Any) -> ColumnElement[bool]:
        if isinstance(node, ast.And | ast.Or):
            join = and_ if isinstance(node, ast.And) else or_
            return join(self.condition(node.lhs), self.condition(node.rhs))
        if isinstance(node, ast.Not):
            return not_(self.condition(node.sub_node))
        if type(node) in _COMPARE:
            column, kind = self.column(node.lhs)
            value = self.literal(node.rhs, node.lhs, kind)
            return getattr(column, _COMPARE[type(node)])(value)  # type: ignore[no-any-return]
        if isinstance(node, ast.IsNull):
            column = self.column(node.lhs)[0]
            return column.is_not(None) if node.not_ else column.is_(None)
        if isinstance(node, ast.Like | ast.Between | ast.In):
            return self.advanced(node)
        if isinstance(node, ast.GeometryIntersects):
            return self.intersects(node)
        raise _unsupported(type(node).__name__)

    def advanced(self, node: ast.Like | ast.Between | ast.In) -> ColumnElement[bool]:
        column, kind = self.column(node.lhs)
        if isinstance(node, ast.Like):
            if kind not in ("code", "text") or not isinstance(node.pattern, str):
                raise _wrong_type(node.lhs, kind, node.pattern)
            found = column.like(node.pattern, escape="\\")
        elif isinstance(node, ast.Between):
            found = column.between(self.literal(node.low, node.lhs, kind),
                                   self.literal(node.high, node.lhs, kind))
        else:
            found = column.in_([self.literal(v, node.lhs, kind) for v in node.sub_nodes])
        return not_(found) if node.not_ else found

    def column(self, node: Any) -> tuple[Any, FieldType]:
        if not isinstance(node, ast.Attribute):
            raise _unsupported(f"{type(node).__name__} on the left of a comparison")
        if node.name not in self.properties:
            raise InvalidQuery(
                f"filter names unknown property {node.name!r}: one of "
                f"{', '.join(self.properties)}",
                [{"field": "filter", "property": node.name, "allowed": list(self.properties)}])
        return self.table.c[node.name], self.properties[node.name]

    def literal(self, value: Any, attribute: ast.Attribute, kind: FieldType) -> Any:
        if isinstance(value, bool) and kind != "bool" or not isinstance(
                value, _PYTHON_TYPES[kind]):
            raise _wrong_type(attribute, kind, value)
        return literal(value)

    def intersects(self, node: ast.GeometryIntersects) -> ColumnElement[bool]:
        if not (isinstance(node.lhs, ast.Attribute) and node.lhs.name in GEOMETRY_NAMES):
            raise _unsupported("S_INTERSECTS of anything but the property 'geometry'")
        wkb = shapely.to_wkb(self.spatial_literal(node.rhs))
        given = func.ST_GeomFromWKB(literal(wkb), self.crs.srid)
        return func.ST_Intersects(self.table.c.geom, func.ST_Transform(given, 4326))

    def spatial_literal(self, value: Any) -> shapely.Geometry:
        geom: shapely.Geometry
        if isinstance(value, ast.Function) and value.name.lower() == "bbox" and len(
                value.arguments) in (4, 6):
            numbers = [float(a) for a in value.arguments]
            half = len(numbers) // 2
            geom = shapely.box(numbers[0], numbers[1], numbers[half], numbers[half + 1])
        elif isinstance(value, values.Envelope):
            geom = shapely.box(value.x1, value.y1, value.x2, value.y2)
        elif isinstance(value, values.Geometry):
            geom = shape(value.__geo_interface__)
        else:
            raise _unsupported(f"S_INTERSECTS with {type(value).__name__}")
        if not shapely.is_valid(geom):  # a bow-tie polygon: its valid form, not a GEOS error
            geom = shapely.make_valid(geom)
        # CQL2 literals are in the CRS's axis order: swap lat/lon (northing/easting) back
        return shapely.transform(geom, lambda c: c[:, ::-1]) if self.crs.swap_axes else geom


def _wrong_type(attribute: ast.Attribute, kind: FieldType, value: Any) -> InvalidQuery:
    return InvalidQuery(f"filter compares property {attribute.name!r} ({kind}) with "
                        f"{value!r}", [{"field": "filter", "property": attribute.name,
                                        "type": kind, "value": repr(value)}])


def _unsupported(what: str) -> InvalidQuery:
    return InvalidQuery(f"filter uses {what}, which is not supported (docs/ogc.md)",
                        [{"field": "filter", "construct": what}])
