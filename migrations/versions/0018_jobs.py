"""Long jobs (imports, exports run asynchronously): one row per job, kept across restarts.

``state`` moves queued → running → succeeded | failed | cancelled. ``rows_done`` /
``rows_total`` and ``problems_found`` are updated after each batch; ``problems`` holds the
problems of a finished import, ``result`` its report (or an export's row count and file),
``error`` why it failed; ``actor``/``key_prefix``/``role`` who
asked (only that key, or an admin, sees and cancels the job). ``pid`` and ``host`` name the process running it: a job whose
process no longer runs is marked failed when the API starts (geo.jobs).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE TABLE jobs (
    id text PRIMARY KEY,
    kind text NOT NULL,
    state text NOT NULL DEFAULT 'queued',
    params jsonb NOT NULL DEFAULT '{}',
    actor text NOT NULL,
    key_prefix text,
    role text,
    pid integer,
    host text,
    rows_done bigint NOT NULL DEFAULT 0,
    rows_total bigint,
    problems_found integer NOT NULL DEFAULT 0,
    problems jsonb NOT NULL DEFAULT '[]',
    result jsonb,
    error jsonb,
    result_path text,
    cancel_requested boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    CONSTRAINT ck_jobs_kind CHECK (kind IN ('import', 'export', 'assign', 'validate')),
    CONSTRAINT ck_jobs_state CHECK (state IN ('queued', 'running', 'succeeded', 'failed',
                                              'cancelled'))
);
CREATE INDEX ix_jobs_state ON jobs (state) WHERE state IN ('queued', 'running');
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute('DROP TABLE IF EXISTS jobs')
