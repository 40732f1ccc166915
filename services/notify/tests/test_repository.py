"""notify's messages on the real database: what the fakes promise, MongoDB keeps."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from pymongo import AsyncMongoClient, monitoring

from gandan.notify.domain import (
    EVENTS,
    BookedVisit,
    Contact,
    Message,
    MessageStatus,
    Policy,
    Preferences,
    rescheduled_messages,
    route_messages,
    staff_replied,
    visit_messages,
)
from gandan.notify.replies import parse_reply
from gandan.notify.repository import MinuteRateLimit, MongoMessages
from gandan.shared.clock import utcnow
from gandan.shared.events import DeliveryChannel, StaffContact, parse_event
from gandan.shared.outbox import Outbox
from gandan.testing.factories import CITIZEN_PHONE, LEADER, OFFICER, contact_registered, envelope, visit_scheduled

from .test_planned_day_letters import contact, rescheduled, route


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


# --- dispatch's planned day and the staff's replies ---------------------------------------------


async def test_a_teams_day_goes_to_its_latest_revision_and_a_redelivery_of_it_goes_on(repository):
    day, ward = datetime(2026, 11, 30).date(), "11002"
    first, second, late = uuid4(), uuid4(), uuid4()

    assert await repository.claim_route(ward, day, "team-1", 1, first)
    assert await repository.claim_route(ward, day, "team-1", 2, second)
    assert await repository.claim_route(ward, day, "team-1", 2, second)  # the same event again
    assert not await repository.claim_route(ward, day, "team-1", 1, late)  # replaced
    assert not await repository.claim_route(ward, day, "team-1", 2, late)  # the same revision, another event
    assert await repository.claim_route(ward, day, "team-2", 1, late)  # another team's day


async def test_the_windows_told_are_the_latest_of_other_events_for_that_day(repository):
    policy = Policy(quiet_hours=None)

    async def told_by(event, at):
        contacts = {s.request_code: contact(s.request_code) for s in event.data.stops}
        drafts = route_messages(event.data, contacts, {}, None)
        await repository.add([Message.prepared(event, d, DeliveryChannel.SANDBOX, at, policy) for d in drafts])

    first = envelope(route(2))
    moved = first.data.stops[0].model_copy(
        update={"arrives_until": first.data.stops[0].arrives_until + timedelta(minutes=5)}
    )
    second = envelope(route(2, revision=2, stops=(moved, first.data.stops[1])))
    await told_by(first, utcnow())
    await told_by(second, utcnow() + timedelta(seconds=1))
    codes = [s.request_code for s in first.data.stops]

    assert await repository.windows_told(first.data.day, codes, uuid4()) == {
        codes[0]: "8:10-8:55",
        codes[1]: "9:00-9:40",
    }
    assert await repository.windows_told(first.data.day, codes, second.id) == {
        codes[0]: "8:10-8:50",
        codes[1]: "9:00-9:40",
    }
    assert await repository.windows_told(first.data.day.replace(day=29), codes, uuid4()) == {}
    assert await repository.contacts_of([codes[0], "GD-NOSUCH1"]) == {}


async def test_a_reply_finds_the_latest_assignment_to_its_phone_and_is_stored_once_with_its_event(
    repository, messages, notify_db
):
    await repository.add(messages)
    officer = await repository.latest_answerable(OFFICER.phone)
    leader = await repository.latest_answerable(LEADER.phone)

    assert officer is not None and officer.template_id == "visit_assignment_officer"
    assert officer.refs == {"visit_id": "visit-1", "staff_id": "tk-03", "day": "2026-11-30"}
    assert leader is not None and leader.template_id == "visit_assignment_leader"
    assert await repository.latest_answerable(CITIZEN_PHONE) is None  # a citizen's appointment is not answered
    # The visit changed, later: the officer's answer is to the new assignment.
    changed = envelope(rescheduled(request_code="GD-AB12CD3", visit_id="visit-2", officer=OFFICER))
    [_, new_assignment] = rescheduled_messages(changed.data, contact("GD-AB12C00"), None)
    later = officer.created_at + timedelta(minutes=1)
    await repository.add([Message.prepared(changed, new_assignment, DeliveryChannel.SANDBOX, later, Policy())])
    latest = await repository.latest_answerable(OFFICER.phone)
    assert latest is not None and latest.refs["visit_id"] == "visit-2"

    replied = staff_replied(officer, parse_reply("OK"), DeliveryChannel.ZALO)
    assert replied is not None
    event = EVENTS.new(replied, ward_code="11002", correlation_id=uuid4())
    assert await repository.record_reply("zalo:msg-1", {"answer": "accepted"}, event)
    assert not await repository.record_reply("zalo:msg-1", {"answer": "accepted"}, event)

    [stored] = await notify_db["replies"].find().to_list()
    [entry] = stored["outbox"]
    assert parse_event(entry["event"]).data == replied


async def test_the_senders_search_reads_what_is_due_through_indexes_not_a_scan(messages, notify_db, mongodb_url):
    # What the claim reads, seen by command monitoring on a client of its own; each read explained.
    asked = _Reads()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True, event_listeners=[asked])
    try:
        database = client[notify_db.name]
        repository = MongoMessages(database, Outbox(RelayNotRunning(), database))
        await repository.ensure_indexes()
        await repository.add(messages)
        asked.filters.clear()
        now = utcnow()
        assert len(await repository.claim(now, "me", now + timedelta(minutes=5), 10)) == 3

        assert asked.filters, "the claim read nothing"
        for query in asked.filters:
            explained = await database.command("explain", {"find": "messages", "filter": query})
            assert "COLLSCAN" not in str(explained["queryPlanner"]["winningPlan"]), query
    finally:
        await client.close()


async def test_messages_carry_only_the_indexes_their_reads_need(notify_db):
    """Each index is rewritten at every write of a message (about 0.1 ms of SecantusDB's CPU each,
    nine writes a journey): a new one has to be named here, and a former one is dropped at start.
    (The outbox adds its own `unpublished` index where it is set up.)"""
    repository = MongoMessages(notify_db, Outbox(RelayNotRunning(), notify_db))
    await notify_db["messages"].create_index([("lease_owner", 1), ("status", 1)])  # as a former version made it
    await repository.ensure_indexes()

    assert sorted(await notify_db["messages"].index_information()) == [
        "_id_",
        "_id_1_status_1_lease_owner_1",
        "channel_1_provider_message_id_1",
        "phone_1_created_at_-1",
        "request_code_1",
        "status_1_due_at_1",
        "ward_code_1_created_at_-1",
    ]


async def test_messages_a_former_version_stored_waiting_are_still_found_when_they_come_due(notify_db, messages):
    """Before `due_at`, each way of coming due had its own index: a message stored then (or by a
    replica of that version during an update) is still claimed when its time comes, and the
    former indexes go."""
    repository = MongoMessages(notify_db, Outbox(RelayNotRunning(), notify_db))
    for former in ("next_attempt_at", "lease_until", "fallback_at"):
        await notify_db["messages"].create_index([("status", 1), (former, 1)])
    now = utcnow()
    waiting, claim_ran_out, no_receipt = messages
    delivered = replace(no_receipt, id="sent without a receipt to await")
    claim_ran_out.claim("crashed sender", now - timedelta(minutes=1))
    no_receipt.claim("sender", now + timedelta(minutes=5))
    no_receipt.mark_sent("zns-1", now - timedelta(hours=1), receipt_wait=timedelta(minutes=30))
    delivered.status, delivered.sent_at, delivered.fallback_at = MessageStatus.SENT, now, None
    await repository.add([waiting, claim_ran_out, no_receipt, delivered])
    await notify_db["messages"].update_many({}, {"$unset": {"due_at": ""}})

    await repository.ensure_indexes()

    claimed = await repository.claim(now, "me", now + timedelta(minutes=5), 10)
    assert sorted(m.id for m in claimed) == sorted(m.id for m in (waiting, claim_ran_out, no_receipt))
    indexes = await notify_db["messages"].index_information()
    assert not {"status_1_next_attempt_at_1", "status_1_lease_until_1", "status_1_fallback_at_1"} & set(indexes)


class _Reads(monitoring.CommandListener):
    def __init__(self) -> None:
        self.filters: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find" and event.command["find"] == "messages":
            self.filters.append(dict(event.command["filter"]))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass
