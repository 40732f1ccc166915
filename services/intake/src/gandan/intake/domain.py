"""Home-service requests: who may ask, what a request is, what it announces. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from gandan.shared.events import (
    ContactRegistered,
    Envelope,
    EventData,
    ProcedureField,
    RequestRegistered,
    ResultDelivery,
    TimeWindow,
    new_event,
)

PRODUCER = "intake"
# Far enough ahead for a planned visit; beyond it the citizen should call again.
BOOKING_HORIZON_DAYS = 90


class EligibilityCategory(StrEnum):
    """Who may be served at home (seed 000 III.1, seed 004 B.2); all cannot travel."""

    THUONG_BINH = "thuong_binh"
    BENH_BINH_NANG = "benh_binh_nang"
    NGUOI_KHUYET_TAT = "nguoi_khuyet_tat"
    OM_DAU = "om_dau"
    BENH_HIEM_NGHEO = "benh_hiem_ngheo"
    NGUOI_GIA_YEU_CO_DON = "nguoi_gia_yeu_co_don"


class RequestStatus(StrEnum):
    REGISTERED = "registered"
    VISIT_SCHEDULED = "visit_scheduled"


@dataclass(frozen=True)
class Visit:
    starts_at: datetime
    ends_at: datetime
    officer_name: str
    leader_name: str


@dataclass(frozen=True)
class HomeRequestDetails:
    """What the citizen (or the group leader for them) asks for."""

    ward_code: str
    name: str
    phone: str
    address: str
    residential_group: str
    category: EligibilityCategory
    procedure: str
    field: ProcedureField
    preferred_date: date
    time_window: TimeWindow
    result_delivery: ResultDelivery


@dataclass(frozen=True, kw_only=True)
class HomeRequest(HomeRequestDetails):
    """A registered request: the details, with its code, pseudonym, time and progress."""

    code: str
    citizen_ref: str
    registered_at: datetime
    status: RequestStatus = RequestStatus.REGISTERED
    visit: Visit | None = None


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's key for one registration, so that a retried POST gets the first answer.

    Scoped to the credential that sent it: another ward or another caller may use the same key.
    """

    ward_code: str
    subject: str
    key: str


class IdempotencyKeyReused(Exception):
    """The key already stands for a registration with other details."""


def fingerprint(details: HomeRequestDetails) -> str:
    """What a retry must repeat: the details as validated (so "0912 345 678" and "0912345678" agree)."""
    canonical = json.dumps(asdict(details), sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud over the phone


def new_request_code() -> str:
    return "GD-" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(7))


def citizen_ref(key: bytes, ward_code: str, phone: str) -> str:
    """A pseudonym for the citizen: the same person in the same ward gets the same reference,
    and nobody without the key can turn it back into a phone number."""
    return hmac.new(key, f"{ward_code}:{phone}".encode(), hashlib.sha256).hexdigest()[:24]


def registration_events(request: HomeRequest, correlation_id: UUID) -> tuple[Envelope[EventData], ...]:
    """What registering announces: the contact first (only notify needs it), then the request."""

    def event(data: EventData) -> Envelope[EventData]:
        return new_event(
            data,
            ward_code=request.ward_code,
            producer=PRODUCER,
            correlation_id=correlation_id,
            occurred_at=request.registered_at,
        )

    return (
        event(
            ContactRegistered(
                request_code=request.code,
                citizen_ref=request.citizen_ref,
                name=request.name,
                phone=request.phone,
                address=request.address,
                residential_group=request.residential_group,
            )
        ),
        event(
            RequestRegistered(
                request_code=request.code,
                citizen_ref=request.citizen_ref,
                residential_group=request.residential_group,
                procedure=request.procedure,
                field=request.field,
                preferred_date=request.preferred_date,
                time_window=request.time_window,
                result_delivery=request.result_delivery,
            )
        ),
    )
