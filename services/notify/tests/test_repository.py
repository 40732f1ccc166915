"""notify's messages on the real database: what the fakes promise, MongoDB keeps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gandan.notify.domain import BookedVisit, Contact, Message, MessageStatus, Policy, Preferences, visit_messages
from gandan.notify.repository import MinuteRateLimit, MongoMessages
from gandan.shared.clock import utcnow
from gandan.shared.events import DeliveryChannel, StaffContact, parse_event
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
    return [
        Message.prepared(visit, d, DeliveryChannel.SANDBOX, now, Policy(quiet_hours=None))
        for d in visit_messages(visit.data, contact, None)
    ]


async def test_messages_come_back_as_they_were_stored_and_are_stored_once(repository, messages):
    assert await repository.add(messages) == messages
    assert await repository.add(messages) == []

    now = utcnow()
    assert await repository.claim(now - timedelta(minutes=1), "early", now, 10) == []
    claimed = await repository.claim(now, "me", now + timedelta(minutes=5), 10)

    for message in messages:
        message.claim("me", now + timedelta(minutes=5))
    assert sorted(claimed, key=lambda m: m.id) == sorted(messages, key=lambda m: m.id)
    # Claimed: no one else gets them until the lease runs out; then another does.
    assert await repository.claim(now + timedelta(minutes=4), "other", now + timedelta(minutes=9), 10) == []
    assert len(await repository.claim(now + timedelta(minutes=5), "other", now + timedelta(minutes=9), 10)) == 3


async def test_two_senders_claiming_at_once_each_get_different_messages(repository, messages):
    await repository.add(messages)
    now = utcnow()

    first, second = await asyncio.gather(
        *(repository.claim(now, owner, now + timedelta(minutes=5), 10) for owner in ("a", "b"))
    )

    assert sorted(m.id for m in first + second) == sorted(m.id for m in messages)


async def test_an_outcome_is_stored_with_its_event_once_by_the_sender_holding_the_claim(
    repository, notify_db, messages
):
    await repository.add(messages)
    now = utcnow()
    [message, *_] = await repository.claim(now, "first", now + timedelta(minutes=5), 1)
    # The first sender's lease ran out and a second one claimed the message.
    [again] = await repository.claim(now + timedelta(minutes=6), "second", now + timedelta(minutes=11), 1)
    assert again.id == message.id

    # The first one comes back late, while the second still sends: its outcome is not stored.
    message.record_failure(
        "too late", retry=False, permanent=True, technical=False, at=utcnow(), retry_after=None, policy=Policy()
    )
    await repository.save([message])
    again.mark_sent("sms-2", utcnow())
    [announced] = again.events
    await repository.save([again])

    document = await notify_db["messages"].find_one({"_id": message.id})
    assert document["status"] == MessageStatus.SENT
    assert document["provider_message_id"] == "sms-2"
    assert [parse_event(e["event"]).id for e in document["outbox"]] == [announced.id]


async def test_the_rate_counter_is_shared_and_starts_again_each_minute(repository, notify_db):
    other_replica = MongoMessages(notify_db, Outbox(RelayNotRunning(), notify_db))
    limit, other = MinuteRateLimit(repository, "speedsms", 2), MinuteRateLimit(other_replica, "speedsms", 2)
    minute = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)

    assert await limit.acquire(minute) is None
    assert await other.acquire(minute + timedelta(seconds=10)) is None
    assert await limit.acquire(minute + timedelta(seconds=15)) == 45
    assert await limit.acquire(minute + timedelta(seconds=60)) is None


async def test_a_citizens_choice_is_kept_with_the_contact_of_the_wards_request(repository):
    c = contact_registered()
    contact = Contact(c.request_code, c.name, c.phone, c.address, c.residential_group)
    await repository.remember_contact("11002", contact)
    assert (await repository.contact(c.request_code)) == contact  # no choice made: the defaults

    chosen = Preferences(DeliveryChannel.SMS, non_essential=False)
    assert await repository.set_preferences("11002", c.request_code, chosen)
    assert not await repository.set_preferences("00004", c.request_code, Preferences())
    assert not await repository.set_preferences("11002", "GD-NOSUCH0", Preferences())

    assert (await repository.contact(c.request_code)) == Contact(
        c.request_code, c.name, c.phone, c.address, c.residential_group, chosen
    )


async def test_the_booked_visit_is_what_the_officer_of_the_requests_latest_visit_was_told(repository, messages):
    assert await repository.booked_visit("GD-AB12CD3") is None

    await repository.add(messages)
    # A later visit of the same request (after a revisit), with another officer and procedure.
    c = contact_registered()
    contact = Contact(c.request_code, c.name, c.phone, c.address, c.residential_group)
    later = envelope(
        visit_scheduled(
            procedure="Đăng ký khai sinh",
            officer=StaffContact(staff_id="tk-05", name="Phạm Thị Thùy", phone="0976964382"),
        )
    )
    await repository.add(
        [
            Message.prepared(later, d, DeliveryChannel.SANDBOX, utcnow(), Policy(quiet_hours=None))
            for d in visit_messages(later.data, contact, None)
        ]
    )

    assert await repository.booked_visit("GD-AB12CD3") == BookedVisit("0976964382", "Đăng ký khai sinh")
    assert await repository.booked_visit("GD-OTHER00") is None
