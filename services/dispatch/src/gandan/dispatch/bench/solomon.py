"""The Solomon VRPTW instances and SINTEF's best known solutions: reading them and scoring a solution.

Scoring follows the convention of the data's README (bench/solomon/README.md): Euclidean distances in
double precision, no rounding; a route leaves the depot at time 0, waits for a ready time, is late when
service starts after a due date, must be back by the depot's due date, and carries at most the capacity.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

# Where the committed copy lives in the repository (services/dispatch/bench/solomon).
DATA_DIR = Path(__file__).resolve().parents[4] / "bench" / "solomon"

# A tolerance for float comparisons of times: sums of square roots are not exact.
_EPS = 1e-6


@dataclass(frozen=True)
class Customer:
    """Number 0 is the depot."""

    number: int
    x: float
    y: float
    demand: int
    ready: float
    due: float
    service: float


@dataclass(frozen=True)
class Instance:
    name: str
    vehicles: int
    capacity: int
    customers: tuple[Customer, ...]  # index = customer number; [0] is the depot

    @property
    def depot(self) -> Customer:
        return self.customers[0]

    def distance(self, a: int, b: int) -> float:
        ca, cb = self.customers[a], self.customers[b]
        return math.hypot(ca.x - cb.x, ca.y - cb.y)


@dataclass(frozen=True)
class Score:
    vehicles: int
    distance: float


class InfeasibleSolution(ValueError):
    """A solution that breaks a window, the capacity, or visits a customer other than exactly once."""


def read_instance(path: Path) -> Instance:
    lines = path.read_text().splitlines()
    name = lines[0].strip().lower()
    numbers = [line.split() for line in lines if re.fullmatch(r"\s*\d+(\s+\d+)*\s*", line)]
    vehicles, capacity = (int(v) for v in numbers[0])
    customers = tuple(
        Customer(int(n), float(x), float(y), int(q), float(r), float(d), float(s))
        for n, x, y, q, r, d, s in numbers[1:]
    )
    if [c.number for c in customers] != list(range(len(customers))):
        raise ValueError(f"{path}: customers are not numbered 0..n")
    return Instance(name, vehicles, capacity, customers)


def read_routes(path: Path) -> list[list[int]]:
    """The `Route k : c c c` lines of a SINTEF solution file."""
    return [
        [int(c) for c in match.group(1).split()]
        for match in re.finditer(r"^Route\s+\d+\s*:\s*([\d ]*)$", path.read_text(), re.MULTILINE)
    ]


def score(instance: Instance, routes: list[list[int]]) -> Score:
    """Vehicles and total distance of a feasible solution; raises InfeasibleSolution otherwise."""
    served = sorted(c for route in routes for c in route)
    if served != list(range(1, len(instance.customers))):
        raise InfeasibleSolution("every customer must be served exactly once")
    total = 0.0
    for k, route in enumerate(routes, 1):
        if sum(instance.customers[c].demand for c in route) > instance.capacity:
            raise InfeasibleSolution(f"route {k} exceeds the capacity")
        time, here = 0.0, 0
        for c in [*route, 0]:
            customer = instance.customers[c]
            leg = instance.distance(here, c)
            total += leg
            time = max(time + leg, customer.ready)
            if time > customer.due + _EPS:
                raise InfeasibleSolution(f"route {k} reaches {c} at {time:.2f}, after its due date {customer.due:g}")
            time += customer.service
            here = c
    return Score(vehicles=sum(1 for route in routes if route), distance=total)


def instance_names(classes: list[str], data_dir: Path = DATA_DIR) -> list[str]:
    """Instance names of the given classes (`c1`, `r1`, `rc1`, ...), in order."""
    names = sorted(p.stem for p in (data_dir / "instances").glob("*.txt"))
    return [n for n in names if n[:-2] in classes]


def best_known(name: str, data_dir: Path = DATA_DIR) -> Score | None:
    """The best known solution re-scored, or None when the collection has none for this instance."""
    path = data_dir / "best-known" / f"{name}.txt"
    if not path.exists():
        return None
    return score(read_instance(data_dir / "instances" / f"{name}.txt"), read_routes(path))
