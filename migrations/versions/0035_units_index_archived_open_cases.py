"""The current ordinary grids' own GiST index (units' grids at 10^5 grids), and the open
cases of archived months, kept for /stats.

``ix_grids_current_ordinary_geom``: GiST over ``geom`` of the current ordinary grids, the
predicate of geo.assign.assign_units' owner look-up exactly. Without it (the GiSTs over
``geom`` hold every version, or every current grid and micro-grid) the planner ANDs each
unit's probe of the every-version GiST with a bitmap of the *whole* partial geography index
``ix_grids_current_ordinary_geog``, whose predicate is the look-up's, as its cheapest way to
apply the predicate: 3.5 ms a unit at 36,750 grids, hours for 1.8 M buildings at 10^5
grids. With it, one index probe a unit (0.05 ms; bench/RESULTS.md, units at 10^5 grids).

``archived_open_cases``: the valid cases that were still open (neither closed nor merged as
duplicates) when ``gridlink events archive`` moved their month to GeoParquet
(geo.event_archive), with what ``/stats`` needs of them: the report and due instants, the
postponements and the assigned unit codes. Whether such a case is *due* (应结案) depends on
the end of the period asked for, so the monthly rollups cannot hold it; geo.month_stats
counts these beside the open cases of ``events``. Written only when a month is archived
(nothing on the event write path); a restore takes its rows out again.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-06 22:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0035'
down_revision: str | None = '0034'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE INDEX ix_grids_current_ordinary_geom ON grids USING gist (geom)
    WHERE valid_to IS NULL AND level = 'grid' AND kind <> 'dedicated';
CREATE TABLE archived_open_cases (
    event_id bigint PRIMARY KEY,
    reported_at timestamptz NOT NULL,
    due_at timestamptz,
    postponements integer NOT NULL DEFAULT 0,
    district_code text,
    street_code text,
    community_code text,
    grid_code text
);
CREATE INDEX ix_archived_open_cases_reported_at ON archived_open_cases (reported_at);
COMMENT ON TABLE archived_open_cases IS
    'Valid cases still open when their month was archived (gridlink events archive): '
    'what /stats needs to count them as due (geo.month_stats).';
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE archived_open_cases; DROP INDEX ix_grids_current_ordinary_geom")
