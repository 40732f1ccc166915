"""notify's handlers of dispatch's planned day, and of the staff's replies, on its storage in memory:
each letter stored and sent once, a later revision of a day told only where it changed, escalations
at any hour, replies matched to the latest assignment and announced once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gandan.notify.domain import Contact, MessageStatus
from gandan.notify.handlers import (
    ContactNotKnownYet,
    ReplyOutcome,
    prepare_breach_messages,
    prepare_digest_messages,
    prepare_rescheduled_messages,
    prepare_route_messages,
    prepare_unassignable_messages,
    prepare_visit_messages,
    record_staff_reply,
    remember_contact,
)
from gandan.shared.events import DeliveryChannel, RecipientRole, StaffAnswer
from gandan.testing.factories import LEADER, OFFICER, WARD, envelope, one_request

from .fakes import FakeMessages
from .test_handlers import Clock, Recording, a_sender, received
from .test_planned_day_letters import COMPANION, breached, code, contact, digest, rescheduled, route, unassignable


@pytest.fixture
def repository() -> FakeMessages:
    return FakeMessages()


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def known(repository: FakeMessages, *codes: str) -> None:
    for request_code in codes:
        repository.contacts[request_code] = contact(request_code)
        repository.wards[request_code] = WARD


def citizens_told(channel: Recording) -> list[tuple[str, str]]:
    return [(m.phone, m.sms_text) for m in channel.sent if m.template == "visit_window_citizen.v1"]


async def planned(event, repository, sender) -> None:
    await prepare_route_messages(event, repository=repository, sender=sender, policy=sender.policy)
    await sender.step()


async def test_a_planned_day_tells_each_citizen_and_the_team_once_even_when_delivered_twice(repository, clock):
    channel = Recording()
    sender = a_sender(repository, clock, channel)
    await known(repository, *(code(i) for i in range(3)))
    event = received(envelope(route(3)))

    await planned(event, repository, sender)
    await planned(event, repository, sender)
    await planned(event, repository, a_sender(repository, clock, channel))  # another replica

    assert [phone for phone, _ in citizens_told(channel)] == ["0912345600", "0912345601", "0912345602"]
    assert sorted(m.phone for m in channel.sent if m.template == "route_of_day_officer.v1") == sorted(
        [OFFICER.phone, COMPANION.phone]
    )
    assert len(channel.sent) == 5
    # Every outcome is a valid notification.sent: a request's code, or the route's key for the team.
    sent = [received(e) for events in repository.outbox.values() for e in events]
    assert sorted({e.data.request_code for e in sent}) == [code(0), code(1), code(2), "route:2026-11-30:team-1"]


async def test_a_later_revision_tells_only_the_citizens_whose_window_moved_and_an_earlier_one_arriving_late_nothing(
    repository, clock
):
    channel = Recording()
    sender = a_sender(repository, clock, channel)
    await known(repository, *(code(i) for i in range(3)))
    first = route(3)
    await planned(received(envelope(first)), repository, sender)
    channel.sent.clear()
    # Revision 2: the second stop comes 20 minutes later; the first and third keep their windows.
    moved = first.stops[1].model_copy(
        update={
            "arrives_from": first.stops[1].arrives_from + timedelta(minutes=20),
            "arrives_until": first.stops[1].arrives_until + timedelta(minutes=20),
        }
    )
    second = route(3, revision=2, stops=(first.stops[0], moved, first.stops[2]))

    clock.advance(minutes=1)
    await planned(received(envelope(second)), repository, sender)
    assert [(phone, "9:20-10:00" in text) for phone, text in citizens_told(channel)] == [("0912345601", True)]
    assert len([m for m in channel.sent if m.template == "route_of_day_officer.v1"]) == 2

    channel.sent.clear()
    await planned(received(envelope(route(3, revision=1))), repository, sender)  # late, and replaced
    assert channel.sent == []


async def test_a_day_whose_citizens_notify_does_not_know_yet_is_retried(repository, clock):
    sender = a_sender(repository, clock, Recording())
    with pytest.raises(ContactNotKnownYet):
        await planned(received(envelope(route(2))), repository, sender)
    assert repository.messages == {}


# 22:30 in Vietnam.
LATE_EVENING = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)


async def test_an_unassignable_visit_tells_the_citizen_in_the_morning_and_the_leadership_at_once(repository):
    channel = Recording()
    sender = a_sender(repository, Clock(LATE_EVENING), channel)
    await known(repository, code(0))

    await prepare_unassignable_messages(
        received(envelope(unassignable())), repository=repository, sender=sender, policy=sender.policy
    )
    await sender.step()

    assert sorted(m.phone for m in channel.sent) == ["0904111000", "0904222000"]
    [citizen] = [m for m in repository.messages.values() if m.recipient_role is RecipientRole.CITIZEN]
    assert (citizen.status, citizen.next_attempt_at) == (
        MessageStatus.CREATED,
        datetime(2026, 11, 27, 0, 0, tzinfo=UTC),
    )
    outcomes = [received(e) for events in repository.outbox.values() for e in events]
    assert {(e.data.recipient_role, e.data.request_code) for e in outcomes} == {(RecipientRole.LEADERSHIP, code(0))}


async def test_escalations_and_the_digest_reach_each_of_the_leadership_once(repository, clock):
    channel = Recording()
    sender = a_sender(repository, clock, channel)
    breach, morning = received(envelope(breached())), received(envelope(digest()))

    for _ in range(2):
        await prepare_breach_messages(breach, repository=repository, sender=sender, policy=sender.policy)
        await prepare_digest_messages(morning, repository=repository, sender=sender, policy=sender.policy)
        await sender.step()

    assert sorted((m.template, m.phone) for m in channel.sent) == [
        ("digest_leadership.v1", "0904111000"),
        ("digest_leadership.v1", "0904222000"),
        ("service_level_breached_leadership.v1", "0904111000"),
        ("service_level_breached_leadership.v1", "0904222000"),
    ]
    subjects = {received(e).data.request_code for events in repository.outbox.values() for e in events}
    assert subjects == {code(0), "digest:2026-11-30"}


# --- replies ------------------------------------------------------------------------------------


@pytest.fixture
async def assigned(repository, clock):
    """The visit of one request booked: the citizen, the officer and the group leader written to."""
    _, contact_event, visit = one_request()
    channel = Recording()
    sender = a_sender(repository, clock, channel)
    await remember_contact(received(contact_event), repository=repository)
    await prepare_visit_messages(received(visit), repository=repository, sender=sender, policy=sender.policy)
    await sender.step()
    return sender, channel, visit


async def reply(repository, sender, phone, text, inbound_id="msg-1", channel=DeliveryChannel.ZALO):
    return await record_staff_reply(repository, sender, channel=channel, phone=phone, text=text, inbound_id=inbound_id)


async def test_an_officers_ok_becomes_staff_replied_once_per_inbound_message(repository, assigned):
    sender, _, visit = assigned

    assert await reply(repository, sender, OFFICER.phone, "OK") is ReplyOutcome.RECORDED
    assert await reply(repository, sender, OFFICER.phone, "OK") is ReplyOutcome.RECORDED  # the provider's retry

    [(stored, event)] = repository.replies.values()
    event = received(event)
    assert event.type == "staff.replied"
    assert (event.ward_code, event.correlation_id, event.causation_id) == (WARD, visit.correlation_id, visit.id)
    assert (event.data.request_code, event.data.visit_id, event.data.staff_id) == ("GD-AB12CD3", "visit-1", "tk-03")
    assert (event.data.recipient_role, event.data.answer, event.data.channel) == (
        RecipientRole.OFFICER,
        StaffAnswer.ACCEPTED,
        DeliveryChannel.ZALO,
    )
    assert stored["answer"] == "accepted"


async def test_a_group_leader_asking_for_another_time_gives_it_on_the_visits_day(repository, assigned):
    sender, _, _ = assigned

    assert (
        await reply(repository, sender, LEADER.phone, "ĐỔI 14:00", None, DeliveryChannel.SMS) is ReplyOutcome.RECORDED
    )
    # Without the provider's id, the same text to the same assignment is the same message.
    await reply(repository, sender, LEADER.phone, "ĐỔI 14:00", None, DeliveryChannel.SMS)

    [(_, event)] = repository.replies.values()
    assert (event.data.recipient_role, event.data.staff_id) == (RecipientRole.GROUP_LEADER, None)
    assert (event.data.answer, event.data.proposed_at) == (
        StaffAnswer.OTHER_TIME,
        datetime(2026, 11, 30, 7, 0, tzinfo=UTC),
    )


async def test_a_reply_not_understood_gets_one_short_help_message_and_announces_nothing(repository, assigned):
    sender, channel, _ = assigned
    channel.sent.clear()

    assert await reply(repository, sender, OFFICER.phone, "mai em bận") is ReplyOutcome.HELP_SENT
    assert await reply(repository, sender, OFFICER.phone, "mai em bận") is ReplyOutcome.HELP_SENT
    await sender.step()

    [help_sms] = channel.sent
    assert (help_sms.phone, help_sms.template) == (OFFICER.phone, "staff_reply_help.v1")
    assert help_sms.sms_text.startswith("Chưa hiểu trả lời cho GD-AB12CD3. Nhắn OK, KHÔNG hoặc ĐỔI 14:00")
    assert repository.replies == {}


async def test_a_reply_from_a_phone_no_assignment_went_to_is_ignored(repository, assigned):
    sender, channel, _ = assigned
    channel.sent.clear()

    assert await reply(repository, sender, "0909999999", "OK") is ReplyOutcome.IGNORED
    # Nor is the citizen's phone an assignment's.
    assert await reply(repository, sender, "0912345678", "KHONG") is ReplyOutcome.IGNORED
    await sender.step()

    assert (repository.replies, channel.sent) == ({}, [])


async def test_a_reply_to_an_assignment_sent_before_messages_kept_their_visit_is_ignored(repository, assigned):
    sender, _, _ = assigned
    for message in repository.messages.values():
        message.refs = {}

    assert await reply(repository, sender, OFFICER.phone, "OK") is ReplyOutcome.IGNORED
    assert repository.replies == {}


async def test_a_reply_answers_the_latest_assignment_a_changed_visit_included(repository, assigned, clock):
    sender, _, _ = assigned
    repository.contacts["GD-AB12CD3"] = Contact("GD-AB12CD3", "Nguyễn Thị Lan", "0912345678", "Thanh Xá", "Thanh Xá")
    clock.advance(hours=1)
    changed = rescheduled(request_code="GD-AB12CD3", visit_id="visit-9", officer=OFFICER)
    await prepare_rescheduled_messages(
        received(envelope(changed)), repository=repository, sender=sender, policy=sender.policy
    )

    await reply(repository, sender, OFFICER.phone, "k")

    [(_, event)] = repository.replies.values()
    assert (event.data.visit_id, event.data.answer) == ("visit-9", StaffAnswer.DECLINED)
