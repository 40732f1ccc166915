"""The Solomon instances and scorer that `make bench-routing` uses, and a short run of it."""

from __future__ import annotations

import pytest

from gandan.dispatch.bench import routing
from gandan.dispatch.bench.solomon import (
    DATA_DIR,
    InfeasibleSolution,
    best_known,
    instance_names,
    read_instance,
    read_routes,
    score,
)

# SINTEF's published figures (vehicles, distance) for the best known solutions we ship.
PUBLISHED = {
    "c101": (10, 828.94), "c102": (10, 828.94), "c103": (10, 828.06), "c104": (10, 824.78),
    "c105": (10, 828.94), "c106": (10, 828.94), "c107": (10, 828.94), "c108": (10, 828.94),
    "c109": (10, 828.94),
    "r101": (19, 1650.80), "r102": (17, 1486.12), "r103": (13, 1292.68), "r104": (9, 1007.31),
    "r105": (14, 1377.11), "r106": (12, 1252.03), "r107": (10, 1104.66), "r108": (9, 960.88),
    "r109": (11, 1194.73), "r110": (10, 1118.84), "r111": (10, 1096.73),
    "rc101": (14, 1696.95), "rc102": (12, 1554.75), "rc103": (11, 1261.67), "rc104": (10, 1135.48),
    "rc105": (13, 1629.44), "rc106": (11, 1424.73), "rc108": (10, 1139.82),
}  # fmt: skip


def test_the_shipped_instances_are_the_29_of_c1_r1_and_rc1():
    names = instance_names(["c1", "r1", "rc1"])
    assert len(names) == 29
    assert [n for n in names if best_known(n) is None] == ["r112", "rc107"]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_the_best_known_solutions_score_as_published(name):
    found = best_known(name)
    assert found is not None
    assert (found.vehicles, round(found.distance, 2)) == PUBLISHED[name]


def _c101():
    return read_instance(DATA_DIR / "instances" / "c101.txt"), read_routes(DATA_DIR / "best-known" / "c101.txt")


def test_the_scorer_refuses_a_late_arrival():
    instance, routes = _c101()
    routes[0] = list(reversed(routes[0]))
    with pytest.raises(InfeasibleSolution, match="after its due date"):
        score(instance, routes)


def test_the_scorer_refuses_a_route_over_capacity():
    instance, routes = _c101()
    merged = routes[0] + routes[1]
    assert sum(instance.customers[c].demand for c in merged) > instance.capacity
    with pytest.raises(InfeasibleSolution, match="capacity"):
        score(instance, [merged, *routes[2:]])


def test_the_scorer_refuses_a_customer_left_out_or_served_twice():
    instance, routes = _c101()
    with pytest.raises(InfeasibleSolution, match="exactly once"):
        score(instance, [*routes[:-1], routes[-1][:-1]])
    with pytest.raises(InfeasibleSolution, match="exactly once"):
        score(instance, [*routes, [routes[0][0]]])


def test_a_short_bench_run_solves_c101_as_well_as_the_best_known(capsys):
    (row,) = routing.main(["--instances", "c101", "--seconds", "2"])
    assert row.found.vehicles == 10
    assert row.gap is not None and row.gap < 1
    out = capsys.readouterr().out
    assert "c101" in out and "best known vehicle count on 1/1" in out
