"""Problems found in an import file, collected per row (shared by every room)."""

from __future__ import annotations

from typing import Any, NoReturn

from geo.errors import Detail, ValidationFailed


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


def file_problem(problem: str, field_name: str = "geometry") -> NoReturn:
    """Raise ValidationFailed for a problem of the whole file (no row)."""
    raise ValidationFailed(problem, [{"row": None, "id": None, "field": field_name,
                                      "problem": problem}])


def short_error(exc: BaseException) -> str:
    """The first line of an exception's message, at most 300 characters."""
    return str(exc).split("\n")[0][:300]
