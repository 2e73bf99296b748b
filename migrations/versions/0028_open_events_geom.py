"""Open events by location: a partial GiST index for the grids' open-event counts.

``geo.grid_counts`` counts, per grid, the events not closed or rejected whose point the grid
covers (``/stats?level=grid``, the planner's map, preview and validation). Through the GiST
index on every event it tested every event of every month against the grid (10^6 events:
7.8-8.4 s of a month's ``/stats`` of 9.9 s). This index holds the open events only (141,215
of 10^6 in the demo city), so the count reads those (1.8-2.4 s). On a table partitioned by
month it is created on the parent and so on every partition.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 16:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0028'
down_revision: str | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_events_open_geom ON events USING gist (geom)"
               " WHERE status NOT IN ('closed', 'rejected')")


def downgrade() -> None:
    op.execute("DROP INDEX ix_events_open_geom")
