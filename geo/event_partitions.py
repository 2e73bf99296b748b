"""The monthly partitions of ``events`` (migration 0020): which exist, and making the next ones.

A partition holds one local month (Asia/Shanghai, the day of the daily rollups) of
``reported_at`` and is named ``events_YYYY_MM``; ``events_default`` takes any month without
one, so a report is never refused. :func:`ensure_partitions` creates the current month and
the next ``ahead`` ones and gives every month found in the default partition its own (the
database function ``events_month_partition`` moves those rows). It runs at migration,
before ``gridlink serve`` starts the API, and with ``gridlink events partitions`` (monthly,
from cron: docs/operations.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ValidationFailed

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
"""The zone whose months bound the partitions (the same as ``gridlink_local_day``)."""
PARTITION_NAME = re.compile(r"^events_(\d{4})_(\d{2})$")
MONTH_TEXT = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
PARTITIONS_LOCK = 1_820_001
"""Advisory lock id: one partition maintenance at a time (several API processes start)."""


@dataclass(frozen=True, order=True)
class MonthPartition:
    """One attached monthly partition of ``events``."""

    month: date
    name: str


def parse_month(value: str, field: str = "before") -> date:
    """The first day of month ``value`` (``YYYY-MM``). Raises :class:`ValidationFailed`
    naming ``field`` for anything else."""
    found = MONTH_TEXT.match(value.strip())
    if not found:
        raise ValidationFailed(f"{field} must be a month as YYYY-MM, not {value!r}",
                               [{"field": field, "value": value}])
    return date(int(found.group(1)), int(found.group(2)), 1)


def add_months(month: date, months: int) -> date:
    """The first day of the month ``months`` after ``month`` (negative: before)."""
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def current_month(now: datetime | None = None) -> date:
    """The first day of the local month of ``now`` (default: now)."""
    local = (now or datetime.now(LOCAL_ZONE)).astimezone(LOCAL_ZONE)
    return date(local.year, local.month, 1)


def month_partitions(session: Session) -> list[MonthPartition]:
    """The attached monthly partitions of ``events``, oldest first (not the default)."""
    names = session.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'events'::regclass")).scalars()
    found = [(PARTITION_NAME.match(n), n) for n in names]
    return sorted(MonthPartition(date(int(m.group(1)), int(m.group(2)), 1), n)
                  for m, n in found if m)


def default_months(session: Session) -> list[date]:
    """The local months of the rows waiting in ``events_default``, oldest first."""
    return list(session.execute(text(
        "SELECT DISTINCT date_trunc('month', reported_at AT TIME ZONE 'Asia/Shanghai')::date"
        " FROM events_default ORDER BY 1")).scalars())


def ensure_partitions(session: Session, ahead: int, today: date | None = None) -> list[str]:
    """Create the partitions of the current month (of ``today``), the ``ahead`` months after
    it and every month with rows in the default partition; returns the names created, in
    month order. Takes an ACCESS EXCLUSIVE lock on ``events`` only when it creates one.
    Never commits."""
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITIONS_LOCK})
    start = current_month() if today is None else date(today.year, today.month, 1)
    wanted = {add_months(start, n) for n in range(ahead + 1)} | set(default_months(session))
    existing = {p.month for p in month_partitions(session)}
    created = []
    for month in sorted(wanted - existing):
        created.append(session.execute(text("SELECT events_month_partition(:m)"),
                                       {"m": month}).scalar_one())
    return created
