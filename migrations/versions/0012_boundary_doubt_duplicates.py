"""Boundary doubt, reassignment and duplicate events (#17 parts 1 and 2).

* ``event_reassignments``: one row per dispatcher reassignment of a case to another grid
  (from, to, reason, who, when). A reassigned case keeps its grid through later set-based
  re-assignments (geo.assign skips events with a row here).
* ``event_duplicates``: an event closed as a duplicate of a case (``case_id``), who merged it
  and when; the duplicate keeps its own reporter, time and place.
* ``events.status`` may be ``duplicate`` (closed as a duplicate: counted once, in its case).
* A partial index of open events by category and time for the duplicate look-up on creation.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 09:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "'reported', 'dispatched', 'in_progress', 'resolved', 'closed', 'rejected'"

UPGRADE = f"""
CREATE TABLE event_reassignments (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    from_grid_code text,
    to_grid_code text NOT NULL,
    reason text NOT NULL CHECK (length(btrim(reason)) > 0),
    actor text,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_event_reassignments_event_id ON event_reassignments (event_id);
CREATE INDEX ix_event_reassignments_at ON event_reassignments (at);

CREATE TABLE event_duplicates (
    event_id bigint PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
    case_id bigint NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    actor text,
    at timestamptz NOT NULL DEFAULT now(),
    CHECK (event_id <> case_id)
);
CREATE INDEX ix_event_duplicates_case_id ON event_duplicates (case_id);

ALTER TABLE events DROP CONSTRAINT ck_events_status;
ALTER TABLE events ADD CONSTRAINT ck_events_status
    CHECK (status IN ({OLD_STATUSES}, 'duplicate'));
CREATE INDEX ix_events_open_category ON events (category, reported_at)
    WHERE status NOT IN ('closed', 'rejected', 'duplicate');
"""

DOWNGRADE = f"""
DROP INDEX ix_events_open_category;
UPDATE events SET status = 'closed' WHERE status = 'duplicate';
ALTER TABLE events DROP CONSTRAINT ck_events_status;
ALTER TABLE events ADD CONSTRAINT ck_events_status CHECK (status IN ({OLD_STATUSES}));
DROP TABLE event_duplicates;
DROP TABLE event_reassignments;
"""  # noqa: S608 - constant SQL


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
