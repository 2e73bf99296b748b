"""Validation room: every rule of the layer catalogue checked on every row at once.

Problems are collected (see :class:`~geo.importer.problems.Problems`), never raised one by
one, so a file's author sees all of them. Only the database checks read tables.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.catalog import Layer, Range
from geo.codes import code_problems, derived_parent, excel_damage
from geo.districts import CHINA_AND_NEIGHBOURS, Bounds, loaded_extent
from geo.importer.fields import FieldMapping, field_values, map_fields, text_column
from geo.importer.problems import Problems, file_problem
from geo.settings import Settings, get_settings

LOCAL_TZ = "Asia/Shanghai"
"""Time zone assumed for timestamps without an offset (China Standard Time, UTC+8)."""
INT32_MAX = 2_147_483_647
DISTRICT_LAYERS = ("areas", "grids", "micro_grids")
"""Layers that define the districts (and so the default service area)."""


def _check_required(values: dict[str, list[Any]], layer: Layer, problems: Problems) -> None:
    for name in layer.required:
        if any(p["field"] == name and p["row"] is None for p in problems.items):
            continue
        for row, value in enumerate(values[name]):
            if value is None:
                problems.add(row, name, f"required field {name!r} is empty")


def _check_text(values: dict[str, list[Any]], layer: Layer, problems: Problems) -> None:
    """Mojibake guard and choices for text fields; numbers in text fields become text.

    Column-wise in Arrow (``match_substring``, ``is_in``): only rows with a problem are
    visited in Python.
    """
    for name, kind in layer.fields.items():
        if kind != "text" or _all_empty(values[name]):
            continue
        column, texts = _as_text(values[name])
        values[name] = column
        present = _mask(pc.is_valid(texts))
        garbled = _mask(pc.match_substring(texts, "\ufffd"))
        for row in np.flatnonzero(garbled):
            problems.add(int(row), name, f"{name} holds undecodable characters (wrong "
                                         "encoding? pass --encoding GB18030 or UTF-8)")
        if name in layer.choices:
            allowed = layer.choices[name]
            known = _mask(pc.is_in(texts, value_set=pa.array(sorted(allowed), pa.string())))
            for row in np.flatnonzero(present & ~garbled & ~known):
                problems.add(int(row), name, f"{name} {column[row]!r} is not one of "
                                             f"{', '.join(sorted(allowed))}")


def _as_text(column: list[Any]) -> tuple[list[Any], pa.Array]:
    """(the column with numbers written as text, the same as an Arrow string array)."""
    try:
        return column, pa.array(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        column = [v if v is None or isinstance(v, str) else _number_text(v) for v in column]
        return column, pa.array(column, pa.string())


def _mask(flags: pa.Array) -> np.ndarray:
    """An Arrow boolean array as a numpy mask (null → False)."""
    return np.asarray(flags.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _all_empty(column: list[Any]) -> bool:
    """Whether every value is None (a field the file does not carry): nothing to check."""
    return column.count(None) == len(column)


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_numbers(values: dict[str, list[Any]], layer: Layer, problems: Problems) -> None:
    """int/float fields parse, are integral where needed and sit in their ranges."""
    for name, kind in layer.fields.items():
        if kind not in ("int", "float") or _all_empty(values[name]):
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
        if kind in ("date", "datetime") and not _all_empty(values[name]):
            raw = pd.Series(values[name], dtype=object)
            done = _times_with_offsets(values[name]) if kind == "datetime" else None
            done = done if done is not None else _times_vectorised(raw, kind)
            values[name] = done if done is not None else _times_by_row(
                values[name], name, kind, problems)


def _times_with_offsets(column: list[Any]) -> list[Any] | None:
    """Fastest path, in Arrow: every present value is ``YYYY-MM-DDTHH:MM:SS`` with an offset
    (``+08:00``, ``Z``) → UTC text as :func:`_times_vectorised` writes it; else None."""
    try:
        texts = pa.array(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    stamps = pc.strptime(texts, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True)
    if stamps.null_count != texts.null_count:
        return None
    naive = pc.cast(stamps, pa.timestamp("us"))  # UTC wall time; Arrow writes "Y-m-d H:M:S.f"
    iso = pc.replace_substring(pc.cast(naive, pa.string()), " ", "T", max_replacements=1)
    return list(pc.binary_join_element_wise(iso, "+00:00", "").to_numpy(
        zero_copy_only=False).tolist())


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
    if parent is None and layer.fields[key] == "text":  # nothing per row to check
        _check_duplicates(values[key], key, problems)
        return
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
            problems.add(int(row), key, f"duplicate {key} {code!r} "
                                      f"(also row {problems.offset + first[code] + 1})")


GEOMETRY_NAMES = np.array(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint",
                           "MultiLineString", "MultiPolygon", "GeometryCollection", "None"])


def import_area(session: Session, layer: Layer, settings: Settings) -> Bounds | None:
    """The service area an import is checked against; None for the layers that define it
    (areas, grids, micro-grids) unless GRIDLINK_SERVICE_AREA is set (geo.districts)."""
    if settings.service_area is None and layer.name in DISTRICT_LAYERS:
        return None
    return settings.service_area or loaded_extent(session)


def _check_geometry(geoms: np.ndarray, layer: Layer, problems: Problems,
                    area: Bounds | None) -> None:
    """Presence, type, validity (reason with location), coordinate range (WGS 84) and the
    service ``area`` (None: not checked).

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
        lo_lon, lo_lat, hi_lon, hi_lat = area or (-180, -90, 180, 90)
        out_of_area = ~missing & ~wrong_type & ~invalid & ~out_of_range & ~(
            (b[:, 0] >= lo_lon) & (b[:, 2] <= hi_lon) & (b[:, 1] >= lo_lat) & (b[:, 3] <= hi_lat))
    hint_area = area or CHINA_AND_NEIGHBOURS
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
                   f"{_where(b[row])}{_swap_hint(b[row], hint_area)}")
        else:
            why = (f"coordinates {_where(b[row])} outside the service area lon "
                   f"{lo_lon:g}..{hi_lon:g}, lat {lo_lat:g}..{hi_lat:g}"
                   f"{_swap_hint(b[row], hint_area)}")
        problems.add(int(row), "geometry", why)


def _where(bounds: np.ndarray) -> str:
    if bounds[0] == bounds[2] and bounds[1] == bounds[3]:
        return f"({bounds[0]:.6f}, {bounds[1]:.6f})"
    return f"(bbox {bounds[0]:.6f}, {bounds[1]:.6f}, {bounds[2]:.6f}, {bounds[3]:.6f})"


def _swap_hint(bounds: np.ndarray, area: Bounds) -> str:
    """A hint when the row's coordinates read as (lat, lon) fall in the service ``area``."""
    lo_lon, lo_lat, hi_lon, hi_lat = area
    swapped = (lo_lon <= bounds[1] <= hi_lon and lo_lat <= bounds[0] <= hi_lat
               and lo_lon <= bounds[3] <= hi_lon and lo_lat <= bounds[2] <= hi_lat)
    if not swapped:
        return ""
    if bounds[0] == bounds[2] and bounds[1] == bounds[3]:
        return (f"; latitude and longitude look swapped: did you mean lon {bounds[1]:.6f}, "
                f"lat {bounds[0]:.6f}?")
    return "; latitude and longitude look swapped (x holds latitudes)"


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
    if layer.name == "entrances":
        _check_parents_exist(session, values, problems, "SELECT code FROM sites WHERE "
                             "code = ANY(:codes)", "site", set(), "site_code",
                             "import the sites first")
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
                         sql: str, what: str, in_file: set[Any], field: str = "parent_code",
                         hint: str = "import it first, or in the same file") -> None:
    """Every code in ``field`` names a row ``sql`` finds (``:codes``) or one of ``in_file``;
    the others are problems of that field."""
    wanted = {p for row, p in enumerate(values[field])
              if isinstance(p, str) and row not in problems.bad}
    found = set(session.scalars(text(sql), {"codes": sorted(wanted)})) | in_file
    for row, parent in enumerate(values[field]):
        if isinstance(parent, str) and row not in problems.bad and parent not in found:
            problems.add(row, field, f"{what} {parent!r} does not exist ({hint})")


def validate(session: Session, frame: pd.DataFrame, layer: Layer, geoms: np.ndarray | None,
             explicit: dict[str, str] | None = None, lines: list[int] | None = None,
             settings: Settings | None = None, offset: int = 0
             ) -> tuple[dict[str, list[Any]], Problems, FieldMapping]:
    """Map the columns, then check every rule.

    Returns the cleaned text values per field, every problem found (mapping problems are
    file-level) and the field mapping used. ``explicit``: the user's ``--map`` entries
    (column → field, "" = leave out); ``lines``: a CSV's line number per row; ``settings``
    (default: the process's) give the service area; ``offset``: file row of the frame's
    first row (a batch of a streamed file).
    """
    settings = settings or get_settings()
    if len(frame) == 0:
        file_problem("the file holds no features", field_name="file")
    scratch = Problems([])
    columns = [c for c in frame.columns
               if not (isinstance(frame, gpd.GeoDataFrame) and c == frame.geometry.name)]
    mapping = map_fields(columns, layer, explicit or {}, scratch)
    key_column = mapping.columns.get(layer.key)
    ids = text_column(frame[key_column]) if key_column is not None else [None] * len(frame)
    problems = Problems(ids, lines, offset)
    problems.items.extend(scratch.items)
    area = import_area(session, layer, settings) if geoms is not None else None
    return _validated(session, frame, layer, geoms, mapping, problems, area), problems, mapping


def _validated(session: Session, frame: pd.DataFrame, layer: Layer, geoms: np.ndarray | None,
               mapping: FieldMapping, problems: Problems, area: Bounds | None
               ) -> dict[str, list[Any]]:
    values = field_values(frame, layer, mapping, problems)
    _check_required(values, layer, problems)
    _check_text(values, layer, problems)
    _check_bools(values, layer, problems)
    _check_numbers(values, layer, problems)
    _check_times(values, layer, problems)
    _derive_parents(values, layer, problems)
    _check_codes(values, layer, problems)
    if layer.name == "events":
        _check_lifecycle(values, mapping, problems)
    if geoms is not None:
        _check_geometry(geoms, layer, problems, area)
    if not problems.file_level():
        _check_database(session, values, layer, problems)
    return values


def _check_lifecycle(values: dict[str, list[Any]], mapping: FieldMapping,
                     problems: Problems) -> None:
    """A case history holds together: a closing time belongs to a closed (or rejected)
    case (a file without a status column gets 'closed' where a closing time is given),
    nothing happens before it was reported, and a first-time completion was never
    reworked. A closed case without a closing time is accepted (older records, the demo):
    it counts as closed but never as closed on time."""
    carried = [n for n in ("dispatched_at", "closed_at", "due_at") if n in mapping.columns]
    if not carried and "first_time" not in mapping.columns:
        return  # a plain list of reports: nothing of a lifecycle to check
    if "status" not in mapping.columns:
        values["status"] = ["closed" if c is not None else None for c in values["closed_at"]]
    stamp = {name: pd.to_datetime(pd.Series(values[name], dtype=object), utc=True,
                                  format="ISO8601", errors="coerce")
             for name in ("reported_at", *carried)}
    reported = stamp["reported_at"]
    for name in carried:
        for early in np.flatnonzero((stamp[name] < reported).to_numpy(bool)).tolist():
            problems.add(early, name, f"{name} {_local(stamp[name][early])} is before "
                                      f"reported_at {_local(reported[early])}")
    for row, (status, closed) in enumerate(zip(values["status"], values["closed_at"],
                                               strict=True)):
        if closed is not None and status not in ("closed", "rejected", None):
            problems.add(row, "status", f"status {status!r} but closed_at "
                                        f"{_local(stamp['closed_at'][row])} is given")
    if "first_time" not in mapping.columns:
        return
    for row, (first, reworks) in enumerate(zip(values["first_time"], values["reworks"],
                                               strict=True)):
        if first == "true" and reworks not in (None, "0"):
            problems.add(row, "first_time", f"first_time is true but the case was reworked "
                                            f"{reworks} time(s)")


def _local(stamp: pd.Timestamp) -> str:
    """A time as people read it here: China Standard Time, to the minute."""
    return str(stamp.tz_convert(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"))


def _check_bools(values: dict[str, list[Any]], layer: Layer, problems: Problems) -> None:
    """bool fields → 'true'/'false' (after value aliases: 是/否, yes/no, 1/0)."""
    for name, kind in layer.fields.items():
        if kind != "bool" or all(v is None for v in values[name]):
            continue
        out: list[Any] = []
        for row, value in enumerate(values[name]):
            word = str(value).strip().lower() if value is not None else None
            if word in ("true", "false", None):
                out.append(word)
            else:
                problems.add(row, name, f"{name} {value!r} is not true/false (是/否, yes/no, "
                                        "1/0)")
                out.append(None)
        values[name] = out


def _derive_parents(values: dict[str, list[Any]], layer: Layer, problems: Problems) -> None:
    """Fill the parent code the key code's prefix already says; refuse a file that says
    otherwise (both values named). Grids and micro-grids need a parent either way."""
    parent = layer.parent_field
    if parent is None:
        return
    levels = values.get("level", [None] * len(values[layer.key]))
    for row, code in enumerate(values[layer.key]):
        derived = derived_parent(code, layer.code_kind, level=levels[row])
        given = values[parent][row]
        if derived is not None and given is None:
            values[parent][row] = derived
        elif derived is not None and isinstance(given, str) and given.isdigit() \
                and given != derived:
            problems.add(row, parent, f"parent_code {given!r} contradicts code {code!r}, "
                                      f"whose prefix says {derived!r}")
            values[parent][row] = None
        elif given is None and layer.code_kind in ("grid", "micro") and code is not None:
            problems.add(row, parent, f"parent_code is empty and code {code!r} does not say "
                                      "its parent (not the 15-digit standard): give it")


def summary(problems: Problems, rows: int) -> str:
    count = len(problems.items)
    return (f"{count} problem{'s' if count != 1 else ''} in {len(problems.bad)} of {rows} "
            "rows; nothing was imported" if problems.bad else
            f"{problems.items[0]['problem']}; nothing was imported")
