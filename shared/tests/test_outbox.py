"""The outbox on the real database and broker: nothing lost, nothing invented."""

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from faststream.rabbit import RabbitBroker

from gandan.shared.events import RequestRegistered
from gandan.shared.messaging import EventPublisher, create_broker
from gandan.shared.outbox import Outbox, OutboxRelay, append, pending
from gandan.shared.settings import ServiceSettings
from gandan.shared.topology import Topology, declare_topology
from gandan.system import services as system
from gandan.testing import eventually, queued
from gandan.testing.factories import envelope, request_registered


@pytest.fixture
async def publisher(service_settings, namespace) -> AsyncIterator[EventPublisher]:
    broker: RabbitBroker = create_broker(ServiceSettings(), "test")
    topology = Topology(namespace)
    publisher = EventPublisher(broker, topology, [RequestRegistered])
    await broker.connect()
    await declare_topology(broker, topology, system.subscriptions())
    await broker.start()
    yield publisher
    await broker.stop()


@pytest.fixture
def collection(service_database):
    return service_database("intake")["things"]


class CrashAfterPublishing:
    """Publishes, then dies before the relay can mark the event published."""

    def __init__(self, publisher: EventPublisher) -> None:
        self.publisher = publisher

    async def publish(self, envelope) -> None:
        await self.publisher.publish(envelope)
        raise ConnectionError("process killed")


class BrokerDown:
    async def publish(self, envelope) -> None:
        raise ConnectionError("broker unreachable")


async def audit_ids(rabbitmq_url: str, namespace: str) -> list[str]:
    return [json.loads(m.body)["id"] for m in await queued(rabbitmq_url, Topology(namespace).queue("audit").name)]


async def test_stored_events_are_published_in_order_and_marked(publisher, collection, rabbitmq_url, namespace):
    first, second = envelope(request_registered(request_code="GD-A")), envelope(request_registered(request_code="GD-B"))
    await collection.insert_one({"_id": "thing"} | pending(first, second))
    relay = OutboxRelay(publisher, [collection])

    assert await relay.publish_pending() == 2
    assert await relay.publish_pending() == 0
    assert await audit_ids(rabbitmq_url, namespace) == [str(first.id), str(second.id)]
    stored = await collection.find_one({"_id": "thing"})
    assert all(entry["published_at"] is not None for entry in stored["outbox"])


async def test_events_added_to_an_existing_document_are_published(publisher, collection, rabbitmq_url, namespace):
    await collection.insert_one({"_id": "thing", "outbox": []})
    later = envelope(request_registered())
    await collection.update_one({"_id": "thing"}, append(later))
    assert await OutboxRelay(publisher, [collection]).publish_pending() == 1
    assert await audit_ids(rabbitmq_url, namespace) == [str(later.id)]


async def test_a_document_keeps_in_its_pending_list_only_what_is_not_yet_published(publisher, collection):
    first, later = envelope(request_registered()), envelope(request_registered())
    await collection.insert_one({"_id": "thing"} | pending(first))
    relay = OutboxRelay(publisher, [collection])
    assert await relay.publish_pending() == 1
    stored = await collection.find_one({"_id": "thing"})
    assert stored is not None and "unpublished" not in stored  # not an empty list: see _mark_published

    await collection.update_one({"_id": "thing"}, append(later))
    stored = await collection.find_one({"_id": "thing"})
    assert stored is not None and stored["unpublished"] == [str(later.id)]
    assert stored["outbox"][0]["published_at"] is not None and stored["outbox"][1]["published_at"] is None

    # Handed over twice (a write retried after a lost answer): the second mark finds nothing left.
    relay.stored(collection, "thing", [later])
    relay.stored(collection, "thing", [later])
    assert await relay.publish_pending() == 2
    stored = await collection.find_one({"_id": "thing"})
    assert stored is not None and "unpublished" not in stored
    assert all(entry["published_at"] is not None for entry in stored["outbox"])
    assert await relay.publish_pending() == 0


async def test_while_the_broker_is_down_nothing_is_lost(publisher, collection, rabbitmq_url, namespace):
    event = envelope(request_registered())
    await collection.insert_one({"_id": "thing"} | pending(event))

    relay = OutboxRelay(BrokerDown(), [collection])
    with pytest.raises(ConnectionError):
        await relay.publish_pending()
    assert await audit_ids(rabbitmq_url, namespace) == []

    relay._publisher = publisher  # the broker is back
    assert await relay.publish_pending() == 1
    assert await audit_ids(rabbitmq_url, namespace) == [str(event.id)]


async def test_a_crash_after_publishing_repeats_the_same_event_never_a_new_one(
    publisher, collection, rabbitmq_url, namespace
):
    event = envelope(request_registered())
    await collection.insert_one({"_id": "thing"} | pending(event))

    with pytest.raises(ConnectionError):
        await OutboxRelay(CrashAfterPublishing(publisher), [collection], lease_seconds=0.5).publish_pending()
    replica = OutboxRelay(publisher, [collection])
    assert await replica.publish_pending() == 0  # the dead one's lease still holds it
    await asyncio.sleep(0.5)
    replica.search_soon()  # as its backstop poll would
    assert await replica.publish_pending() == 1  # expired: released to whoever searches

    # Delivered twice with one id: consumers deduplicate on it.
    assert await audit_ids(rabbitmq_url, namespace) == [str(event.id), str(event.id)]
    assert await OutboxRelay(publisher, [collection]).publish_pending() == 0


@pytest.fixture
async def outbox(publisher, service_database) -> AsyncIterator[Outbox]:
    """An outbox whose relay runs, polling so seldom that only a wake-up makes it publish in time."""
    outbox = Outbox(publisher, service_database("intake"), poll_seconds=3600)
    relay = asyncio.create_task(outbox.relay.run())
    yield outbox
    relay.cancel()
    await asyncio.gather(relay, return_exceptions=True)


async def test_storing_a_change_with_its_events_wakes_the_relay(outbox, rabbitmq_url, namespace):
    things = outbox.collection("things")
    first, later = envelope(request_registered(request_code="GD-A")), envelope(request_registered(request_code="GD-B"))

    async def published() -> list[str]:
        return await audit_ids(rabbitmq_url, namespace)  # taken off the queue: each id comes once

    assert await outbox.insert(things, {"_id": "thing"}, first)
    assert await eventually(published, what="the stored event is published") == [str(first.id)]
    assert await outbox.update(things, {"_id": "thing"}, {"$set": {"status": "moved on"}}, later)
    assert await eventually(published, what="the added event is published") == [str(later.id)]
    assert await outbox.insert(things, {"_id": "thing"}, envelope(request_registered(request_code="GD-C"))) is False


class DownOnce:
    """The broker away for the first publish, back after."""

    def __init__(self, publisher: EventPublisher) -> None:
        self.publisher = publisher
        self.failed = False

    async def publish(self, envelope) -> None:
        if not self.failed:
            self.failed = True
            raise ConnectionError("broker unreachable")
        await self.publisher.publish(envelope)


async def test_events_handed_over_while_the_broker_is_away_go_out_when_it_is_back(
    publisher, service_database, rabbitmq_url, namespace
):
    # Polls so seldom that only the search after the failure can find what was handed over.
    outbox = Outbox(DownOnce(publisher), service_database("intake"), poll_seconds=3600)
    things = outbox.collection("things")
    assert await outbox.relay.publish_pending() == 0  # the search at start, done: nothing left from before
    relay = asyncio.create_task(outbox.relay.run())
    try:
        first, second = envelope(request_registered()), envelope(request_registered())
        assert await outbox.insert(things, {"_id": "thing"}, first, second)

        published = await eventually(lambda: audit_ids(rabbitmq_url, namespace), what="published once back")
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
    assert published == [str(first.id), str(second.id)]
    stored = await things.find_one({"_id": "thing"})
    assert stored is not None and [entry["published_at"] is not None for entry in stored["outbox"]] == [True, True]
    # Nothing pending: no field at all, not an empty list (which SecantusDB's index walk reads).
    assert "unpublished" not in stored


async def test_two_replicas_searching_at_once_publish_each_event_once(publisher, collection, rabbitmq_url, namespace):
    events = [envelope(request_registered()) for _ in range(30)]
    await collection.insert_many([{"_id": f"thing-{n}"} | pending(event) for n, event in enumerate(events)])
    first, second = OutboxRelay(publisher, [collection], batch=10), OutboxRelay(publisher, [collection], batch=10)

    counts = await asyncio.gather(first.publish_pending(), second.publish_pending())

    assert sum(counts) == len(events)
    assert sorted(await audit_ids(rabbitmq_url, namespace)) == sorted(str(e.id) for e in events)


async def test_what_a_replica_wrote_is_published_by_it_alone(publisher, service_database, rabbitmq_url, namespace):
    writer = Outbox(publisher, service_database("intake"), poll_seconds=3600)
    other = Outbox(publisher, service_database("intake"), poll_seconds=3600)
    things, _ = writer.collection("things"), other.collection("things")
    event, later = envelope(request_registered()), envelope(request_registered())
    await writer.insert(things, {"_id": "thing"}, event)
    await writer.update(things, {"_id": "thing"}, {"$set": {"status": "moved on"}}, later)

    assert await other.relay.publish_pending() == 0  # searching, it leaves the writer's events alone
    assert await writer.relay.publish_pending() == 2
    assert await audit_ids(rabbitmq_url, namespace) == [str(event.id), str(later.id)]
    stored = await things.find_one({"_id": "thing"})
    assert stored is not None and stored["status"] == "moved on"


async def test_a_relay_stopped_with_events_unpublished_leaves_them_to_the_next_start_at_once(
    publisher, collection, rabbitmq_url, namespace
):
    # Its writes lease their events to it; the broker is away, so it cannot publish them.
    stopped = OutboxRelay(BrokerDown(), [collection], poll_seconds=3600)
    event = envelope(request_registered())
    await collection.insert_one({"_id": "thing"} | pending(event) | stopped.lease())
    running = asyncio.create_task(stopped.run())
    await asyncio.sleep(0.2)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)

    # The next start's search takes it now, not once the stopped relay's lease has run out.
    assert await OutboxRelay(publisher, [collection]).publish_pending() == 1
    assert await audit_ids(rabbitmq_url, namespace) == [str(event.id)]
