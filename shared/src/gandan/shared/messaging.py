"""Publishing and consuming events on RabbitMQ, with the guarantees FastStream does not default to.

- Publishing: persistent, mandatory (unroutable raises), publisher-confirmed, with a timeout.
- Consuming: manual acks, only after the handler stored its work. A failing
  event is re-queued by the consumer itself with an attempt count, and after the
  last attempt rejected without requeue, so the queue dead-letters it. This does
  not rely on the broker counting nacks (RabbitMQ 4.3+ does not).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiormq.abc import ConfirmationFrameType
from faststream import AckPolicy
from faststream.message import StreamMessage
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from pamqp.commands import Basic

from gandan.shared.events import Envelope, EventData, UnknownEvent, parse_event, parse_raw, to_wire
from gandan.shared.logs import correlation, log_fields
from gandan.shared.settings import ServiceSettings
from gandan.shared.topology import Topology

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 10.0
ATTEMPT_HEADER = "x-gandan-attempt"
ALL_EVENTS = "*"

EventHandler = Callable[[Envelope[Any]], Awaitable[None]]


class PublishNotConfirmed(RuntimeError):
    pass


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
                schema=Envelope[event],  # type: ignore[valid-type]
            )
            for event in produces
        }

    async def publish(self, envelope: Envelope[Any] | dict[str, Any]) -> None:
        body = envelope if isinstance(envelope, dict) else to_wire(envelope)
        publisher = self._publishers.get(body["type"])
        if publisher is None:
            raise ValueError(f"this service does not produce {body['type']}")
        async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):  # a broker that is away must not hang us
            confirmation: ConfirmationFrameType | None = await publisher.publish(
                body,
                message_id=str(body["id"]),
                correlation_id=str(body["correlation_id"]),
                headers={"event-type": body["type"], "event-version": body["version"]},
                persist=True,
                mandatory=True,
            )
        if not isinstance(confirmation, Basic.Ack):
            raise PublishNotConfirmed(f"{body['type']} {body['id']}: {confirmation!r}")


def subscribe(
    broker: RabbitBroker,
    topology: Topology,
    service: str,
    handlers: Mapping[str, EventHandler],
    *,
    max_attempts: int,
) -> None:
    """Consume the service's queue, routing each event to its handler by type.

    `handlers` maps event types to handlers that receive a typed envelope; the
    key `ALL_EVENTS` takes every event with its data as a dict (for audit).
    """
    queue = topology.queue(service)

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
            body = json.loads(raw)
            if ALL_EVENTS in handlers:
                envelope, handler = parse_raw(body), handlers[ALL_EVENTS]
            else:
                envelope = parse_event(body)
                handler = handlers[envelope.type]
        except (ValueError, UnknownEvent, KeyError, TypeError, AttributeError) as error:
            # It will never parse: retrying cannot help. The dead-letter queue keeps it.
            logger.error("rejected an event that is not ours", extra=log_fields(reason=str(error)[:500]))
            await message.reject(requeue=False)
            return

        with correlation(envelope.correlation_id):
            attempt = int((message.headers or {}).get(ATTEMPT_HEADER, 1))
            try:
                await handler(envelope)
            except Exception:
                await _retry_or_dead_letter(broker, queue.name, body, message, attempt, max_attempts, envelope)
                return
            await message.ack()


async def _undecoded(message: StreamMessage[Any]) -> bytes:
    # The handler parses the body itself, so a body that is not JSON, or not an
    # object, is rejected to the dead letters instead of failing before any ack.
    return message.body


async def _retry_or_dead_letter(
    broker: RabbitBroker,
    queue: str,
    body: dict[str, Any],
    message: RabbitMessage,
    attempt: int,
    max_attempts: int,
    envelope: Envelope[Any],
) -> None:
    fields = log_fields(event_id=str(envelope.id), event_type=envelope.type, attempt=attempt)
    if attempt >= max_attempts:
        logger.exception("handling failed for the last time; dead-lettering", extra=fields)
        await message.reject(requeue=False)
        return
    logger.warning("handling failed; will retry", exc_info=True, extra=fields)
    # Back off a little so a passing outage (database restarting) is not burned through at once.
    await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
    # Re-queue a copy with the attempt counted, then ack the original. A crash in
    # between delivers the event twice, which idempotent handlers absorb.
    await broker.publish(
        body,
        queue=queue,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        headers={**(message.headers or {}), ATTEMPT_HEADER: attempt + 1},
        persist=True,
        mandatory=True,
        timeout=PUBLISH_TIMEOUT_SECONDS,
    )
    await message.ack()
