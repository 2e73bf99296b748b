"""Patrol tasks (巡查): rules per site category and frequency (:mod:`.rules`), tasks generated
per grid and period (:mod:`.tasks`), check-ins from the worker's phone (:mod:`.checkins`),
overdue counts (:mod:`.overdue`) and a day's walking order over a grid's due units
(:mod:`.tour`, :mod:`.route`). docs/patrols.md explains the rules and their defaults.

Dates are China Standard Time calendar days (``geo.fields.LOCAL_ZONE``). Functions take a
session and never commit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator

from geo.fields import LOCAL_ZONE


def local_today() -> date:
    """Today in China Standard Time (UTC+8): the day patrol periods and overdue refer to."""
    return datetime.now(LOCAL_ZONE).date()


def _in_range(day: date) -> date:
    """``day`` unchanged; ValueError outside 1900-2999 (like every time in gridlink)."""
    if not date(1900, 1, 1) <= day <= date(2999, 12, 31):
        raise ValueError("the date must lie between 1900-01-01 and 2999-12-31")
    return day


Day = Annotated[date, AfterValidator(_in_range)]
"""A calendar day (China Standard Time) between 1900 and 2999, e.g. ``2026-12-07``."""
