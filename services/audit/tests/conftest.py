"""Helpers for audit's tests: audit's own database, and what waits on its queues."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import pytest
from pymongo.asynchronous.database import AsyncDatabase


@pytest.fixture
def audit_db(service_database: Callable[[str], AsyncDatabase[dict[str, Any]]]) -> AsyncDatabase[dict[str, Any]]:
    """audit's database of this test, on the real server (dropped by the `namespace` fixture)."""
    return service_database("audit")


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
