"""Rollups pending refresh: a first bulk assignment commits its rows first, the rollups after.

A bulk write that moves most rollup keys (a first assignment of every event, a city-wide
redraw) no longer rebuilds ``event_daily_counts`` and its derived tables (0027) inside its own
transaction: it writes the assignments with the rollup triggers standing aside (0026) and, in
the same transaction, records the local days whose counts it changed in ``rollup_refresh``.
The same command then refreshes them in a second transaction (geo.rollup_refresh) and sets
``done_at``. Until then the readers of the rollups count those days from the events
(``rollup_pending_days``; geo.rollup_sources), so no answer is ever wrong, and a refresh
interrupted by a crash is finished by the next bulk job, ``gridlink rollups refresh`` or the
API's start-up.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06 22:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0033'
down_revision: str | None = '0032'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE TABLE rollup_refresh (
    id bigserial PRIMARY KEY,
    job text NOT NULL,
    days date[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    done_at timestamptz
);
CREATE INDEX rollup_refresh_pending ON rollup_refresh (id) WHERE done_at IS NULL;
COMMENT ON TABLE rollup_refresh IS 'Bulk writes whose rollups (event_daily_counts and the '
    'tables derived from it) are still to be refreshed for their local days (done_at NULL)';
CREATE VIEW rollup_pending_days AS
SELECT DISTINCT unnest(days) AS day FROM rollup_refresh WHERE done_at IS NULL;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


DOWNGRADE = """
DO $$ BEGIN
    IF EXISTS (SELECT FROM rollup_refresh WHERE done_at IS NULL) THEN
        RAISE EXCEPTION 'rollups pending refresh: run gridlink rollups refresh first';
    END IF;
END $$;
DROP VIEW rollup_pending_days;
DROP TABLE rollup_refresh;
"""
"""Refused while a refresh is pending: before 0033 nothing would count those days."""


def downgrade() -> None:
    op.execute(DOWNGRADE)
