"""Publishing and consuming events on RabbitMQ, with the guarantees FastStream does not default to.

- Publishing: persistent, mandatory (unroutable raises), publisher-confirmed, with a timeout.
- Consuming: nothing on the bus is trusted blindly. Before a handler sees an event,
  its size, JSON, envelope, registered type and version, data, producer (the type's
  owner) and route (the events exchange under its own type, or this service's
  retry) are checked; anything else is dead-lettered at once with the reason.
- Acks: manual, only after the handler stored its work. A failing event is
  re-queued by the consumer itself with an attempt count, and after the last
  attempt dead-lettered with the reason. This does not rely on the broker
  counting nacks (RabbitMQ 4.3+ does not).
- A temporary failure, which says nothing about the event (the database or the
  broker away, or an event that needs one not handled yet), is re-queued without
  using up an attempt, with pauses up to 10 s, for up to `GANDAN_MAX_WAIT_SECONDS`:
  an outage longer than a few attempts must not dead-letter the work it delayed.
- Dead-lettering is a confirmed publish of a copy, with the reason in headers,
  to the dead-letter exchange, then an ack (a reject cannot add headers). A crash
  in between delivers the message again and dead-letters a second copy: a
  duplicate dead letter, never a lost one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiormq.abc import ConfirmationFrameType
from aiormq.exceptions import ChannelAccessRefused
from faststream import AckPolicy
from faststream.message import StreamMessage
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.subscriber.usecase import RabbitSubscriber
from pamqp.commands import Basic
from pymongo.errors import ConnectionFailure, PyMongoError

from gandan.shared.events import Envelope, EventData, EventRefused, envelope_of, parse_event, to_wire
from gandan.shared.logs import correlation, log_fields
from gandan.shared.settings import ServiceSettings
from gandan.shared.topology import ALL_EVENTS, Topology, bindings

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 10.0
ATTEMPT_HEADER = "x-gandan-attempt"
# When an event first met a temporary failure (epoch milliseconds: an AMQP float header is single
# precision, too coarse for a time), and how many times it waited since.
WAITING_SINCE_HEADER = "x-gandan-waiting-since"
WAITS_HEADER = "x-gandan-waits"
REJECTED_REASON_HEADER = "x-gandan-rejected-reason"
REJECTED_DETAIL_HEADER = "x-gandan-rejected-detail"
# The largest event today (visit.scheduled) is under 2 KB on the wire. 64 KiB leaves
# room for thirty times that while bounding what one message can cost a consumer
# (prefetch 16 × 64 KiB = 1 MiB held per queue) and what audit would store; a
# 5 MB body is an attack or a bug, never a home-service request.
MAX_EVENT_BYTES = 64 * 1024
# A dead letter says why in a header; an unbounded error text would be a large header.
_DETAIL_CHARS = 500

EventHandler = Callable[[Envelope[Any]], Awaitable[None]]


class PublishNotConfirmed(RuntimeError):
    pass


class PublishRefused(PublishNotConfirmed):
    """The broker refused this credential the routing key: the service does not own that event type."""


class NotYet(Exception):
    """The event is sound but needs an earlier one that this service has not handled yet (events of
    one piece of work may arrive out of order): try again later, without counting it as a failure."""


def is_temporary(error: BaseException) -> bool:
    """A failure that says nothing about the event: it will pass by itself."""
    if isinstance(error, PublishRefused):  # a permission does not come back by waiting
        return False
    if isinstance(error, NotYet | ConnectionFailure | PublishNotConfirmed | TimeoutError):
        return True
    return isinstance(error, PyMongoError) and error.timeout


def create_broker(settings: ServiceSettings, service: str) -> RabbitBroker:
    return RabbitBroker(
        settings.rabbitmq_url,
        app_id=f"gandan-{service}",
        default_channel=Channel(
            prefetch_count=settings.prefetch,
            publisher_confirms=True,
            on_return_raises=True,
        ),
        ack_policy=AckPolicy.MANUAL,
        graceful_timeout=15.0,
        timeout=10.0,
        reconnect_interval=2.0,
        log_level=logging.DEBUG,
        description=f"Gần Dân {service}",
    )


def consumers_attached(broker: RabbitBroker) -> bool:
    """Every subscriber of the broker consumes on an open channel.

    The process and its connection may be up while a consumer is gone: a channel the broker
    closed (an access refusal closes it) or a reconnection that did not restore the consumer
    (faststream #2758, aio-pika #231). Such a replica takes no work and must not look ready.
    """
    for subscriber in broker.subscribers:
        assert isinstance(subscriber, RabbitSubscriber)
        queue = subscriber._queue_obj
        if not subscriber.running or subscriber._consumer_tag is None or queue is None or queue.channel.is_closed:
            return False
    return True


class EventPublisher:
    """Publishes envelopes to the events exchange; declares the types a service produces.

    Each produced type is a FastStream publisher, so the AsyncAPI document shows
    its routing key and envelope schema.
    """

    def __init__(self, broker: RabbitBroker, topology: Topology, produces: Iterable[type[EventData]]) -> None:
        self._publishers = {
            event.event_type: broker.publisher(
                exchange=topology.events,
                routing_key=event.event_type,
                persist=True,
                mandatory=True,
                timeout=PUBLISH_TIMEOUT_SECONDS,
                title=f"{event.event_type}:publish",
                description=(event.__doc__ or "").strip(),
                schema=envelope_of(event),
            )
            for event in produces
        }

    async def publish(self, envelope: Envelope[Any] | dict[str, Any]) -> None:
        body = envelope if isinstance(envelope, dict) else to_wire(envelope)
        publisher = self._publishers.get(body["type"])
        if publisher is None:
            raise ValueError(f"this service does not produce {body['type']}")
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):  # a broker that is away must not hang us
                confirmation: ConfirmationFrameType | None = await publisher.publish(
                    body,
                    message_id=str(body["id"]),
                    correlation_id=str(body["correlation_id"]),
                    headers={"event-type": body["type"], "event-version": body["version"]},
                    persist=True,
                    mandatory=True,
                )
        except ChannelAccessRefused as error:
            # The refusal closed the channel; it reopens by itself, so later publishes go through.
            raise PublishRefused(f"{body['type']} {body['id']}: {error}") from error
        if not isinstance(confirmation, Basic.Ack):
            raise PublishNotConfirmed(f"{body['type']} {body['id']}: {confirmation!r}")


def subscribe(
    broker: RabbitBroker,
    topology: Topology,
    service: str,
    handlers: Mapping[str, EventHandler],
    *,
    max_attempts: int,
    max_wait_seconds: float,
) -> None:
    """Consume the service's queue, routing each event to its handler by type.

    `handlers` maps event types to handlers that receive a typed, validated
    envelope; the key `ALL_EVENTS` takes every registered type (for audit).
    The queue is bound by what `handlers` takes.
    """
    queue = topology.queue(service, bindings(handlers))

    @broker.subscriber(
        queue,
        topology.events,
        ack_policy=AckPolicy.MANUAL,
        decoder=_undecoded,
        title=f"{queue.name}:consume",
        description=f"Events for {service}: {', '.join(handlers)}",
    )
    async def on_event(raw: bytes, message: RabbitMessage) -> None:
        try:
            envelope = _accepted(raw, message, topology, service)
            handler = handlers.get(envelope.type) or handlers.get(ALL_EVENTS)
            if handler is None:
                raise EventRefused("not_consumed", f"{service} has no handler for {envelope.type}")
        except EventRefused as refusal:
            # It will never be acceptable: retrying cannot help. The dead-letter queue keeps it.
            logger.error(
                "refused an event; dead-lettering",
                extra=log_fields(reason=refusal.reason, detail=refusal.detail[:_DETAIL_CHARS]),
            )
            await _dead_letter(broker, topology, service, raw, message, refusal.reason, refusal.detail)
            return

        with correlation(envelope.correlation_id):
            attempt = int((message.headers or {}).get(ATTEMPT_HEADER, 1))
            try:
                await handler(envelope)
            except Exception as error:
                fields = log_fields(event_id=str(envelope.id), event_type=envelope.type, attempt=attempt)
                if is_temporary(error):
                    await _wait_or_give_up(broker, topology, service, raw, message, error, max_wait_seconds)
                elif attempt >= max_attempts:
                    logger.exception("handling failed for the last time; dead-lettering", extra=fields)
                    await _dead_letter(broker, topology, service, raw, message, "handler_failed", repr(error))
                else:
                    logger.warning("handling failed; will retry", exc_info=True, extra=fields)
                    await _retry(broker, topology, service, raw, message, attempt)
                return
            await message.ack()


def _accepted(raw: bytes, message: RabbitMessage, topology: Topology, service: str) -> Envelope[EventData]:
    """The event in `raw`, if every check passes; else `EventRefused` with the reason."""
    if len(raw) > MAX_EVENT_BYTES:
        raise EventRefused("too_large", f"{len(raw)} bytes; the limit is {MAX_EVENT_BYTES}")
    try:
        body = json.loads(raw)
    except ValueError as error:  # also bytes that are not UTF-8
        raise EventRefused("not_json", str(error)) from error
    envelope = parse_event(body)
    # Broker permissions vouch for the routing key, not for the body: the body's type
    # must be the key it was published under, or a copy this service re-queued itself.
    exchange, routing_key = message.raw_message.exchange, message.raw_message.routing_key
    own_retry = exchange == topology.retry.name and routing_key == service
    published_as_its_type = exchange == topology.events.name and routing_key == envelope.type
    if not (own_retry or published_as_its_type):
        raise EventRefused("wrong_route", f"{envelope.type} arrived from {exchange!r} under {routing_key!r}")
    return envelope


async def _undecoded(message: StreamMessage[Any]) -> bytes:
    # The handler parses the body itself, so a body that is not JSON, or not an
    # object, is dead-lettered instead of failing before any ack.
    return message.body


async def _copy(
    broker: RabbitBroker, raw: bytes, message: RabbitMessage, headers: dict[str, Any], **route: Any
) -> None:
    """Publish `raw` with the message's ids and `headers`, persistent and confirmed."""
    confirmation = await broker.publish(
        raw,
        **route,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        headers={**(message.headers or {}), **headers},
        persist=True,
        mandatory=True,
        timeout=PUBLISH_TIMEOUT_SECONDS,
    )
    if not isinstance(confirmation, Basic.Ack):
        raise PublishNotConfirmed(f"copy of {message.message_id}: {confirmation!r}")


async def _dead_letter(
    broker: RabbitBroker,
    topology: Topology,
    service: str,
    raw: bytes,
    message: RabbitMessage,
    reason: str,
    detail: str,
) -> None:
    try:
        await _copy(
            broker,
            raw,
            message,
            {REJECTED_REASON_HEADER: reason, REJECTED_DETAIL_HEADER: detail[:_DETAIL_CHARS]},
            exchange=topology.dead_letters,
            routing_key=topology.dead_letter_queue(service).name,
        )
    except Exception:
        # Not dead-lettered, so not acked: it comes back and is judged again.
        logger.exception("could not dead-letter; the message stays in the queue", extra=log_fields(reason=reason))
        await asyncio.sleep(1.0)
        await message.nack(requeue=True)
        return
    await message.ack()


async def _retry(
    broker: RabbitBroker, topology: Topology, service: str, raw: bytes, message: RabbitMessage, attempt: int
) -> None:
    # Back off a little so a passing outage (database restarting) is not burned through at once.
    await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
    await _requeue(broker, topology, service, raw, message, {ATTEMPT_HEADER: attempt + 1})


async def _wait_or_give_up(
    broker: RabbitBroker,
    topology: Topology,
    service: str,
    raw: bytes,
    message: RabbitMessage,
    error: BaseException,
    max_wait_seconds: float,
) -> None:
    headers = message.headers or {}
    now = int(time.time() * 1000)
    since = int(headers.get(WAITING_SINCE_HEADER, now))
    waited = (now - since) / 1000
    waits = int(headers.get(WAITS_HEADER, 0))
    fields = log_fields(reason=repr(error)[:_DETAIL_CHARS], waits=waits, waited_seconds=round(waited, 1))
    if waited >= max_wait_seconds:
        logger.error("waited too long for a temporary failure to pass; dead-lettering", extra=fields)
        await _dead_letter(broker, topology, service, raw, message, "waited_too_long", repr(error))
        return
    logger.warning("temporary failure; will try again", extra=fields)
    await asyncio.sleep(min(0.2 * 2**waits, 10.0))
    await _requeue(broker, topology, service, raw, message, {WAITING_SINCE_HEADER: since, WAITS_HEADER: waits + 1})


async def _requeue(
    broker: RabbitBroker, topology: Topology, service: str, raw: bytes, message: RabbitMessage, headers: dict[str, Any]
) -> None:
    # Re-queue a copy with the count updated, then ack the original. A crash in
    # between delivers the event twice, which idempotent handlers absorb.
    await _copy(broker, raw, message, headers, exchange=topology.retry, routing_key=service)
    await message.ack()
