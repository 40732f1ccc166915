"""Sample events and forms for every package's tests: one home-service request in Phường Thạch Khôi.

Each builder gives a valid value with the same defaults everywhere; a test names only what it
is about (`contact_registered(name=...)`, `home_request_form(phone=...)`). Entities of a service
are built in that service's own tests: this package knows no service.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, TypeVar, cast
from uuid import UUID, uuid4

from gandan.shared.clock import LOCAL_TZ, utcnow
from gandan.shared.events import (
    ContactRegistered,
    DeliveryChannel,
    Envelope,
    EventData,
    LeaderContact,
    NotificationFailed,
    NotificationSent,
    ProcedureField,
    RecipientRole,
    RequestRegistered,
    ResultDelivery,
    StaffContact,
    TimeWindow,
    VisitScheduled,
    for_service,
)

WARD = "11002"  # Phường Thạch Khôi
OTHER_WARD = "00004"  # Phường Ba Đình
REQUEST_CODE = "GD-AB12CD3"
CITIZEN_NAME = "Nguyễn Thị Lan"
CITIZEN_PHONE = "0912345678"
ADDRESS = "Số 12 ngõ 3, Thanh Xá"
OFFICER = StaffContact(staff_id="tk-03", name="Lê Văn Giang", phone="0983111222")
LEADER = LeaderContact(name="Đông Đức Hợp", roles=("to_truong",), phone="0978333444")
# 08:00 on Monday 30/11/2026 in Vietnam.
VISIT_STARTS = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def a_request_code() -> str:
    """A code no other request of the test has."""
    return f"GD-{uuid4().hex[:7].upper()}"


def in_days(days: int) -> date:
    """A day `days` after today in Vietnam, the day a citizen means."""
    return utcnow().astimezone(LOCAL_TZ).date() + timedelta(days=days)


def request_registered(**changes: Any) -> RequestRegistered:
    values: dict[str, Any] = {
        "request_code": REQUEST_CODE,
        "citizen_ref": "cit-7f3a",
        "residential_group": "Thanh Xá",
        "procedure": "Đăng ký khai tử",
        "field": ProcedureField.HO_TICH,
        "preferred_date": in_days(21),
        "time_window": TimeWindow.MORNING,
        "result_delivery": ResultDelivery.POST,
    }
    return RequestRegistered(**values | changes)


def contact_registered(**changes: Any) -> ContactRegistered:
    values: dict[str, Any] = {
        "request_code": REQUEST_CODE,
        "citizen_ref": "cit-7f3a",
        "name": CITIZEN_NAME,
        "phone": CITIZEN_PHONE,
        "address": ADDRESS,
        "residential_group": "Thanh Xá",
    }
    return ContactRegistered(**values | changes)


def visit_scheduled(starts_at: datetime = VISIT_STARTS, **changes: Any) -> VisitScheduled:
    values: dict[str, Any] = {
        "request_code": REQUEST_CODE,
        "visit_id": "visit-1",
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(hours=1),
        "residential_group": "Thanh Xá",
        "procedure": "Đăng ký khai tử",
        "field": ProcedureField.HO_TICH,
        "officer": OFFICER,
        "leader": LEADER,
    }
    return VisitScheduled(**values | changes)


def _outcome(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "message_id": "m-1",
        "request_code": REQUEST_CODE,
        "recipient_role": RecipientRole.CITIZEN,
        "channel": DeliveryChannel.SANDBOX,
        "template": "appointment_citizen",
    }
    return values | changes


def notification_sent(**changes: Any) -> NotificationSent:
    return NotificationSent(**_outcome(provider_message_id="sandbox-1", **changes))


def notification_failed(**changes: Any) -> NotificationFailed:
    return NotificationFailed(**_outcome(**{"reason": "provider refused", "permanent": True} | changes))


D = TypeVar("D", bound=EventData)


def envelope(
    data: D,
    *,
    ward_code: str = WARD,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> Envelope[D]:
    """`data` as its owner publishes it (the only producer a consumer accepts)."""
    # The factory is typed for any event; this one carries `data`'s own type.
    return cast(
        Envelope[D],
        for_service(data.owner).new(
            data,
            ward_code=ward_code,
            correlation_id=correlation_id or uuid4(),
            causation_id=causation_id,
            occurred_at=occurred_at,
        ),
    )


def with_data(event: Envelope[D], **changes: Any) -> Envelope[D]:
    """The same event (the same id) with some of its data changed."""
    return event.model_copy(update={"data": event.data.model_copy(update=changes)})


class OneRequest(NamedTuple):
    """The events of one request: intake announces it, dispatch books its visit."""

    request: Envelope[RequestRegistered]
    contact: Envelope[ContactRegistered]
    visit: Envelope[VisitScheduled]


def one_request(*, ward_code: str = WARD, request_code: str = REQUEST_CODE, at: datetime | None = None) -> OneRequest:
    """request.registered and contact.registered at `at` (and a second later), the visit five minutes after."""
    at = at or utcnow()
    correlation_id = uuid4()
    request = envelope(
        request_registered(request_code=request_code),
        ward_code=ward_code,
        correlation_id=correlation_id,
        occurred_at=at,
    )
    contact = envelope(
        contact_registered(request_code=request_code),
        ward_code=ward_code,
        correlation_id=correlation_id,
        occurred_at=at + timedelta(seconds=1),
    )
    visit = envelope(
        visit_scheduled(request_code=request_code),
        ward_code=ward_code,
        correlation_id=correlation_id,
        causation_id=request.id,
        occurred_at=at + timedelta(minutes=5),
    )
    return OneRequest(request, contact, visit)


def home_request_form(**changes: Any) -> dict[str, Any]:
    """The body of `POST /v1/home-requests`, valid, as a group leader fills it in for a citizen."""
    values: dict[str, Any] = {
        "name": "Nguyễn Văn An",
        "phone": "0912.345.678",  # as people write it; stored as 0912345678
        "ward_code": WARD,
        "residential_group": "Thanh Xá",
        "address": "Số 12 ngõ 3, tổ dân phố Thanh Xá",
        "category": "thuong_binh",
        "procedure": "Cấp bản sao trích lục khai sinh",
        "field": "ho_tich",
        "preferred_date": in_days(4).isoformat(),
        "time_window": "morning",
        "result_delivery": "post",
        "registered_by": "group_leader",
        "channel": "phone_call",
    }
    return values | changes
