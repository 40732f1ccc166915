"""`gandan-dead-letters`: list leaves every dead letter in place; replay sends back only the chosen ones,
and the service then handles them as its own retry."""

import asyncio
import json
from typing import Any
from uuid import uuid4

import aio_pika
import pytest

from gandan.audit.app import AuditSettings, build
from gandan.shared.events import to_wire
from gandan.shared.messaging import ATTEMPT_HEADER, REJECTED_DETAIL_HEADER, REJECTED_REASON_HEADER
from gandan.shared.topology import Topology
from gandan.system import services as system
from gandan.system.dead_letters import main, walk
from gandan.testing import eventually, queued, serving
from gandan.testing.factories import envelope, request_registered


async def dead_letter(rabbitmq_url: str, namespace: str, body: bytes, reason: str) -> None:
    """As audit's consumer dead-letters: the raw message with the verdict in its headers."""
    topology = Topology(namespace)
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.dead_letters.name)
        headers: dict[str, Any] = {REJECTED_REASON_HEADER: reason, REJECTED_DETAIL_HEADER: "boom", ATTEMPT_HEADER: 3}
        message = aio_pika.Message(body, headers=headers, message_id=str(uuid4()), delivery_mode=2)
        await exchange.publish(message, routing_key=topology.dead_letter_queue("audit").name)


async def waiting(rabbitmq_url: str, queue: str) -> int:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0


@pytest.fixture
async def topology(rabbitmq_url, namespace) -> Topology:
    await system.declare(rabbitmq_url, namespace)
    return Topology(namespace)


async def test_listing_leaves_every_dead_letter_where_it_was(topology, rabbitmq_url, namespace, capsys, monkeypatch):
    event = envelope(request_registered())
    await dead_letter(rabbitmq_url, namespace, json.dumps(to_wire(event)).encode(), "handler_failed")
    await dead_letter(rabbitmq_url, namespace, b"not json", "not_json")

    for _ in range(3):
        letters = await walk(rabbitmq_url, namespace, "audit")
        assert [(x.event_id, x.reason, x.replayed) for x in letters] == [
            (str(event.id), "handler_failed", False),
            ("?", "not_json", False),
        ]
    assert await waiting(rabbitmq_url, topology.dead_letter_queue("audit").name) == 2

    monkeypatch.setenv("RABBITMQ_URL", rabbitmq_url)
    await asyncio.to_thread(main, ["list", "--service", "audit", "--namespace", namespace])
    assert "2 dead letter(s); 0 replayed" in capsys.readouterr().out


async def test_replay_sends_back_only_the_chosen_reasons_and_the_service_handles_them(
    topology, rabbitmq_url, namespace, service_settings, service_database
):
    event = envelope(request_registered())
    await dead_letter(rabbitmq_url, namespace, json.dumps(to_wire(event)).encode(), "handler_failed")
    await dead_letter(rabbitmq_url, namespace, b"not json", "not_json")

    letters = await walk(rabbitmq_url, namespace, "audit", replay=["handler_failed"])
    assert [(x.reason, x.replayed) for x in letters] == [("handler_failed", True), ("not_json", False)]
    assert await waiting(rabbitmq_url, topology.dead_letter_queue("audit").name) == 1

    evidence = service_database("audit")["events"]
    async with serving(*build(AuditSettings())):
        await eventually(lambda: evidence.count_documents({"_id": str(event.id)}), lambda n: n == 1, what="recorded")
    # Taken as audit's own retry with fresh attempts: handled, not dead-lettered again.
    [kept] = await walk(rabbitmq_url, namespace, "audit")
    assert kept.reason == "not_json"


async def test_a_replayed_event_comes_as_the_services_own_retry_without_its_verdict(topology, rabbitmq_url, namespace):
    event = envelope(request_registered())
    await dead_letter(rabbitmq_url, namespace, json.dumps(to_wire(event)).encode(), "waited_too_long")

    await walk(rabbitmq_url, namespace, "audit", replay=["waited_too_long"])

    [message] = await queued(rabbitmq_url, topology.queue("audit").name)
    assert (message.exchange, message.routing_key) == (topology.retry.name, "audit")
    assert json.loads(message.body)["id"] == str(event.id)
    assert not {REJECTED_REASON_HEADER, REJECTED_DETAIL_HEADER, ATTEMPT_HEADER} & set(message.headers)
