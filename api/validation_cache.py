"""Validation reports of published grids kept per server process, by layer revision.

Validating a whole district takes seconds (7-10 s at 1,200 grids under load, ~30 s at
10,000, bench/RESULTS.md), and the planner page and ``GET /planning/validate`` asked for it
at every load. A report depends only on committed grids, buildings and admin areas and on
the planning settings, so it is kept under :func:`geo.planning.validate.published_revision`
(which changes with every committed write to those tables) and the settings it was made
with: a publish, an import or a building edit makes a new key, and old entries age out
(least recently used first). Drafts (``changeset``) are never cached; neither is a request
whose transaction has written rows itself (its token would not describe them).

Two requests for the same key at once compute it once: the second waits for the first.
Each server process has its own cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy.orm import Session

from geo.planning.validate import ValidationReport, published_revision, validate_area
from geo.settings import Settings

MAX_REPORTS = 16
"""Reports kept per process (a 10,000-grid district's report holds ~70,000 grid metrics)."""


def settings_key(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The settings a report depends on: the planning rules and the metric CRS."""
    return tuple(sorted((name, repr(value)) for name, value in settings.model_dump().items()
                        if name.startswith("plan_") or name == "metric_srid"))


class ValidationCache:
    """Reports of published grids by (area, revision token, planning settings)."""

    def __init__(self, max_reports: int = MAX_REPORTS) -> None:
        self.max_reports = max_reports
        self._reports: OrderedDict[tuple[object, ...], ValidationReport] = OrderedDict()
        self._computing: dict[tuple[object, ...], threading.Lock] = {}
        self._lock = threading.Lock()
        self.computed = 0
        """Reports computed (not found in the cache) since the process started."""

    def report(self, session: Session, area_code: str, settings: Settings) -> ValidationReport:
        """The validation of ``area_code``'s published grids (as
        :func:`geo.planning.validate.validate_area`), from the cache when nothing it depends
        on has changed since it was computed. Raises NotFound for an unknown area."""
        revision = published_revision(session)
        if revision is None:
            return validate_area(session, area_code, settings=settings)
        key = (area_code, revision, settings_key(settings))
        with self._lock:
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            found = self._get(key)
            if found is None:
                found = validate_area(session, area_code, settings=settings)
                self._put(key, found)
        with self._lock:
            self._computing.pop(key, None)
        return found

    def _get(self, key: tuple[object, ...]) -> ValidationReport | None:
        with self._lock:
            found = self._reports.get(key)
            if found is not None:
                self._reports.move_to_end(key)
            return found

    def _put(self, key: tuple[object, ...], report: ValidationReport) -> None:
        with self._lock:
            self.computed += 1
            self._reports[key] = report
            while len(self._reports) > self.max_reports:
                self._reports.popitem(last=False)


VALIDATIONS = ValidationCache()
"""The process's cache, shared by ``GET /planning/validate`` and the planner page."""
