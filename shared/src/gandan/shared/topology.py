"""The messaging topology, in one place.

One durable topic exchange carries every domain event, routed by event type.
Each consuming service has one durable quorum queue bound by the types it
handles (its handler map: see spec.py), and a dead-letter queue that receives
what it could not process. What starts the services (the launcher,
`gandan-broker-access`, the test harness) declares every service's queues first
(declarations are idempotent), so a queue exists before any event meant for it
is published; each service declares the exchanges and its own queues again at
start-up, all its credential may declare.

A consumer re-queues an event it will try again through the retry exchange, a
topic exchange where each service's credential may publish and bind only its
own name; the default exchange would let any service write into any queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

# The key of a handler map that takes every event type (audit keeps evidence of everything).
ALL_EVENTS = "*"

# A guard for deliveries the broker itself counts (consumer crashes, lost
# connections). Handler failures are counted by the consumer (see messaging.py),
# because RabbitMQ 4.3+ no longer counts nacks toward this limit.
BROKER_DELIVERY_LIMIT = 20


def bindings(consumed: Iterable[str]) -> tuple[str, ...]:
    """The routing keys a queue is bound by, for the event types its service handles."""
    return tuple("#" if event_type == ALL_EVENTS else event_type for event_type in consumed)


@dataclass(frozen=True)
class Topology:
    namespace: str

    @property
    def events(self) -> RabbitExchange:
        return RabbitExchange(f"{self.namespace}.events", type=ExchangeType.TOPIC, durable=True)

    @property
    def retry(self) -> RabbitExchange:
        return RabbitExchange(f"{self.namespace}.retry", type=ExchangeType.TOPIC, durable=True)

    @property
    def dead_letters(self) -> RabbitExchange:
        return RabbitExchange(f"{self.namespace}.dead-letter", type=ExchangeType.DIRECT, durable=True)

    def queue(self, service: str, patterns: Sequence[str] = ()) -> RabbitQueue:
        """The service's queue; a consumer passes its `patterns`, which FastStream binds and documents."""
        return RabbitQueue(
            f"{self.namespace}.{service}",
            queue_type=QueueType.QUORUM,
            durable=True,
            arguments={
                "x-dead-letter-exchange": self.dead_letters.name,
                "x-dead-letter-routing-key": self.dead_letter_queue(service).name,
                "x-delivery-limit": BROKER_DELIVERY_LIMIT,
            },
            routing_key=patterns[0] if patterns else "",
        )

    def dead_letter_queue(self, service: str) -> RabbitQueue:
        return RabbitQueue(f"{self.namespace}.{service}.dead", queue_type=QueueType.QUORUM, durable=True)

    def queue_names(self, services: Iterable[str]) -> list[str]:
        return [name for s in services for name in (self.queue(s).name, self.dead_letter_queue(s).name)]

    def exchange_names(self) -> list[str]:
        return [self.events.name, self.retry.name, self.dead_letters.name]


async def declare_topology(
    broker: RabbitBroker, topology: Topology, subscriptions: Mapping[str, Sequence[str]]
) -> None:
    """Declare exchanges, and for each service in `subscriptions` (service → the routing keys
    it is bound by) its queue with those bindings and its dead-letter queue."""
    events = await broker.declare_exchange(topology.events)
    retry = await broker.declare_exchange(topology.retry)
    dead_letters = await broker.declare_exchange(topology.dead_letters)
    for service, patterns in subscriptions.items():
        queue = await broker.declare_queue(topology.queue(service, patterns))
        for pattern in patterns:
            await queue.bind(events, routing_key=pattern)
        await queue.bind(retry, routing_key=service)
        dead = await broker.declare_queue(topology.dead_letter_queue(service))
        await dead.bind(dead_letters, routing_key=topology.dead_letter_queue(service).name)
