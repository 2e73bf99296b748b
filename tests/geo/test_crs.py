"""geo.crs: parsing, offset systems against reference points, GK zones, swap detection."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from geo.crs import (
    _transformer_to_wgs84,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    gk_zone_from_prefixed_easting,
    is_quick,
    looks_swapped_gk,
    looks_swapped_lonlat,
    metric_crs_for,
    normalise_gk,
    parse_crs,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import UnknownCRS

GEOD = Geod(ellps="WGS84")

# (wgs lon, wgs lat, gcj lon, gcj lat): published eviltransform test vectors.
GCJ_REFERENCE = {
    "shanghai": (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    "shenzhen": (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    "beijing": (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
}
# coordtransform reference: wgs84 (116.404, 39.915) → gcj02, and gcj02 (116.404, 39.915) → bd09.
WGS_TO_GCJ_TIANANMEN = ((116.404, 39.915), (116.41024449916938, 39.91640428150164))
GCJ_TO_BD_TIANANMEN = ((116.404, 39.915), (116.41036949371029, 39.92133699351021))


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.mark.parametrize("value", [4326, "4326", "EPSG:4326", "epsg:4326"])
def test_parse_epsg_forms(value: object) -> None:
    assert parse_crs(value).epsg == 4326  # type: ignore[arg-type]


def test_parse_cgcs2000_and_offsets() -> None:
    assert parse_crs("EPSG:4490").epsg == 4490
    assert parse_crs("GCJ02").offset == "gcj02"
    assert parse_crs("bd09").offset == "bd09"
    assert parse_crs("+proj=longlat +datum=WGS84 +no_defs").is_geographic


def test_unknown_crs_is_a_clear_error() -> None:
    with pytest.raises(UnknownCRS) as info:
        parse_crs("mars-2")
    assert "unknown CRS 'mars-2'" in info.value.message
    assert info.value.details == [{"field": "crs", "value": "mars-2"}]


@pytest.mark.parametrize("city", sorted(GCJ_REFERENCE))
def test_wgs84_to_gcj02_matches_reference(city: str) -> None:
    wlon, wlat, glon, glat = GCJ_REFERENCE[city]
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert metres(float(lon), float(lat), glon, glat) < 0.01


@pytest.mark.parametrize("city", sorted(GCJ_REFERENCE))
def test_gcj02_to_wgs84_inverse_under_one_metre(city: str) -> None:
    wlon, wlat, glon, glat = GCJ_REFERENCE[city]
    lon, lat = gcj02_to_wgs84(glon, glat)
    assert metres(float(lon), float(lat), wlon, wlat) < 1.0
    assert metres(float(lon), float(lat), wlon, wlat) < 0.01  # in fact millimetres


def test_tiananmen_reference_points() -> None:
    (wlon, wlat), (glon, glat) = WGS_TO_GCJ_TIANANMEN
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert metres(float(lon), float(lat), glon, glat) < 0.01
    (g2lon, g2lat), (blon, blat) = GCJ_TO_BD_TIANANMEN
    w_lon, w_lat = gcj02_to_wgs84(g2lon, g2lat)
    b_lon, b_lat = wgs84_to_bd09(w_lon, w_lat)
    assert metres(float(b_lon), float(b_lat), blon, blat) < 0.01


def test_bd09_round_trip_under_one_metre_on_a_grid_of_points() -> None:
    lon, lat = np.meshgrid(np.linspace(100, 125, 26), np.linspace(20, 45, 26))
    blon, blat = wgs84_to_bd09(lon.ravel(), lat.ravel())
    back_lon, back_lat = bd09_to_wgs84(blon, blat)
    err = GEOD.inv(back_lon, back_lat, lon.ravel(), lat.ravel())[2]
    assert float(np.max(err)) < 0.01
    shift = GEOD.inv(blon, blat, lon.ravel(), lat.ravel())[2]
    assert float(np.min(shift)) > 100  # BD-09 is a real offset, hundreds of metres


def test_outside_china_passes_through() -> None:
    lon, lat = gcj02_to_wgs84([2.35, -74.0], [48.85, 40.7])
    assert lon.tolist() == [2.35, -74.0] and lat.tolist() == [48.85, 40.7]
    lon, lat = wgs84_to_bd09([2.35], [48.85])
    assert lon.tolist() == [2.35] and lat.tolist() == [48.85]


def test_to_wgs84_from_cgcs2000_and_gauss_kruger() -> None:
    lon, lat = to_wgs84([113.3], [40.08], "EPSG:4490")
    assert metres(float(lon[0]), float(lat[0]), 113.3, 40.08) < 0.01
    lon, lat = to_wgs84([500000.0], [4400000.0], 4547)  # on the central meridian 114 E
    assert lon[0] == pytest.approx(114.0, abs=1e-9)
    assert lat[0] == pytest.approx(39.7340496, abs=1e-6)


def test_to_wgs84_gcj02_by_name() -> None:
    wlon, wlat, glon, glat = GCJ_REFERENCE["beijing"]
    lon, lat = to_wgs84([glon], [glat], "gcj02")
    assert metres(float(lon[0]), float(lat[0]), wlon, wlat) < 1.0


def test_metric_crs_for_chinese_longitudes_and_fallback() -> None:
    assert metric_crs_for(113.3).to_epsg() == 4547  # Datong
    assert metric_crs_for(112.5).to_epsg() == 4547  # Taiyuan
    assert metric_crs_for(75.2).to_epsg() == 4534
    assert metric_crs_for(134.9).to_epsg() == 4554
    assert metric_crs_for(2.35, 48.85).to_epsg() == 32631  # Paris: UTM 31N


def test_swapped_lonlat_detected() -> None:
    assert looks_swapped_lonlat([40.08, 40.09], [113.3, 113.31])
    assert not looks_swapped_lonlat([113.3, 113.31], [40.08, 40.09])
    assert looks_swapped_lonlat([45.0], [170.0])


def test_swapped_easting_northing_detected() -> None:
    assert looks_swapped_gk([4_440_000.0], [525_000.0])
    assert not looks_swapped_gk([525_000.0], [4_440_000.0])
    assert not looks_swapped_gk([38_525_000.0], [4_440_000.0])


def test_zone_prefixed_easting_is_normalised_to_the_plain_zone() -> None:
    assert gk_zone_from_prefixed_easting([38_525_000.0, 38_526_000.0]) == 38
    assert gk_zone_from_prefixed_easting([525_000.0]) is None
    x, crs, note = normalise_gk(np.array([38_525_000.0]), np.array([4_440_000.0]),
                                parse_crs(4547))
    assert x.tolist() == [525_000.0] and crs is not None and crs.epsg == 4547
    assert note is not None and "zone prefix 38" in note
    x, crs, _ = normalise_gk(np.array([525_000.0]), np.array([4_440_000.0]), parse_crs(4526))
    assert x.tolist() == [525_000.0] and crs is not None and crs.epsg == 4547


@pytest.mark.parametrize("name", ["abc123", "WGS 84", "CGCS2000"])
def test_bare_names_are_refused_without_a_database_search(name: str) -> None:
    """pyproj's free-text search took 0.3-2 s holding the GIL; a bare name is refused at
    once with the usual message, and remembered."""
    with pytest.raises(UnknownCRS) as info:
        parse_crs(name)
    assert info.value.message == (
        f"unknown CRS {name!r}: use an EPSG code (4326, EPSG:4490, EPSG:4547), gcj02, bd09, "
        "or a WKT/PROJ string")
    assert info.value.details == [{"field": "crs", "value": name}]
    assert is_quick(name)


def test_resolved_names_and_transformers_are_cached() -> None:
    """A name seen before (known or not) needs no pyproj lookup: /locate converts it on the
    event loop; a new one goes to a worker thread."""
    assert is_quick("4326") and is_quick("gcj02") and is_quick(None)
    assert not is_quick("EPSG:4548")
    lon, lat = to_wgs84(500000.0, 4431000.0, "EPSG:4548")
    assert is_quick("EPSG:4548")
    # easting 500 km = the zone's central meridian, 117°E
    assert (round(float(lon[()]), 6), round(float(lat[()]), 6)) == (117.0, 40.013248)
    parsed = parse_crs("EPSG:4548")
    assert parsed is parse_crs("EPSG:4548")
    assert _transformer_to_wgs84(parsed) is _transformer_to_wgs84(parsed)
    with pytest.raises(UnknownCRS):
        parse_crs("EPSG:99999x")
    assert is_quick("EPSG:99999x")
