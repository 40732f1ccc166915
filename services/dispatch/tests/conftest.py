"""Fixtures for dispatch tests that run on the real database and broker of each test's namespace."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import aio_pika
import holidays
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from gandan.dispatch.repository import VisitRepository
from gandan.shared.events import (
    Envelope,
    EventData,
    RequestRegistered,
    ResultDelivery,
    TimeWindow,
    new_event,
    parse_event,
    to_wire,
)
from gandan.shared.testing import queued
from gandan.shared.topology import Topology

_VN_HOLIDAYS = holidays.country_holidays("VN")


def _is_office_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _VN_HOLIDAYS


@pytest.fixture
def first_office_day() -> Callable[[date], date]:
    """The first Monday-Friday on or after a day that is not a Vietnamese public holiday."""

    def first(day: date) -> date:
        while not _is_office_day(day):
            day += timedelta(days=1)
        return day

    return first


@pytest.fixture
def office_day(first_office_day: Callable[[date], date]) -> date:
    """A working day some weeks ahead, so the visit is in the future."""
    return first_office_day(date.today() + timedelta(days=21))


@pytest.fixture
def request_registered() -> Callable[..., Envelope[EventData]]:
    """A request.registered envelope as intake publishes it."""

    def make(
        *,
        preferred_date: date,
        residential_group: str = "Thanh Xá",
        field: str = "ho_tich",
        ward_code: str = "11002",
        time_window: TimeWindow = TimeWindow.MORNING,
    ) -> Envelope[EventData]:
        return new_event(
            RequestRegistered(
                request_code=f"GD-{uuid4().hex[:8].upper()}",
                citizen_ref=uuid4().hex,
                residential_group=residential_group,
                procedure="Đăng ký khai sinh",
                field=field,
                preferred_date=preferred_date,
                time_window=time_window,
                result_delivery=ResultDelivery.POST,
            ),
            ward_code=ward_code,
            producer="intake",
            correlation_id=uuid4(),
        )

    return make


@pytest.fixture
async def dispatch_db(namespace: str, mongodb_url: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """dispatch's own database in this test's namespace (the one the running service uses)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    try:
        yield client[f"{namespace}_dispatch"]
    finally:
        await client.close()


@pytest.fixture
async def repository(dispatch_db: AsyncDatabase[dict[str, Any]]) -> VisitRepository:
    repo = VisitRepository(dispatch_db)
    await repo.ensure_indexes()
    return repo


@pytest.fixture
def publish(namespace: str, rabbitmq_url: str) -> Callable[..., Awaitable[None]]:
    """Publish envelopes to the events exchange, routed by their type, all at once."""

    async def send(*envelopes: Envelope[Any]) -> None:
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(Topology(namespace).events.name)
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            json.dumps(to_wire(e)).encode(),
                            content_type="application/json",
                            message_id=str(e.id),
                            correlation_id=str(e.correlation_id),
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=e.type,
                        mandatory=True,
                    )
                    for e in envelopes
                )
            )

    return send


@pytest.fixture
def collect(rabbitmq_url: str) -> Callable[..., Awaitable[list[Envelope[Any]]]]:
    """Drain a queue until `count` events arrived or 10 s passed; then a short quiet wait for extras."""

    async def drain(queue: str, count: int, *, settle: float = 0.5) -> list[Envelope[Any]]:
        events: list[Envelope[Any]] = []
        deadline = time.monotonic() + 10
        while len(events) < count and time.monotonic() < deadline:
            events += [parse_event(json.loads(m.body)) for m in await queued(rabbitmq_url, queue)]
            if len(events) < count:
                await asyncio.sleep(0.1)
        if len(events) >= count:
            await asyncio.sleep(settle)
            events += [parse_event(json.loads(m.body)) for m in await queued(rabbitmq_url, queue)]
        return events

    return drain
