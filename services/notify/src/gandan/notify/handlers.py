"""Thin handlers: store what must be said; the sender says it through the channels, recording the outcome."""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import uuid4

from gandan.notify.channels import Channels, DeliveryFailed, Failure, Outgoing
from gandan.notify.domain import (
    EVENTS,
    Contact,
    Draft,
    Message,
    Messages,
    MessageStatus,
    Policy,
    breach_messages,
    digest_messages,
    help_message,
    progress_letters,
    rescheduled_messages,
    route_messages,
    staff_replied,
    unassignable_messages,
    visit_messages,
)
from gandan.notify.replies import parse_reply
from gandan.notify.templates import TEMPLATES, Encoding
from gandan.shared.clock import utcnow
from gandan.shared.events import (
    AppointmentAgreed,
    ContactRegistered,
    DeliveryChannel,
    DigestPrepared,
    Envelope,
    EventData,
    RequestProgress,
    RoutePlanned,
    ServiceLevelBreached,
    VisitRescheduled,
    VisitScheduled,
    VisitUnassignable,
)
from gandan.shared.idempotency import effect_id
from gandan.shared.logs import log_fields
from gandan.shared.messaging import NotYet
from gandan.shared.wards import ward_name

logger = logging.getLogger(__name__)


class ContactNotKnownYet(NotYet):
    """visit.scheduled came before contact.registered; the consumer retries it."""


async def remember_contact(event: Envelope[ContactRegistered], *, repository: Messages) -> None:
    c = event.data
    await repository.remember_contact(
        event.ward_code, Contact(c.request_code, c.name, c.phone, c.address, c.residential_group)
    )


async def _known_contact(repository: Messages, request_code: str) -> Contact:
    """The citizen of the request; an event that came before their `contact.registered` is retried."""
    contact = await repository.contact(request_code)
    if contact is None:
        raise ContactNotKnownYet(request_code)
    return contact


async def prepare_visit_messages(
    event: Envelope[VisitScheduled], *, repository: Messages, sender: Sender, policy: Policy
) -> None:
    contact = await _known_contact(repository, event.data.request_code)
    drafts = visit_messages(event.data, contact, ward_name(event.ward_code))
    await _store_and_hand(event, drafts, repository=repository, sender=sender, policy=policy)


async def prepare_progress_letter(
    event: Envelope[RequestProgress], *, repository: Messages, sender: Sender, policy: Policy
) -> None:
    """The citizen's letter for a change of their request (appointment agreed, result ready or delivered,
    overdue, closed), sent once however often the event comes, like a visit's messages."""
    contact = await _known_contact(repository, event.data.request_code)
    # Only the appointment says whom to call and what to bring: the officer's message knows both.
    visit = (
        await repository.booked_visit(event.data.request_code) if isinstance(event.data, AppointmentAgreed) else None
    )
    ward = (event.ward_code, ward_name(event.ward_code))
    drafts = progress_letters(event.data, contact, ward, visit, policy)
    if drafts:
        await _store_and_hand(event, drafts, repository=repository, sender=sender, policy=policy)


async def _store_and_hand(
    event: Envelope[EventData],
    drafts: tuple[Draft, ...],
    *,
    repository: Messages,
    sender: Sender,
    policy: Policy,
) -> None:
    """Store the messages of an event's drafts, once, and hand those this call stored to the sender."""
    now = sender.now()
    messages = [Message.prepared(event, draft, sender.channels.start(draft.preferred), now, policy) for draft in drafts]
    await _store(messages, str(event.id), repository, sender)


async def _store(messages: list[Message], cause: str, repository: Messages, sender: Sender) -> None:
    # Claimed before they are stored: the messages this call stores are this replica's to send, at
    # once and without reading them back; a redelivered event stores none, so hands over none.
    owner = sender.claim_due(messages, cause)
    stored = await repository.add(messages)
    if len(stored) < len(messages):
        # Stored before: by another replica, or by this one's earlier try of this event, whose answer
        # was lost (the database went away, or the driver's retry of the insert met its own first
        # write). What this replica claimed then is still its own to send, now rather than after the lease.
        new = {m.id for m in stored}
        others = [m.id for m in messages if m.id not in new]
        stored += await repository.claimed(owner, others)
    sender.hand(stored)


# --- dispatch's planned day: letters to citizens, officers and the centre's leadership -----------


async def prepare_route_messages(
    event: Envelope[RoutePlanned], *, repository: Messages, sender: Sender, policy: Policy
) -> None:
    route = event.data
    if not await repository.claim_route(event.ward_code, route.day, route.team_id, route.revision, event.id):
        logger.info("route replaced by a later revision", extra=log_fields(event_id=str(event.id)))
        return
    codes = [stop.request_code for stop in route.stops]
    contacts = await repository.contacts_of(codes)
    if missing := [code for code in codes if code not in contacts]:
        raise ContactNotKnownYet(", ".join(missing))
    told = await repository.windows_told(route.day, codes, event.id)
    await _store_and_hand(
        event,
        route_messages(route, contacts, told, ward_name(event.ward_code)),
        repository=repository,
        sender=sender,
        policy=policy,
    )


async def prepare_unassignable_messages(
    event: Envelope[VisitUnassignable], *, repository: Messages, sender: Sender, policy: Policy
) -> None:
    contact = await _known_contact(repository, event.data.request_code)
    drafts = unassignable_messages(event.data, contact, ward_name(event.ward_code))
    await _store_and_hand(event, drafts, repository=repository, sender=sender, policy=policy)


async def prepare_rescheduled_messages(
    event: Envelope[VisitRescheduled], *, repository: Messages, sender: Sender, policy: Policy
) -> None:
    contact = await _known_contact(repository, event.data.request_code)
    drafts = rescheduled_messages(event.data, contact, ward_name(event.ward_code))
    await _store_and_hand(event, drafts, repository=repository, sender=sender, policy=policy)


async def prepare_breach_messages(
    event: Envelope[ServiceLevelBreached], *, repository: Messages, sender: Sender, policy: Policy
) -> None:
    await _store_and_hand(
        event,
        breach_messages(event.data, ward_name(event.ward_code)),
        repository=repository,
        sender=sender,
        policy=policy,
    )


async def prepare_digest_messages(
    event: Envelope[DigestPrepared], *, repository: Messages, sender: Sender, policy: Policy
) -> None:
    await _store_and_hand(
        event,
        digest_messages(event.data, ward_name(event.ward_code)),
        repository=repository,
        sender=sender,
        policy=policy,
    )


# --- staff's replies to their assignments ---------------------------------------------------------


class ReplyOutcome(StrEnum):
    RECORDED = "recorded"  # understood: staff.replied announces it
    HELP_SENT = "help_sent"  # not understood: the sender gets a short help message
    IGNORED = "ignored"  # from a phone no assignment went to


async def record_staff_reply(
    repository: Messages,
    sender: Sender,
    *,
    channel: DeliveryChannel,
    phone: str,
    text: str,
    inbound_id: str | None,
) -> ReplyOutcome:
    """A staff member's answer, matched to the latest assignment sent to their phone. Each inbound
    message counts once (`inbound_id`, the provider's; without one, the same text to the same
    assignment is the same message): a provider's retry announces nothing twice, nor helps twice."""
    assignment = await repository.latest_answerable(phone)
    if assignment is None or "visit_id" not in assignment.refs:
        # An assignment sent before messages kept what a reply refers to cannot be answered here.
        return ReplyOutcome.IGNORED
    same = hashlib.sha256(f"{phone}\n{text}\n{assignment.id}".encode()).hexdigest()[:32]
    reply_id = f"{channel.value}:{inbound_id or same}"
    replied = staff_replied(assignment, parse_reply(text), channel)
    if replied is None:
        help_draft = help_message(assignment)
        message = Message.drafted(
            effect_id(reply_id, "help"),
            assignment.ward_code,
            assignment.cause,  # the same piece of work as the assignment
            help_draft,
            sender.channels.start(None),
            sender.now(),
            sender.policy,
        )
        await _store([message], reply_id, repository, sender)
        return ReplyOutcome.HELP_SENT
    event = EVENTS.new(
        replied,
        ward_code=assignment.ward_code,
        correlation_id=assignment.cause.correlation_id,
        causation_id=assignment.cause.event_id,
    )
    reply = {
        "ward_code": assignment.ward_code,
        "request_code": assignment.request_code,
        "answers": assignment.id,
        "answer": replied.answer.value,
        "proposed_at": replied.proposed_at,
        "channel": channel.value,
        "received_at": sender.now(),
    }
    await repository.record_reply(reply_id, reply, event)
    return ReplyOutcome.RECORDED


async def record_receipt(
    repository: Messages,
    channel: DeliveryChannel,
    provider_message_id: str,
    *,
    delivered: bool,
    reason: str,
    at: datetime,
) -> bool:
    """A provider's delivery receipt: the message reached the phone, or will not. False if no sent message
    has that provider id (unknown, or already settled): the receipt is answered and ignored."""
    message = await repository.by_provider_id(channel, provider_message_id)
    if message is None or message.status is not MessageStatus.SENT:
        return False
    if delivered:
        message.mark_delivered(at)
    else:
        message.mark_undelivered(reason, at)
    return await repository.store_receipt(message)


class Sender:
    """Sends what is due, each message by one sender only: a message is claimed (`sending`, with a
    lease) before it goes out, and its outcome is stored only by the sender holding the claim. A sender
    that dies mid-send leaves its claim to run out; the provider's dedupe id (ZNS tracking_id, eSMS
    RequestId) keeps the next try from reaching the phone twice.

    The messages a handler stored and claimed are handed over and sent at once; a search finds the
    rest (retries coming due, claims run out, ZNS messages without a receipt), at start and on each poll.
    """

    def __init__(
        self,
        repository: Messages,
        channels: Channels,
        policy: Policy,
        *,
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = timedelta(minutes=5),
        receipt_wait: timedelta = timedelta(minutes=10),
        batch: int = 20,
    ) -> None:
        # batch × an HTTP timeout (10 s) stays well inside the lease: no claim runs out mid-batch.
        self._repository, self.channels, self.policy = repository, channels, policy
        self.now = clock
        self._lease, self._receipt_wait, self._batch = lease, receipt_wait, batch
        self._replica = uuid4().hex
        # What this sender was handed, lately: handed again (read back while it was still being
        # sent, by a redelivery of its event), it is not sent twice.
        self._seen: deque[str] = deque(maxlen=10_000)
        self._handed: list[Message] = []
        # Sent, their outcome not stored yet (the database went away): stored first at the next step.
        self._unsaved: list[Message] = []
        self._wakeable: Callable[[], None] | None = None

    def on_hand(self, wake: Callable[[], None]) -> None:
        """What to call when messages were handed over: the worker's wake-up."""
        self._wakeable = wake

    def claim_due(self, messages: list[Message], cause: str) -> str:
        """Claim those due now for this sender, under an owner named after this replica and their
        cause, so that a retry of the same event here finds its own claim; returns the owner."""
        now = self.now()
        owner = f"{self._replica}/{cause}"
        for message in messages:
            if message.due(now):
                message.claim(owner, now + self._lease)
        return owner

    def hand(self, messages: list[Message]) -> None:
        for message in messages:
            if message.status is MessageStatus.SENDING and message.id not in self._seen:
                self._seen.append(message.id)
                self._handed.append(message)
        if self._handed and self._wakeable is not None:
            self._wakeable()

    async def step(self) -> int:
        """Send what was handed over; with nothing handed over (woken by the poll), what a search finds."""
        if self._unsaved:
            await self._repository.save(self._unsaved)
            self._unsaved = []
        tried = 0
        if self._handed:
            # In batches: under a burst hundreds are handed over at once, and one store of all their
            # outcomes outlasted the database's time bound; tried again whole, it timed out again.
            while self._handed:
                handed, self._handed = self._handed[: self._batch], self._handed[self._batch :]
                tried += await self._send(handed)
            return tried
        while True:
            now = self.now()
            claimed = await self._repository.claim(now, uuid4().hex, now + self._lease, self._batch)
            tried += await self._send(claimed)
            if len(claimed) < self._batch:
                return tried

    async def _send(self, messages: list[Message]) -> int:
        """The outcomes of a batch and their events are stored in one command, after the batch is sent."""
        for message in messages:
            await self._attempt(message)
        self._unsaved = messages
        await self._repository.save(messages)
        self._unsaved = []
        return len(messages)

    async def _attempt(self, message: Message) -> None:
        if message.fallback_at is not None:
            # Sent by ZNS, and no receipt came in time: SMS follows.
            following = self.channels.after(message.channel)
            if following is not None:
                message.fall_back(following, f"no receipt from {message.channel.value}")
            message.fallback_at = None
        while True:
            try:
                provider_message_id = await self.channels[message.channel].send(_outgoing(message))
            except DeliveryFailed as failure:
                following = self.channels.after(message.channel)
                if failure.failure is Failure.UNREACHABLE and following is not None:
                    message.fall_back(following, failure.reason)
                    continue
                self._record_failure(message, failure)
            except Exception as error:
                # An adapter's unforeseen error is treated as technical: retried with pauses, then given up.
                logger.exception("channel raised an unexpected error", extra=log_fields(message_id=message.id))
                self._record_failure(message, DeliveryFailed(repr(error)[:200], Failure.TECHNICAL))
            else:
                wait = self._receipt_wait if self._receipt_awaited(message.channel) else None
                message.mark_sent(provider_message_id, self.now(), receipt_wait=wait)
            return

    def _receipt_awaited(self, channel: DeliveryChannel) -> bool:
        return channel is DeliveryChannel.ZALO and self.channels.after(channel) is not None

    def _record_failure(self, message: Message, failure: DeliveryFailed) -> None:
        message.record_failure(
            failure.reason,
            retry=failure.failure in (Failure.TEMPORARY, Failure.TECHNICAL),
            permanent=failure.permanent,
            technical=failure.failure is Failure.TECHNICAL,
            at=self.now(),
            retry_after=failure.retry_after,
            policy=self.policy,
        )
        fields = log_fields(message_id=message.id, attempt=message.attempts, reason=failure.reason)
        if message.failed_at is None:
            logger.warning("sending failed; will retry", extra=fields)
        else:
            logger.error("sending failed for good", extra=fields)


def _outgoing(message: Message) -> Outgoing:
    template = TEMPLATES[(message.template_id, message.template_version)]
    return Outgoing(
        message_id=message.id,
        phone=message.phone,
        template=message.template,
        sms_text=message.text,
        unicode=message.encoding is Encoding.UCS2,
        zns_data=template.zns_data(message.params),
    )
