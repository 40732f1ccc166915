"""notify's messages on the real database: what the fakes promise, MongoDB keeps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gandan.notify.domain import Contact, Message, MessageStatus, visit_messages
from gandan.notify.repository import MongoMessages
from gandan.shared.clock import utcnow
from gandan.shared.events import DeliveryChannel, parse_event
from gandan.shared.outbox import Outbox
from gandan.testing.factories import contact_registered, envelope, visit_scheduled


class RelayNotRunning:
    async def publish(self, envelope: dict[str, Any]) -> None:
        raise AssertionError("no relay runs in this test")


@pytest.fixture
async def repository(notify_db) -> MongoMessages:
    repository = MongoMessages(notify_db, Outbox(RelayNotRunning(), notify_db))
    await repository.ensure_indexes()
    return repository


@pytest.fixture
def messages() -> list[Message]:
    c = contact_registered()
    visit = envelope(visit_scheduled())
    contact = Contact(c.request_code, c.name, c.phone, c.address, c.residential_group)
    now = utcnow()
    return [Message.prepared(visit, d, DeliveryChannel.SANDBOX, now) for d in visit_messages(visit.data, contact, None)]


async def test_messages_come_back_as_they_were_stored_and_are_stored_once(repository, messages):
    assert await repository.add(messages) == 3
    assert await repository.add(messages) == 0

    due = await repository.due(utcnow(), 10)

    assert sorted(due, key=lambda m: m.id) == sorted(messages, key=lambda m: m.id)
    assert await repository.due(utcnow() - timedelta(minutes=1), 10) == []


async def test_an_outcome_is_stored_with_its_event_once(repository, notify_db, messages):
    await repository.add(messages)
    [message, *_] = await repository.due(utcnow(), 10)
    message.mark_sent("sms-1", utcnow())
    [announced] = message.events
    await repository.save([message])

    # The same message as a second sender read it before the first one saved: it is no longer pending.
    [again] = [m for m in messages if m.id == message.id]
    again.record_failure("too late", permanent=True, at=utcnow())
    await repository.save([again])

    document = await notify_db["messages"].find_one({"_id": message.id})
    assert document["status"] == MessageStatus.SENT
    assert document["provider_message_id"] == "sms-1"
    assert [parse_event(e["event"]).id for e in document["outbox"]] == [announced.id]
    assert [m.status for m in await repository.listing(message.ward_code, message.request_code, 10)].count(
        MessageStatus.SENT
    ) == 1
