"""Grid lineage (#17): which grid versions became which, with shares of area and households.

``grid_lineage`` holds one row per (predecessor version, successor version) pair of a change
(a published changeset or a grids import): the old version closed at the change's time and
the new one opened at the same time overlap by more than ``GRIDLINK_PLAN_NOISE_AREA_M2``.
``kind`` is split, merge, reshape, retire, create, rename or update (geo.planning.lineage);
``area_m2`` is the area that went from the predecessor to the successor (metres, the
district's metric CRS) and ``area_share`` its fraction of the predecessor's area;
``households`` / ``household_share`` the same for the households of the buildings whose
point on surface lies in both (NULL share: the predecessor had no households).

**Backfill.** Every existing change is derived from the stored versions: a time at which
versions were closed (``valid_to``) and others opened (``valid_from``) is a change; its links
are computed by the same code as at publish (:func:`geo.planning.lineage.record_lineage`),
with the changeset whose ``published_at`` is that time (and its reason) or, for an import,
the new versions' ``change_reason``. One limit: buildings are not versioned, so backfilled
household shares use today's buildings; area shares are exact.

Also two indexes on ``grids`` for statistics on the grids as they were (geo.stats
``attribution="historical"``): a GiST index over every version's shape (the existing one
covers current versions only) and ``(code, version)``.

Revision ID: 0013
Revises: 0007
Create Date: 2026-12-06 09:50:00
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text
from sqlalchemy.orm import Session

revision: str = '0013'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE TABLE grid_lineage (
    id serial PRIMARY KEY,
    predecessor_id integer NOT NULL REFERENCES grids (id) ON DELETE CASCADE,
    successor_id integer NOT NULL REFERENCES grids (id) ON DELETE CASCADE,
    predecessor_code text NOT NULL,
    successor_code text NOT NULL,
    kind text NOT NULL CONSTRAINT ck_grid_lineage_kind CHECK (kind IN
        ('split', 'merge', 'reshape', 'retire', 'create', 'rename', 'update')),
    area_m2 double precision NOT NULL,
    area_share double precision NOT NULL,
    households integer NOT NULL,
    household_share double precision,
    changeset_id integer REFERENCES plan_changesets (id) ON DELETE SET NULL,
    published_at timestamptz NOT NULL,
    reason text,
    CONSTRAINT uq_grid_lineage_pair UNIQUE (predecessor_id, successor_id)
);
CREATE INDEX ix_grid_lineage_predecessor_code ON grid_lineage (predecessor_code);
CREATE INDEX ix_grid_lineage_successor_code ON grid_lineage (successor_code);
CREATE INDEX ix_grid_lineage_successor_id ON grid_lineage (successor_id);
CREATE INDEX ix_grid_lineage_changeset_id ON grid_lineage (changeset_id);
-- statistics on the grids as they were: point-in-polygon over every version, and a code's
-- latest version (its name) for retired codes
CREATE INDEX ix_grids_every_version_geom ON grids USING gist (geom);
CREATE INDEX ix_grids_code_version ON grids (code, version);
"""

CHANGES = """
SELECT t.at, c.id AS changeset_id,
       COALESCE(c.reason, (SELECT min(g.change_reason) FROM grids g WHERE g.valid_from = t.at))
         AS reason
FROM (SELECT valid_to AS at FROM grids WHERE valid_to IS NOT NULL
      INTERSECT SELECT valid_from FROM grids) t
LEFT JOIN LATERAL (SELECT p.id, p.reason FROM plan_changesets p
                   WHERE p.status = 'published' AND p.published_at = t.at
                   ORDER BY p.id LIMIT 1) c ON true
ORDER BY t.at
"""


def upgrade() -> None:
    from geo.planning.lineage import record_lineage  # the code that records them at publish

    op.execute(UPGRADE)
    session = Session(bind=op.get_bind())
    for change in session.execute(text(CHANGES)).mappings().all():
        record_lineage(session, change["at"], change["changeset_id"], change["reason"])
    session.flush()


def downgrade() -> None:
    op.execute("DROP INDEX ix_grids_code_version; DROP INDEX ix_grids_every_version_geom;"
               " DROP TABLE grid_lineage")
