"""Home-service requests: who may ask, what a request is, how it moves on, what it announces,
and what storing them must promise (`HomeRequests`). No I/O."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from gandan.shared.events import (
    ContactRegistered,
    Envelope,
    EventData,
    ProcedureField,
    RequestRegistered,
    ResultDelivery,
    TimeWindow,
    for_service,
)

EVENTS = for_service("intake")
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
    """Where a request is; how it may move on is `gandan.intake.lifecycle.domain.TRANSITIONS`."""

    REGISTERED = "registered"
    APPOINTMENT_PROPOSED = "appointment_proposed"  # dispatch booked a visit
    APPOINTMENT_AGREED = "appointment_agreed"  # the officer called the citizen and agreed it
    VISITED = "visited"  # the dossier was taken on paper, to be entered at the centre
    DOSSIER_SUBMITTED = "dossier_submitted"
    RESULT_READY = "result_ready"
    DELIVERED = "delivered"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    REVISIT_NEEDED = "revisit_needed"  # citizen absent or documents missing
    OVERDUE = "overdue"  # past its deadline, with a new due date

    @classmethod
    def _missing_(cls, value: object) -> RequestStatus | None:
        # Stored before the lifecycle had its own states: a booked visit is a proposed appointment.
        return cls.APPOINTMENT_PROPOSED if value == "visit_scheduled" else None


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
        return EVENTS.new(
            data, ward_code=request.ward_code, correlation_id=correlation_id, occurred_at=request.registered_at
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


# --- what storing requests must promise ------------------------------------------


class DuplicateRequestCode(Exception):
    """Another request already holds this code."""


class IdempotencyKeyTaken(Exception):
    """Another registration with the same idempotency key was stored first."""


@dataclass(frozen=True)
class KeyedRequest:
    """The request an idempotency key stands for, with the fingerprint of the details it was given."""

    request: HomeRequest
    fingerprint: str


@dataclass(frozen=True)
class Registration:
    """What registering stores at once: the new request, the events it announces and, when the
    client sent one, its idempotency key with the fingerprint of the details."""

    request: HomeRequest
    events: tuple[Envelope[EventData], ...]
    key: IdempotencyKey | None = None
    fingerprint: str = ""


class HomeRequests(Protocol):
    async def add(self, registration: Registration) -> None:
        """Store a new registration, at once; a retry of this very call is no error.

        Raises `DuplicateRequestCode` if another request holds its code, `IdempotencyKeyTaken`
        if another registration took its key first.
        """
        ...

    async def by_idempotency_key(self, key: IdempotencyKey) -> KeyedRequest | None: ...

    async def get(self, code: str) -> HomeRequest | None: ...

    async def schedule_visit(
        self, ward_code: str, code: str, visit: Visit, *, from_states: frozenset[RequestStatus]
    ) -> RequestStatus | None:
        """Record the visit booked for the ward's request (status `appointment_proposed`) in one
        write, if the request is in one of `from_states`; its status afterwards, or None if the ward
        has no such request. The same visit again changes nothing."""
        ...
