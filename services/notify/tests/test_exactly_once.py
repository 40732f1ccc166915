"""Exactly one message per event, recipient and template, on the real database, counted at a local eSMS
server: under redelivery, with two senders at once, and when a sender dies mid-send."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from gandan.notify.channels import Channels, EsmsChannel, Outgoing, SpeedSmsChannel
from gandan.notify.domain import MessageStatus, Policy
from gandan.notify.handlers import Sender, prepare_visit_messages, remember_contact
from gandan.notify.repository import MinuteRateLimit, MongoMessages
from gandan.shared.clock import utcnow
from gandan.shared.outbox import Outbox
from gandan.testing.factories import a_request_code, contact_registered, envelope, visit_scheduled

from .providers import ESMS_KEYS, SPEEDSMS_TOKEN, Providers, running


class RelayNotRunning:
    async def publish(self, envelope: dict[str, Any]) -> None:
        raise AssertionError("no relay runs in this test")


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> Any:
        return self.now


@pytest.fixture
def providers() -> Providers:
    return Providers()


@pytest.fixture
async def esms_client(providers: Providers) -> AsyncIterator[httpx.AsyncClient]:
    async with running(providers) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


def replica(notify_db, client: httpx.AsyncClient, clock: Clock) -> tuple[MongoMessages, Sender]:
    """One notify replica's storage and sender on the shared database."""
    repository = MongoMessages(notify_db, Outbox(RelayNotRunning(), notify_db))
    channel = EsmsChannel(client, api_key=ESMS_KEYS[0], secret_key=ESMS_KEYS[1], brandname="PHUONG-TK")
    return repository, Sender(repository, Channels([channel]), Policy(quiet_hours=None), clock=clock, batch=7)


async def visits(repository: MongoMessages, sender: Sender, count: int) -> list[Any]:
    """`count` visits whose messages are stored; the events, to deliver again."""
    events = []
    for _ in range(count):
        code = a_request_code()
        await remember_contact(envelope(contact_registered(request_code=code)), repository=repository)
        events.append(envelope(visit_scheduled(request_code=code)))
    for event in events:
        await prepare_visit_messages(event, repository=repository, sender=sender, policy=sender.policy)
    return events


def accepted_once_each(providers: Providers, messages: int) -> None:
    request_ids = [request_id for _, _, request_id in providers.accepted]
    assert len(request_ids) == messages
    assert len(set(request_ids)) == messages


async def test_events_delivered_again_to_two_replicas_send_each_message_once(notify_db, esms_client, providers):
    clock = Clock()
    (first, a), (second, b) = replica(notify_db, esms_client, clock), replica(notify_db, esms_client, clock)
    await first.ensure_indexes()
    events = await visits(first, a, 5)

    # Every event again, to the other replica, while the first sends.
    for event in events:
        await prepare_visit_messages(event, repository=second, sender=b, policy=b.policy)
    await asyncio.gather(a.step(), b.step())
    clock.now += timedelta(hours=1)
    await asyncio.gather(a.step(), b.step())

    accepted_once_each(providers, 15)
    assert len(providers.requests) == 15  # not even tried twice
    assert await notify_db["messages"].count_documents({"status": MessageStatus.SENT}) == 15


async def test_two_senders_searching_at_once_send_every_message_once(notify_db, esms_client, providers):
    clock = Clock()
    (first, a), (_, b) = replica(notify_db, esms_client, clock), replica(notify_db, esms_client, clock)
    await first.ensure_indexes()
    # Stored by a replica that died before sending: both senders find them in their search.
    await visits(first, Sender(first, a.channels, a.policy, clock=clock), 10)
    clock.now += timedelta(minutes=5)

    sent = await asyncio.gather(a.step(), b.step())

    assert sum(sent) == 30
    accepted_once_each(providers, 30)
    assert len(providers.requests) == 30
    assert await notify_db["messages"].count_documents({"status": MessageStatus.SENT}) == 30


async def test_a_sender_killed_mid_send_is_replaced_when_its_lease_runs_out_and_esms_dedupes(
    notify_db, esms_client, providers
):
    clock = Clock()
    (repository, dying), (_, survivor) = replica(notify_db, esms_client, clock), replica(notify_db, esms_client, clock)
    await repository.ensure_indexes()
    await visits(repository, dying, 2)

    # The dying sender reaches the provider with two messages, then is killed before storing anything.
    task = asyncio.create_task(dying.step())
    while len(providers.requests) < 2:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await notify_db["messages"].count_documents({"status": MessageStatus.SENDING}) == 6

    assert await survivor.step() == 0  # the lease holds
    clock.now += timedelta(minutes=5)
    assert await survivor.step() == 6

    accepted_once_each(providers, 6)  # the two sent before the kill were refused as repeats (124)
    assert await notify_db["messages"].count_documents({"status": MessageStatus.SENT}) == 6


async def test_speedsms_rate_is_shared_by_the_replicas(notify_db, providers):
    clock = Clock()
    clock.now = clock.now.replace(second=0)
    message = Outgoing("m", "0912345678", "visit_appointment_citizen.v2", "Hen 08:00", unicode=False)
    async with running(providers) as url, httpx.AsyncClient(base_url=url, auth=(SPEEDSMS_TOKEN, "x")) as client:
        channels = [
            SpeedSmsChannel(
                client,
                sender="PHUONG-TK",
                limit=MinuteRateLimit(MongoMessages(notify_db, Outbox(RelayNotRunning(), notify_db)), "speedsms", 60),
                clock=clock,
            )
            for _ in range(2)
        ]
        results = await asyncio.gather(*(channels[i % 2].send(message) for i in range(70)), return_exceptions=True)
        refused = [r for r in results if isinstance(r, Exception)]

        assert len(refused) == 10
        assert providers.speedsms_requests == 60  # SpeedSMS itself never said 429
        # The next minute, at SpeedSMS and here.
        providers.speedsms_requests = 0
        clock.now += timedelta(minutes=1)
        assert await channels[0].send(message)
