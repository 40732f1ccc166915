"""The services of Gần Dân, listed once: what starts them (the launcher), documents them
(the contract generator), grants them broker access, and tests them reads this list.

Importing it checks that they fit together (spec.py `check_system`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from faststream.rabbit import RabbitBroker

from gandan.audit.app import SPEC as AUDIT
from gandan.dispatch.app import SPEC as DISPATCH
from gandan.intake.app import SPEC as INTAKE
from gandan.notify.app import SPEC as NOTIFY
from gandan.shared.spec import ServiceSpec, check_system
from gandan.shared.topology import Topology, declare_topology

__all__ = ["AUDIT", "DISPATCH", "INTAKE", "NOTIFY", "SERVICES", "declare", "names", "subscriptions"]

SERVICES: tuple[ServiceSpec, ...] = (INTAKE, DISPATCH, NOTIFY, AUDIT)
check_system(SERVICES)


def names() -> list[str]:
    return [spec.name for spec in SERVICES]


def subscriptions() -> Mapping[str, Sequence[str]]:
    """Each consuming service → the routing keys its queue is bound by."""
    return {spec.name: spec.bindings for spec in SERVICES if spec.handlers}


async def declare(broker_url: str, namespace: str) -> None:
    """Declare every service's queues, so none misses an event published before it starts."""
    broker = RabbitBroker(broker_url, logger=None)
    await broker.connect()
    try:
        await declare_topology(broker, Topology(namespace), subscriptions())
    finally:
        await broker.stop()
