"""Helpers for audit's tests: publishing real envelopes, bounded waiting, audit's own database."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aio_pika
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from gandan.shared.events import Envelope, to_wire
from gandan.shared.topology import Topology

T = TypeVar("T")


@pytest.fixture
async def audit_db(namespace: str, mongodb_url: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """audit's database of this test, on the real server (dropped by the `namespace` fixture)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    try:
        yield client[f"{namespace}_audit"]
    finally:
        await client.close()


@pytest.fixture
async def publish(namespace: str, rabbitmq_url: str) -> AsyncIterator[Callable[..., Awaitable[None]]]:
    """Publish a body to the events exchange, routed by its type, as another service would."""
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)

    async def send(body: Envelope[Any] | dict[str, Any], routing_key: str | None = None) -> None:
        wire = body if isinstance(body, dict) else to_wire(body)
        exchange = await channel.get_exchange(Topology(namespace).events.name, ensure=True)
        await exchange.publish(
            aio_pika.Message(
                json.dumps(wire).encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key or wire["type"],
            mandatory=True,
        )

    try:
        yield send
    finally:
        await connection.close()


@pytest.fixture
async def waiting(namespace: str, rabbitmq_url: str) -> AsyncIterator[Callable[[str], Awaitable[int]]]:
    """How many messages wait (ready, not yet delivered) in one of this test's queues."""
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()

    async def count(queue: str) -> int:
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)

    try:
        yield count
    finally:
        await connection.close()


async def eventually(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = 10.0) -> T:
    """Call `probe` until `done(result)`, for at most `timeout` seconds; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if done(result) or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.1)


@pytest.fixture
def wait_for() -> Callable[..., Awaitable[Any]]:
    return eventually
