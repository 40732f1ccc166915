"""Per-service broker credentials, made by `gandan-broker-access`, on the real RabbitMQ.

Each test gets users of its own namespace, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aiormq.exceptions import ChannelAccessRefused
from pymongo import MongoClient

from gandan.dispatch.app import DispatchSettings
from gandan.dispatch.app import build as build_dispatch
from gandan.intake.app import IntakeSettings
from gandan.shared.events import Envelope, RequestRegistered, VisitScheduled, to_wire
from gandan.shared.messaging import REJECTED_REASON_HEADER, EventPublisher, PublishRefused, create_broker
from gandan.shared.topology import Topology
from gandan.system import services as system
from gandan.system.broker_access import main, remove
from gandan.testing import eventually, queued, serving
from gandan.testing.factories import a_request_code, envelope, request_registered, visit_scheduled


@pytest.fixture
async def access(namespace: str, rabbitmq_url: str, tmp_path: Path, monkeypatch) -> AsyncIterator[dict[str, str]]:
    """The operator command run for this test's namespace: each service's broker URL."""
    monkeypatch.setenv("RABBITMQ_URL", rabbitmq_url)  # the operator's own credential
    env_file = tmp_path / "broker.env"
    try:
        await asyncio.to_thread(main, ["--namespace", namespace, "--env-file", str(env_file)])
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        urls = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        yield {name.removesuffix("_RABBITMQ_URL").lower(): url for name, url in urls.items()}
    finally:
        await asyncio.to_thread(remove, namespace)


def a_request() -> Envelope[RequestRegistered]:
    return envelope(request_registered(request_code=a_request_code()))


async def test_intakes_credential_cannot_publish_a_visit_and_still_publishes_its_own_events(
    access, namespace, rabbitmq_url, service_settings, monkeypatch
):
    monkeypatch.setenv("INTAKE_RABBITMQ_URL", access["intake"])
    settings = IntakeSettings()
    assert settings.rabbitmq_url == access["intake"]  # its own credential, not the shared guest
    topology = Topology(namespace)
    broker = create_broker(settings, "intake")
    # Produces both only to try: the broker, not this list, is what stops it.
    publisher = EventPublisher(broker, topology, [RequestRegistered, VisitScheduled])
    await broker.connect()
    try:
        with pytest.raises(PublishRefused):
            await publisher.publish(envelope(visit_scheduled()))
        request = a_request()

        async def publish_own() -> bool:
            try:
                await publisher.publish(request)
            except Exception:
                return False  # the refused channel is being reopened
            return True

        await eventually(publish_own, timeout=10, what="intake publishes again after the refusal")
    finally:
        await broker.stop()

    [delivered] = await queued(rabbitmq_url, topology.queue("dispatch").name)
    assert json.loads(delivered.body)["id"] == str(request.id)
    assert [json.loads(m.body)["type"] for m in await queued(rabbitmq_url, topology.queue("notify").name)] == []


async def test_each_service_logs_in_as_its_own_user_and_binds_only_what_it_consumes(access, namespace):
    assert sorted(access) == sorted(system.names())
    topology = Topology(namespace)
    for service, url in access.items():
        assert f"{namespace}-{service}:" in url and "guest" not in url
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(topology.queue(service).name)
            for pattern in system.subscriptions()[service]:
                await queue.bind(topology.events.name, routing_key=pattern)  # what it consumes: allowed
            if service != "audit":  # audit consumes everything
                with pytest.raises(ChannelAccessRefused):
                    await queue.bind(topology.events.name, routing_key="#")


async def test_dispatch_with_its_own_credential_books_for_intake_only_and_dead_letters_the_rest(
    access, namespace, rabbitmq_url, mongodb_url, service_settings, monkeypatch
):
    monkeypatch.setenv("DISPATCH_RABBITMQ_URL", access["dispatch"])
    topology = Topology(namespace)
    genuine = a_request()
    forged = a_request().model_copy(update={"producer": "notify"})
    # A visit smuggled under a routing key intake may publish: the body's type must be its key.
    smuggled = envelope(visit_scheduled())

    service, app = build_dispatch(DispatchSettings())
    async with serving(service, app):
        connection = await aio_pika.connect(access["intake"])
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.get_exchange(topology.events.name, ensure=False)
            for event in (forged, smuggled, genuine):
                message = aio_pika.Message(json.dumps(to_wire(event)).encode(), message_id=str(event.id))
                await exchange.publish(message, routing_key="request.registered")

        dead: list[aio_pika.abc.AbstractIncomingMessage] = []

        async def dead_so_far():
            dead.extend(await queued(rabbitmq_url, topology.dead_letter_queue("dispatch").name))
            return dead

        await eventually(dead_so_far, lambda d: len(d) >= 2, what="two dead letters")
        booked = await eventually(
            lambda: queued(rabbitmq_url, topology.queue("notify").name), what="the genuine request booked"
        )

    reasons = {m.message_id: m.headers[REJECTED_REASON_HEADER] for m in dead}
    assert reasons == {str(forged.id): "wrong_producer", str(smuggled.id): "wrong_route"}
    assert [json.loads(m.body)["data"]["request_code"] for m in booked] == [genuine.data.request_code]
    with MongoClient[dict[str, Any]](mongodb_url) as client:
        visits = client[f"{namespace}_dispatch"]["visits"]
        assert [v["request_code"] for v in visits.find()] == [genuine.data.request_code]
