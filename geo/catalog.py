"""The layer registry: what each importable/exportable layer looks like (docs/catalog.md).

A :class:`Layer` names its table, key field, file fields with their types, which are
required, allowed geometry types, value ranges and choices. The importer validates files
against it and the exporter writes its fields; nothing else about a layer lives elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from geo.codes import CodeKind
from geo.errors import UnknownLayer

FieldType = Literal["code", "text", "int", "float", "date", "datetime", "bool"]
POLYGONS = frozenset({"Polygon", "MultiPolygon"})
POINT_OR_POLYGON = frozenset({"Point", "Polygon", "MultiPolygon"})
POINT = frozenset({"Point"})
LINES = frozenset({"LineString", "MultiLineString"})
EVENT_STATUSES = frozenset({"reported", "dispatched", "in_progress", "resolved", "closed",
                            "rejected"})
"""The lifecycle states of geo.events (also a CHECK on events.status)."""


@dataclass(frozen=True)
class Range:
    """Allowed numeric interval; ``lo_open``/``hi_open`` exclude the bound itself."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def problem(self, value: float) -> str | None:
        """Why ``value`` is outside the range, or None."""
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return (f"{_number(value)} is below the {'exclusive ' if self.lo_open else ''}"
                    f"minimum {_number(self.lo)}")
        if self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)):
            return (f"{_number(value)} is above the {'exclusive ' if self.hi_open else ''}"
                    f"maximum {_number(self.hi)}")
        return None


def _number(value: float) -> str:
    """Whole numbers without exponent or decimals (2147483647), others shortest (60.5)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e18 else repr(value)


@dataclass(frozen=True)
class Layer:
    """One layer: table, key, fields (file name = column name), rules.

    ``filter_sql`` restricts the table to the layer's rows (grids vs micro-grids, current
    versions only). ``geometry`` is None for attribute-only layers (workers).
    """

    name: str
    table: str
    key: str
    fields: dict[str, FieldType]
    required: frozenset[str]
    geometry: frozenset[str] | None
    code_kind: CodeKind = "text"
    parent_field: str | None = None
    ranges: dict[str, Range] = field(default_factory=dict)
    choices: dict[str, frozenset[str]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    filter_sql: str = "TRUE"
    multi: bool = False
    kind_field: str | None = None

    @property
    def columns(self) -> list[str]:
        """The file/table fields in a stable order (key first)."""
        return list(self.fields)


_COUNTS = {"households": Range(0), "population": Range(0)}

LAYERS: dict[str, Layer] = {
    "areas": Layer(
        "areas", "admin_areas", "code",
        {"code": "code", "name": "text", "level": "text", "parent_code": "code",
         "households": "int", "population": "int"},
        frozenset({"code", "name", "level"}), POLYGONS, code_kind="area",
        parent_field="parent_code", ranges=_COUNTS, multi=True, kind_field="level",
        choices={"level": frozenset({"district", "street", "community"})}),
    "grids": Layer(
        "grids", "grids", "code",
        {"code": "code", "name": "text", "parent_code": "code", "kind": "text",
         "households": "int", "population": "int", "responsible_party": "text",
         "management_level": "text", "start_date": "date", "end_date": "date"},
        frozenset({"code", "name"}), POLYGONS, code_kind="grid",
        parent_field="parent_code", ranges=_COUNTS, multi=True, kind_field="kind",
        choices={"kind": frozenset({"urban", "rural", "dedicated"})},
        defaults={"kind": "urban"},
        filter_sql="level = 'grid' AND valid_to IS NULL"),
    "micro_grids": Layer(
        "micro_grids", "grids", "code",
        {"code": "code", "name": "text", "parent_code": "code",
         "households": "int", "population": "int"},
        frozenset({"code", "name"}), POLYGONS, code_kind="micro",
        parent_field="parent_code", ranges=_COUNTS, multi=True,
        filter_sql="level = 'micro' AND valid_to IS NULL"),
    "buildings": Layer(
        "buildings", "buildings", "code",
        {"code": "code", "name": "text", "households": "int", "population": "int",
         "floors": "int", "height_m": "float"},
        frozenset({"code"}), POINT_OR_POLYGON,
        ranges=_COUNTS | {"floors": Range(0, 200), "height_m": Range(0, 1000)}),
    "sites": Layer(
        "sites", "sites", "code",
        {"code": "code", "name": "text", "category": "text"},
        frozenset({"code", "name", "category"}), POINT_OR_POLYGON, kind_field="category"),
    "roads": Layer(
        "roads", "roads", "code",
        {"code": "code", "name": "text", "kind": "text", "width_m": "float"},
        frozenset({"code", "kind"}), LINES, kind_field="kind", multi=True,
        ranges={"width_m": Range(0, 200, lo_open=True)}),
    "entrances": Layer(
        "entrances", "entrances", "code",
        {"code": "code", "name": "text", "site_code": "code", "kind": "text"},
        frozenset({"code", "site_code"}), POINT, kind_field="kind"),
    "workers": Layer(
        "workers", "workers", "code",
        {"code": "code", "name": "text", "role": "text", "phone": "text", "grid_code": "code"},
        frozenset({"code", "name", "role", "grid_code"}), None, kind_field="role",
        choices={"role": frozenset({"grid_leader", "grid_worker", "helper"})}),
    "cameras": Layer(
        "cameras", "cameras", "code",
        {"code": "code", "name": "text", "camera_type": "text", "height_m": "float",
         "azimuth_deg": "float", "fov_deg": "float", "range_m": "float", "status": "text",
         "stream_url": "text", "site_code": "code", "tilt_min_deg": "float",
         "tilt_max_deg": "float", "fov_tele_deg": "float"},
        frozenset({"code", "name"}), POINT, code_kind="camera", kind_field="camera_type",
        ranges={"height_m": Range(0, 200), "azimuth_deg": Range(0, 360, hi_open=True),
                "fov_deg": Range(0, 360, lo_open=True), "range_m": Range(0, 5000, lo_open=True),
                "tilt_min_deg": Range(-90, 90), "tilt_max_deg": Range(-90, 90),
                "fov_tele_deg": Range(0, 360, lo_open=True)},
        choices={"camera_type": frozenset({"fixed", "dome", "ptz"}),
                 "status": frozenset({"online", "offline", "fault", "maintenance"})},
        defaults={"camera_type": "fixed", "azimuth_deg": "0", "fov_deg": "60",
                  "range_m": "100", "status": "online"}),
    "events": Layer(
        "events", "events", "client_id",
        {"client_id": "text", "category": "text", "description": "text",
         "reported_at": "datetime", "reporter": "text", "source": "text", "status": "text",
         "priority": "text", "department": "text", "due_at": "datetime",
         "dispatched_at": "datetime", "closed_at": "datetime", "postponements": "int",
         "reworks": "int", "first_time": "bool"},
        frozenset({"category", "reported_at"}), POINT, kind_field="category",
        ranges={"postponements": Range(0), "reworks": Range(0)},
        choices={"status": EVENT_STATUSES,
                 "priority": frozenset({"low", "normal", "high", "urgent"})},
        defaults={"status": "reported", "priority": "normal", "postponements": "0",
                  "reworks": "0"}),
}


def get_layer(name: str) -> Layer:
    """The layer called ``name``; raises UnknownLayer listing the known ones."""
    try:
        return LAYERS[name]
    except KeyError:
        raise UnknownLayer(
            f"unknown layer {name!r}: one of {', '.join(LAYERS)}",
            [{"field": "layer", "value": name, "allowed": list(LAYERS)}],
        ) from None
