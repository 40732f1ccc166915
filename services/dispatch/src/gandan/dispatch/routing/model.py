"""A day of home visits to put in order, and the plan that orders them. Pure data, no I/O.

A team is the people and the vehicle that travel together all day (an officer, often a companion such
as the community digital team, one motorbike or car). A visit needs an officer of its field and a
companion of the citizen's residential group (seed 000). The office closes for lunch: a team's day is a
morning trip and an afternoon trip, each from and back to its depot (the centre).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from gandan.dispatch.domain import Slot
from gandan.shared.events import VehicleKind


@dataclass(frozen=True)
class Place:
    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise ValueError(f"not a place on Earth: {self.latitude}, {self.longitude}")


@dataclass(frozen=True)
class Depot:
    id: str
    place: Place


@dataclass(frozen=True)
class Vehicle:
    id: str
    kind: VehicleKind


@dataclass(frozen=True)
class PlannedVisit:
    """A visit to place: its service must start inside `window` and lasts `service`."""

    id: str
    place: Place
    window: Slot
    service: timedelta
    field: str
    group: str

    def __post_init__(self) -> None:
        if self.service <= timedelta(0):
            raise ValueError(f"visit {self.id}: service time must be positive")


@dataclass(frozen=True)
class Team:
    """People and one vehicle travelling together from `depot` within `shift`, back at the depot for `lunch`.

    `groups` are the residential groups its companions stand for; None when a companion may go to any
    group (the community digital team).
    """

    id: str
    people: frozenset[str]
    fields: frozenset[str]
    groups: frozenset[str] | None
    vehicle: Vehicle
    depot: str
    shift: Slot
    lunch: Slot | None = None

    def __post_init__(self) -> None:
        if not self.people:
            raise ValueError(f"team {self.id}: nobody in it")
        lunch = self.lunch
        if lunch is not None and not (self.shift.starts_at < lunch.starts_at and lunch.ends_at < self.shift.ends_at):
            raise ValueError(f"team {self.id}: lunch must fall strictly inside the shift")

    def can_serve(self, visit: PlannedVisit) -> bool:
        return visit.field in self.fields and (self.groups is None or visit.group in self.groups)

    def trips(self) -> tuple[Slot, ...]:
        """The parts of the shift the team is out: before and after lunch."""
        if self.lunch is None:
            return (self.shift,)
        return (
            Slot(self.shift.starts_at, self.lunch.starts_at),
            Slot(self.lunch.ends_at, self.shift.ends_at),
        )


@dataclass(frozen=True)
class DayProblem:
    depots: tuple[Depot, ...]
    teams: tuple[Team, ...]
    visits: tuple[PlannedVisit, ...]

    def __post_init__(self) -> None:
        for what, ids in (
            ("depot", [d.id for d in self.depots]),
            ("team", [t.id for t in self.teams]),
            ("visit", [v.id for v in self.visits]),
            # One person, one vehicle: in one team only, so never in two places at once.
            ("person", [p for t in self.teams for p in t.people]),
            ("vehicle", [t.vehicle.id for t in self.teams]),
        ):
            repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
            if repeated:
                raise ValueError(f"{what} in more than one place: {', '.join(repeated)}")
        depots = {d.id for d in self.depots}
        for team in self.teams:
            if team.depot not in depots:
                raise ValueError(f"team {team.id}: unknown depot {team.depot!r}")


@dataclass(frozen=True)
class Stop:
    """A visit on a route. Arriving any time in [arrives_at, latest_arrival] keeps the rest of the trip
    on time: that is the window a citizen is told."""

    visit_id: str
    arrives_at: datetime
    latest_arrival: datetime
    departs_at: datetime


@dataclass(frozen=True)
class Trip:
    leaves_at: datetime
    stops: tuple[Stop, ...]
    returns_at: datetime


@dataclass(frozen=True)
class TeamRoute:
    team_id: str
    vehicle_id: str
    trips: tuple[Trip, ...]


@dataclass(frozen=True)
class DayPlan:
    routes: tuple[TeamRoute, ...]
    unassigned: tuple[str, ...]
