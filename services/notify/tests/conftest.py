"""Helpers for notify's tests: sample events, and notify's own database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from gandan.shared.events import (
    ContactRegistered,
    Envelope,
    LeaderContact,
    ProcedureField,
    StaffContact,
    VisitScheduled,
    new_event,
)

WARD = "11002"  # Phường Thạch Khôi
OTHER_WARD = "00004"  # Phường Ba Đình
CITIZEN_PHONE = "0912345678"
OFFICER_PHONE = "0983111222"
LEADER_PHONE = "0978333444"


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
def notify_db(service_database: Callable[[str], AsyncDatabase[dict[str, Any]]]) -> AsyncDatabase[dict[str, Any]]:
    """notify's database of this test, on the real server (dropped by the `namespace` fixture)."""
    return service_database("notify")
