"""The messaging topology, in one place.

One durable topic exchange carries every domain event, routed by event type.
Each consuming service has one durable quorum queue bound by the patterns it
consumes, and a dead-letter queue that receives what it could not process.
Every service declares the whole topology at start-up (declarations are
idempotent), so a queue exists before any event meant for it is published.
A service with broker credentials of its own may bind only its own queue: the
operator command that made those credentials (`gandan-broker-access`) declared
the whole topology first.

A consumer re-queues an event it will try again through the retry exchange, a
topic exchange where each service's credential may publish and bind only its
own name; the default exchange would let any service write into any queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

# Which events each consuming service receives. audit keeps evidence of everything.
SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "intake": ("visit.scheduled",),
    "dispatch": ("request.registered",),
    "notify": ("contact.registered", "visit.scheduled"),
    "audit": ("#",),
}

# A guard for deliveries the broker itself counts (consumer crashes, lost
# connections). Handler failures are counted by the consumer (see messaging.py),
# because RabbitMQ 4.3+ no longer counts nacks toward this limit.
BROKER_DELIVERY_LIMIT = 20


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

    def queue(self, service: str) -> RabbitQueue:
        patterns = SUBSCRIPTIONS[service]
        return RabbitQueue(
            f"{self.namespace}.{service}",
            queue_type=QueueType.QUORUM,
            durable=True,
            arguments={
                "x-dead-letter-exchange": self.dead_letters.name,
                "x-dead-letter-routing-key": self.dead_letter_queue(service).name,
                "x-delivery-limit": BROKER_DELIVERY_LIMIT,
            },
            routing_key=patterns[0],
        )

    def dead_letter_queue(self, service: str) -> RabbitQueue:
        return RabbitQueue(f"{self.namespace}.{service}.dead", queue_type=QueueType.QUORUM, durable=True)

    def queue_names(self) -> list[str]:
        return [name for s in SUBSCRIPTIONS for name in (self.queue(s).name, self.dead_letter_queue(s).name)]

    def exchange_names(self) -> list[str]:
        return [self.events.name, self.retry.name, self.dead_letters.name]


async def declare_topology(broker: RabbitBroker, topology: Topology, *, only: str | None = None) -> None:
    """Declare exchanges, the services' queues with their bindings, and the dead-letter queues.

    `only` limits the queues to that service's: what its own broker credential may declare.
    """
    events = await broker.declare_exchange(topology.events)
    retry = await broker.declare_exchange(topology.retry)
    dead_letters = await broker.declare_exchange(topology.dead_letters)
    for service, patterns in SUBSCRIPTIONS.items():
        if only is not None and service != only:
            continue
        queue = await broker.declare_queue(topology.queue(service))
        for pattern in patterns:
            await queue.bind(events, routing_key=pattern)
        await queue.bind(retry, routing_key=service)
        dead = await broker.declare_queue(topology.dead_letter_queue(service))
        await dead.bind(dead_letters, routing_key=topology.dead_letter_queue(service).name)
