"""notify's handlers on its storage in memory: messages stored once, sent, and their outcome recorded."""

from __future__ import annotations

import itertools
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gandan.notify.channels import DeliveryFailed, Outgoing, SandboxChannel
from gandan.notify.domain import MAX_SEND_ATTEMPTS
from gandan.notify.handlers import (
    ContactNotKnownYet,
    prepare_visit_messages,
    remember_contact,
    send_due_messages,
)
from gandan.shared.events import DeliveryChannel, Envelope, parse_event, to_wire
from gandan.testing.factories import WARD, one_request

from .fakes import FakeMessages


class Wakeable:
    """Stands in for the message sender: counts the wake-ups a handler gives it."""

    def __init__(self) -> None:
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1


class FailingChannel:
    """An SMS provider that refuses every message, for good or for now."""

    name = DeliveryChannel.SMS

    def __init__(self, *, permanent: bool, reason: str = "provider said no") -> None:
        self.permanent, self.reason = permanent, reason
        self.attempts: list[Outgoing] = []

    async def send(self, message: Outgoing) -> str:
        self.attempts.append(message)
        raise DeliveryFailed(self.reason, permanent=self.permanent)


class FlakyChannel:
    """Fails temporarily the first time it sees a message, accepts it afterwards."""

    name = DeliveryChannel.SMS

    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def send(self, message: Outgoing) -> str:
        if message.message_id not in self.seen:
            self.seen.add(message.message_id)
            raise DeliveryFailed("timeout", permanent=False)
        return f"sms-{len(self.seen)}-{message.message_id}"


def received(envelope: Envelope[Any]) -> Envelope[Any]:
    """The envelope as a consumer gets it: off the wire, with typed data."""
    return parse_event(to_wire(envelope))


@pytest.fixture
def repository() -> FakeMessages:
    return FakeMessages()


@pytest.fixture
def events():
    _, contact, visit = one_request()
    return received(contact), received(visit)


async def prepared(repository: FakeMessages, events, channel) -> None:
    contact, visit = events
    await remember_contact(contact, repository=repository)
    await prepare_visit_messages(visit, repository=repository, channel=channel, sender=Wakeable())


def time_passes(repository: FakeMessages) -> None:
    """The pending messages are due again."""
    for message in repository.messages.values():
        message.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)


async def test_a_visit_for_an_unknown_contact_is_refused_and_stores_nothing(repository, events):
    _, visit = events
    sender = Wakeable()

    with pytest.raises(ContactNotKnownYet):
        await prepare_visit_messages(visit, repository=repository, channel=SandboxChannel(), sender=sender)

    assert repository.messages == {}
    assert sender.woken == 0


async def test_a_visit_with_a_known_contact_stores_three_pending_messages_and_wakes_the_sender(repository, events):
    contact, visit = events
    sender = Wakeable()
    await remember_contact(contact, repository=repository)

    await prepare_visit_messages(visit, repository=repository, channel=SandboxChannel(), sender=sender)

    messages = repository.by_role()
    assert {role: m.phone for role, m in messages.items()} == {
        "citizen": "0912345678",
        "officer": "0983111222",
        "group_leader": "0978333444",
    }
    for message in messages.values():
        assert message.status == "pending"
        assert message.attempts == 0
        assert message.ward_code == WARD
        assert message.request_code == "GD-AB12CD3"
        assert message.channel == "sandbox"
        assert repository.outbox[message.id] == []
    assert "phường Thạch Khôi" in messages["citizen"].text
    assert sender.woken == 1


async def test_the_same_visit_event_twice_stores_nothing_new(repository, events):
    contact, visit = events
    await remember_contact(contact, repository=repository)
    await prepare_visit_messages(visit, repository=repository, channel=SandboxChannel(), sender=Wakeable())
    first = deepcopy(repository.messages)

    # A redelivery: the contact event and the visit event come again.
    await remember_contact(contact, repository=repository)
    await prepare_visit_messages(visit, repository=repository, channel=SandboxChannel(), sender=Wakeable())

    assert repository.messages == first


async def test_sending_marks_each_message_sent_with_one_notification_sent_event(repository, events):
    _, visit = events
    await prepared(repository, events, SandboxChannel())
    before = datetime.now(UTC)

    handled = await send_due_messages(repository=repository, channel=SandboxChannel())

    assert handled == 3
    for role, message in repository.by_role().items():
        assert message.status == "sent"
        assert message.sent_at is not None and message.sent_at >= before - timedelta(seconds=1)
        assert message.provider_message_id == f"sandbox-{message.id}"
        [event] = repository.outbox[message.id]
        assert event.type == "notification.sent"
        assert event.producer == "notify"
        assert event.ward_code == WARD
        assert event.causation_id == visit.id
        assert event.correlation_id == visit.correlation_id
        assert event.data.message_id == message.id
        assert event.data.request_code == "GD-AB12CD3"
        assert event.data.recipient_role == role
        assert event.data.channel == DeliveryChannel.SANDBOX
        assert event.data.template == message.template
        assert event.data.provider_message_id == message.provider_message_id


async def test_a_sent_message_is_not_sent_again(repository, events):
    await prepared(repository, events, SandboxChannel())
    await send_due_messages(repository=repository, channel=SandboxChannel())

    assert await send_due_messages(repository=repository, channel=SandboxChannel()) == 0

    assert all(len(events) == 1 for events in repository.outbox.values())


async def test_a_permanent_failure_marks_the_message_failed_with_a_notification_failed_event(repository, events):
    _, visit = events
    channel = FailingChannel(permanent=True, reason="số điện thoại không tồn tại")
    await prepared(repository, events, channel)

    assert await send_due_messages(repository=repository, channel=channel) == 3

    for role, message in repository.by_role().items():
        assert message.status == "failed"
        assert message.failure == "số điện thoại không tồn tại"
        assert message.sent_at is None
        [event] = repository.outbox[message.id]
        assert event.type == "notification.failed"
        assert event.causation_id == visit.id
        assert event.correlation_id == visit.correlation_id
        assert event.data.message_id == message.id
        assert event.data.recipient_role == role
        assert event.data.channel == DeliveryChannel.SMS
        assert event.data.reason == "số điện thoại không tồn tại"
        assert event.data.permanent is True
    # Given up for good: never tried again.
    time_passes(repository)
    assert await send_due_messages(repository=repository, channel=channel) == 0
    assert len(channel.attempts) == 3


async def test_a_temporary_failure_keeps_the_message_pending_for_a_later_attempt(repository, events):
    channel = FailingChannel(permanent=False, reason="provider timeout")
    await prepared(repository, events, channel)
    before = datetime.now(UTC)

    await send_due_messages(repository=repository, channel=channel)

    for message in repository.messages.values():
        assert message.status == "pending"
        assert message.attempts == 1
        assert message.next_attempt_at > before + timedelta(seconds=30)
        assert message.last_error == "provider timeout"
        assert repository.outbox[message.id] == []  # nothing to tell anyone yet
    # Not due yet: the next round leaves them alone.
    assert await send_due_messages(repository=repository, channel=channel) == 0
    assert len(channel.attempts) == 3


async def test_temporary_failures_back_off_then_give_up_after_the_last_attempt(repository, events):
    channel = FailingChannel(permanent=False, reason="provider timeout")
    await prepared(repository, events, channel)
    pauses = []

    for _ in range(MAX_SEND_ATTEMPTS - 1):
        before = datetime.now(UTC)
        await send_due_messages(repository=repository, channel=channel)
        pauses.append((repository.by_role()["citizen"].next_attempt_at - before).total_seconds())
        time_passes(repository)

    assert all(later > earlier for earlier, later in itertools.pairwise(pauses))
    assert {m.status for m in repository.messages.values()} == {"pending"}

    await send_due_messages(repository=repository, channel=channel)

    assert len(channel.attempts) == 3 * MAX_SEND_ATTEMPTS
    for message in repository.messages.values():
        assert message.status == "failed"
        [event] = repository.outbox[message.id]
        assert event.type == "notification.failed"
        assert event.data.permanent is False
        assert event.data.reason == "provider timeout"


async def test_a_message_that_failed_for_now_is_sent_on_a_later_attempt(repository, events):
    channel = FlakyChannel()
    await prepared(repository, events, channel)
    await send_due_messages(repository=repository, channel=channel)
    time_passes(repository)

    assert await send_due_messages(repository=repository, channel=channel) == 3

    for message in repository.messages.values():
        assert message.status == "sent"
        [event] = repository.outbox[message.id]
        assert event.type == "notification.sent"
        assert event.data.channel == "sms"
        assert event.data.provider_message_id == message.provider_message_id
