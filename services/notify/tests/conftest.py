"""Helpers for notify's tests: sample events, publishing real envelopes, bounded waiting."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import uuid4

import aio_pika
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from gandan.shared.events import (
    ContactRegistered,
    Envelope,
    LeaderContact,
    ProcedureField,
    StaffContact,
    VisitScheduled,
    new_event,
    to_wire,
)
from gandan.shared.topology import Topology

WARD = "11002"  # Phường Thạch Khôi
OTHER_WARD = "00004"  # Phường Ba Đình
CITIZEN_PHONE = "0912345678"
OFFICER_PHONE = "0983111222"
LEADER_PHONE = "0978333444"

T = TypeVar("T")


@dataclass(frozen=True)
class Samples:
    """The contact of one request and its home visit, as intake and dispatch publish them."""

    request_code: str = "GD-AB12CD3"

    def contact(self) -> ContactRegistered:
        return ContactRegistered(
            request_code=self.request_code,
            citizen_ref="cit-7f3a",
            name="Nguyễn Thị Lan",
            phone=CITIZEN_PHONE,
            address="Số 12 ngõ 3, Thanh Xá",
            residential_group="Thanh Xá",
        )

    def visit(self, starts_at: datetime = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)) -> VisitScheduled:
        return VisitScheduled(
            request_code=self.request_code,
            visit_id="visit-1",
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=1),
            residential_group="Thanh Xá",
            procedure="Đăng ký khai tử",
            field=ProcedureField.HO_TICH,
            officer=StaffContact(staff_id="tk-03", name="Lê Văn Giang", phone=OFFICER_PHONE),
            leader=LeaderContact(name="Đông Đức Hợp", roles=("to_truong",), phone=LEADER_PHONE),
        )

    def envelopes(self, ward_code: str = WARD) -> tuple[Envelope[Any], Envelope[Any]]:
        """contact.registered from intake, then visit.scheduled from dispatch, in one piece of work."""
        correlation_id = uuid4()
        contact = new_event(self.contact(), ward_code=ward_code, producer="intake", correlation_id=correlation_id)
        visit = new_event(
            self.visit(), ward_code=ward_code, producer="dispatch", correlation_id=correlation_id, causation_id=uuid4()
        )
        return contact, visit


@pytest.fixture
def samples() -> Samples:
    return Samples()


@pytest.fixture
async def notify_db(namespace: str, mongodb_url: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """notify's database of this test, on the real server (dropped by the `namespace` fixture)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    try:
        yield client[f"{namespace}_notify"]
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
