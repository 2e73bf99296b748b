"""Open cases by due time: a partial index for the dashboard's overdue list.

``geo.dashboard.overdue_cases`` asks for the open (reported, dispatched, in progress), valid
cases whose ``due_at`` is before now. Through ``ix_events_status`` it read every open case
(64,741 of 10^6 demo events) to find the few overdue ones: 0.15-0.38 s for a district. This
index holds the open valid cases only, ordered by ``due_at``, so the list is one range read
(bench/RESULTS.md, Dashboard). On a table partitioned by month the index is created on the
parent and so on every partition.

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-06 13:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0023'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_events_open_due ON events (due_at)"
               " WHERE status IN ('reported', 'dispatched', 'in_progress') AND valid")


def downgrade() -> None:
    op.execute("DROP INDEX ix_events_open_due")
