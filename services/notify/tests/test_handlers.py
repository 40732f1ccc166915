"""notify's handlers and sender on its storage in memory, with a clock the test moves: messages stored
once, claimed, sent through the route of channels, retried later, held back in quiet hours."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from gandan.notify.channels import Channels, DeliveryFailed, DevelopmentChannel, Failure, Outgoing
from gandan.notify.domain import MAX_SEND_ATTEMPTS, MessageStatus, Policy, Preferences
from gandan.notify.handlers import (
    ContactNotKnownYet,
    Sender,
    prepare_progress_letter,
    prepare_visit_messages,
    record_receipt,
    remember_contact,
)
from gandan.notify.templates import Encoding
from gandan.shared.events import (
    AppointmentAgreed,
    DeliveryChannel,
    Envelope,
    ProcedureKind,
    RecipientRole,
    RequestClosed,
    RequestOverdue,
    ResultDelivered,
    parse_event,
    to_wire,
)
from gandan.testing.factories import (
    CITIZEN_PHONE,
    REQUEST_CODE,
    WARD,
    a_request_code,
    contact_registered,
    envelope,
    one_request,
    visit_scheduled,
)

from .fakes import FakeMessages

# 10:00 in Vietnam: no quiet hours.
MORNING = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = MORNING) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Recording:
    """A channel that records what it is given and answers as told: an id, or a failure per phone."""

    def __init__(self, name: DeliveryChannel = DeliveryChannel.SMS, **failures: DeliveryFailed) -> None:
        self.name = name
        self.failures = failures  # phone → failure
        self.sent: list[Outgoing] = []

    async def send(self, message: Outgoing) -> str:
        self.sent.append(message)
        failure = self.failures.get(f"p{message.phone}") or self.failures.get("any")
        if failure is not None:
            raise failure
        return f"{self.name.value}-{len(self.sent)}"


def received(envelope: Envelope[Any]) -> Envelope[Any]:
    """The envelope as a consumer gets it: off the wire, with typed data."""
    return parse_event(to_wire(envelope))


@pytest.fixture
def repository() -> FakeMessages:
    return FakeMessages()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def events():
    _, contact, visit = one_request()
    return received(contact), received(visit)


def a_sender(repository, clock, *route, policy: Policy | None = None, **options) -> Sender:
    return Sender(
        repository, Channels(list(route) or [DevelopmentChannel()]), policy or Policy(), clock=clock, **options
    )


async def prepared(repository, events, sender: Sender) -> None:
    contact, visit = events
    await remember_contact(contact, repository=repository)
    await prepare_visit_messages(visit, repository=repository, sender=sender, policy=sender.policy)


async def test_messages_handed_over_in_a_burst_are_sent_and_stored_a_batch_at_a_time(repository, clock):
    sender = a_sender(repository, clock, batch=7)
    stored_together: list[int] = []
    save = repository.save

    async def counted_save(messages):
        stored_together.append(len(messages))
        await save(messages)

    repository.save = counted_save
    for _ in range(10):
        code = a_request_code()
        await remember_contact(received(envelope(contact_registered(request_code=code))), repository=repository)
        visit = received(envelope(visit_scheduled(request_code=code)))
        await prepare_visit_messages(visit, repository=repository, sender=sender, policy=sender.policy)

    assert await sender.step() == 30
    assert stored_together == [7, 7, 7, 7, 2]
    assert {m.status for m in repository.messages.values()} == {MessageStatus.SENT}


async def test_a_visit_for_an_unknown_contact_is_refused_and_stores_nothing(repository, events, clock):
    sender = a_sender(repository, clock)

    with pytest.raises(ContactNotKnownYet):
        await prepare_visit_messages(events[1], repository=repository, sender=sender, policy=sender.policy)

    assert repository.messages == {}
    assert await sender.step() == 0


async def test_a_visit_stores_three_messages_claimed_by_this_sender_and_sends_them_at_once(repository, events, clock):
    channel = Recording()
    sender = a_sender(repository, clock, channel)
    woken = []
    sender.on_hand(lambda: woken.append(1))

    await prepared(repository, events, sender)

    messages = repository.by_role()
    assert {role: m.phone for role, m in messages.items()} == {
        "citizen": "0912345678",
        "officer": "0983111222",
        "group_leader": "0978333444",
    }
    for message in messages.values():
        assert message.status is MessageStatus.SENDING
        assert message.lease_until == MORNING + timedelta(minutes=5)
        assert message.template_version == 3
        assert message.segments <= 2
        assert repository.outbox[message.id] == []
    assert messages["citizen"].params["citizen_name"] == "Nguyễn Thị Lan"
    assert woken == [1]

    assert await sender.step() == 3

    assert len(channel.sent) == 3
    _, visit = events
    for role, message in repository.by_role().items():
        assert message.status is MessageStatus.SENT
        assert message.sent_at == MORNING
        [event] = repository.outbox[message.id]
        assert event.type == "notification.sent"
        assert (event.ward_code, event.causation_id, event.correlation_id) == (WARD, visit.id, visit.correlation_id)
        assert event.data.recipient_role == role
        assert event.data.template == message.template
        assert event.data.provider_message_id == message.provider_message_id


async def test_the_same_visit_event_twice_sends_each_message_once(repository, events, clock):
    channel = Recording()
    sender = a_sender(repository, clock, channel)
    await prepared(repository, events, sender)
    await sender.step()

    # A redelivery, to this replica or another: nothing new is stored, so nothing is handed over.
    await prepared(repository, events, a_sender(repository, clock, channel))
    await prepared(repository, events, sender)
    await sender.step()
    clock.advance(hours=1)
    await sender.step()

    assert len(channel.sent) == 3
    assert all(len(events) == 1 for events in repository.outbox.values())


async def test_a_sender_that_died_mid_send_leaves_its_claim_to_run_out_then_another_sends(repository, events, clock):
    channel = Recording()
    await prepared(repository, events, a_sender(repository, clock, channel))  # claimed, handed, never sent
    other = a_sender(repository, clock, channel)

    assert await other.step() == 0  # the claim holds
    clock.advance(minutes=5)
    assert await other.step() == 3

    assert len(channel.sent) == 3
    assert {m.status for m in repository.messages.values()} == {MessageStatus.SENT}


async def test_a_permanent_failure_ends_the_message_with_notification_failed(repository, events, clock):
    channel = Recording(any=DeliveryFailed("số điện thoại không tồn tại", Failure.PERMANENT))
    sender = a_sender(repository, clock, channel)
    await prepared(repository, events, sender)

    await sender.step()

    for message in repository.messages.values():
        assert message.status is MessageStatus.PERMANENT_FAILURE
        [event] = repository.outbox[message.id]
        assert event.type == "notification.failed"
        assert event.data.reason == "số điện thoại không tồn tại"
        assert event.data.permanent is True
    clock.advance(days=1)
    assert await sender.step() == 0
    assert len(channel.sent) == 3


@pytest.mark.parametrize(
    ("failure", "final"),
    [(Failure.TECHNICAL, MessageStatus.TECHNICAL_FAILURE), (Failure.TEMPORARY, MessageStatus.TEMPORARY_FAILURE)],
)
async def test_failures_that_may_pass_back_off_from_a_stored_schedule_then_give_up(
    repository, events, clock, failure, final
):
    channel = Recording(any=DeliveryFailed("provider timeout", failure))
    sender = a_sender(repository, clock, channel)
    await prepared(repository, events, sender)
    await sender.step()
    pauses = []

    for attempt in range(1, MAX_SEND_ATTEMPTS):
        citizen = repository.by_role()["citizen"]
        assert (citizen.status, citizen.attempts, citizen.last_error) == (
            MessageStatus.CREATED,
            attempt,
            "provider timeout",
        )
        assert repository.outbox[citizen.id] == []  # nothing to tell anyone yet
        pause = citizen.next_attempt_at - clock.now
        pauses.append(pause)
        # Not due a second before: the sender does not try it, and never sleeps on it.
        clock.advance(seconds=pause.total_seconds() - 1)
        assert await sender.step() == 0
        clock.advance(seconds=1)
        assert await sender.step() == 3

    assert pauses[0] == timedelta(minutes=1)
    assert all(later > earlier for earlier, later in itertools.pairwise(pauses[:6]))
    assert len(channel.sent) == 3 * MAX_SEND_ATTEMPTS
    for message in repository.messages.values():
        assert message.status is final
        [event] = repository.outbox[message.id]
        assert event.type == "notification.failed"
        assert event.data.permanent is False


async def test_a_provider_asking_to_wait_is_not_tried_before_it_said(repository, events, clock):
    channel = Recording(any=DeliveryFailed("rate limited", Failure.TECHNICAL, retry_after=600))
    sender = a_sender(repository, clock, channel)
    await prepared(repository, events, sender)
    await sender.step()

    assert {m.next_attempt_at for m in repository.messages.values()} == {MORNING + timedelta(seconds=600)}


async def test_when_zalo_cannot_reach_the_person_sms_carries_the_message_in_the_same_attempt(repository, events, clock):
    zalo = Recording(DeliveryChannel.ZALO, p0912345678=DeliveryFailed("zns -118: no Zalo", Failure.UNREACHABLE))
    sms = Recording()
    sender = a_sender(repository, clock, zalo, sms)
    await prepared(repository, events, sender)

    await sender.step()

    messages = repository.by_role()
    assert messages["citizen"].channel is DeliveryChannel.SMS
    assert messages["citizen"].status is MessageStatus.SENT
    assert [m.phone for m in sms.sent] == ["0912345678"]
    assert repository.outbox[messages["citizen"].id][0].data.channel == DeliveryChannel.SMS
    assert {messages["officer"].channel, messages["group_leader"].channel} == {DeliveryChannel.ZALO}


async def test_without_a_receipt_from_zalo_in_time_sms_follows(repository, events, clock):
    zalo, sms = Recording(DeliveryChannel.ZALO), Recording()
    sender = a_sender(repository, clock, zalo, sms, receipt_wait=timedelta(minutes=10))
    await prepared(repository, events, sender)
    await sender.step()
    # The officer's message was received on Zalo: no SMS for it.
    officer = repository.by_role()["officer"]
    officer.mark_delivered(clock.now)
    await repository.store_receipt(officer)

    clock.advance(minutes=9)
    assert await sender.step() == 0
    clock.advance(minutes=1)
    assert await sender.step() == 2

    assert sorted(m.phone for m in sms.sent) == ["0912345678", "0978333444"]
    assert repository.by_role()["citizen"].channel is DeliveryChannel.SMS
    clock.advance(hours=1)
    assert await sender.step() == 0


# 22:30 in Vietnam.
LATE_EVENING = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)
NEXT_MORNING = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 07:00 in Vietnam


async def test_in_quiet_hours_the_citizen_is_written_to_at_seven_and_staff_at_once(repository, events):
    clock = Clock(LATE_EVENING)
    channel = Recording()
    sender = a_sender(repository, clock, channel)
    await prepared(repository, events, sender)

    await sender.step()

    citizen = repository.by_role()["citizen"]
    assert (citizen.status, citizen.next_attempt_at) == (MessageStatus.CREATED, NEXT_MORNING)
    assert sorted(m.phone for m in channel.sent) == ["0978333444", "0983111222"]
    clock.now = NEXT_MORNING - timedelta(seconds=1)
    assert await sender.step() == 0
    clock.now = NEXT_MORNING
    assert await sender.step() == 1
    assert repository.by_role()["citizen"].status is MessageStatus.SENT


async def test_a_template_the_ward_marks_urgent_goes_in_quiet_hours_too(repository, events):
    channel = Recording()
    policy = Policy(urgent={WARD: frozenset({"visit_appointment_citizen"})})
    sender = a_sender(repository, Clock(LATE_EVENING), channel, policy=policy)
    await prepared(repository, events, sender)

    await sender.step()

    assert len(channel.sent) == 3


async def test_a_retry_for_a_citizen_falling_in_quiet_hours_waits_for_the_morning(repository, events):
    clock = Clock(datetime(2026, 11, 26, 13, 59, 30, tzinfo=UTC))  # 20:59:30 in Vietnam
    channel = Recording(p0912345678=DeliveryFailed("timeout", Failure.TECHNICAL))
    sender = a_sender(repository, clock, channel)
    await prepared(repository, events, sender)

    await sender.step()

    assert repository.by_role()["citizen"].next_attempt_at == NEXT_MORNING


async def test_a_ward_choosing_unaccented_sms_sends_the_folded_form(repository, events, clock):
    channel = Recording()
    sender = a_sender(repository, clock, channel, policy=Policy(unaccented_wards=frozenset({WARD})))
    await prepared(repository, events, sender)
    await sender.step()

    citizen = repository.by_role()["citizen"]
    assert citizen.text.startswith("P.Thach Khoi hen den nha ong/ba Nguyen Thi Lan")
    assert citizen.encoding == "gsm7"
    assert not any(m.unicode for m in channel.sent)


async def test_a_receipt_saying_the_carrier_rejected_the_sms_fails_the_message_for_good(repository, events, clock):
    sender = a_sender(repository, clock, Recording())
    await prepared(repository, events, sender)
    await sender.step()
    citizen = repository.by_role()["citizen"]

    assert await record_receipt(
        repository,
        DeliveryChannel.SMS,
        citizen.provider_message_id or "",
        delivered=False,
        reason="rejected",
        at=clock.now,
    )
    assert not await record_receipt(repository, DeliveryChannel.SMS, "sms-999", delivered=True, reason="", at=clock.now)

    citizen = repository.by_role()["citizen"]
    assert (citizen.status, citizen.failure) == (MessageStatus.PERMANENT_FAILURE, "rejected")
    [_, failed] = repository.outbox[citizen.id]
    assert (failed.type, failed.data.permanent) == ("notification.failed", True)


async def test_a_citizen_preferring_sms_is_written_to_by_sms_first_and_staff_by_zalo(repository, events, clock):
    zalo, sms = Recording(DeliveryChannel.ZALO), Recording()
    sender = a_sender(repository, clock, zalo, sms)
    contact, _ = events
    await remember_contact(contact, repository=repository)
    assert await repository.set_preferences(WARD, "GD-AB12CD3", Preferences(DeliveryChannel.SMS))
    assert not await repository.set_preferences("00004", "GD-AB12CD3", Preferences(DeliveryChannel.SMS))

    await prepared(repository, events, sender)
    await sender.step()

    assert [m.phone for m in sms.sent] == ["0912345678"]
    assert sorted(m.phone for m in zalo.sent) == ["0978333444", "0983111222"]


async def test_a_preferred_channel_the_ward_does_not_use_leaves_the_ward_route(repository, events, clock):
    sms = Recording()
    sender = a_sender(repository, clock, sms)
    await remember_contact(events[0], repository=repository)
    await repository.set_preferences(WARD, "GD-AB12CD3", Preferences(DeliveryChannel.ZALO))

    await prepared(repository, events, sender)
    await sender.step()

    assert len(sms.sent) == 3


class LosesTheAnswer(FakeMessages):
    """Stores the messages, then the database goes away before answering, once; or the driver's
    retry of the insert meets its own first write and reports every message as there already."""

    def __init__(self, *, raises: bool) -> None:
        super().__init__()
        self.raises, self.lost = raises, False

    async def add(self, messages):
        stored = await super().add(messages)
        if self.lost:
            return stored
        self.lost = True
        if self.raises:
            raise ConnectionError("database went away")
        return []


@pytest.mark.parametrize("raises", [True, False])
async def test_messages_stored_by_a_try_whose_answer_was_lost_are_sent_without_waiting_for_the_lease(
    events, clock, raises
):
    repository, channel = LosesTheAnswer(raises=raises), Recording()
    sender = a_sender(repository, clock, channel)
    if raises:
        with pytest.raises(ConnectionError):
            await prepared(repository, events, sender)
    await prepared(repository, events, sender)  # the event (again, as the consumer retries it)
    await sender.step()

    assert len(channel.sent) == 3
    assert {m.status for m in repository.messages.values()} == {MessageStatus.SENT}


async def test_a_redelivery_while_the_first_messages_are_still_being_sent_sends_nothing_more(repository, events, clock):
    channel = Recording()
    sender = a_sender(repository, clock, channel)
    await prepared(repository, events, sender)
    await prepared(repository, events, sender)  # read back while still `sending`

    await sender.step()
    await sender.step()

    assert len(channel.sent) == 3


async def test_a_sender_that_could_not_store_outcomes_stores_them_first_at_its_next_step(repository, events, clock):
    channel = Recording()
    sender = a_sender(repository, clock, channel)
    await prepared(repository, events, sender)
    save = repository.save

    async def database_away(messages):
        raise ConnectionError("database went away")

    repository.save = database_away
    with pytest.raises(ConnectionError):
        await sender.step()
    repository.save = save

    await sender.step()

    assert len(channel.sent) == 3  # not sent again
    assert {m.status for m in repository.messages.values()} == {MessageStatus.SENT}


# --- the letters of a request's progress ------------------------------------------------


def progress(event: Any) -> Envelope[Any]:
    """A lifecycle event of the factories' request, as intake publishes it and notify receives it."""
    return received(envelope(event))


def appointment_agreed() -> Envelope[Any]:
    # 07:30–11:30 on Monday 30/11/2026 in Vietnam.
    start = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
    return progress(
        AppointmentAgreed(
            request_code=REQUEST_CODE,
            citizen_ref="cit-7f3a",
            status="appointment_agreed",
            starts_at=start,
            ends_at=start + timedelta(hours=4),
        )
    )


async def test_an_agreed_appointment_gives_the_phone_of_the_officer_the_visit_was_announced_to(
    repository, events, clock
):
    channel = Recording()
    sender = a_sender(repository, clock, channel)
    await prepared(repository, events, sender)
    await sender.step()

    event = appointment_agreed()
    await prepare_progress_letter(event, repository=repository, sender=sender, policy=sender.policy)
    await sender.step()

    [letter] = [m for m in repository.messages.values() if m.template_id == "appointment_agreed_citizen"]
    assert (letter.recipient_role, letter.phone, letter.template_version) == (RecipientRole.CITIZEN, CITIZEN_PHONE, 1)
    # The officer of the visit (0983111222), and what the visit's procedure (Đăng ký khai tử) asks for.
    assert letter.params["hotline"] == "0983111222"
    assert letter.params["documents"] == "CCCD, giấy báo tử"
    assert letter.text == (
        "P.Thạch Khôi hẹn sáng 30/11 tại nhà. Xin chuẩn bị: CCCD, giấy báo tử. "
        "Đổi lịch liên hệ 0983111222. Mã GD-AB12CD3"
    )
    assert (letter.encoding, letter.segments) == (Encoding.UCS2, 2)
    assert letter.status is MessageStatus.SENT
    [sent] = repository.outbox[letter.id]
    assert (sent.type, sent.causation_id, sent.data.template) == (
        "notification.sent",
        event.id,
        "appointment_agreed_citizen.v1",
    )
    assert channel.sent[-1].sms_text == letter.text


async def test_a_lifecycle_event_delivered_twice_or_to_two_replicas_sends_one_letter(repository, events, clock):
    channel = Recording()
    sender, other = a_sender(repository, clock, channel), a_sender(repository, clock, channel)
    await remember_contact(events[0], repository=repository)
    event = progress(
        RequestOverdue(
            request_code=REQUEST_CODE,
            citizen_ref="cit-7f3a",
            status="overdue",
            procedure_kind=ProcedureKind.LAND,
            new_due_date=date(2026, 12, 20),
        )
    )

    for replica in (sender, other, sender):
        await prepare_progress_letter(event, repository=repository, sender=replica, policy=replica.policy)
        await replica.step()
    clock.advance(hours=1)
    await other.step()

    [letter] = repository.messages.values()
    assert letter.template_id == "request_overdue_apology"
    assert letter.params["new_due_date"] == "20/12/2026"
    assert len(channel.sent) == 1
    assert [e.type for e in repository.outbox[letter.id]] == ["notification.sent"]


async def test_a_letter_for_a_request_whose_contact_is_not_known_yet_is_tried_again_later(repository, events, clock):
    sender = a_sender(repository, clock)

    with pytest.raises(ContactNotKnownYet):
        await prepare_progress_letter(appointment_agreed(), repository=repository, sender=sender, policy=sender.policy)

    assert repository.messages == {}


async def test_a_change_that_calls_for_no_letter_stores_nothing(repository, events, clock):
    sender = a_sender(repository, clock)
    await remember_contact(events[0], repository=repository)
    delivered = progress(
        ResultDelivered(
            request_code=REQUEST_CODE, citizen_ref="cit-7f3a", status="delivered", procedure_kind=ProcedureKind.LAND
        )
    )
    closed = progress(
        RequestClosed(
            request_code=REQUEST_CODE, citizen_ref="cit-7f3a", status="closed", procedure_kind=ProcedureKind.LAND
        )
    )

    for event in (delivered, closed):  # no greeting for land; no survey page configured
        await prepare_progress_letter(event, repository=repository, sender=sender, policy=sender.policy)

    assert repository.messages == {}
    assert await sender.step() == 0
