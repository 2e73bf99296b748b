"""Roads/paths and site entrances: the layers coverage with occlusion measures besides the
outdoor area (issue #16), and the source of road-intersection placement candidates.

* ``roads``: a road or path (code, name, kind such as 主干道/支路/步行道, optional width in
  metres) as a MultiLineString, GiST-indexed.
* ``entrances``: a gate of a site (校门, 小区门 ...): code, name, the site's code, kind, as a
  Point, GiST-indexed, with an index on ``site_code``. ``site_code`` is no foreign key (sites
  are re-imported; the importer checks that the site exists).

Both layers are in the change feed (``GET /changes?layer=roads|entrances``): 0010's
``layer_changes_watch`` puts its triggers on them.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 16:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0029'
down_revision: str | None = '0028'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE TABLE roads (
    code text PRIMARY KEY,
    name text,
    kind text NOT NULL,
    width_m double precision CONSTRAINT ck_roads_width CHECK (width_m IS NULL OR width_m > 0),
    geom geometry(MultiLineString, 4326) NOT NULL
);
CREATE INDEX idx_roads_geom ON roads USING gist (geom);
CREATE TABLE entrances (
    code text PRIMARY KEY,
    name text,
    site_code text NOT NULL,
    kind text,
    geom geometry(Point, 4326) NOT NULL
);
CREATE INDEX idx_entrances_geom ON entrances USING gist (geom);
CREATE INDEX ix_entrances_site_code ON entrances (site_code);
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute("SELECT layer_changes_watch('roads', 'roads', '{}')")
    op.execute("SELECT layer_changes_watch('entrances', 'entrances', '{}')")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS entrances; DROP TABLE IF EXISTS roads;"
               " DELETE FROM layer_changes WHERE layer IN ('roads', 'entrances');")
