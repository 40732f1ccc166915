"""`make bench-routing`: PyVRP on the Solomon instances under the hierarchical objective of the best known
solutions (fewest vehicles first, then least distance), printed against them.

    python -m gandan.dispatch.bench.routing [--classes c1 r1 rc1] [--seconds 10]

Fewest vehicles first: a fixed cost per vehicle large enough to rank vehicles first makes PyVRP's search
struggle to reach feasibility, so the time is split. The first part shrinks the fleet: solve until the
first feasible solution with n vehicles, then try with one fewer than it used. The rest minimises
distance with the smallest fleet found, starting from that fleet's solution.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import dataclass

from pyvrp import Model, ProblemData, Solution, solve
from pyvrp.stop import FirstFeasible, MaxRuntime, MultipleCriteria

from gandan.dispatch.bench.solomon import DATA_DIR, Instance, Score, best_known, instance_names, read_instance, score

# Solomon distances are real numbers, PyVRP's integers: thousandths keep the rounding far below the gaps
# measured. Travel times are rounded up so that a plan feasible in integers is feasible in reals.
_SCALE = 1000
# Share of the time spent shrinking the fleet.
_FLEET_SHARE = 0.5


def problem_data(instance: Instance) -> ProblemData:
    model = Model()
    locations = [model.add_location(x=c.x, y=c.y) for c in instance.customers]
    depot = instance.depot
    model.add_depot(locations[0], tw_late=int(depot.due * _SCALE))
    for c in instance.customers[1:]:
        model.add_client(
            locations[c.number],
            delivery=c.demand,
            service_duration=int(c.service * _SCALE),
            tw_early=int(c.ready * _SCALE),
            tw_late=int(c.due * _SCALE),
        )
    model.add_vehicle_type(num_available=instance.vehicles, capacity=instance.capacity, tw_late=int(depot.due * _SCALE))
    for a, _ in enumerate(locations):
        for b, _ in enumerate(locations):
            if a != b:
                d = instance.distance(a, b) * _SCALE
                model.add_edge(locations[a], locations[b], distance=round(d), duration=math.ceil(d - 1e-9))
    return model.data()


def _routes(solution: Solution) -> list[list[int]]:
    """Customer numbers per route (client index i is customer i + 1: the depot comes first)."""
    return [[a.idx + 1 for a in route if a.is_client()] for route in solution.routes()]


def solve_instance(instance: Instance, seconds: float, seed: int = 0) -> list[list[int]]:
    started = time.monotonic()
    data = problem_data(instance)
    fleet = data.vehicle_type(0)
    shrink_until = started + seconds * _FLEET_SHARE
    best: Solution | None = None
    vehicles = instance.vehicles
    while vehicles > 0 and (left := shrink_until - time.monotonic()) > 0:
        tried = data.replace(vehicle_types=[fleet.replace(num_available=vehicles)])
        found = solve(tried, MultipleCriteria([FirstFeasible(), MaxRuntime(left)]), seed=seed, collect_stats=False)
        if not found.best.is_feasible():
            break
        best = found.best
        vehicles = best.num_routes() - 1
    if best is None:
        raise RuntimeError(f"{instance.name}: no feasible solution in {seconds * _FLEET_SHARE:.1f} s")
    smallest = data.replace(vehicle_types=[fleet.replace(num_available=best.num_routes())])
    warm = Solution(smallest, [[a.idx for a in route if a.is_client()] for route in best.routes()])
    left = max(started + seconds - time.monotonic(), 0.0)
    result = solve(smallest, MaxRuntime(left), seed=seed, collect_stats=False, initial_solution=warm)
    return _routes(result.best)


@dataclass(frozen=True)
class Row:
    name: str
    found: Score
    best: Score | None

    @property
    def same_vehicles(self) -> bool:
        return self.best is not None and self.found.vehicles == self.best.vehicles

    @property
    def gap(self) -> float | None:
        """Distance above the best known, in percent, when the vehicle counts match."""
        if self.best is None or not self.same_vehicles:
            return None
        # Rounded so that a float hair below the best known does not print as -0.00.
        return round(100 * (self.found.distance / self.best.distance - 1), 2) + 0.0


def _line(row: Row) -> str:
    best = f"{row.best.vehicles:>3} {row.best.distance:>9.2f}" if row.best else f"{'-':>3} {'-':>9}"
    gap = f"{row.gap:+.2f}%" if row.gap is not None else "-"
    return f"{row.name:<7} {row.found.vehicles:>3} {row.found.distance:>9.2f}   {best}   {gap:>7}"


def summary(label: str, rows: list[Row]) -> str:
    known = [r for r in rows if r.best is not None]
    gaps = [r.gap for r in known if r.gap is not None]
    mean_gap = f"{statistics.fmean(gaps):+.2f}%" if gaps else "-"
    return (
        f"{label:<7} best known vehicle count on {len(gaps)}/{len(known)} "
        f"({100 * len(gaps) / max(len(known), 1):.0f} %), mean distance gap on those {mean_gap}"
    )


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", nargs="+", default=["c1", "r1", "rc1"])
    parser.add_argument("--seconds", type=float, default=10.0, help="solving time per instance")
    parser.add_argument("--instances", nargs="*", help="only these instances (e.g. c101)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = args.instances or instance_names(args.classes)
    print(f"PyVRP, {args.seconds:g} s per instance; data {DATA_DIR}", flush=True)
    print(f"{'inst':<7} {'veh':>3} {'dist':>9}   {'bk':>3} {'bk dist':>9}   {'gap':>7}", flush=True)
    rows = []
    for name in names:
        instance = read_instance(DATA_DIR / "instances" / f"{name}.txt")
        # The scorer checks every window and the capacity again, in real numbers.
        found = score(instance, solve_instance(instance, args.seconds, args.seed))
        rows.append(Row(name, found, best_known(name)))
        print(_line(rows[-1]), flush=True)
    for cls in sorted({r.name[:-2] for r in rows}):
        print(summary(cls, [r for r in rows if r.name[:-2] == cls]))
    print(summary("all", rows))
    return rows


if __name__ == "__main__":
    main()
