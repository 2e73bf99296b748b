"""Problems found in an import file, collected per row (shared by every room)."""

from __future__ import annotations

import re
from typing import Any, NoReturn

from geo.errors import Detail, ValidationFailed

ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s'\":/]+/)+[^\s'\":/]*")


class Problems:
    """Collects problems per row; ``bad`` is the set of rejected row indexes (0-based).

    Details number rows as people count them: ``row`` 1 is the first data row (feature)
    of the file; a CSV's details also carry its ``line`` (the header is line 1). ``offset``:
    the file row of row 0 when these rows are one batch of a streamed file (``bad`` stays
    0-based within the batch).
    """

    def __init__(self, ids: list[Any], lines: list[int] | None = None, offset: int = 0) -> None:
        self.ids = ids
        self.lines = lines
        self.offset = offset
        self.items: list[Detail] = []
        self.bad: set[int] = set()

    def add(self, row: int | None, field_name: str, problem: str) -> None:
        """Record ``problem`` of ``field_name`` at 0-based ``row`` (None: the whole file)."""
        if row is None:
            self.items.append({"row": None, "id": None, "field": field_name,
                               "problem": problem})
            return
        detail: Detail = {"row": self.offset + row + 1, "id": self.ids[row], "field": field_name,
                          "problem": problem}
        if self.lines is not None:
            detail["line"] = self.lines[row]
        self.items.append(detail)
        self.bad.add(row)

    def sorted(self) -> list[Detail]:
        """File-level problems first, then by row (stable: field order within a row)."""
        return sorted(self.items, key=lambda p: -1 if p["row"] is None else p["row"])

    def file_level(self) -> list[Detail]:
        return [p for p in self.items if p["row"] is None]


def file_problem(problem: str, field_name: str = "geometry") -> NoReturn:
    """Raise ValidationFailed for a problem of the whole file (no row)."""
    raise ValidationFailed(problem, [{"row": None, "id": None, "field": field_name,
                                      "problem": problem}])


def short_error(exc: BaseException) -> str:
    """The first line of an exception's message, at most 300 characters, without server
    paths (a temporary upload folder is never shown: only file names remain)."""
    return without_paths(str(exc).split("\n")[0])[:300]


def without_paths(message: str) -> str:
    """``message`` with every absolute path cut to its last part (the file name)."""
    return ABSOLUTE_PATH.sub(lambda m: m.group(0).rsplit("/", 1)[-1], message)
