"""Thin handlers: store what must be said, then say it through the channel, recording the outcome."""

from __future__ import annotations

import logging

from gandan.notify.channels import DeliveryFailed, MessageChannel, Outgoing
from gandan.notify.domain import Contact, Message, Messages, visit_messages
from gandan.shared.clock import utcnow
from gandan.shared.events import ContactRegistered, Envelope, VisitScheduled
from gandan.shared.logs import log_fields
from gandan.shared.messaging import NotYet
from gandan.shared.wards import ward_name
from gandan.shared.worker import Wakeable

logger = logging.getLogger(__name__)


class ContactNotKnownYet(NotYet):
    """visit.scheduled came before contact.registered; the consumer retries it."""


async def remember_contact(event: Envelope[ContactRegistered], *, repository: Messages) -> None:
    c = event.data
    await repository.remember_contact(
        event.ward_code, Contact(c.request_code, c.name, c.phone, c.address, c.residential_group)
    )


async def prepare_visit_messages(
    event: Envelope[VisitScheduled], *, repository: Messages, channel: MessageChannel, sender: Wakeable
) -> None:
    contact = await repository.contact(event.data.request_code)
    if contact is None:
        raise ContactNotKnownYet(event.data.request_code)
    now = utcnow()
    drafts = visit_messages(event.data, contact, ward_name(event.ward_code))
    await repository.add([Message.prepared(event, draft, channel.name, now) for draft in drafts])
    sender.wake()


async def send_due_messages(*, repository: Messages, channel: MessageChannel, batch: int = 50) -> int:
    """Send all that is due, a batch at a time; returns how many were tried.

    The outcomes of a batch and their events are stored in one command, after the batch
    is sent: a crash in between sends those messages again, as a crash after any send would.
    """
    tried = 0
    while True:
        due = await repository.due(utcnow(), batch)
        await _send(due, channel)
        await repository.save(due)
        tried += len(due)
        if len(due) < batch:
            return tried


async def _send(due: list[Message], channel: MessageChannel) -> None:
    for message in due:
        try:
            provider_message_id = await channel.send(
                Outgoing(message.id, message.phone, message.text, message.template)
            )
        except DeliveryFailed as failure:
            _record_failure(message, failure)
        except Exception as error:
            # An adapter's unforeseen error is treated as temporary: retried with pauses, then given up.
            logger.exception("channel raised an unexpected error", extra=log_fields(message_id=message.id))
            _record_failure(message, DeliveryFailed(repr(error), permanent=False))
        else:
            message.mark_sent(provider_message_id, utcnow())


def _record_failure(message: Message, failure: DeliveryFailed) -> None:
    message.record_failure(failure.reason, permanent=failure.permanent, at=utcnow())
    fields = log_fields(message_id=message.id, attempt=message.attempts, reason=failure.reason)
    if message.failed_at is None:
        logger.warning("sending failed; will retry", extra=fields)
    else:
        logger.error("sending failed for good", extra=fields)
