"""Database tables (SQLAlchemy 2 + GeoAlchemy2). Geometries are lon/lat, EPSG:4326.

Codes are text (leading zeros matter). Distances and areas are never computed on these
columns in degrees: queries cast to geography or transform to ``settings.metric_srid``.
The schema itself is created by the Alembic migrations in ``migrations/``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _geom(kind: str) -> Any:
    return mapped_column(Geometry(kind, srid=SRID, spatial_index=True), nullable=False)


class AdminArea(Base):
    """District (区/县), street (街道/乡镇) or community/village (社区/村)."""

    __tablename__ = "admin_areas"
    __table_args__ = (
        CheckConstraint("level IN ('district', 'street', 'community')", name="level"),
    )

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(
        Text, ForeignKey("admin_areas.code", deferrable=True, initially="DEFERRED"), index=True
    )
    households: Mapped[int | None] = mapped_column(Integer)
    population: Mapped[int | None] = mapped_column(Integer)
    geom: Mapped[Any] = _geom("MULTIPOLYGON")


class Grid(Base):
    """A grid (网格) or micro-grid (微网格), one row per version.

    The current version of a code has ``valid_to IS NULL``. A grid's parent is its community;
    a micro-grid's parent is its grid. Dedicated grids (专属网格) may overlap ordinary ones.
    """

    __tablename__ = "grids"
    __table_args__ = (
        CheckConstraint("kind IN ('urban', 'rural', 'dedicated')", name="kind"),
        CheckConstraint("level IN ('grid', 'micro')", name="level"),
        Index("uq_grids_current_code", "code", unique=True,
              postgresql_where=text("valid_to IS NULL")),
        Index("ix_grids_current_geom", "geom", postgresql_using="gist",
              postgresql_where=text("valid_to IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, default="urban")
    level: Mapped[str] = mapped_column(Text, default="grid")
    parent_code: Mapped[str] = mapped_column(Text, index=True)
    community_code: Mapped[str] = mapped_column(Text, index=True)
    households: Mapped[int] = mapped_column(Integer, default=0)
    population: Mapped[int] = mapped_column(Integer, default=0)
    responsible_party: Mapped[str | None] = mapped_column(Text)
    management_level: Mapped[str | None] = mapped_column(Text)
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    changed_by: Mapped[str | None] = mapped_column(Text)
    change_reason: Mapped[str | None] = mapped_column(Text)
    changeset_id: Mapped[int | None] = mapped_column(Integer, index=True)  # 0002_planning
    geom: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False
    )


class Building(Base):
    """A building or compound as a household unit (人、地): point or polygon."""

    __tablename__ = "buildings"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    households: Mapped[int] = mapped_column(Integer, default=0)
    population: Mapped[int] = mapped_column(Integer, default=0)
    grid_code: Mapped[str | None] = mapped_column(Text, index=True)
    micro_grid_code: Mapped[str | None] = mapped_column(Text, index=True)
    floors: Mapped[int | None] = mapped_column(Integer)  # 0009: 2.5D occlusion
    height_m: Mapped[float | None] = mapped_column(Float)
    geom: Mapped[Any] = _geom("GEOMETRY")


class Site(Base):
    """School, compound, market, service station...: point or polygon."""

    __tablename__ = "sites"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text, index=True)
    grid_code: Mapped[str | None] = mapped_column(Text, index=True)
    geom: Mapped[Any] = _geom("GEOMETRY")


class Road(Base):
    """A road or path (0028): kind 主干道/支路/步行道..., width in metres (optional)."""

    __tablename__ = "roads"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    width_m: Mapped[float | None] = mapped_column(Float)
    geom: Mapped[Any] = _geom("MULTILINESTRING")


class Entrance(Base):
    """A gate of a site (0028): 校门, 小区门...; ``site_code`` is no foreign key."""

    __tablename__ = "entrances"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    site_code: Mapped[str] = mapped_column(Text, index=True)
    kind: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = _geom("POINT")


class Worker(Base):
    """A grid leader (网格长), full-time grid worker (专职网格员) or helper (微网格员)."""

    __tablename__ = "workers"
    __table_args__ = (
        CheckConstraint("role IN ('grid_leader', 'grid_worker', 'helper')", name="role"),
    )

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str] = mapped_column(Text, index=True)


class Camera(Base):
    """A video camera: GB/T 28181 id, position, mounting and field of view.

    ``azimuth_deg`` is a compass bearing from true north, clockwise; ``fov_deg`` the
    horizontal field of view; ``range_m`` the useful range in metres.
    """

    __tablename__ = "cameras"
    __table_args__ = (
        CheckConstraint("camera_type IN ('fixed', 'dome', 'ptz')", name="camera_type"),
        CheckConstraint("status IN ('online', 'offline', 'fault', 'maintenance')",
                        name="status"),
        CheckConstraint("azimuth_deg >= 0 AND azimuth_deg < 360", name="azimuth"),
        CheckConstraint("fov_deg > 0 AND fov_deg <= 360", name="fov"),
        CheckConstraint("range_m > 0", name="range"),
    )

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    camera_type: Mapped[str] = mapped_column(Text, default="fixed")
    height_m: Mapped[float | None] = mapped_column(Float)
    azimuth_deg: Mapped[float] = mapped_column(Float, default=0.0)
    fov_deg: Mapped[float] = mapped_column(Float, default=60.0)
    range_m: Mapped[float] = mapped_column(Float, default=100.0)
    status: Mapped[str] = mapped_column(Text, default="online")
    stream_url: Mapped[str | None] = mapped_column(Text)
    site_code: Mapped[str | None] = mapped_column(Text, index=True)
    grid_code: Mapped[str | None] = mapped_column(Text, index=True)
    tilt_min_deg: Mapped[float | None] = mapped_column(Float)  # 0009: geo.video.model
    tilt_max_deg: Mapped[float | None] = mapped_column(Float)
    fov_tele_deg: Mapped[float | None] = mapped_column(Float)
    geom: Mapped[Any] = _geom("POINT")


class CameraPreset(Base):
    """A named PTZ preset (0009): the sector the camera turns to (azimuth, FOV, degrees)."""

    __tablename__ = "camera_presets"

    camera_code: Mapped[str] = mapped_column(
        Text, ForeignKey("cameras.code", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    azimuth_deg: Mapped[float] = mapped_column(Float)
    fov_deg: Mapped[float] = mapped_column(Float)
    tilt_deg: Mapped[float | None] = mapped_column(Float)  # 0024: geo.video.presets
    zoom: Mapped[float | None] = mapped_column(Float)
    range_m: Mapped[float | None] = mapped_column(Float)


class CameraView(Base):
    """What a camera (or one PTZ preset of it) sees (0009, geo.video.visibility): a version
    per computation, the current one has ``valid_to IS NULL``."""

    __tablename__ = "camera_views"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    camera_code: Mapped[str] = mapped_column(Text)
    preset: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False),
                                      nullable=False)
    area_m2: Mapped[float] = mapped_column(Float)
    resolution_deg: Mapped[float] = mapped_column(Float)
    target_height_m: Mapped[float] = mapped_column(Float)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CameraShadow(Base):
    """The part of a camera's reach one building hides (0009; current computation only)."""

    __tablename__ = "camera_shadows"

    camera_code: Mapped[str] = mapped_column(Text, primary_key=True)
    building_code: Mapped[str] = mapped_column(Text, primary_key=True)
    near_m: Mapped[float] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True),
                                      nullable=False)


# dispatch: metric KNN / ST_DWithin on geography, and the largest range as an index lookup
Index("ix_cameras_geog", func.geography(Camera.__table__.c.geom), postgresql_using="gist")
Index("ix_cameras_range_m", Camera.__table__.c.range_m)
Index("ix_grids_current_geog", func.geography(Grid.__table__.c.geom), postgresql_using="gist",
      postgresql_where=text("valid_to IS NULL"))
Index("ix_grids_current_ordinary_geog", func.geography(Grid.__table__.c.geom),
      postgresql_using="gist",
      postgresql_where=text("valid_to IS NULL AND level = 'grid' AND kind <> 'dedicated'"))
Index("ix_grids_current_ordinary_geom", Grid.__table__.c.geom, postgresql_using="gist",
      postgresql_where=text("valid_to IS NULL AND level = 'grid' AND kind <> 'dedicated'"))
Index("ix_sites_geog", func.geography(Site.__table__.c.geom), postgresql_using="gist")


class Event(Base):
    """A reported event/case: what was reported and its lifecycle. Where it belongs (grid
    chain, cameras) is derived data in :class:`EventAssignment`; the database view
    ``events_with_assignment`` joins the two. The table is partitioned by local month of
    ``reported_at`` (migration 0020): its primary key is ``(id, reported_at)`` (``id`` alone
    is unique by its sequence) and ``client_id`` is kept unique by ``event_client_ids``."""

    __tablename__ = "events"
    __table_args__ = (CheckConstraint("status IN ('reported', 'dispatched', 'in_progress', "
                                      "'resolved', 'closed', 'rejected')", name="status"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[str | None] = mapped_column(Text, index=True)
    category: Mapped[str] = mapped_column(Text, index=True)
    description: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reporter: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="reported", index=True)
    priority: Mapped[str] = mapped_column(Text, default="normal")
    geom: Mapped[Any] = _geom("POINT")
    photo_url: Mapped[str | None] = mapped_column(Text)
    # lifecycle
    handling_level: Mapped[str] = mapped_column(Text, default="grid")
    department: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    postponements: Mapped[int] = mapped_column(Integer, default=0)
    reworks: Mapped[int] = mapped_column(Integer, default=0)
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    first_time: Mapped[bool | None] = mapped_column(Boolean)
    """一次性完成 as recorded by a migrated platform; None = derived (closed, no rework)."""


class EventAssignment(Base):
    """The grid chain and covering cameras of one event, as last computed (geo.assign,
    geo.locate). No row: never assigned. Kept apart from the wide ``events`` row so that
    re-assigning many events writes narrow rows (migration 0003). No foreign key (its
    per-row check cost 4.5x on bulk inserts); a statement trigger on ``events`` deletes the
    assignments of deleted events."""

    __tablename__ = "event_assignments"
    __table_args__ = (CheckConstraint("assignment IN ('covered', 'snapped', 'unassigned')",
                                      name="assignment"),)

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """The event's ``reported_at`` (migration 0026): reads join on (event_id, reported_at)."""
    district_code: Mapped[str | None] = mapped_column(Text)
    street_code: Mapped[str | None] = mapped_column(Text)
    community_code: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str | None] = mapped_column(Text)
    micro_grid_code: Mapped[str | None] = mapped_column(Text)
    dedicated_grid_codes: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    assignment: Mapped[str] = mapped_column(Text)
    nearest_grid_code: Mapped[str | None] = mapped_column(Text)
    nearest_distance_m: Mapped[float | None] = mapped_column(Float)
    camera_codes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


Index("ix_event_assignments_grid_code", EventAssignment.__table__.c.grid_code,
      postgresql_ops={"grid_code": "text_pattern_ops"})


class EventTransition(Base):
    """One step of an event's lifecycle: who moved it from which status to which, and when."""

    __tablename__ = "event_transitions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class EventCameraView(Base):
    """A camera view a dispatcher opened for an event (0008): the dashboard's alarm → first
    camera view. ``camera_code`` is no foreign key: cameras are re-imported, views stay."""

    __tablename__ = "event_camera_views"
    __table_args__ = (Index("ix_event_camera_views_event", "event_id", "viewed_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.id", ondelete="CASCADE"))
    camera_code: Mapped[str] = mapped_column(Text)
    viewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    key_prefix: Mapped[str | None] = mapped_column(Text)


class ApiKey(Base):
    """An API key, stored as a SHA-256 hash; ``prefix`` identifies it in listings."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'planner', 'dispatcher', 'worker', 'viewer')", name="role"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(Text, unique=True)
    worker_code: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    area_code: Mapped[str | None] = mapped_column(Text)
    """The district/street/community whose figures the key may read (0008); None: all."""


class PlanChangeset(Base):
    """A planning changeset (0002_planning): a draft redraw of the grids of one area.

    ``base_at`` is the time of the published data the draft was based on; publishing fails
    with a conflict when grids it touches were published after that.
    """

    __tablename__ = "plan_changesets"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'discarded')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_code: Mapped[str] = mapped_column(Text, index=True)
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="draft")
    kind: Mapped[str] = mapped_column(Text, default="manual")
    base_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    inverse_of: Mapped[int | None] = mapped_column(Integer, ForeignKey("plan_changesets.id"))
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class PlanDraftGrid(Base):
    """One grid or micro-grid as a draft changeset would publish it (0002_planning).

    ``action`` 'put' writes a new version of ``code`` (replacing ``previous_code`` when it is
    a rename); 'retire' closes ``code`` and hands its workers to ``successor_code``.
    """

    __tablename__ = "plan_draft_grids"
    __table_args__ = (
        CheckConstraint("action IN ('put', 'retire')", name="action"),
        Index("uq_plan_draft_grids_changeset_code", "changeset_id", "code", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    changeset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("plan_changesets.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(Text)
    previous_code: Mapped[str | None] = mapped_column(Text)
    base_version: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(Text, default="put")
    successor_code: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, default="urban")
    level: Mapped[str] = mapped_column(Text, default="grid")
    parent_code: Mapped[str] = mapped_column(Text)
    community_code: Mapped[str] = mapped_column(Text)
    households: Mapped[int] = mapped_column(Integer, default=0)
    population: Mapped[int] = mapped_column(Integer, default=0)
    geom: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=True)


class BrowserSession(Base):
    """A map page sign-in (migration 0005): the cookie holds a random id, this row its
    SHA-256 hash, the key it acts for, its expiry and revocation (logout, key revoked)."""

    __tablename__ = "browser_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    key_id: Mapped[int] = mapped_column(Integer, ForeignKey("api_keys.id", ondelete="CASCADE"),
                                        index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DistrictCRS(Base):
    """The projected CRS (metres) chosen for a district when it is first imported."""

    __tablename__ = "district_crs"

    district_code: Mapped[str] = mapped_column(Text, primary_key=True)
    srid: Mapped[int] = mapped_column(Integer)
    chosen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                server_default=func.now())


class MediaDeduction(Base):
    """媒体督办扣分: points deducted from a unit's assessment score for one month."""

    __tablename__ = "media_deductions"
    __table_args__ = (CheckConstraint("points >= 0", name="points"),
                      CheckConstraint("extract(day FROM month) = 1", name="month"))

    unit: Mapped[str] = mapped_column(Text, primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    points: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    entered_by: Mapped[str | None] = mapped_column(Text)
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class PatrolRule(Base):
    """How often units are patrolled (巡查, 0014): ``layer`` sites (``category`` a site
    category or ``*``) or buildings (``*``); ``frequency`` daily, weekly or monthly."""

    __tablename__ = "patrol_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    frequency: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class PatrolTask(Base):
    """One unit to patrol in one period (0014), due on ``due_date`` (China Standard Time),
    in the ordinary grid covering it, assigned to ``worker_code``."""

    __tablename__ = "patrol_tasks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    layer: Mapped[str] = mapped_column(Text)
    unit_code: Mapped[str] = mapped_column(Text)
    frequency: Mapped[str] = mapped_column(Text)
    period_start: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    grid_code: Mapped[str] = mapped_column(Text)
    micro_grid_code: Mapped[str | None] = mapped_column(Text)
    worker_code: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class PatrolCheckin(Base):
    """The accepted check-in of a patrol task (0014): position and distance (m) to the unit."""

    __tablename__ = "patrol_checkins"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    task_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("patrol_tasks.id",
                                                                ondelete="CASCADE"))
    worker_code: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    distance_m: Mapped[float] = mapped_column(Float)
    geom: Mapped[Any] = _geom("POINT")
