"""Import layer files into PostGIS: read → convert to WGS 84 → validate everything → upsert.

Formats: GeoJSON, GeoPackage, Shapefile (``.shp`` or zipped), CSV (lon/lat columns or a
WKT column). Encodings: UTF-8, else GB18030 (covers GBK) for DBFs without ``.cpg`` and CSVs
without BOM, or ``encoding=``. CRS: the file's, overridden by ``crs=`` (see geo.crs).

Every problem of the file is collected before anything is written; by default one problem
fails the whole import (:class:`~geo.errors.ValidationFailed`, details list every problem as
``{"row", "id", "field", "problem"}``, ``row`` = 0-based feature index in the file, None for
file-level problems). With ``skip_invalid`` the good rows are written and the rejects go to
``rejects_path`` (CSV). Writing is one set-based upsert by key (COPY into a temp table, then
``INSERT ... SELECT ... ON CONFLICT``). Functions here never commit.
"""

from __future__ import annotations

import csv
import io
import numbers
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from geo import crs as gcrs
from geo.assign_on_import import assign_after_import
from geo.catalog import Layer, Range, get_layer
from geo.codes import code_problems, excel_damage
from geo.errors import Conflict, Detail, UnreadableFile, ValidationFailed
from geo.geometry_repair import repair_polygons
from geo.settings import get_settings

VECTOR_SUFFIXES = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".shp": "Shapefile"}
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "shape")
LOCAL_TZ = "Asia/Shanghai"
"""Time zone assumed for timestamps without an offset (China Standard Time, UTC+8)."""
STAGE = "gridlink_import_stage"
INT32_MAX = 2_147_483_647


@dataclass
class ImportReport:
    """Outcome of an import: counts, every problem found (rejected rows) and notes."""

    layer: str
    rows: int
    inserted: int
    updated: int
    rejected: int
    problems: list[Detail] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Source:
    """A file read into memory, coordinates still in the file's CRS."""

    frame: pd.DataFrame
    crs: gcrs.ParsedCRS | None
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def import_file(session: Session, layer: str, path: Path, *, crs: str | None = None,
                encoding: str | None = None, skip_invalid: bool = False,
                rejects_path: Path | None = None, make_valid: bool = False) -> ImportReport:
    """Import the file at ``path`` into ``layer`` (see the module docstring).

    Raises
    ------
    UnknownLayer, UnreadableFile, UnknownCRS, ValidationFailed
        Nothing is written when any is raised.
    """
    spec = get_layer(layer)
    source = read_source(Path(path), spec, encoding=encoding)
    return import_frame(session, layer, source.frame, crs=crs, skip_invalid=skip_invalid,
                        rejects_path=rejects_path, source_crs=source.crs, notes=source.notes,
                        make_valid=make_valid)


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
        archive.testzip()
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
    with tempfile.TemporaryDirectory(prefix="gridlink-zip-") as tmp:
        for name in members:  # flattened by basename: no path traversal
            (Path(tmp) / Path(name).name).write_bytes(archive.read(name))
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
    body = raw[int.from_bytes(raw[8:10], "little"):] if len(raw) > 10 else b""
    if body.isascii():
        return None, None
    try:
        body.decode("utf-8")
        return "UTF-8", None
    except UnicodeDecodeError:
        return "GB18030", f"{dbf.name} has no .cpg and is not UTF-8: read as GB18030 (GBK)"


def _read_vector(path: Path, suffix: str, encoding: str | None) -> Source:
    notes: list[str] = []
    if suffix == ".shp" and encoding is None:
        encoding, note = _dbf_encoding(path)
        notes += [note] if note else []
    if suffix == ".shp" and not path.with_suffix(".dbf").exists():
        raise UnreadableFile(f"{path.name}: the .dbf part of the Shapefile is missing",
                             [{"file": path.name}])
    try:
        frame = pyogrio.read_dataframe(path, encoding=encoding)
    except Exception as exc:  # pyogrio raises several types for corrupt files
        raise UnreadableFile(f"{path.name} could not be read as {VECTOR_SUFFIXES[suffix]} "
                             f"(malformed or truncated?): {_short(exc)}",
                             [{"file": path.name}]) from exc
    file_crs = getattr(frame, "crs", None)
    crs = gcrs.parse_crs(file_crs) if file_crs is not None else None
    if crs is None and isinstance(frame, gpd.GeoDataFrame):
        notes.append(f"{path.name} declares no CRS (missing .prj?)")
    return Source(frame, crs, notes)


def _short(exc: Exception) -> str:
    return str(exc).split("\n")[0][:300]


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
                             f"{_short(exc)}; pass the right encoding",
                             [{"file": name, "field": "encoding"}]) from exc


def _read_csv(path: Path, layer: Layer, encoding: str | None) -> Source:
    content, note = _decode(path.read_bytes(), encoding, path.name)
    try:
        frame = pd.read_csv(io.StringIO(content), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise UnreadableFile(f"{path.name} is not a readable CSV: {_short(exc)}",
                             [{"file": path.name}]) from exc
    notes = [note] if note else []
    if layer.geometry is None:
        return Source(frame, None, notes)
    return Source(_csv_geometry(frame, path.name), None, notes)


def _find_column(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    return next((lowered[n] for n in names if n in lowered), None)


def _csv_geometry(frame: pd.DataFrame, name: str) -> gpd.GeoDataFrame:
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


# --------------------------------------------------------------------------- CRS


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
        _file_problem("coordinates look like lat/lon (x is a latitude, y a longitude: "
                      f"median x={np.median(x):.4f}, y={np.median(y):.4f}); swap the columns "
                      "so longitude comes first")
    if not declared.is_geographic and gcrs.looks_swapped_gk(x, y):
        _file_problem("easting and northing look swapped (x looks like a northing: median "
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
                f"EPSG:{4534 + zone - 25})" if zone else " such as EPSG:4547")
        _file_problem("the file declares no CRS (missing .prj?) and its coordinates are "
                      f"projected metres: give the CRS with --crs{hint}", field_name="crs")
    notes.append("no CRS declared; coordinates look like degrees: read as WGS 84 "
                 "(EPSG:4326); use --crs gcj02/bd09 for data digitised on Chinese web maps")
    return gcrs.parse_crs(4326)


def _file_problem(problem: str, field_name: str = "geometry") -> None:
    raise ValidationFailed(problem, [{"row": None, "id": None, "field": field_name,
                                      "problem": problem}])


# --------------------------------------------------------------------------- validation


class Problems:
    """Collects problems per row; ``bad`` is the set of rejected row indexes."""

    def __init__(self, ids: list[Any]) -> None:
        self.ids = ids
        self.items: list[Detail] = []
        self.bad: set[int] = set()

    def add(self, row: int | None, field_name: str, problem: str) -> None:
        ident = None if row is None else self.ids[row]
        self.items.append({"row": row, "id": ident, "field": field_name, "problem": problem})
        if row is not None:
            self.bad.add(row)

    def sorted(self) -> list[Detail]:
        """File-level problems first, then by row (stable: field order within a row)."""
        return sorted(self.items, key=lambda p: -1 if p["row"] is None else p["row"])

    def file_level(self) -> list[Detail]:
        return [p for p in self.items if p["row"] is None]


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _text_column(series: pd.Series) -> list[Any]:
    """Values as Python objects: missing → None, text stripped, numbers kept as numbers
    (so Excel-number codes can be refused), date/time columns as ISO text."""
    kind = series.dtype.kind
    if kind in "iub":
        return series.tolist()
    if kind == "f":
        return series.astype(object).where(series.notna(), None).tolist()
    if kind == "M":
        return _iso_texts(series)
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        stripped = series.astype(object).str.strip()
        return stripped.where(stripped.notna() & (stripped != ""), None).tolist()
    out: list[Any] = []
    for value in series.to_numpy(object):
        if _is_missing(value):
            out.append(None)
        elif isinstance(value, str):
            out.append(value.strip())
        elif isinstance(value, numbers.Number):
            out.append(value.item() if hasattr(value, "item") else value)
        else:
            out.append(str(value))
    return out


def _iso_texts(series: pd.Series) -> list[Any]:
    """A date/time column (naive or tz-aware) as ISO 8601 text, NaT → None."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        utc = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
        texts = np.char.add(np.datetime_as_string(utc, unit="us"), "+00:00")
    else:
        texts = np.datetime_as_string(series.to_numpy("datetime64[us]"), unit="us")
    return pd.Series(texts, dtype=object).where(series.notna().to_numpy(), None).tolist()


def _values(frame: pd.DataFrame, layer: Layer, problems: Problems) -> dict[str, list[Any]]:
    """Each layer field's values (None when absent); missing required columns reported."""
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    values: dict[str, list[Any]] = {}
    for name in layer.fields:
        column = lowered.get(name)
        if column is None:
            if name in layer.required:
                problems.add(None, name, f"required field {name!r} is missing from the file")
            values[name] = [None] * len(frame)
        else:
            values[name] = _text_column(frame[column])
    return values


def _check_required(values: dict[str, list[Any]], layer: Layer, problems: Problems) -> None:
    for name in layer.required:
        if any(p["field"] == name and p["row"] is None for p in problems.items):
            continue
        for row, value in enumerate(values[name]):
            if value is None:
                problems.add(row, name, f"required field {name!r} is empty")


def _check_text(values: dict[str, list[Any]], layer: Layer, problems: Problems) -> None:
    """Mojibake guard and choices for text fields; numbers in text fields become text."""
    for name, kind in layer.fields.items():
        if kind != "text":
            continue
        column = values[name]
        series = pd.Series(column, dtype=object)
        if not _all_text(series):
            column = values[name] = [v if v is None or isinstance(v, str) else _number_text(v)
                                     for v in column]
            series = pd.Series(column, dtype=object)
        present = series.notna().to_numpy(bool)
        garbled = present & series.str.contains("\ufffd", regex=False).fillna(False).to_numpy(bool)
        for row in np.flatnonzero(garbled):
            problems.add(int(row), name, f"{name} holds undecodable characters (wrong "
                                         "encoding? pass --encoding GB18030 or UTF-8)")
        if name in layer.choices:
            allowed = layer.choices[name]
            wrong = present & ~garbled & ~series.isin(allowed).to_numpy(bool)
            for row in np.flatnonzero(wrong):
                problems.add(int(row), name, f"{name} {column[row]!r} is not one of "
                                             f"{', '.join(sorted(allowed))}")


def _all_text(series: pd.Series) -> bool:
    return pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_numbers(values: dict[str, list[Any]], layer: Layer, problems: Problems) -> None:
    """int/float fields parse, are integral where needed and sit in their ranges."""
    for name, kind in layer.fields.items():
        if kind not in ("int", "float"):
            continue
        raw = pd.Series(values[name], dtype=object)
        present = raw.notna().to_numpy(bool)
        number = pd.to_numeric(raw, errors="coerce").to_numpy(float)
        bad = present & ~np.isfinite(number)
        fraction = present & ~bad & (np.mod(number, 1) != 0) if kind == "int" else \
            np.zeros(len(raw), bool)
        limits = layer.ranges.get(name, Range())
        if kind == "int":  # the columns are 32-bit integers
            limits = Range(max(limits.lo, -INT32_MAX) if limits.lo is not None else -INT32_MAX,
                           min(limits.hi, INT32_MAX) if limits.hi is not None else INT32_MAX,
                           limits.lo_open, limits.hi_open)
        outside = present & ~bad & ~fraction & _outside(number, limits)
        for row in np.flatnonzero(bad | fraction | outside):
            value = values[name][row]
            why = (f"{value!r} is not a number" if bad[row] else f"{value!r} is not a whole "
                   "number" if fraction[row] else limits.problem(float(number[row])))
            problems.add(int(row), name, f"{name} {why}")
        ok = present & ~bad & ~fraction & ~outside
        texts = (np.where(ok, number, 0).astype(np.int64) if kind == "int" else number).astype(str)
        values[name] = pd.Series(texts, dtype=object).where(ok, None).tolist()


def _outside(number: np.ndarray, limits: Range) -> np.ndarray:
    """Vectorised negation of the range test (NaN → False)."""
    with np.errstate(invalid="ignore"):
        out = np.zeros(len(number), bool)
        if limits.lo is not None:
            out |= (number < limits.lo) | ((number == limits.lo) & limits.lo_open)
        if limits.hi is not None:
            out |= (number > limits.hi) | ((number == limits.hi) & limits.hi_open)
    return out


def _check_times(values: dict[str, list[Any]], layer: Layer, problems: Problems) -> None:
    """date fields → YYYY-MM-DD, datetime fields → ISO 8601 with offset (naive = UTC+8)."""
    for name, kind in layer.fields.items():
        if kind in ("date", "datetime"):
            raw = pd.Series(values[name], dtype=object)
            done = _times_vectorised(raw, kind)
            values[name] = done if done is not None else _times_by_row(
                values[name], name, kind, problems)


def _times_vectorised(raw: pd.Series, kind: str) -> list[Any] | None:
    """Fast path when every present value parses with one time-zone style; else None."""
    present = raw.notna()
    try:
        stamps = pd.to_datetime(raw.astype("string"), format="ISO8601", errors="coerce")
    except (ValueError, TypeError):
        return None
    if not isinstance(stamps.dtype, pd.DatetimeTZDtype) and stamps.dtype.kind != "M":
        return None
    if bool((stamps.isna() & present).any()):
        return None
    if kind == "date":
        texts = np.datetime_as_string(stamps.to_numpy("datetime64[D]"), unit="D")
    else:
        if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
            stamps = stamps.dt.tz_localize(LOCAL_TZ)
        utc = stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
        texts = np.char.add(np.datetime_as_string(utc, unit="us"), "+00:00")
    return pd.Series(texts, dtype=object).where(present.to_numpy(bool), None).tolist()


def _times_by_row(column: list[Any], name: str, kind: str, problems: Problems) -> list[Any]:
    out: list[Any] = []
    for row, raw in enumerate(column):
        if raw is None:
            out.append(None)
            continue
        try:
            stamp = pd.Timestamp(str(raw))
            if pd.isna(stamp):
                raise ValueError(raw)
        except (ValueError, TypeError):
            example = "2024-05-01T08:30:00+08:00" if kind == "datetime" else "2024-05-01"
            problems.add(row, name, f"{name} {raw!r} is not a {kind} (use ISO 8601, "
                                    f"e.g. {example})")
            out.append(None)
            continue
        if kind == "date":
            out.append(stamp.strftime("%Y-%m-%d"))
        else:
            stamp = stamp.tz_localize(LOCAL_TZ) if stamp.tzinfo is None else stamp
            out.append(stamp.isoformat())
    return out


def _check_codes(values: dict[str, list[Any]], layer: Layer, problems: Problems) -> None:
    """Key and parent codes: digits, lengths, prefix; Excel damage; duplicates in the file."""
    key, parent = layer.key, layer.parent_field
    levels = values.get("level", [None] * len(values[key]))
    for name, kind in layer.fields.items():
        if kind != "code" or name in (key, parent):
            continue
        for row, value in enumerate(values[name]):  # other codes: text, no Excel damage
            if value is not None and (damage := excel_damage(value)):
                problems.add(row, name, damage)
    for row, code in enumerate(values[key]):
        parent_code = values[parent][row] if parent else None
        if parent and parent_code is not None:
            if (why := _parent_code_problem(parent_code, layer, levels[row])) is not None:
                problems.add(row, parent, why)
                parent_code = None
        if code is None or layer.fields[key] == "text":
            continue
        for why in code_problems(code, layer.code_kind, parent_code=parent_code,
                                 level=levels[row]):
            problems.add(row, key, why)
    _check_duplicates(values[key], key, problems)


def _parent_code_problem(parent_code: Any, layer: Layer, level: str | None) -> str | None:
    """Why a parent code is unusable: Excel damage or a bad code for the parent level."""
    kinds = {"grid": "community", "micro": "grid"}
    if layer.code_kind == "area":
        parent_level = {"street": "district", "community": "street"}.get(level or "")
        if parent_level is None and level == "district":
            return f"a district has no parent, got {parent_code!r}"
        found = code_problems(parent_code, "area", level=parent_level)
    else:
        found = code_problems(parent_code, kinds[layer.code_kind])  # type: ignore[arg-type]
    return found[0].replace("code", "parent code", 1) if found else None


def _check_duplicates(codes: list[Any], key: str, problems: Problems) -> None:
    """Every repeat of a key after its first row (vectorised; only repeats are visited)."""
    series = pd.Series(codes, dtype=object)
    repeated = (series.duplicated(keep="first") & series.notna()).to_numpy(bool)
    if not repeated.any():
        return
    first: dict[Any, int] = {}
    for row in np.flatnonzero(series.duplicated(keep=False).to_numpy(bool)):
        code = codes[row]
        if not repeated[row]:
            first[code] = int(row)
        else:
            problems.add(int(row), key, f"duplicate {key} {code!r} (also row {first[code]})")


GEOMETRY_NAMES = np.array(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint",
                           "MultiLineString", "MultiPolygon", "GeometryCollection", "None"])


def _check_geometry(geoms: np.ndarray, layer: Layer, problems: Problems) -> None:
    """Presence, type, validity (reason with location) and coordinate range (WGS 84).

    Vectorised: only rows with a problem are visited in Python.
    """
    assert layer.geometry is not None
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    names = GEOMETRY_NAMES[shapely.get_type_id(geoms)]
    wrong_type = ~missing & ~np.isin(names, sorted(layer.geometry))
    invalid = ~missing & ~wrong_type & ~shapely.is_valid(geoms)
    b = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        out_of_range = ~missing & ~wrong_type & ~invalid & ~(
            (b[:, 0] >= -180) & (b[:, 2] <= 180) & (b[:, 1] >= -90) & (b[:, 3] <= 90))
        lo_lon, lo_lat, hi_lon, hi_lat = get_settings().service_area
        out_of_area = ~missing & ~wrong_type & ~invalid & ~out_of_range & ~(
            (b[:, 0] >= lo_lon) & (b[:, 2] <= hi_lon) & (b[:, 1] >= lo_lat) & (b[:, 3] <= hi_lat))
    allowed = " or ".join(sorted(layer.geometry))
    for row in np.flatnonzero(missing | wrong_type | invalid | out_of_range | out_of_area):
        if missing[row]:
            why = "no geometry (empty, or lon/lat/WKT not parseable)"
        elif wrong_type[row]:
            why = f"geometry is a {names[row]}, expected {allowed}"
        elif invalid[row]:
            why = f"invalid geometry: {shapely.is_valid_reason(geoms[row])}"
        elif out_of_range[row]:
            why = ("coordinates outside the valid range (lon -180..180, lat -90..90): "
                   f"{_where(b[row])}")
        else:
            why = (f"coordinates {_where(b[row])} outside the service area lon "
                   f"{lo_lon:g}..{hi_lon:g}, lat {lo_lat:g}..{hi_lat:g}{_swap_hint(b[row])}")
        problems.add(int(row), "geometry", why)


def _where(bounds: np.ndarray) -> str:
    if bounds[0] == bounds[2] and bounds[1] == bounds[3]:
        return f"({bounds[0]:.6f}, {bounds[1]:.6f})"
    return f"(bbox {bounds[0]:.6f}, {bounds[1]:.6f}, {bounds[2]:.6f}, {bounds[3]:.6f})"


def _swap_hint(bounds: np.ndarray) -> str:
    lo_lon, lo_lat, hi_lon, hi_lat = get_settings().service_area
    swapped = (lo_lon <= bounds[1] <= hi_lon and lo_lat <= bounds[0] <= hi_lat)
    return " (lon/lat swapped?)" if swapped else ""


def _check_database(session: Session, values: dict[str, list[Any]], layer: Layer,
                    problems: Problems) -> None:
    """Rules needing the database: parents exist, codes not taken by the other grid level."""
    if layer.name == "micro_grids":
        _check_parents_exist(session, values, problems, "SELECT code FROM grids WHERE "
                             "code = ANY(:codes) AND level = 'grid' AND valid_to IS NULL",
                             "parent grid", set())
    if layer.name == "areas":
        _check_parents_exist(session, values, problems, "SELECT code FROM admin_areas "
                             "WHERE code = ANY(:codes)", "parent area",
                             {c for c in values["code"] if c is not None})
    if layer.table == "grids":
        level = "grid" if layer.name == "grids" else "micro"
        codes = [c for c in values["code"] if isinstance(c, str)]
        taken = set(session.scalars(text(
            "SELECT code FROM grids WHERE code = ANY(:codes) AND valid_to IS NULL "
            "AND level <> :level"), {"codes": codes, "level": level}))
        for row, code in enumerate(values["code"]):
            if code in taken:
                other = "micro-grid" if level == "grid" else "grid"
                problems.add(row, "code", f"code {code!r} is already used by a {other}")


def _check_parents_exist(session: Session, values: dict[str, list[Any]], problems: Problems,
                         sql: str, what: str, in_file: set[Any]) -> None:
    wanted = {p for row, p in enumerate(values["parent_code"])
              if isinstance(p, str) and row not in problems.bad}
    found = set(session.scalars(text(sql), {"codes": sorted(wanted)})) | in_file
    for row, parent in enumerate(values["parent_code"]):
        if isinstance(parent, str) and row not in problems.bad and parent not in found:
            problems.add(row, "parent_code", f"{what} {parent!r} does not exist (import it "
                                             "first, or in the same file)")


# --------------------------------------------------------------------------- writing

_CASTS = {"code": "{c}", "text": "{c}", "int": "{c}::integer", "float": "{c}::double precision",
          "date": "{c}::date", "datetime": "{c}::timestamptz"}


def _extra_columns(layer: Layer) -> dict[str, str]:
    """Table columns not in the file, with their SQL value (over stage alias ``s``)."""
    if layer.table == "grids":
        community = "s.parent_code" if layer.name == "grids" else "s.community_code"
        level = "'grid'" if layer.name == "grids" else "'micro'"
        extra = {"level": level, "community_code": community, "version": "1"}
        if layer.name == "micro_grids":
            extra["kind"] = "'urban'"
        return extra
    if layer.table == "events":
        return {"handling_level": "'grid'", "postponements": "0", "reworks": "0",
                "valid": "true"}
    return {}


def _select_list(layer: Layer, points: bool = False) -> tuple[list[str], list[str]]:
    """Target columns and their expressions over the text-typed stage table ``s``."""
    columns, exprs = [], []
    for name, kind in layer.fields.items():
        expr = _CASTS[kind].format(c=f"s.{name}")
        if name in layer.defaults:
            default = layer.defaults[name]
            expr = f"COALESCE({expr}, {_CASTS[kind].format(c=repr(default))})"
        elif name in ("households", "population") and layer.table != "admin_areas":
            expr = f"COALESCE({expr}, 0)"
        columns.append(name)
        exprs.append(expr)
    for name, expr in _extra_columns(layer).items():
        columns.append(name)
        exprs.append(expr)
    if layer.geometry is not None:
        geom = ("ST_SetSRID(ST_MakePoint(s.geom_x::float8, s.geom_y::float8), 4326)" if points
                else "ST_SetSRID(s.geom::geometry, 4326)")
        columns.append("geom")
        exprs.append(f"ST_Multi({geom})" if layer.multi else geom)
    return columns, exprs


def upsert_sql(layer: Layer, points: bool = False) -> tuple[str, str]:
    """The two set-based statements of an upsert by key from the stage table ``s``.

    First ``UPDATE table t ... FROM (stage) WHERE t.key = key`` (current versions only for
    grids), then ``INSERT ... SELECT ... WHERE NOT EXISTS`` for the new keys; their row
    counts are (updated, inserted). On 200k new events a plain INSERT took 11 s where
    INSERT ... ON CONFLICT ... RETURNING took 17 s (bench/RESULTS.md). A concurrent import
    of the same new key makes the INSERT fail on the unique index (rolled back, nothing
    half-written).

    Only registry identifiers are formatted into the text; values travel through COPY.
    ``points``: the stage holds geom_x/geom_y text columns instead of hex WKB ``geom``.
    """
    columns, exprs = _select_list(layer, points)
    match = f"t.{layer.key} = src.{layer.key}"
    exists = f"t.{layer.key} = s.{layer.key}"
    if layer.table == "grids":
        match += " AND t.valid_to IS NULL"
        exists += " AND t.valid_to IS NULL"
    updated = [c for c in columns if c not in (layer.key, "version", "level", "valid",
                                               "handling_level", "postponements", "reworks")]
    if layer.name == "micro_grids":
        updated.remove("kind")
    source = ", ".join(f"{e} AS {c}" for c, e in zip(columns, exprs, strict=True))
    assignments = ", ".join(f"{c} = src.{c}" for c in updated)
    update = (f"UPDATE {layer.table} AS t SET {assignments} "  # noqa: S608
              f"FROM (SELECT {source} FROM {STAGE} s) AS src WHERE {match}")
    insert = (f"INSERT INTO {layer.table} ({', '.join(columns)}) "  # noqa: S608
              f"SELECT {', '.join(exprs)} FROM {STAGE} s "
              f"WHERE NOT EXISTS (SELECT 1 FROM {layer.table} t WHERE {exists})")
    return update, insert


def _stage_frame(values: dict[str, list[Any]], geoms: np.ndarray | None,
                 keep: np.ndarray) -> pd.DataFrame:
    """The rows to write as text columns (None = NULL), geometry as hex WKB."""
    data = {name: pd.Series(column, dtype=object)[keep] for name, column in values.items()}
    frame = pd.DataFrame(data)
    frame.insert(0, "row_no", np.flatnonzero(keep))
    if geoms is not None:
        kept = geoms[keep]
        if bool(shapely.has_z(kept).any()):
            kept = shapely.force_2d(kept)
        if kept.size and bool((shapely.get_type_id(kept) == 0).all()):
            xy = shapely.get_coordinates(kept)  # points: x/y text is cheaper than WKB hex
            frame["geom_x"], frame["geom_y"] = xy[:, 0].astype(str), xy[:, 1].astype(str)
        else:
            frame["geom"] = shapely.to_wkb(kept, hex=True)
    return frame


def _copy_stage(session: Session, layer: Layer, frame: pd.DataFrame) -> None:
    """Create the temp stage table and COPY ``frame`` into it (CSV, chunks of 100k rows)."""
    columns = list(frame.columns)
    defs = ", ".join(["row_no integer"] + [f"{c} text" for c in columns[1:]])
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    session.execute(text(f"CREATE TEMP TABLE {STAGE} ({defs}) ON COMMIT DROP"))
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {STAGE} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
        for start in range(0, len(frame), 100_000):
            chunk = frame.iloc[start:start + 100_000]
            copy.write(chunk.to_csv(index=False, header=False))


def _stage_parent_communities(session: Session) -> None:
    """Give each staged micro-grid its parent grid's community code, before the upsert.

    Resolved here in its own statement rather than as a correlated sub-select inside the
    INSERT: PostgreSQL 15 was seen returning NULL from that sub-select (through the partial
    unique index on grids.code) while the same INSERT wrote micro-grids into that index.
    """
    session.execute(text(f"ALTER TABLE {STAGE} ADD COLUMN community_code text"))
    session.execute(text(
        f"UPDATE {STAGE} s SET community_code = g.community_code FROM grids g "  # noqa: S608
        "WHERE g.code = s.parent_code AND g.level = 'grid' AND g.valid_to IS NULL"))


def write_rows(session: Session, layer: Layer, frame: pd.DataFrame) -> tuple[int, int]:
    """Upsert the staged rows; returns (inserted, updated)."""
    if frame.empty:
        return 0, 0
    _copy_stage(session, layer, frame)
    if layer.name == "micro_grids":
        _stage_parent_communities(session)
    update, insert = upsert_sql(layer, points="geom_x" in frame.columns)
    session.execute(text(f"ANALYZE {STAGE}"))
    updated = session.execute(text(update)).rowcount  # type: ignore[attr-defined]
    inserted = session.execute(text(insert)).rowcount  # type: ignore[attr-defined]
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    assign_after_import(session, layer.table, [str(c) for c in frame[layer.key]])
    return int(inserted), int(updated)


def _write_or_explain(session: Session, layer: Layer, frame: pd.DataFrame) -> tuple[int, int]:
    """:func:`write_rows`, turning database refusals into gridlink errors (no 500s).

    A unique-key clash can only come from a concurrent import of the same new codes
    (Conflict, retry); a value the database rejects (e.g. an integer above 2^31) is a
    ValidationFailed. The caller's transaction is then unusable and must be rolled back.
    """
    try:
        return write_rows(session, layer, frame)
    except IntegrityError as exc:
        raise Conflict(f"another import wrote the same {layer.key}s at the same time; retry",
                       [{"field": layer.key, "problem": _short(exc.orig or exc)}]) from exc
    except DataError as exc:
        raise ValidationFailed(f"the database refused a value: {_short(exc.orig or exc)}; "
                               "nothing was imported",
                               [{"row": None, "id": None, "field": None,
                                 "problem": _short(exc.orig or exc)}]) from exc


def write_rejects(path: Path, problems: list[Detail]) -> None:
    """Write problems as CSV (UTF-8 with BOM for Excel): row, id, field, problem."""
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["row", "id", "field", "problem"])
        writer.writeheader()
        writer.writerows(problems)


# --------------------------------------------------------------------------- orchestration


def import_frame(session: Session, layer: str, gdf: gpd.GeoDataFrame | pd.DataFrame, *,
                 crs: str | None = None, skip_invalid: bool = False,
                 rejects_path: Path | None = None, source_crs: gcrs.ParsedCRS | None = None,
                 notes: list[str] | None = None, make_valid: bool = False) -> ImportReport:
    """Validate and upsert a (Geo)DataFrame whose columns are the layer's fields.

    Geometry comes from ``gdf.geometry`` in ``crs`` (if given), else the frame's CRS,
    else ``source_crs``, else guessed (degrees → WGS 84; metres → refused). Codes must be
    text. ``make_valid`` repairs invalid polygons (:mod:`geo.geometry_repair`), one note
    per repaired row. Nothing is written when a ValidationFailed is raised; never commits.
    """
    spec = get_layer(layer)
    notes = list(notes or [])
    geoms = wgs84_geometries(gdf, spec, crs, source_crs, notes)
    if make_valid and geoms is not None:
        geoms, repaired = repair_polygons(geoms)
        notes += [f"row {row + 1}: {what}" for row, what in sorted(repaired.items())]
    values, problems = validate(session, gdf, spec, geoms)
    if problems.file_level() or (problems.items and not skip_invalid):
        raise ValidationFailed(_summary(problems, len(gdf)), problems.sorted())
    if rejects_path is not None and problems.items:
        write_rejects(rejects_path, problems.sorted())
    keep = np.ones(len(gdf), dtype=bool)
    keep[sorted(problems.bad)] = False
    inserted, updated = _write_or_explain(session, spec, _stage_frame(values, geoms, keep))
    return ImportReport(spec.name, len(gdf), inserted, updated, len(problems.bad),
                        problems.sorted(), notes)


def wgs84_geometries(gdf: pd.DataFrame, layer: Layer, crs: str | None,
                      source_crs: gcrs.ParsedCRS | None, notes: list[str]) -> np.ndarray | None:
    if layer.geometry is None:
        return None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        _file_problem("the data has no geometry column")
    declared = gcrs.parse_crs(crs) if crs else (
        gcrs.parse_crs(gdf.crs) if gdf.crs is not None else source_crs)  # type: ignore[arg-type]
    if crs and source_crs is not None:
        notes.append(f"CRS {declared.label} given overrides the file's {source_crs.label}")
    geoms = np.asarray(gdf.geometry.to_numpy(), dtype=object)
    return _to_wgs84(geoms, declared, notes)


def validate(session: Session, frame: pd.DataFrame, layer: Layer,
             geoms: np.ndarray | None) -> tuple[dict[str, list[Any]], Problems]:
    """Check every rule; returns the cleaned text values and all problems found."""
    if len(frame) == 0:
        _file_problem("the file holds no features", field_name="file")
    key_column = next((c for c in frame.columns if str(c).strip().lower() == layer.key), None)
    ids = _text_column(frame[key_column]) if key_column is not None else [None] * len(frame)
    problems = Problems(ids)
    values = _values(frame, layer, problems)
    _check_required(values, layer, problems)
    _check_text(values, layer, problems)
    _check_numbers(values, layer, problems)
    _check_times(values, layer, problems)
    _check_codes(values, layer, problems)
    if geoms is not None:
        _check_geometry(geoms, layer, problems)
    if not problems.file_level():
        _check_database(session, values, layer, problems)
    return values, problems


def _summary(problems: Problems, rows: int) -> str:
    count = len(problems.items)
    return (f"{count} problem{'s' if count != 1 else ''} in {len(problems.bad)} of {rows} "
            "rows; nothing was imported" if problems.bad else
            f"{problems.items[0]['problem']}; nothing was imported")
