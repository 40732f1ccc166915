"""Thin handlers: store what must be said, then say it through the channel, recording the outcome."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from gandan.notify.channels import DeliveryFailed, MessageChannel, Outgoing
from gandan.notify.domain import Contact, Message, visit_messages
from gandan.notify.repository import MessageStatus, NotifyRepository
from gandan.shared.clock import utcnow
from gandan.shared.events import (
    ContactRegistered,
    DeliveryChannel,
    Envelope,
    EventData,
    NotificationFailed,
    NotificationOutcome,
    NotificationSent,
    RecipientRole,
    VisitScheduled,
    new_event,
)
from gandan.shared.idempotency import effect_id
from gandan.shared.logs import log_fields
from gandan.shared.mongo import Document
from gandan.shared.wards import ward_name
from gandan.shared.worker import PollingWorker

PRODUCER = "notify"
# Temporary failures are retried with growing pauses, then given up as failed (like GOV.UK Notify).
MAX_SEND_ATTEMPTS = 8

logger = logging.getLogger(__name__)


class ContactNotKnownYet(LookupError):
    """visit.scheduled came before contact.registered; the consumer retries it."""


async def remember_contact(event: Envelope[ContactRegistered], *, repository: NotifyRepository) -> None:
    c = event.data
    await repository.remember_contact(
        event.ward_code, Contact(c.request_code, c.name, c.phone, c.address, c.residential_group)
    )


async def prepare_visit_messages(
    event: Envelope[VisitScheduled], *, repository: NotifyRepository, channel: MessageChannel, sender: PollingWorker
) -> None:
    contact = await repository.contact(event.data.request_code)
    if contact is None:
        raise ContactNotKnownYet(event.data.request_code)
    now = utcnow()
    messages = visit_messages(event.data, contact, ward_name(event.ward_code))
    await repository.add_messages([_document(event, m, channel, now) for m in messages])
    sender.wake()


def _document(event: Envelope[VisitScheduled], message: Message, channel: MessageChannel, now: datetime) -> Document:
    return {
        # One message per recipient of this event: a redelivery produces the same ids.
        "_id": effect_id(event.id, message.recipient_role.value),
        "ward_code": event.ward_code,
        "request_code": event.data.request_code,
        "recipient_role": message.recipient_role.value,
        "recipient_name": message.recipient_name,
        "phone": message.phone,
        "channel": channel.name.value,
        "template": message.template,
        "text": message.text,
        "status": MessageStatus.PENDING,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
        "cause": {"event_id": str(event.id), "correlation_id": str(event.correlation_id)},
        "outbox": [],
    }


async def send_due_messages(
    *, repository: NotifyRepository, channel: MessageChannel, relay: PollingWorker, batch: int = 50
) -> int:
    """Send what is due; each outcome and its event are stored in one write."""
    handled = 0
    for document in await repository.due(utcnow(), batch):
        outgoing = Outgoing(document["_id"], document["phone"], document["text"], document["template"])
        try:
            provider_message_id = await channel.send(outgoing)
        except DeliveryFailed as failure:
            await _record_failure(repository, document, failure)
        except Exception as error:
            # An adapter's unforeseen error is treated as temporary: retried with pauses, then given up.
            logger.exception("channel raised an unexpected error", extra=log_fields(message_id=document["_id"]))
            await _record_failure(repository, document, DeliveryFailed(repr(error), permanent=False))
        else:
            event = _outcome(document, NotificationSent, provider_message_id=provider_message_id)
            await repository.mark_sent(document["_id"], provider_message_id, utcnow(), event)
        handled += 1
    if handled:
        relay.wake()
    return handled


async def _record_failure(repository: NotifyRepository, document: Document, failure: DeliveryFailed) -> None:
    attempts = document["attempts"] + 1
    fields = log_fields(message_id=document["_id"], attempt=attempts, reason=failure.reason)
    if not failure.permanent and attempts < MAX_SEND_ATTEMPTS:
        logger.warning("sending failed; will retry", extra=fields)
        await repository.postpone(
            document["_id"], attempts, utcnow() + timedelta(seconds=min(30 * 2**attempts, 3600)), failure.reason
        )
        return
    logger.error("sending failed for good", extra=fields)
    event = _outcome(document, NotificationFailed, reason=failure.reason, permanent=failure.permanent)
    await repository.mark_failed(document["_id"], failure.reason, utcnow(), event)


def _outcome(document: Document, outcome: type[NotificationOutcome], **details: Any) -> Envelope[EventData]:
    """The outcome event of a stored message, caused by the event that asked for the message."""
    data = outcome(
        message_id=document["_id"],
        request_code=document["request_code"],
        recipient_role=RecipientRole(document["recipient_role"]),
        channel=DeliveryChannel(document["channel"]),
        template=document["template"],
        **details,
    )
    return new_event(
        data,
        ward_code=document["ward_code"],
        producer=PRODUCER,
        correlation_id=document["cause"]["correlation_id"],
        causation_id=document["cause"]["event_id"],
    )
