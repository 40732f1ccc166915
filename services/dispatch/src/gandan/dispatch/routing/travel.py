"""Travel times between places: a provider protocol and the default offline provider.

A production provider (an OSRM or Valhalla table service) answers the same question over HTTP, hence
the protocol is async.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from gandan.dispatch.domain import Location
from gandan.dispatch.routing.model import Place
from gandan.shared.events import VehicleKind

_EARTH_RADIUS_M = 6_371_000


@dataclass(frozen=True)
class TravelTable:
    """Square tables over a list of places: metres and whole seconds from row to column."""

    metres: tuple[tuple[int, ...], ...]
    seconds: tuple[tuple[int, ...], ...]


class TravelTimes(Protocol):
    async def table(self, places: Sequence[Place], kind: VehicleKind) -> TravelTable: ...


def great_circle_metres(a: Place, b: Place) -> float:
    """Haversine distance."""
    la1, lo1, la2, lo2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(h))


# Hải Phòng's wards: narrow lanes, mixed traffic. Approximate, to be replaced by a road network.
_SPEEDS_KMH: Mapping[VehicleKind, float] = {VehicleKind.MOTORBIKE: 25.0, VehicleKind.WARD_CAR: 20.0}


@dataclass(frozen=True)
class GreatCircleTravel:
    """Great-circle distance × a detour factor (roads are not straight) ÷ the vehicle kind's speed,
    plus a stop overhead per leg (parking, finding the house)."""

    detour: float = 1.4
    speeds_kmh: Mapping[VehicleKind, float] = field(default_factory=lambda: dict(_SPEEDS_KMH))
    stop_overhead: timedelta = timedelta(minutes=3)

    def leg(self, a: Place, b: Place, kind: VehicleKind) -> tuple[int, int]:
        """Metres and seconds from a to b; nothing when a is b."""
        if a == b:
            return 0, 0
        metres = great_circle_metres(a, b) * self.detour
        seconds = metres / (self.speeds_kmh[kind] / 3.6) + self.stop_overhead.total_seconds()
        return round(metres), math.ceil(seconds)

    def between(self, kind: VehicleKind) -> Callable[[Location, Location], timedelta]:
        """The rule as a pure function of two roster places, for proposing visits (`proposal.Travel`)."""

        def travel(a: Location, b: Location) -> timedelta:
            _, seconds = self.leg(Place(a.latitude, a.longitude), Place(b.latitude, b.longitude), kind)
            return timedelta(seconds=seconds)

        return travel

    async def table(self, places: Sequence[Place], kind: VehicleKind) -> TravelTable:
        legs = [[self.leg(a, b, kind) for b in places] for a in places]
        return TravelTable(
            metres=tuple(tuple(m for m, _ in row) for row in legs),
            seconds=tuple(tuple(s for _, s in row) for row in legs),
        )
