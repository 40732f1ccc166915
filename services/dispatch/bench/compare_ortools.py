"""PyVRP against OR-Tools, run ad hoc (OR-Tools is not a dependency; README "Route planning"):

    uv run --frozen --with ortools==9.15.* python services/dispatch/bench/compare_ortools.py [SECONDS]

1. Solomon C101, R101, RC101 under the hierarchical objective: OR-Tools with a fixed cost per vehicle
   (guided local search) against `make bench-routing`'s PyVRP strategy.
2. A generated day of ours (60 visits, 8 teams with fields, groups, motorbikes and a car, lunch):
   visits served and travel time, OR-Tools (skills as allowed vehicles, visits optional at a penalty)
   against `solve_day`.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from gandan.dispatch.bench.routing import solve_instance
from gandan.dispatch.bench.solomon import DATA_DIR, best_known, read_instance, score
from gandan.dispatch.domain import Slot
from gandan.dispatch.routing.model import DayProblem, Depot, Place, PlannedVisit, Team, Vehicle
from gandan.dispatch.routing.solver import solve_day
from gandan.dispatch.routing.travel import GreatCircleTravel
from gandan.shared.events import VehicleKind

SCALE = 1000


def _search(seconds: float) -> pywrapcp.DefaultRoutingSearchParameters:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    return params


def ortools_solomon(name: str, seconds: float) -> list[list[int]]:
    inst = read_instance(DATA_DIR / "instances" / f"{name}.txt")
    n = len(inst.customers)
    manager = pywrapcp.RoutingIndexManager(n, inst.vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)

    def dist(i: int, j: int) -> int:
        return round(inst.distance(manager.IndexToNode(i), manager.IndexToNode(j)) * SCALE)

    def travel(i: int, j: int) -> int:
        a, b = manager.IndexToNode(i), manager.IndexToNode(j)
        return math.ceil(inst.distance(a, b) * SCALE - 1e-9) + int(inst.customers[a].service * SCALE)

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(dist))
    routing.SetFixedCostOfAllVehicles(10**7)  # above any distance: fewest vehicles first
    demand = routing.RegisterUnaryTransitCallback(lambda i: inst.customers[manager.IndexToNode(i)].demand)
    routing.AddDimension(demand, 0, inst.capacity, True, "load")
    horizon = int(inst.depot.due * SCALE)
    routing.AddDimension(routing.RegisterTransitCallback(travel), horizon, horizon, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    for c in inst.customers[1:]:
        time_dim.CumulVar(manager.NodeToIndex(c.number)).SetRange(int(c.ready * SCALE), int(c.due * SCALE))
    solution = routing.SolveWithParameters(_search(seconds))
    if solution is None:
        raise RuntimeError(f"OR-Tools found no solution to {name} in {seconds:g} s")
    routes = []
    for v in range(inst.vehicles):
        index, route = routing.Start(v), []
        while not routing.IsEnd(index := solution.Value(routing.NextVar(index))):
            route.append(manager.IndexToNode(index))
        if route:
            routes.append(route)
    return routes


HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, 1, hour, minute, tzinfo=HCM)


def our_day(seed: int = 7) -> DayProblem:
    rng = random.Random(seed)
    fields, groups = ["ho_tich", "dat_dai", "chung_thuc", "van_hoa_xa_hoi"], [f"g{i}" for i in range(1, 19)]
    centre = Place(20.8650, 106.6800)
    visits = tuple(
        PlannedVisit(
            f"v{i}",
            Place(centre.latitude + rng.uniform(-0.025, 0.025), centre.longitude + rng.uniform(-0.025, 0.025)),
            rng.choice([Slot(at(7, 30), at(11, 30)), Slot(at(13, 30), at(17)), Slot(at(7, 30), at(17))]),
            timedelta(minutes=rng.choice([30, 45, 60])),
            rng.choice(fields),
            rng.choice(groups),
        )
        for i in range(60)
    )
    teams = tuple(
        Team(
            f"t{k}",
            frozenset({f"p{k}"}),
            frozenset({fields[k % 4], fields[(k + 1) % 4]}),
            None if k % 2 else frozenset(groups[(k * 4) % 18 : (k * 4) % 18 + 9]),
            Vehicle(f"x{k}", VehicleKind.WARD_CAR if k == 0 else VehicleKind.MOTORBIKE),
            "centre",
            Slot(at(7, 30), at(17)),
            Slot(at(11, 30), at(13, 30)),
        )
        for k in range(8)
    )
    return DayProblem((Depot("centre", centre),), teams, visits)


def ortools_day(problem: DayProblem, tables, seconds: float) -> tuple[int, int]:
    """Visits served, travel seconds."""
    origin = at(0)
    trips = [(team, trip) for team in problem.teams for trip in team.trips()]
    n = 1 + len(problem.visits)
    manager = pywrapcp.RoutingIndexManager(n, len(trips), 0)
    routing = pywrapcp.RoutingModel(manager)
    callbacks = []
    for v, (team, _) in enumerate(trips):
        secs = tables[team.vehicle.kind].seconds

        def cost(i, j, secs=secs):
            a, b = manager.IndexToNode(i), manager.IndexToNode(j)
            service = int(problem.visits[a - 1].service.total_seconds()) if a else 0
            return secs[a][b] + service

        callbacks.append(routing.RegisterTransitCallback(cost))
        routing.SetArcCostEvaluatorOfVehicle(callbacks[-1], v)
    routing.AddDimensionWithVehicleTransits(callbacks, 86400, 86400, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    for i, visit in enumerate(problem.visits, 1):
        index = manager.NodeToIndex(i)
        lo = int((visit.window.starts_at - origin).total_seconds())
        time_dim.CumulVar(index).SetRange(lo, int((visit.window.ends_at - origin).total_seconds()))
        routing.AddDisjunction([index], 10**7)
        allowed = [v for v, (team, _) in enumerate(trips) if team.can_serve(visit)]
        routing.VehicleVar(index).SetValues([-1, *allowed])
    for v, (_, trip) in enumerate(trips):
        lo, hi = int((trip.starts_at - origin).total_seconds()), int((trip.ends_at - origin).total_seconds())
        time_dim.CumulVar(routing.Start(v)).SetRange(lo, hi)
        time_dim.CumulVar(routing.End(v)).SetRange(lo, hi)
    solution = routing.SolveWithParameters(_search(seconds))
    served = travel = 0
    for v, (team, _) in enumerate(trips):
        secs = tables[team.vehicle.kind].seconds
        index = routing.Start(v)
        while not routing.IsEnd(index):
            nxt = solution.Value(routing.NextVar(index))
            a, b = manager.IndexToNode(index), manager.IndexToNode(nxt)
            travel += secs[a][b]
            served += b != 0
            index = nxt
    return served, travel


def pyvrp_day_travel(problem: DayProblem, tables, plan) -> int:
    index = {v.id: i for i, v in enumerate(problem.visits, 1)}
    kinds = {t.id: t.vehicle.kind for t in problem.teams}
    total = 0
    for route in plan.routes:
        secs = tables[kinds[route.team_id]].seconds
        for trip in route.trips:
            path = [0, *(index[s.visit_id] for s in trip.stops), 0]
            total += sum(secs[a][b] for a, b in itertools.pairwise(path))
    return total


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    print(f"{seconds:g} s each; vehicles / distance (gap to best known)")
    for name in ("c101", "r101", "rc101"):
        inst, bk = read_instance(DATA_DIR / "instances" / f"{name}.txt"), best_known(name)
        assert bk is not None
        for solver, solve in (("pyvrp", solve_instance), ("ortools", ortools_solomon)):
            arg = inst if solver == "pyvrp" else name
            s = score(inst, solve(arg, seconds))  # type: ignore[arg-type]
            print(
                f"{name:<6} {solver:<8} {s.vehicles:>3} {s.distance:9.2f} ({100 * (s.distance / bk.distance - 1):+.2f}%)"
            )
    problem = our_day()
    places = [d.place for d in problem.depots] + [v.place for v in problem.visits]
    travel = GreatCircleTravel()
    tables = {k: asyncio.run(travel.table(places, k)) for k in VehicleKind}
    plan = solve_day(problem, tables, timedelta(seconds=seconds))
    served = len(problem.visits) - len(plan.unassigned)
    print(f"our day  pyvrp    served {served}/60, travel {pyvrp_day_travel(problem, tables, plan) / 60:.0f} min")
    o_served, o_travel = ortools_day(problem, tables, seconds)
    print(f"our day  ortools  served {o_served}/60, travel {o_travel / 60:.0f} min")


if __name__ == "__main__":
    main()
