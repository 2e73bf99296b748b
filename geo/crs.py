"""The one CRS helper module: parse CRS arguments, convert to WGS 84, pick metric CRSs.

Everything here works on lon/lat order (x = longitude/easting, y = latitude/northing).

Chinese web maps use two offset systems that no EPSG code describes:

* ``gcj02`` (GCJ-02, "Mars coordinates": Amap/Gaode, Tencent, Google China), ~300-700 m
  off WGS 84 inside China;
* ``bd09`` (BD-09, Baidu), GCJ-02 plus a further offset.

The forward transforms are the published closed formulas; the inverses
(:func:`gcj02_to_wgs84`, :func:`bd09_to_wgs84`) iterate the forward transform until the
round trip agrees to 1e-9 degree (~0.1 mm), far below the required 1 m. Outside China
(the published GCJ-02 bounding box) no offset applies and points pass through unchanged.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from shapely.geometry.base import BaseGeometry

from geo.errors import UnknownCRS
from geo.settings import get_settings

Offset = Literal["gcj02", "bd09"]
OFFSET_ALIASES: dict[str, Offset] = {
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "mars": "gcj02", "amap": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd09ll": "bd09", "baidu": "bd09",
}
WGS84 = pyproj.CRS.from_epsg(4326)

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 formula (m)
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-9
_MAX_ITERATIONS = 30

# CGCS2000 3-degree Gauss-Kruger zones: with zone prefix in the easting (zone 25..45,
# EPSG:4513..4533) and without (central meridian 75..135 E, EPSG:4534..4554).
GK3_PREFIXED = range(4513, 4534)
GK3_PLAIN = range(4534, 4555)
# CGCS2000 6-degree zones: with zone prefix (zone 13..23, EPSG:4491..4501) and without
# (central meridian 75..135 E, EPSG:4502..4512).
GK6_PREFIXED = range(4491, 4502)
GK6_PLAIN = range(4502, 4513)


@dataclass(frozen=True)
class ParsedCRS:
    """A parsed CRS argument: either a pyproj CRS or one of the offset systems.

    Exactly one of ``crs`` and ``offset`` is set. ``label`` is a short name for messages.
    """

    label: str
    crs: pyproj.CRS | None = None
    offset: Offset | None = None

    @property
    def is_geographic(self) -> bool:
        return self.offset is not None or bool(self.crs is not None and self.crs.is_geographic)

    @property
    def is_wgs84(self) -> bool:
        """True for WGS 84 lon/lat itself (EPSG:4326, OGC:CRS84): no conversion needed."""
        return self.crs is not None and self.crs.equals(WGS84, ignore_axis_order=True)

    @property
    def epsg(self) -> int | None:
        return None if self.crs is None else self.crs.to_epsg()


def parse_crs(value: str | int | pyproj.CRS | ParsedCRS | None) -> ParsedCRS:
    """Parse a CRS argument.

    Parameters
    ----------
    value
        ``4326``, ``"4326"``, ``"EPSG:4490"``, ``"gcj02"`` / ``"bd09"`` (case-insensitive,
        aliases ``amap``, ``baidu``...), any string pyproj understands (WKT, PROJ), a
        ``pyproj.CRS``, or None (= WGS 84).

    Returns
    -------
    ParsedCRS

    Raises
    ------
    UnknownCRS
        When the value names no known CRS; the message says what is accepted.
    """
    if isinstance(value, ParsedCRS):
        return value
    if value is None:
        return ParsedCRS("EPSG:4326", crs=WGS84)
    if isinstance(value, pyproj.CRS):
        return ParsedCRS(_label(value), crs=value)
    found = _NAMES.get(str(value))
    if not isinstance(found, ParsedCRS | str):
        found = _NAMES.put(str(value), _parse_text(str(value)))
    if isinstance(found, str):
        raise UnknownCRS(found, [{"field": "crs", "value": str(value)}])
    return found


_CRS_FORMS = re.compile(r"\d+|[A-Za-z]+:[\w.:-]+|(urn:ogc:def:crs|https?)[:/].*")
"""Strings handed to pyproj: EPSG codes, AUTHORITY:CODE, OGC URNs and URLs; WKT, PROJ
strings and PROJJSON are recognised by their first characters. A bare name ("abc123",
"WGS 84") is refused without asking pyproj: its free-text search of the PROJ database
took 0.3-2 s, holding the GIL (so even a worker thread froze the event loop)."""


def _parse_text(value: str) -> ParsedCRS | str:
    """The CRS a string names, or the message saying it names none (pyproj: ~1-60 ms)."""
    text = value.strip()
    alias = OFFSET_ALIASES.get(text.lower())
    if alias is not None:
        return ParsedCRS(alias, offset=alias)
    if text.isdigit():
        text = f"EPSG:{text}"
    unknown = (f"unknown CRS {value!r}: use an EPSG code (4326, EPSG:4490, EPSG:4547), "
               "gcj02, bd09, or a WKT/PROJ string")
    if not (_CRS_FORMS.fullmatch(text) or text[:1] in ("+", "{") or "[" in text):
        return unknown
    try:
        crs = pyproj.CRS.from_user_input(text)
    except pyproj.exceptions.CRSError:
        return unknown
    return ParsedCRS(_label(crs), crs=crs)


_T = TypeVar("_T")


class _Recent:
    """A small thread-safe LRU map: names already resolved (known or unknown) and their
    transformers, so a repeated CRS name costs a dict lookup, not pyproj's database."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> object | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: str, value: _T) -> _T:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


_NAMES = _Recent(512)
_TRANSFORMERS = _Recent(64)


def is_quick(value: str | int | None) -> bool:
    """True when converting from ``value`` needs no pyproj database lookup: WGS 84, the
    offset systems, or a name resolved recently (known or unknown). Callers on an event
    loop convert other names in a worker thread."""
    if value is None or str(value).strip().lower() in ("4326", "epsg:4326"):
        return True
    text = str(value)
    if OFFSET_ALIASES.get(text.strip().lower()) is not None:
        return True
    found = _NAMES.get(text)
    return isinstance(found, str) or (
        isinstance(found, ParsedCRS) and (found.crs is None or found.is_wgs84
                                          or _TRANSFORMERS.get(found.crs.srs) is not None))


def _cached_transformer(source: Any, target: Any, key: str) -> pyproj.Transformer:
    """The transformer from ``source`` to ``target`` (lon/lat order), kept in
    :data:`_TRANSFORMERS` under ``key``; building one costs ~0.1 s."""
    found = _TRANSFORMERS.get(key)
    if isinstance(found, pyproj.Transformer):
        return found
    return _TRANSFORMERS.put(key, pyproj.Transformer.from_crs(source, target, always_xy=True))


def _transformer_to_wgs84(parsed: ParsedCRS) -> pyproj.Transformer:
    """The (cached) transformer from ``parsed`` to WGS 84 lon/lat."""
    assert parsed.crs is not None
    return _cached_transformer(parsed.crs, WGS84, parsed.crs.srs)


def _label(crs: pyproj.CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Whether points (degrees) fall in the box where the GCJ-02 offset applies."""
    x, y = _arrays(lon, lat)
    return (x >= 72.004) & (x <= 137.8347) & (y >= 0.8293) & (y <= 55.8271)


def _gcj_delta(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[
        NDArray[np.float64], NDArray[np.float64]]:
    """The GCJ-02 offset (degrees) at WGS 84 points (degrees)."""
    x, y = lon - 105.0, lat - 35.0
    common = 20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)
    d_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y
             + 0.2 * np.sqrt(np.abs(x)))
    d_lat += (common + 20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    d_lon += (common + 20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = d_lat * 180.0 / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = d_lon * 180.0 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 → GCJ-02 (degrees, lon/lat order); points outside China pass through."""
    x, y = _arrays(lon, lat)
    d_lon, d_lat = _gcj_delta(x, y)
    inside = in_china(x, y)
    return np.where(inside, x + d_lon, x), np.where(inside, y + d_lat, y)


def _gcj02_to_bd09(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[
        NDArray[np.float64], NDArray[np.float64]]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 → BD-09 (degrees, lon/lat order); points outside China pass through."""
    x, y = _arrays(lon, lat)
    gx, gy = wgs84_to_gcj02(x, y)
    bx, by = _gcj02_to_bd09(gx, gy)
    inside = in_china(x, y)
    return np.where(inside, bx, x), np.where(inside, by, y)


def _invert(forward: object, lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``forward(w) = target`` for w by fixed-point iteration (vectorised).

    The offsets vary slowly (a few metres per kilometre), so each step shrinks the error
    by ~1000×; three or four steps reach the 1e-9 degree tolerance.
    """
    tx, ty = _arrays(lon, lat)
    fwd = forward  # typed loosely to accept both forward transforms
    wx, wy = tx.copy(), ty.copy()
    for _ in range(_MAX_ITERATIONS):
        fx, fy = fwd(wx, wy)  # type: ignore[operator]
        ex, ey = fx - tx, fy - ty
        wx, wy = wx - ex, wy - ey
        if np.all(np.abs(ex) < _TOLERANCE_DEG) and np.all(np.abs(ey) < _TOLERANCE_DEG):
            break
    return wx, wy


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS 84 (degrees) by iterative inverse; error < 1 mm; outside China as is."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → WGS 84 (degrees) by iterative inverse; error < 1 mm; outside China as is."""
    return _invert(wgs84_to_bd09, lon, lat)


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str | int | pyproj.CRS | ParsedCRS | None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinates in ``crs`` (see :func:`parse_crs`; None = WGS 84) to WGS 84.

    Parameters
    ----------
    lon, lat
        x/y in the source CRS: degrees for geographic and offset systems, metres (easting,
        northing) for projected ones. Always x first, whatever the CRS's axis order.

    Returns
    -------
    (lon, lat) arrays in EPSG:4326 degrees. Non-finite input stays non-finite.

    Raises
    ------
    UnknownCRS
        When ``crs`` cannot be parsed.
    """
    parsed = parse_crs(crs)
    if parsed.offset == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if parsed.offset == "bd09":
        return bd09_to_wgs84(lon, lat)
    x, y = _arrays(lon, lat)
    assert parsed.crs is not None
    if parsed.is_wgs84:
        return x.copy(), y.copy()
    out_x, out_y = _transformer_to_wgs84(parsed).transform(x, y)
    return np.asarray(out_x, dtype=np.float64), np.asarray(out_y, dtype=np.float64)


def metric_crs_for(lon: ArrayLike, lat: ArrayLike | None = None) -> pyproj.CRS:
    """A projected CRS in metres suited to data at longitude ``lon`` (degrees, EPSG:4326).

    In China (the GCJ-02 box; only the longitude 73.5..136.5 °E is checked when ``lat`` is
    None): the CGCS2000 3-degree Gauss-Kruger zone without zone prefix whose central
    meridian is nearest the median longitude (EPSG:4534 = 75 °E ... EPSG:4554 = 135 °E).
    Elsewhere: the WGS 84 UTM zone from pyproj's CRS database (north/south from ``lat``).
    """
    lons = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    centre = float(np.nanmedian(lons))
    lat_c = 30.0 if lat is None else float(np.nanmedian(np.atleast_1d(np.asarray(lat, float))))
    central_meridian = 3 * round(centre / 3)
    inside = lat is None or bool(in_china(centre, lat_c))
    if 75 <= central_meridian <= 135 and inside:
        return pyproj.CRS.from_epsg(4534 + (central_meridian - 75) // 3)
    infos = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(centre, lat_c, centre, lat_c),
    )
    if not infos:
        raise UnknownCRS(f"no metric CRS found for longitude {centre}")
    return pyproj.CRS.from_epsg(int(infos[0].code))


def looks_swapped_lonlat(lon: ArrayLike, lat: ArrayLike) -> bool:
    """True when x looks like latitude and y like longitude (degrees), e.g. (39.9, 116.4).

    Decided on the medians: |y| > 90 while |x| ≤ 90, or x in China's latitude band
    (3..54) with y in its longitude band (73..136).
    """
    x, y = _arrays(lon, lat)
    if x.size == 0:
        return False
    mx, my = float(np.nanmedian(x)), float(np.nanmedian(y))
    if abs(my) > 90 >= abs(mx):
        return True
    return 3 <= mx <= 54 and 73 <= my <= 136


def looks_projected(x: ArrayLike, y: ArrayLike) -> bool:
    """True when coordinates cannot be degrees (some |x| > 360 or |y| > 360): metres."""
    ax, ay = _arrays(x, y)
    finite = np.isfinite(ax) & np.isfinite(ay)
    return bool(np.any(np.abs(ax[finite]) > 360) or np.any(np.abs(ay[finite]) > 360))


def looks_swapped_gk(easting: ArrayLike, northing: ArrayLike) -> bool:
    """True when Gauss-Kruger easting and northing (metres) look swapped.

    In China a northing is 0.3..6 million m; an easting is 0.1..1 million m without zone
    prefix or ≥ 13 million with it. So x in the northing band with y < 1 million is a swap.
    """
    x, y = _arrays(easting, northing)
    if x.size == 0:
        return False
    mx, my = float(np.nanmedian(x)), float(np.nanmedian(y))
    return 1_000_000 <= mx < 7_000_000 and 0 <= my < 1_000_000


def gk_zone_from_prefixed_easting(easting: ArrayLike) -> int | None:
    """The Gauss-Kruger zone number carried as prefix of eastings, or None.

    3-degree zones are 25..45 (38_512_345.6 → zone 38, central meridian 114 °E), 6-degree
    zones 13..23 (20_512_345.6 → zone 20, central meridian 117 °E): the two ranges do not
    overlap, so the number alone says which. None when the eastings carry no prefix or
    disagree about it.
    """
    x = np.asarray(easting, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0 or np.any(x < 1_000_000):
        return None
    zones = np.unique(np.floor(x / 1_000_000).astype(int))
    if zones.size != 1 or not (25 <= int(zones[0]) <= 45 or 13 <= int(zones[0]) <= 23):
        return None
    return int(zones[0])


def plain_gk_epsg(zone: int) -> tuple[int, float]:
    """(EPSG of the zone without prefix, central meridian °E) for a 3° or 6° zone number."""
    if zone >= 25:
        return 4534 + zone - 25, 3.0 * zone
    return 4502 + zone - 13, 6.0 * zone - 3


def normalise_gk(easting: ArrayLike, northing: ArrayLike, crs: ParsedCRS | None
                 ) -> tuple[np.ndarray, ParsedCRS | None, str | None]:
    """Reconcile CGCS2000 Gauss-Kruger eastings (3° or 6° zones) with their declared CRS.

    Returns ``(easting, crs, note)``. When eastings carry a zone prefix (38_500_000, or
    20_500_000 for a 6° zone) they are converted to the plain zone CRS (EPSG:4534..4554,
    or EPSG:4502..4512 for 6°) with the prefix removed, whether the declared CRS was the
    plain one, the prefixed one or absent; when a prefixed CRS is declared but eastings
    lack the prefix, the plain CRS is used. ``note`` says what was done (None when
    nothing). Other CRSs pass through unchanged.
    """
    x = np.asarray(easting, dtype=np.float64)
    epsg = crs.epsg if crs is not None else None
    zone = gk_zone_from_prefixed_easting(x)
    gk = (GK3_PLAIN, GK3_PREFIXED, GK6_PLAIN, GK6_PREFIXED)
    if zone is not None and (epsg is None or any(epsg in r for r in gk)):
        plain, meridian = plain_gk_epsg(zone)
        width = 3 if zone >= 25 else 6
        note = (f"eastings carry the Gauss-Kruger zone prefix {zone}: read as EPSG:{plain} "
                f"(CGCS2000 {width}-degree zone, central meridian {meridian:g} E)")
        return x - zone * 1_000_000, parse_crs(plain), note
    for prefixed, plain_range in ((GK3_PREFIXED, GK3_PLAIN), (GK6_PREFIXED, GK6_PLAIN)):
        no_prefix = zone is None and x.size > 0 and float(np.nanmax(x)) < 1_000_000
        if epsg is not None and epsg in prefixed and no_prefix:
            plain = plain_range.start + epsg - prefixed.start
            return x, parse_crs(plain), (f"EPSG:{epsg} declared but eastings have no zone "
                                         f"prefix: read as EPSG:{plain}")
    return x, crs, None


# --- shapely geometries between lon/lat and the metric CRS (planning) --------------------

def transform_geometry(geom: BaseGeometry, source: int, target: int) -> BaseGeometry:
    """``geom`` with every vertex transformed from EPSG ``source`` to EPSG ``target``.

    Lon/lat order (x = longitude/easting). Vectorised over all vertices at once.
    """
    tr = _cached_transformer(source, target, f"EPSG:{source}>EPSG:{target}")
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def to_metric(geom: BaseGeometry, srid: int | None = None) -> BaseGeometry:
    """A lon/lat (EPSG:4326) geometry in metres: EPSG ``srid`` (default
    ``settings.metric_srid``)."""
    return transform_geometry(geom, 4326, srid or get_settings().metric_srid)


def to_lonlat(geom: BaseGeometry, srid: int | None = None) -> BaseGeometry:
    """A metric geometry (EPSG ``srid``, default ``settings.metric_srid``) in lon/lat."""
    return transform_geometry(geom, srid or get_settings().metric_srid, 4326)


def metric_length(geom: BaseGeometry, srid: int | None = None) -> float:
    """Length in metres of a lon/lat geometry, measured in :func:`to_metric`'s CRS."""
    return float(to_metric(geom, srid).length)
