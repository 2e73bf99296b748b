"""Code rules: codes are digit-only text, with lengths from settings and a parent prefix.

* district 6 digits, street 9 (district + 3), community 12 (street + 3);
* grid: a length in ``settings.grid_code_lengths`` (default 14, 15, 20), starting with its
  community's code;
* micro-grid: its grid's code plus a suffix of ``settings.micro_grid_suffix_lengths`` digits;
* camera: GB/T 28181 device id, 20 digits, type digits 11-13 = 131 (camera) or 132 (IP camera).

Every check returns a list of problem texts (empty = fine) so callers can report all of them.
Excel damage (``1.40213E+11``, ``140213001001.0``, numbers instead of text) is refused: the
lost digits cannot be recovered, so a code is never "repaired" into a possibly wrong one.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from geo.settings import Settings, get_settings

CodeKind = Literal["district", "street", "community", "area", "grid", "micro", "camera", "text"]

AREA_LENGTHS = {"district": 6, "street": 9, "community": 12}
CAMERA_DEVICE_TYPES = frozenset({"131", "132"})
_EXCEL_SCIENTIFIC = re.compile(r"^\s*[0-9](\.[0-9]+)?[eE]\+?[0-9]+\s*$")
_EXCEL_DECIMAL = re.compile(r"^\s*[0-9]+\.0+\s*$")


def prefix_pattern(code: str) -> str:
    """``LIKE`` pattern for every code starting with ``code`` (wildcards escaped). Codes
    nest: every code in an area starts with the area's code."""
    return code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def excel_damage(value: Any) -> str | None:
    """Why ``value`` looks like a code mangled by Excel or stored as a number, or None.

    Numbers (int/float) are refused because leading zeros and digits beyond 15 may be lost;
    text in scientific notation (``1.40213E+11``) or with a ``.0`` tail likewise.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return (f"code {value!r} is stored as a number (Excel?): leading zeros and digits may "
                "be lost; store codes as text")
    text = str(value)
    if _EXCEL_SCIENTIFIC.match(text):
        return (f"code {text!r} is in scientific notation (Excel damage): the digits are lost; "
                "format the column as text in the source and export again")
    if _EXCEL_DECIMAL.match(text):
        return f"code {text!r} has a decimal tail (Excel number): store codes as text"
    return None


def digit_problems(code: str, lengths: tuple[int, ...]) -> list[str]:
    """Problems of ``code`` as digit-only text of one of ``lengths``."""
    if not code.isdigit() or not code.isascii():
        return [f"code {code!r} must contain digits only"]
    if len(code) not in lengths:
        allowed = " or ".join(str(n) for n in lengths)
        return [f"code {code!r} has {len(code)} digits, expected {allowed}"]
    return []


def parent_problems(code: str, parent_code: str | None, parent_kind: str) -> list[str]:
    """Problems with ``code`` starting with its parent's code (None parent: none)."""
    if parent_code is None or parent_code == "":
        return []
    if not code.startswith(parent_code):
        return [f"code {code!r} does not start with its {parent_kind} code {parent_code!r}"]
    if len(code) <= len(parent_code):
        return [f"code {code!r} must be longer than its {parent_kind} code {parent_code!r}"]
    return []


def gb28181_problems(code: str) -> list[str]:
    """Problems of ``code`` as a GB/T 28181 camera id (20 digits, type 131/132)."""
    problems = digit_problems(code, (20,))
    if problems:
        return problems
    device_type = code[10:13]
    if device_type not in CAMERA_DEVICE_TYPES:
        return [f"camera id {code!r} has device type {device_type} (digits 11-13); "
                "a camera is 131 or 132 in GB/T 28181"]
    return []


def area_level_lengths(level: str | None) -> tuple[int, ...]:
    """Code lengths allowed for an admin area of ``level`` (all three when unknown)."""
    if level in AREA_LENGTHS:
        return (AREA_LENGTHS[level],)
    return tuple(AREA_LENGTHS.values())


def code_problems(code: Any, kind: CodeKind, *, parent_code: str | None = None,
                  level: str | None = None, settings: Settings | None = None) -> list[str]:
    """Every problem of ``code`` as a code of ``kind`` (empty list: valid).

    Parameters
    ----------
    code
        The value as read from the file: text expected; numbers are refused (Excel).
    kind
        ``area`` (length from ``level``), ``grid``, ``micro``, ``camera`` or ``text``
        (any non-empty text without Excel damage: buildings, sites, workers).
    parent_code
        The parent's code, checked as a prefix for areas, grids and micro-grids.
    """
    settings = settings or get_settings()
    damage = excel_damage(code)
    if damage:
        return [damage]
    text = str(code).strip()
    if text == "":
        return ["code is empty"]
    if kind == "text":
        return []
    if kind == "camera":
        return gb28181_problems(text)
    if kind == "micro":
        lengths = (tuple(len(parent_code) + n for n in settings.micro_grid_suffix_lengths)
                   if parent_code else tuple(sorted(
                       {g + n for g in settings.grid_code_lengths
                        for n in settings.micro_grid_suffix_lengths})))
        parent_kind = "grid"
    elif kind == "grid":
        lengths, parent_kind = settings.grid_code_lengths, "community"
    else:
        lengths, parent_kind = area_level_lengths(level if kind == "area" else kind), "parent"
    return digit_problems(text, lengths) or parent_problems(text, parent_code, parent_kind)


STANDARD_GRID_LENGTH = 15
"""DB11/T 2157-2023: 6 district + 3 street + 3 community + 3 grid sequence digits."""


def derived_parent(code: Any, kind: CodeKind, *, level: str | None = None,
                   settings: Settings | None = None) -> str | None:
    """The parent code that ``code``'s prefix already says, or None when it says nothing.

    A 15-digit grid code → its 12-digit community; a street (9 digits) → its district, a
    community (12) → its street; a micro-grid → its grid when exactly one configured grid
    length plus one suffix length gives the code's length (17 digits could be 15 + 2 or
    14 + 3: no answer). Codes that are not digit-only text give None.
    """
    if not isinstance(code, str) or not code.isdigit():
        return None
    if kind == "grid":
        return code[:12] if len(code) == STANDARD_GRID_LENGTH else None
    if kind == "area":
        parent_length = {"street": 6, "community": 9}.get(level or "")
        return code[:parent_length] if parent_length and len(code) == parent_length + 3 \
            else None
    if kind == "micro":
        settings = settings or get_settings()
        splits = {g for g in settings.grid_code_lengths
                  for n in settings.micro_grid_suffix_lengths if g + n == len(code)}
        return code[:splits.pop()] if len(splits) == 1 else None
    return None
