"""The parameters of a demo city: :class:`CityScale` and :func:`city_scale`, which fills in
the counts not given with the proportions of the default district (see :mod:`data.demo`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

DEFAULT_GRIDS = 1200
DEFAULT_CAMERAS = 3066
DEFAULT_EVENTS = 6000
GRIDS_PER_COMMUNITY = 6
COMMUNITIES_PER_STREET = 11.1


@dataclass(frozen=True)
class CityScale:
    """The parameters that fully determine a demo city (with the seed)."""

    seed: int
    streets: int
    communities: int
    grids: int
    cameras: int
    events: int
    as_of: date
    srid: int = 4547

    @property
    def key(self) -> str:
        """A directory name unique to these parameters."""
        return (f"seed{self.seed}-s{self.streets}-c{self.communities}-g{self.grids}"
                f"-cam{self.cameras}-ev{self.events}-{self.as_of.isoformat()}")

    @property
    def factor(self) -> float:
        """Size relative to the default 1,200-grid district."""
        return self.grids / DEFAULT_GRIDS


def city_scale(seed: int = 42, grids: int | None = None, cameras: int | None = None,
               events: int | None = None, streets: int | None = None,
               communities: int | None = None, as_of: date | None = None) -> CityScale:
    """Fill in the counts not given, keeping real proportions (~6 grids per community,
    ~11 communities per street). ``as_of`` (default: today, UTC) ends the six months of
    events. Raises ValueError for impossible counts (e.g. more streets than communities).
    """
    if grids is None:
        if communities is None and streets is not None:
            communities = round(streets * COMMUNITIES_PER_STREET)
        grids = communities * GRIDS_PER_COMMUNITY if communities else DEFAULT_GRIDS
    communities = communities or max(1, round(grids / GRIDS_PER_COMMUNITY))
    streets = streets or max(1, round(communities / COMMUNITIES_PER_STREET))
    if not 1 <= streets <= communities <= grids:
        raise ValueError(f"need 1 <= streets ({streets}) <= communities ({communities}) "
                         f"<= grids ({grids})")
    if streets > 599:
        raise ValueError(f"{streets} streets do not fit the 3-digit street code (max 599)")
    factor = grids / DEFAULT_GRIDS
    cameras = round(DEFAULT_CAMERAS * factor) if cameras is None else cameras
    events = round(DEFAULT_EVENTS * factor) if events is None else events
    if cameras > 999_999:
        raise ValueError(f"{cameras} cameras do not fit the 6-digit GB/T 28181 serial")
    return CityScale(seed, streets, communities, grids, max(cameras, 0), max(events, 0),
                     as_of or datetime.now(UTC).date())
