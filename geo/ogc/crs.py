"""The CRSs OGC API Features answers in (Part 2, CRS by reference).

Features are stored in WGS 84 lon/lat (EPSG:4326). A client may ask for CRS84 (lon/lat,
the default), EPSG:4326 (lat/lon), CGCS2000 EPSG:4490 (lat/lon) or the projected zone of a
loaded district (the CGCS2000 3° Gauss-Krüger zones are northing/easting, metres).
Coordinates are written in the axis order the CRS defines, as Part 2 requires; PostGIS
itself always works in easting/northing (lon/lat) order, so such CRSs are swapped on output
(:attr:`OgcCrs.swap_axes`) and bboxes in them are swapped on input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pyproj
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidQuery
from geo.settings import Settings

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
GEOGRAPHIC = (4326, 4490)
"""EPSG codes offered for every collection besides CRS84 (WGS 84 and CGCS2000 lat/lon)."""
_EPSG_FORMS = re.compile(r"(?:EPSG:|urn:ogc:def:crs:EPSG::|https?://www\.opengis\.net/def/"
                         r"crs/EPSG/0/)(\d{4,6})", re.IGNORECASE)
_CRS84_FORMS = frozenset({CRS84, CRS84.replace("http:", "https:"), "OGC:CRS84", "CRS84",
                          "urn:ogc:def:crs:OGC:1.3:CRS84"})


@dataclass(frozen=True)
class OgcCrs:
    """A CRS a request named: its URI (for ``Content-Crs``), EPSG code (4326 for CRS84)
    and whether its first axis is northing/latitude."""

    uri: str
    srid: int
    swap_axes: bool


def offered_crs(session: Session, settings: Settings) -> list[str]:
    """The CRS URIs offered: CRS84, EPSG:4326, EPSG:4490 and every district's metric zone
    (``district_crs``; ``GRIDLINK_METRIC_SRID`` too when set)."""
    zones = set(session.scalars(text("SELECT DISTINCT srid FROM district_crs")))
    if "metric_srid" in settings.model_fields_set:
        zones.add(settings.metric_srid)
    return [CRS84, *(EPSG_URI.format(s) for s in (*GEOGRAPHIC, *sorted(zones - {4326, 4490})))]


def parse_ogc_crs(value: str | None, offered: list[str], parameter: str) -> OgcCrs:
    """The CRS a ``crs``/``bbox-crs``/``filter-crs`` value names; CRS84 when None.

    Accepts the offered URIs and their ``EPSG:n`` / OGC URN forms. Raises InvalidQuery
    (400) naming ``parameter`` for anything not offered.
    """
    if value is None or value.strip() in _CRS84_FORMS:
        return OgcCrs(CRS84, 4326, False)
    match = _EPSG_FORMS.fullmatch(value.strip())
    uri = EPSG_URI.format(int(match.group(1))) if match else None
    if uri is None or uri not in offered:
        raise InvalidQuery(f"{parameter} {value!r} is not offered: one of {', '.join(offered)}",
                           [{"field": parameter, "value": value, "allowed": offered}])
    srid = int(match.group(1))  # type: ignore[union-attr]
    return OgcCrs(uri, srid, _northing_first(srid))


@lru_cache(maxsize=64)
def _northing_first(srid: int) -> bool:
    """Whether EPSG ``srid``'s first axis points north or south (lat/lon, northing/easting)."""
    axes = pyproj.CRS.from_epsg(srid).axis_info
    return bool(axes) and axes[0].direction.lower() in ("north", "south")
