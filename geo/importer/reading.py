"""Reading room: formats, encodings and CRS of an import file.

Formats: GeoJSON, GeoPackage, Shapefile (``.shp`` or zipped), CSV (lon/lat columns or a
WKT column). Encodings: UTF-8, else GB18030 (covers GBK) for DBFs without ``.cpg`` and CSVs
without BOM, or ``encoding=``. CRS: the file's, overridden by ``crs=`` (see geo.crs); the
geometries leave this room in WGS 84 lon/lat (EPSG:4326).

GDAL (``pyogrio``) is imported only when a GeoJSON, Shapefile or a GeoPackage other than one
feature table is read: it adds ~50 MiB to the process (its library's pages and drivers),
which a CSV import never needs (bench/RESULTS.md, "Import memory on the new machine"). A
GeoPackage of one feature table is read by SQLite (:mod:`geo.importer.geopackage`), small or
streamed alike, so a value of another type than its column's is reported on its row at any
size (GDAL reads 0 or 1970-01-01).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import crs as gcrs
from geo import tempdir
from geo.archive import ZipLimits, extract_flat
from geo.catalog import Layer
from geo.errors import UnreadableFile
from geo.importer.geopackage import feature_frames, feature_table
from geo.importer.problems import file_problem, short_error

VECTOR_SUFFIXES = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".shp": "Shapefile"}
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "shape")


@dataclass
class Source:
    """A file read into memory, coordinates still in the file's CRS."""

    frame: pd.DataFrame
    crs: gcrs.ParsedCRS | None
    notes: list[str] = field(default_factory=list)
    lines: list[int] | None = None
    """A CSV's line number (header = line 1) for each row of ``frame``; None otherwise."""


def read_source(path: Path, layer: Layer, *, encoding: str | None = None) -> Source:
    """Read ``path`` (any supported format) into a frame; raises UnreadableFile."""
    if not path.is_file():
        raise UnreadableFile(f"no such file: {path.name}", [{"file": path.name}])
    if path.stat().st_size == 0:
        raise UnreadableFile(f"{path.name} is empty", [{"file": path.name}])
    suffix = path.suffix.lower()
    if suffix == ".zip":
        with _unzipped(path) as inner:
            return read_source(inner, layer, encoding=encoding)
    if suffix in (".csv", ".txt"):
        return _read_csv(path, layer, encoding)
    if suffix in VECTOR_SUFFIXES:
        return _read_vector(path, suffix, encoding)
    raise UnreadableFile(
        f"{path.name}: unsupported file type {suffix or '(none)'}; use .geojson, .gpkg, "
        ".zip (Shapefile), .shp or .csv", [{"file": path.name, "problem": "file type"}])


@contextmanager
def _unzipped(path: Path) -> Iterator[Path]:
    """Extract the one dataset in a zip (a Shapefile's parts, or one .gpkg/.geojson/.csv)."""
    try:
        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise UnreadableFile(f"{path.name} is not a readable zip (truncated?): {exc}",
                             [{"file": path.name}]) from exc
    wanted = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".gpkg", ".geojson", ".json", ".csv")
    members = [n for n in names if Path(n).suffix.lower() in wanted]
    datasets = [n for n in members if Path(n).suffix.lower() in
                (".shp", ".gpkg", ".geojson", ".json", ".csv")]
    if len(datasets) != 1:
        raise UnreadableFile(
            f"{path.name} must hold exactly one dataset (.shp with its .dbf/.shx, or one "
            f".gpkg/.geojson/.csv); found {len(datasets)}", [{"file": path.name,
                                                             "datasets": datasets}])
    with tempdir.scratch("gridlink-zip-") as tmp:
        try:  # sizes and ratio checked before and while unpacking (geo.archive)
            extract_flat(archive, members, Path(tmp), ZipLimits.from_settings())
        except (zipfile.BadZipFile, EOFError) as exc:
            raise UnreadableFile(f"{path.name} is not a readable zip (damaged?): {exc}",
                                 [{"file": path.name}]) from exc
        yield Path(tmp) / Path(datasets[0]).name


def _dbf_encoding(shp: Path) -> tuple[str | None, str | None]:
    """Encoding of a Shapefile's DBF when no ``.cpg`` says it: UTF-8 if it decodes, else GB18030.

    Returns ``(encoding, note)``; ``(None, None)`` when a .cpg exists or the text is ASCII.
    """
    if any(shp.with_suffix(s).exists() for s in (".cpg", ".CPG")):
        return None, None
    dbf = next((p for p in (shp.with_suffix(".dbf"), shp.with_suffix(".DBF")) if p.exists()),
               None)
    if dbf is None:
        return None, None
    raw = dbf.read_bytes()
    body = _dbf_field_names(raw) + (raw[int.from_bytes(raw[8:10], "little"):]
                                    if len(raw) > 10 else b"")
    if body.isascii():
        return None, None
    try:
        body.decode("utf-8")
        return "UTF-8", None
    except UnicodeDecodeError:
        return "GB18030", f"{dbf.name} has no .cpg and is not UTF-8: read as GB18030 (GBK)"


def _dbf_field_names(raw: bytes) -> bytes:
    """The field names of a DBF header (11-byte slots of 32-byte descriptors), joined: a
    GBK DBF may have Chinese field names over plain ASCII values."""
    names = []
    for start in range(32, min(len(raw), int.from_bytes(raw[8:10], "little")) - 31, 32):
        if raw[start] == 0x0D:
            break
        names.append(raw[start:start + 11].split(b"\0")[0])
    return b" ".join(names)


def _read_vector(path: Path, suffix: str, encoding: str | None) -> Source:
    notes: list[str] = []
    if suffix == ".shp" and encoding is None:
        encoding, note = _dbf_encoding(path)
        notes += [note] if note else []
    if suffix == ".shp" and not path.with_suffix(".dbf").exists():
        raise UnreadableFile(f"{path.name}: the .dbf part of the Shapefile is missing",
                             [{"file": path.name}])
    table = feature_table(path) if suffix == ".gpkg" else None
    if table is not None and table.features:  # SQLite, as a streamed one (its docstring)
        frame: Any = next(feature_frames(path, table, table.features))
        crs = gcrs.parse_crs(table.crs) if table.crs else None
    else:
        frame = _read_by_gdal(path, suffix, encoding)
        file_crs = getattr(frame, "crs", None)
        crs = gcrs.parse_crs(file_crs) if file_crs is not None else None
    if crs is None and isinstance(frame, gpd.GeoDataFrame):
        notes.append(f"{path.name} declares no CRS (missing .prj?)")
    return Source(frame, crs, notes)


def _read_by_gdal(path: Path, suffix: str, encoding: str | None) -> Any:
    """The file read whole by GDAL (dates and times as their text, as every reader of the
    importer hands them over, geo.importer.geopackage)."""
    import pyogrio  # GDAL: loaded only for the formats it reads (module docstring)

    try:
        return pyogrio.read_dataframe(path, encoding=encoding, datetime_as_string=True)
    except Exception as exc:  # pyogrio raises several types for corrupt files
        raise UnreadableFile(f"{path.name} could not be read as {VECTOR_SUFFIXES[suffix]} "
                             f"(malformed or truncated?): {short_error(exc)}",
                             [{"file": path.name}]) from exc


def _decode(raw: bytes, encoding: str | None, name: str) -> tuple[str, str | None]:
    """Text of a CSV: BOM, else UTF-8, else GB18030 (GBK); ``encoding`` wins when given."""
    try:
        if encoding:
            return raw.decode(encoding), None
        if raw.startswith(b"\xef\xbb\xbf"):
            return raw.decode("utf-8-sig"), None
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            return raw.decode("utf-16"), None
        try:
            return raw.decode("utf-8"), None
        except UnicodeDecodeError:
            return raw.decode("gb18030"), f"{name} is not UTF-8: read as GB18030 (GBK)"
    except (UnicodeDecodeError, LookupError) as exc:
        raise UnreadableFile(f"{name} cannot be decoded as {encoding or 'UTF-8 or GB18030'}: "
                             f"{short_error(exc)}; pass the right encoding",
                             [{"file": name, "field": "encoding"}]) from exc


def _read_csv(path: Path, layer: Layer, encoding: str | None) -> Source:
    content, note = _decode(path.read_bytes(), encoding, path.name)
    try:
        frame = pd.read_csv(io.StringIO(content), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise UnreadableFile(f"{path.name} is not a readable CSV: {short_error(exc)}",
                             [{"file": path.name}]) from exc
    notes = [note] if note else []
    lines = csv_line_numbers(content)
    if len(lines) != len(frame):  # pandas and csv disagree on an odd file: no line numbers
        lines = []
    if layer.geometry is None:
        return Source(frame, None, notes, lines or None)
    return Source(csv_geometry(frame, path.name), None, notes, lines or None)


def csv_line_numbers(content: str) -> list[int]:
    """The line on which each data record of a CSV starts (header = line 1; a quoted
    value spanning lines moves the following records down; blank lines are skipped)."""
    reader = csv.reader(io.StringIO(content))
    starts: list[int] = []
    previous_end = 0
    for record in reader:
        if record:
            starts.append(previous_end + 1)
        previous_end = reader.line_num
    return starts[1:]


def _find_column(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    return next((lowered[n] for n in names if n in lowered), None)


def csv_geometry(frame: pd.DataFrame, name: str) -> gpd.GeoDataFrame:
    """Geometry from lon/lat (or x/y) columns or a WKT column; unparseable → None."""
    lon, lat = _find_column(frame, LON_NAMES), _find_column(frame, LAT_NAMES)
    wkt = _find_column(frame, WKT_NAMES)
    if lon is not None and lat is not None:
        x = pd.to_numeric(frame[lon].str.strip(), errors="coerce").to_numpy(float)
        y = pd.to_numeric(frame[lat].str.strip(), errors="coerce").to_numpy(float)
        geoms = np.asarray(shapely.points(x, y), dtype=object)
        geoms[~(np.isfinite(x) & np.isfinite(y))] = None
        rest = frame.drop(columns=[lon, lat])
    elif wkt is not None:
        geoms = shapely.from_wkt(frame[wkt].to_numpy(object), on_invalid="ignore")
        rest = frame.drop(columns=[wkt])
    else:
        raise UnreadableFile(
            f"{name}: no geometry columns; give lon and lat (or x and y) columns, or a WKT "
            "column", [{"file": name, "field": "geometry"}])
    return gpd.GeoDataFrame(rest, geometry=gpd.GeoSeries(geoms, index=frame.index))




def _to_wgs84(geoms: np.ndarray, declared: gcrs.ParsedCRS | None,
              notes: list[str]) -> np.ndarray:
    """Geometries (file CRS) → WGS 84; file-level CRS problems raise ValidationFailed."""
    coords = shapely.get_coordinates(geoms)
    if coords.size == 0:
        return geoms
    x, y = coords[:, 0], coords[:, 1]
    if declared is None:
        declared = _guess_crs(x, y, notes)
    if declared.is_geographic and gcrs.looks_swapped_lonlat(x, y):
        file_problem("coordinates look like lat/lon (x is a latitude, y a longitude: "
                      f"median x={np.median(x):.4f}, y={np.median(y):.4f}); swap the columns "
                      "so longitude comes first")
    if not declared.is_geographic and gcrs.looks_swapped_gk(x, y):
        file_problem("easting and northing look swapped (x looks like a northing: median "
                      f"x={np.median(x):.0f}, y={np.median(y):.0f}); swap the columns")
    new_x, fixed, note = gcrs.normalise_gk(x, y, declared)
    notes += [note] if note else []
    if note is None and fixed is not None and fixed.is_wgs84:
        return geoms
    lon, lat = gcrs.to_wgs84(new_x, y, fixed)
    return shapely.set_coordinates(geoms.copy(), np.column_stack([lon, lat]))


def _guess_crs(x: np.ndarray, y: np.ndarray, notes: list[str]) -> gcrs.ParsedCRS:
    """The CRS of a file that declares none: degrees → WGS 84 (noted); metres → refuse."""
    if gcrs.looks_projected(x, y):
        zone = gcrs.gk_zone_from_prefixed_easting(x)
        hint = (f" (eastings carry Gauss-Kruger zone prefix {zone}: try --crs "
                f"EPSG:{gcrs.plain_gk_epsg(zone)[0]})" if zone else " such as EPSG:4547")
        file_problem("the file declares no CRS (missing .prj?) and its coordinates are "
                      f"projected metres: give the CRS with --crs{hint}", field_name="crs")
    notes.append("no CRS declared; coordinates look like degrees: read as WGS 84 "
                 "(EPSG:4326); use --crs gcj02/bd09 for data digitised on Chinese web maps")
    return gcrs.parse_crs(4326)


def wgs84_geometries(gdf: pd.DataFrame, layer: Layer, crs: str | None,
                      source_crs: gcrs.ParsedCRS | None, notes: list[str]) -> np.ndarray | None:
    """The frame's geometries in WGS 84 lon/lat (None for attribute-only layers).

    The CRS is ``crs`` when given, else the frame's, else ``source_crs``, else guessed
    (degrees → WGS 84 with a note; metres → ValidationFailed). Notes are appended.
    """
    if layer.geometry is None:
        return None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        file_problem("the data has no geometry column")
    declared = gcrs.parse_crs(crs) if crs else (
        gcrs.parse_crs(gdf.crs) if gdf.crs is not None else source_crs)  # type: ignore[arg-type]
    if crs and source_crs is not None and declared is not None:
        notes.append(f"CRS {declared.label} given overrides the file's {source_crs.label}")
    geoms = np.asarray(gdf.geometry.to_numpy(), dtype=object)
    return _to_wgs84(geoms, declared, notes)
