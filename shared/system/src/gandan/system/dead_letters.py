"""`gandan-dead-letters list|replay --service <name>`: what a service's dead-letter queue holds.

    gandan-dead-letters list --service notify
    gandan-dead-letters replay --service notify --reason handler_failed --reason waited_too_long

`list` shows each dead letter (event id, type, reason, detail) and leaves it where it was.
`replay` sends those with one of the given reasons back to the service, through its retry
exchange, which its consumer takes as its own retry, with fresh attempts; the others stay.
Refusals of what can never be accepted (`not_json`, `wrong_producer`, ...) are evidence of what
arrived, not work to redo: replay only what failed for a cause since fixed.

The queue is walked once: each message is taken, published again (to the back of the queue, or
to the service) with publisher confirms, and only then acked. Nothing is requeued, because a
requeue counts toward a quorum queue's delivery limit on some RabbitMQ versions, and a dead
letter past it would be dropped. A crash part-way leaves a message twice, never none.
Uses `RABBITMQ_URL` (an administrator's) and `GANDAN_NAMESPACE`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from gandan.shared.messaging import (
    ATTEMPT_HEADER,
    REJECTED_DETAIL_HEADER,
    REJECTED_REASON_HEADER,
    WAITING_SINCE_HEADER,
    WAITS_HEADER,
)
from gandan.shared.topology import Topology
from gandan.system.services import names, subscriptions

# What a replayed message must not carry: the verdict, and the counts that led to it.
_VERDICT = (REJECTED_REASON_HEADER, REJECTED_DETAIL_HEADER, ATTEMPT_HEADER, WAITING_SINCE_HEADER, WAITS_HEADER)


@dataclass(frozen=True)
class DeadLetter:
    event_id: str
    event_type: str
    reason: str
    detail: str
    replayed: bool


def _read(message: AbstractIncomingMessage) -> DeadLetter:
    headers = message.headers or {}
    try:
        envelope = json.loads(message.body)
        event_id, event_type = str(envelope.get("id", "?")), str(envelope.get("type", "?"))
    except (ValueError, AttributeError):
        event_id, event_type = "?", "?"
    return DeadLetter(
        event_id,
        event_type,
        str(headers.get(REJECTED_REASON_HEADER, "broker")),  # dead-lettered by the broker: its delivery limit
        str(headers.get(REJECTED_DETAIL_HEADER, "")),
        replayed=False,
    )


async def walk(rabbitmq_url: str, namespace: str, service: str, replay: Collection[str] = ()) -> list[DeadLetter]:
    """Go once through the service's dead-letter queue, replaying those whose reason is in `replay`."""
    topology = Topology(namespace)
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(topology.dead_letter_queue(service).name, passive=True)
        waiting = queue.declaration_result.message_count or 0
        letters = []
        for _ in range(waiting):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            found = _read(message)
            letter = replace(found, replayed=found.reason in replay)
            if letter.replayed:
                headers = {k: v for k, v in (message.headers or {}).items() if k not in _VERDICT}
                await _publish(channel, message, headers, topology.retry.name, service)
            else:
                await _publish(
                    channel,
                    message,
                    dict(message.headers or {}),
                    topology.dead_letters.name,
                    topology.dead_letter_queue(service).name,
                )
            await message.ack()
            letters.append(letter)
    return letters


async def _publish(
    channel: AbstractChannel, message: AbstractIncomingMessage, headers: dict[str, Any], exchange: str, key: str
) -> None:
    target = await channel.get_exchange(exchange, ensure=False)
    await target.publish(
        aio_pika.Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=key,
        mandatory=True,
        timeout=10,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gandan-dead-letters", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("--service", required=True, choices=[n for n in names() if n in subscriptions()])
    parser.add_argument("--reason", action="append", default=[], help="replay those with this reason (repeatable)")
    parser.add_argument("--namespace", default=os.environ.get("GANDAN_NAMESPACE", "gandan"))
    args = parser.parse_args(argv)
    if args.command == "replay" and not args.reason:
        parser.error("replay needs at least one --reason (e.g. handler_failed, waited_too_long)")
    url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    replay = args.reason if args.command == "replay" else []
    letters = asyncio.run(walk(url, args.namespace, args.service, replay))
    for letter in letters:
        action = "replayed" if letter.replayed else "kept"
        print(f"{action}\t{letter.event_id}\t{letter.event_type}\t{letter.reason}\t{letter.detail[:200]}")
    print(f"{len(letters)} dead letter(s); {sum(letter.replayed for letter in letters)} replayed")


if __name__ == "__main__":
    main()
