"""Putting a day's visits in order with PyVRP (README "Route planning": why PyVRP, how it compares).

Each trip of a team (morning, afternoon) is a PyVRP vehicle of its own. PyVRP has no per-vehicle list of
allowed clients, so each kind of team (vehicle kind, fields, groups) gets a routing profile in which the
edges into and out of the visits it cannot serve are missing. Visits are optional with a prize far above
any travel time, so the plan serves as many as it can, then travels least; the rest are listed unassigned.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from pyvrp import Model, PenaltyParams, Profile, SolveParams
from pyvrp.stop import MaxRuntime

from gandan.dispatch.routing.model import (
    DayPlan,
    DayProblem,
    PlannedVisit,
    Stop,
    Team,
    TeamRoute,
    Trip,
)
from gandan.dispatch.routing.travel import TravelTable, TravelTimes
from gandan.shared.events import VehicleKind

# PyVRP 0.14 runs past its time limit when a missing edge keeps the default 2^44 (shared/NOTES.md);
# this is still far longer than any day.
_MISSING = 10**9
# Serving one more visit is worth more than any team's whole day of travel (seconds).
_PRIZE = 10**7
# PyVRP caps its penalty per second late (100,000 by default): below the prize, a plan serving one visit
# more a minute late beat every feasible one, and the solver returned no feasible plan at all.
_PARAMS = SolveParams(penalty=PenaltyParams(max_penalty=10 * _PRIZE))


class NoFeasiblePlan(RuntimeError):
    """The solver returned a plan that breaks a window or a shift: a defect, never a plan to publish."""


@dataclass(frozen=True)
class _Vehicle:
    team: Team
    trip: int


def _profile_key(team: Team) -> tuple[VehicleKind, frozenset[str], frozenset[str] | None]:
    return team.vehicle.kind, team.fields, team.groups


def solve_day(
    problem: DayProblem, tables: Mapping[VehicleKind, TravelTable], time_limit: timedelta, seed: int = 0
) -> DayPlan:
    """The day's routes, at most `time_limit` of solving. `tables` are over the depots, then the visits."""
    visits = problem.visits
    if not visits or not problem.teams:
        return DayPlan(routes=(), unassigned=tuple(v.id for v in visits))
    origin = min([t.shift.starts_at for t in problem.teams] + [v.window.starts_at for v in visits])

    def at(moment: datetime) -> int:
        return int((moment - origin).total_seconds())

    model = Model()
    depot_index = {d.id: i for i, d in enumerate(problem.depots)}
    locations = [model.add_location(x=d.place.longitude, y=d.place.latitude) for d in problem.depots] + [
        model.add_location(x=v.place.longitude, y=v.place.latitude) for v in visits
    ]
    depots = [model.add_depot(locations[i]) for i in range(len(problem.depots))]
    first_visit = len(problem.depots)
    for i, visit in enumerate(visits):
        model.add_client(
            locations[first_visit + i],
            service_duration=int(visit.service.total_seconds()),
            tw_early=at(visit.window.starts_at),
            tw_late=at(visit.window.ends_at),
            required=False,
            prize=_PRIZE,
        )

    profiles: dict[tuple[VehicleKind, frozenset[str], frozenset[str] | None], Profile] = {}
    for team in problem.teams:
        key = _profile_key(team)
        if key in profiles:
            continue
        profile = profiles[key] = model.add_profile(name=str(len(profiles)))
        table = tables[team.vehicle.kind]
        allowed = list(range(first_visit)) + [first_visit + i for i, v in enumerate(visits) if team.can_serve(v)]
        for a in allowed:
            for b in allowed:
                if a != b:
                    model.add_edge(locations[a], locations[b], table.metres[a][b], table.seconds[a][b], profile=profile)

    vehicles: list[_Vehicle] = []
    for team in problem.teams:
        depot = depots[depot_index[team.depot]]
        for n, trip in enumerate(team.trips()):
            model.add_vehicle_type(
                num_available=1,
                start_depot=depot,
                end_depot=depot,
                tw_early=at(trip.starts_at),
                tw_late=at(trip.ends_at),
                unit_distance_cost=0,
                unit_duration_cost=1,
                profile=profiles[_profile_key(team)],
                name=f"{team.id}/{n}",
            )
            vehicles.append(_Vehicle(team, n))

    result = model.solve(
        MaxRuntime(time_limit.total_seconds()),
        seed=seed,
        collect_stats=False,
        display=False,
        params=_PARAMS,
        missing_value=_MISSING,
    )
    if not result.best.is_feasible():
        raise NoFeasiblePlan("the solver found no feasible plan")
    trips: dict[str, dict[int, list[int]]] = {t.id: {} for t in problem.teams}
    for route in result.best.routes():
        vehicle = vehicles[route.vehicle_type()]
        trips[vehicle.team.id][vehicle.trip] = [a.idx for a in route if a.is_client()]
    served = {i for team_trips in trips.values() for order in team_trips.values() for i in order}
    routes = tuple(
        _team_route(team, trips[team.id], problem, tables[team.vehicle.kind])
        for team in problem.teams
        if trips[team.id]
    )
    return DayPlan(routes=routes, unassigned=tuple(v.id for i, v in enumerate(visits) if i not in served))


def _team_route(team: Team, orders: dict[int, list[int]], problem: DayProblem, table: TravelTable) -> TeamRoute:
    depot = next(i for i, d in enumerate(problem.depots) if d.id == team.depot)
    first_visit = len(problem.depots)
    shifts = team.trips()
    trips = []
    for n in sorted(orders):
        order = orders[n]
        stops = [problem.visits[i] for i in order]
        places = [depot, *(first_visit + i for i in order), depot]
        legs = [timedelta(seconds=table.seconds[a][b]) for a, b in itertools.pairwise(places)]
        trips.append(_timed_trip(shifts[n].starts_at, shifts[n].ends_at, stops, legs))
    return TeamRoute(team_id=team.id, vehicle_id=team.vehicle.id, trips=tuple(trips))


def _timed_trip(leaves: datetime, back_by: datetime, visits: Sequence[PlannedVisit], legs: list[timedelta]) -> Trip:
    """Earliest arrivals forward from leaving the depot; latest arrivals backward from being back on time."""
    earliest = []
    clock = leaves
    for visit, leg in zip(visits, legs, strict=False):
        clock = max(clock + leg, visit.window.starts_at)
        earliest.append(clock)
        clock += visit.service
    returns_at = clock + legs[-1]
    latest: list[datetime] = []
    deadline = back_by
    for visit, leg in zip(reversed(visits), reversed(legs[1:]), strict=True):
        deadline = min(deadline - leg - visit.service, visit.window.ends_at)
        latest.append(deadline)
    latest.reverse()
    if returns_at > back_by or any(e > lt for e, lt in zip(earliest, latest, strict=True)):
        raise NoFeasiblePlan("a trip breaks a window or its shift")
    stops = tuple(
        Stop(visit_id=v.id, arrives_at=e, latest_arrival=lt, departs_at=e + v.service)
        for v, e, lt in zip(visits, earliest, latest, strict=True)
    )
    return Trip(leaves_at=leaves, stops=stops, returns_at=returns_at)


async def _tables(problem: DayProblem, travel: TravelTimes) -> dict[VehicleKind, TravelTable]:
    places = [d.place for d in problem.depots] + [v.place for v in problem.visits]
    kinds = sorted({t.vehicle.kind for t in problem.teams})
    return {kind: await travel.table(places, kind) for kind in kinds}


class RoutePlanner:
    """Solves days in a worker process, so the event loop keeps serving while the solver runs."""

    def __init__(self, travel: TravelTimes, time_limit: timedelta, executor: Executor | None = None) -> None:
        self._travel = travel
        self._time_limit = time_limit
        # spawn: forking a process that runs an event loop and driver threads copies their locks.
        self._executor = executor or ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    async def plan(self, problem: DayProblem) -> DayPlan:
        tables = await _tables(problem, self._travel)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, solve_day, problem, tables, self._time_limit)

    def close(self) -> None:
        self._executor.shutdown(cancel_futures=True)
