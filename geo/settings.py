"""The one settings object. Every value can be set with a ``GRIDLINK_*`` environment variable."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Configuration of the service, the managed database and the domain rules."""

    model_config = SettingsConfigDict(env_prefix="GRIDLINK_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of an existing PostGIS database. "
        "When unset, gridlink manages its own cluster under `home`.",
    )
    home: Path = Field(default=PROJECT_ROOT / ".gridlink", description="State directory.")
    db_port: int = Field(default=55432, description="Port of the managed PostgreSQL cluster.")
    db_name: str = "gridlink"

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1,
        description="uvicorn processes serving the API (default: one per CPU core).")
    public_read: bool = Field(default=False, description="Allow reads without an API key.")
    key_cache_seconds: float = Field(
        default=10.0, description="How long a valid API key is remembered (0 = check every "
        "request); a key revoked from another process stops working within this time.")
    max_upload_mb: float = Field(default=200.0, description="Largest accepted upload (413 above).")
    bulk_event_limit: int = Field(default=100_000, description="Most events per bulk request.")

    metric_srid: int = Field(
        default=4547,
        description="Projected CRS (metres) for bulk distance work: CGCS2000 3-degree "
        "Gauss-Kruger zone of the service area (4547 = CM 114°E, Datong/Taiyuan).",
    )
    service_area: tuple[float, float, float, float] = Field(
        default=(73.0, 3.0, 136.0, 54.0),
        description="lon/lat bounds (EPSG:4326) outside which points are rejected as "
        "out of area. Default: mainland China and neighbours.",
    )
    grid_code_lengths: tuple[int, ...] = Field(default=(14, 15, 20))
    micro_grid_suffix_lengths: tuple[int, ...] = Field(default=(2, 3))
    gps_tolerance_m: float = Field(default=30.0, description="Snap distance for events (m).")
    locate_k: int = Field(default=3, description="Cameras returned by /locate.")
    locate_radius_m: float = Field(default=200.0, description="Nearby-site radius (m).")
    event_due_hours: float = Field(default=72.0, description="Time to resolve a new event (h).")
    alarm_due_hours: float = Field(default=2.0, description="Time to resolve an alarm (h).")
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

    tile_url: str | None = Field(default=None, description="XYZ tile URL for maps; none = offline.")
    tile_attribution: str = ""
    tianditu_key: str | None = None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
