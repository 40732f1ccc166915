"""The delivery guarantees, on the real broker."""

import asyncio
import json
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.exceptions import DeliveryError
from faststream.rabbit import RabbitBroker
from pymongo.errors import AutoReconnect

from gandan.shared.events import Envelope, EventData, RequestRegistered, to_wire
from gandan.shared.messaging import (
    REJECTED_DETAIL_HEADER,
    REJECTED_REASON_HEADER,
    EventPublisher,
    NotYet,
    create_broker,
    subscribe,
)
from gandan.shared.settings import ServiceSettings
from gandan.shared.topology import ALL_EVENTS, Topology, declare_topology
from gandan.system import services as system
from gandan.testing import eventually, queued
from gandan.testing.factories import envelope, request_registered


@pytest.fixture
async def broker(service_settings) -> AsyncIterator[RabbitBroker]:
    broker = create_broker(ServiceSettings(), "test")
    yield broker
    await broker.stop()


async def start(broker: RabbitBroker, topology: Topology) -> None:
    await broker.connect()
    await declare_topology(broker, topology, system.subscriptions())
    await broker.start()


async def one_event_for_audit(broker: RabbitBroker, topology: Topology, handler, **limits: int) -> Envelope[EventData]:
    """audit consumes every event with `handler`; one event is published. Returns it."""
    subscribe(broker, topology, "audit", {ALL_EVENTS: handler}, **limits)
    publisher = EventPublisher(broker, topology, [RequestRegistered])
    await start(broker, topology)
    event = envelope(request_registered())
    await publisher.publish(event)
    return event


async def dispatch_handling(broker: RabbitBroker, topology: Topology) -> list[str]:
    """dispatch consumes request.registered; returns the ids of the events it handled, as they come."""
    handled: list[str] = []

    async def handler(event) -> None:
        handled.append(str(event.id))

    subscribe(broker, topology, "dispatch", {"request.registered": handler}, max_attempts=3, max_wait_seconds=60)
    await start(broker, topology)
    return handled


async def test_an_event_reaches_every_queue_bound_to_its_type(broker, namespace, rabbitmq_url):
    topology = Topology(namespace)
    publisher = EventPublisher(broker, topology, [RequestRegistered])
    await start(broker, topology)
    event = envelope(request_registered())
    await publisher.publish(event)

    for service in ("dispatch", "audit"):
        [message] = await queued(rabbitmq_url, topology.queue(service).name)
        assert json.loads(message.body)["id"] == str(event.id)
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.message_id == str(event.id)
    assert await queued(rabbitmq_url, topology.queue("notify").name) == []


async def test_an_event_no_queue_takes_is_an_error_not_a_silent_loss(broker, namespace):
    topology = Topology(namespace)
    publisher = EventPublisher(broker, topology, [RequestRegistered])
    await broker.connect()
    await broker.declare_exchange(topology.events)  # the exchange, but no queue bound to it
    with pytest.raises(DeliveryError):
        await publisher.publish(envelope(request_registered()))


async def test_an_event_that_keeps_failing_is_tried_then_dead_lettered(broker, namespace, rabbitmq_url):
    topology = Topology(namespace)
    attempts: list[str] = []

    async def always_fails(event) -> None:
        attempts.append(str(event.id))
        raise RuntimeError("the database is away")

    event = await one_event_for_audit(broker, topology, always_fails, max_attempts=3, max_wait_seconds=60)

    dead = await eventually(
        lambda: queued(rabbitmq_url, topology.dead_letter_queue("audit").name), timeout=15, what="a dead letter"
    )
    assert attempts == [str(event.id)] * 3
    assert json.loads(dead[0].body) == to_wire(event)
    assert dead[0].headers[REJECTED_REASON_HEADER] == "handler_failed"
    assert "the database is away" in str(dead[0].headers[REJECTED_DETAIL_HEADER])


async def test_an_event_that_fails_once_is_handled_on_the_next_attempt(broker, namespace, rabbitmq_url):
    topology = Topology(namespace)
    attempts: list[str] = []
    handled: list[str] = []

    async def fails_first_time(event) -> None:
        attempts.append(str(event.id))
        if len(attempts) == 1:
            raise RuntimeError("passing outage")
        handled.append(str(event.id))

    event = await one_event_for_audit(broker, topology, fails_first_time, max_attempts=3, max_wait_seconds=60)

    async def handled_so_far() -> list[str]:
        return handled

    await eventually(handled_so_far, what="the event handled")
    await asyncio.sleep(0.5)
    assert handled == [str(event.id)]
    assert len(attempts) == 2
    assert await queued(rabbitmq_url, topology.dead_letter_queue("audit").name) == []


async def test_an_event_that_waits_for_an_earlier_one_uses_up_no_attempt(broker, namespace, rabbitmq_url):
    topology = Topology(namespace)
    calls: list[str] = []

    async def needs_an_earlier_event(event) -> None:
        calls.append(str(event.id))
        if len(calls) <= 4:  # more times than the attempts allow
            raise NotYet("the contact has not arrived yet")

    event = await one_event_for_audit(broker, topology, needs_an_earlier_event, max_attempts=2, max_wait_seconds=60)

    async def calls_so_far() -> list[str]:
        return calls

    await eventually(calls_so_far, lambda c: len(c) == 5, timeout=15, what="handled on the fifth call")
    await asyncio.sleep(0.5)
    assert calls == [str(event.id)] * 5
    assert await queued(rabbitmq_url, topology.dead_letter_queue("audit").name) == []


async def test_a_database_outage_longer_than_the_wait_dead_letters_the_event_with_the_reason(
    broker, namespace, rabbitmq_url
):
    topology = Topology(namespace)
    calls: list[str] = []

    async def database_away(event) -> None:
        calls.append(str(event.id))
        raise AutoReconnect("connection refused")

    await one_event_for_audit(broker, topology, database_away, max_attempts=1, max_wait_seconds=1)

    dead = await eventually(
        lambda: queued(rabbitmq_url, topology.dead_letter_queue("audit").name), timeout=15, what="a dead letter"
    )
    assert len(calls) > 1  # the one attempt allowed was not what ended it
    assert dead[0].headers[REJECTED_REASON_HEADER] == "waited_too_long"
    assert "connection refused" in str(dead[0].headers[REJECTED_DETAIL_HEADER])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"hello": 1}', "unknown_type"),
        (b"[1, 2]", "not_an_envelope"),
        (b"plain text", "not_json"),
        (b'{"hello": 1', "not_json"),
        (b"", "not_json"),
        (b"\xff\xfe", "not_json"),
    ],
)
async def test_a_message_that_is_not_an_event_goes_straight_to_the_dead_letters_with_the_reason(
    body, reason, broker, namespace, rabbitmq_url, publish
):
    topology = Topology(namespace)
    handled = await dispatch_handling(broker, topology)
    event = envelope(request_registered())
    for _ in range(3):  # more than one, so a stuck message would show
        await publish(body, routing_key="request.registered")
    await publish(event)

    dead: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def dead_so_far() -> list[aio_pika.abc.AbstractIncomingMessage]:
        dead.extend(await queued(rabbitmq_url, topology.dead_letter_queue("dispatch").name))
        return dead

    await eventually(dead_so_far, lambda d: len(d) == 3 and bool(handled), what="three dead letters, one handled")
    assert [m.body for m in dead] == [body] * 3
    assert [m.headers[REJECTED_REASON_HEADER] for m in dead] == [reason] * 3
    assert handled == [str(event.id)]


async def test_an_event_put_straight_into_a_queue_is_not_trusted(broker, namespace, rabbitmq_url):
    # The default exchange reaches any queue by its name, past the events exchange's topic permissions.
    topology = Topology(namespace)
    handled = await dispatch_handling(broker, topology)
    event = envelope(request_registered())
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        message = aio_pika.Message(json.dumps(to_wire(event)).encode(), message_id=str(event.id))
        await channel.default_exchange.publish(message, routing_key=topology.queue("dispatch").name)

    [dead] = await eventually(lambda: queued(rabbitmq_url, topology.dead_letter_queue("dispatch").name))
    assert dead.headers[REJECTED_REASON_HEADER] == "wrong_route"
    assert handled == []
