"""Fixtures for dispatch tests that run on the real database and broker of each test's namespace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import holidays
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from gandan.dispatch.repository import MongoVisits
from gandan.shared.events import Envelope, EventData, parse_event
from gandan.shared.outbox import Outbox
from gandan.testing import eventually, factories, queued
from gandan.testing.factories import WARD, a_request_code, envelope

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
    """`request_registered(preferred_date=..., ward_code=..., **data)`: a request of its own, as intake announces it."""

    def make(*, ward_code: str = WARD, **changes: Any) -> Envelope[EventData]:
        data = factories.request_registered(request_code=a_request_code(), citizen_ref=uuid4().hex, **changes)
        return envelope(data, ward_code=ward_code)

    return make


@pytest.fixture
def dispatch_db(service_database: Callable[[str], AsyncDatabase[dict[str, Any]]]) -> AsyncDatabase[dict[str, Any]]:
    """dispatch's own database in this test's namespace (the one the running service uses)."""
    return service_database("dispatch")


class RelayNotRunning:
    """The outbox's publisher in tests where its relay does not run."""

    async def publish(self, envelope: dict[str, Any]) -> None:
        raise AssertionError("no relay runs in this test")


@pytest.fixture
async def repository(dispatch_db: AsyncDatabase[dict[str, Any]]) -> MongoVisits:
    repo = MongoVisits(dispatch_db, Outbox(RelayNotRunning(), dispatch_db))
    await repo.ensure_indexes()
    return repo


@pytest.fixture
def collect(rabbitmq_url: str) -> Callable[..., Awaitable[list[Envelope[Any]]]]:
    """Drain a queue until `count` events arrived (failing after 10 s); then a short quiet wait for extras."""

    async def drain(queue: str, count: int, *, settle: float = 0.5) -> list[Envelope[Any]]:
        events: list[Envelope[Any]] = []

        async def arrived() -> list[Envelope[Any]]:
            events.extend(parse_event(json.loads(m.body)) for m in await queued(rabbitmq_url, queue))
            return events

        await eventually(arrived, lambda es: len(es) >= count, what=f"{count} events on {queue}")
        await asyncio.sleep(settle)
        return await arrived()

    return drain
