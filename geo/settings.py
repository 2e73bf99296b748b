"""The domain settings: database, codes, planning rules, locate defaults.

Every value can be set with a ``GRIDLINK_*`` environment variable. The HTTP server's settings
(host, port, workers, auth, limits, tiles) extend these in :mod:`api.settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Configuration of the managed database and the domain rules."""

    model_config = SettingsConfigDict(env_prefix="GRIDLINK_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of an existing PostGIS database. "
        "When unset, gridlink manages its own cluster under `home`.",
    )
    read_database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of a streaming standby of the database (a read replica). "
        "When set, /locate, map pages and exports read from it; writes, key checks and "
        "read-your-writes paths stay on the primary (docs/scale.md).")
    read_retry_s: float = Field(
        default=5.0, ge=0, description="After the standby failed to answer, reads go to the "
        "primary for this long before the standby is tried again (s).")
    read_your_writes_s: float = Field(
        default=10.0, ge=0, description="After a successful write, the same client (cookie "
        "`gridlink_wrote`) reads from the primary for this long (s).")
    dask_scheduler: str | None = Field(
        default=None, description="Address of a Dask scheduler (tcp://host:8786) for bulk "
        "jobs run with `gridlink assign --dask`; unset: a LocalCluster on this machine.")
    home: Path = Field(default=PROJECT_ROOT / ".gridlink", description="State directory.")
    db_port: int = Field(default=55432, description="Port of the managed PostgreSQL cluster.")
    db_name: str = "gridlink"

    temp_dir: Path | None = Field(
        default=None, description="Temporary files, one directory per process (default "
        "`home`/tmp); directories of processes no longer running are removed at start-up.")
    max_unzipped_mb: float = Field(
        default=1000.0, description="Most bytes an uploaded zip may unpack to (413 above).")
    max_zip_ratio: float = Field(
        default=200.0, description="Highest compression ratio of a zip member over 1 MiB.")

    db_pool_size: int = Field(
        default=10, ge=1, description="Database sessions each API process serves at once "
        "(more requests wait for a free one, up to `db_pool_timeout_s`).")
    db_pool_timeout_s: float = Field(
        default=5.0, gt=0, description="Longest wait for a free database session or "
        "connection before answering 503 (s).")
    db_lock_timeout_ms: int = Field(
        default=3000, ge=1, description="PostgreSQL lock_timeout of the API's connections: "
        "a request waiting this long for a row another request holds gets 409 (ms).")
    db_statement_timeout_ms: int = Field(
        default=60_000, ge=1, description="PostgreSQL statement_timeout of the API's "
        "connections: a longer statement is cancelled and answered 503 (ms).")
    db_idle_in_transaction_timeout_ms: int = Field(
        default=60_000, ge=1, description="PostgreSQL idle_in_transaction_session_timeout of "
        "the API's connections: a backstop that ends a session left inside a transaction (ms).")

    metric_srid: int = Field(
        default=4547,
        description="Override of the projected CRS (metres) used for areas and lengths. "
        "Unset: each district uses the CGCS2000 3-degree Gauss-Kruger zone nearest to it "
        "(UTM outside China), chosen at its first import (geo.districts); this default "
        "(4547 = CM 114°E) only serves data of no known district.",
    )
    service_area: tuple[float, float, float, float] | None = Field(
        default=None,
        description="lon/lat bounds minlon,minlat,maxlon,maxlat (EPSG:4326) outside which "
        "points are rejected as out of area. Unset: the loaded districts' extent plus "
        "0.5° (mainland China and neighbours while nothing is loaded).",
    )

    @field_validator("service_area", mode="before")
    @classmethod
    def _bounds_text(cls, value: object) -> object:
        """Accept ``minlon,minlat,maxlon,maxlat`` text (also a JSON array); check order."""
        return parse_bounds(value) if isinstance(value, str) else value
    grid_code_lengths: tuple[int, ...] = Field(default=(14, 15, 20))
    micro_grid_suffix_lengths: tuple[int, ...] = Field(default=(2, 3))
    gps_tolerance_m: float = Field(default=30.0, description="Snap distance for events (m).")
    doubt_tolerance_m: float = Field(
        default=15.0, ge=0, le=200, description="Boundary doubt: /locate and new events list "
        "every grid whose boundary is within this distance of the point (geodesic m; phone "
        "GPS is good to about ±15 m). 0 lists none.")
    duplicate_radius_m: float = Field(
        default=50.0, gt=0, le=5000, description="Duplicate events: same category within this "
        "distance (geodesic m), for categories without a rule in `duplicate_rules`.")
    duplicate_window_h: float = Field(
        default=24.0, gt=0, le=24 * 90, description="Duplicate events: reported within this "
        "many hours of each other (either side), for categories without a rule.")
    duplicate_rules: dict[str, tuple[float, float]] = Field(
        default={"flooding": (300.0, 12.0), "broken_street_light": (30.0, 168.0),
                 "illegal_ads": (30.0, 72.0), "exposed_garbage": (50.0, 48.0),
                 "alarm": (30.0, 0.5)},
        description="Per-category duplicate rule: category → (radius m, window h), as JSON "
        '(GRIDLINK_DUPLICATE_RULES=\'{"flooding": [300, 12]}\' replaces the whole table).')

    @field_validator("duplicate_rules")
    @classmethod
    def _positive_rules(cls, value: dict[str, tuple[float, float]]
                        ) -> dict[str, tuple[float, float]]:
        """Every rule needs a radius and a window above 0 (named in the error)."""
        bad = [k for k, (radius, hours) in value.items() if not (radius > 0 and hours > 0)]
        if bad:
            raise ValueError(f"GRIDLINK_DUPLICATE_RULES: radius and window must be > 0 for "
                             f"{', '.join(bad)}")
        return value
    locate_k: int = Field(default=3, description="Cameras returned by /locate.")
    locate_radius_m: float = Field(default=200.0, description="Nearby-site radius (m).")
    event_due_hours: float = Field(default=72.0, description="Time to resolve a new event (h).")
    event_partitions_ahead: int = Field(
        default=3, ge=0, le=120, description="Monthly partitions of events created ahead of "
        "the current month (`gridlink events partitions`, `gridlink serve`).")
    event_archive_dir: Path | None = Field(
        default=None, description="Where `gridlink events archive` writes GeoParquet "
        "(default `home`/archive).")
    alarm_due_hours: float = Field(default=2.0, description="Time to resolve an alarm (h).")
    patrol_checkin_radius_m: float = Field(
        default=50.0, gt=0, description="A patrol check-in is accepted within this distance "
        "(m, geodesic) of the site or building (0 inside a polygon), else refused (422).")
    score_weights: tuple[float, float, float, float, float] = Field(
        default=(24.0, 32.0, 8.0, 16.0, 20.0),
        description="Assessment score = w0·on-time rate + w1·closure rate + w2·(1 − postponed "
        "rate) + w3·first-time rate + w4 (Taiyuan default, out of 100).")

    plan_households_target: int = Field(default=300, description="Households per grid.")
    plan_households_band: tuple[int, int] = Field(
        default=(200, 400), description="Accepted households per grid (min, max).")
    plan_micro_households_target: int = Field(default=50, description="Households per micro-grid.")
    plan_micro_households_band: tuple[int, int] = Field(
        default=(30, 70), description="Accepted households per micro-grid (min, max).")
    plan_noise_area_m2: float = Field(
        default=0.01, description="An edit's piece under this area (m²) is drawing imprecision "
        "and keeps its owner (validation reports every gap and overlap, however small).")
    plan_hairline_width_m: float = Field(
        default=0.01, description="Gaps/overlaps thinner than this mean width 2·A/P (m) are "
        "classed 'hairline' (a warning); an edit's piece this thin keeps its owner.")
    plan_coverage_snap_m: float = Field(
        default=0.1, description="Grid vertices this close (m) to their parent's edge are noded "
        "into it before gaps are computed (a straight lon/lat edge of 2 km bends up to 7 cm).")
    plan_sliver_area_m2: float = Field(
        default=100.0, description="A grid, gap or overlap under this area (m²) is a sliver.")
    plan_sliver_width_m: float = Field(
        default=2.0, description="A polygon thinner than this mean width 2·A/P (m) is a sliver.")
    plan_min_compactness: float = Field(
        default=0.15, description="Polsby-Popper 4πA/P² below which a grid is snake-shaped.")
    plan_snap_tolerance_m: float = Field(
        default=0.5, description="Auto-repair vertex snap distance (m).")


def parse_bounds(value: str) -> tuple[float, float, float, float] | None:
    """``"20,58,30,62"`` or ``"[20, 58, 30, 62]"`` → (minlon, minlat, maxlon, maxlat).

    Raises ValueError (a pydantic error naming GRIDLINK_SERVICE_AREA) for anything else.
    """
    text = value.strip().strip("[]()")
    if not text:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        lo_lon, lo_lat, hi_lon, hi_lat = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"GRIDLINK_SERVICE_AREA must be minlon,minlat,maxlon,maxlat in "
                         f"degrees (e.g. 112.9,39.8,113.6,40.3), got {value!r}") from None
    if not (-180 <= lo_lon < hi_lon <= 180 and -90 <= lo_lat < hi_lat <= 90):
        raise ValueError(f"GRIDLINK_SERVICE_AREA {value!r}: need -180 <= minlon < maxlon <= "
                         "180 and -90 <= minlat < maxlat <= 90")
    return lo_lon, lo_lat, hi_lon, hi_lat


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
