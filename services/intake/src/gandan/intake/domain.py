"""Home-service requests: who may ask, what a request is, how it moves on, what it announces,
and what storing them must promise (`HomeRequests`). No I/O."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import unicodedata
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
    Registrar,
    RegistrationChannel,
    RequestRegistered,
    ResultDelivery,
    TimeWindow,
    for_service,
)

EVENTS = for_service("intake")
# Far enough ahead for a planned visit; beyond it the citizen should call again.
BOOKING_HORIZON_DAYS = 90


class EligibilityCategory(StrEnum):
    """Who may be served at home; all cannot travel."""

    # Seed 000 III.1, seed 004 B.2.
    THUONG_BINH = "thuong_binh"
    BENH_BINH_NANG = "benh_binh_nang"
    NGUOI_KHUYET_TAT = "nguoi_khuyet_tat"
    OM_DAU = "om_dau"
    BENH_HIEM_NGHEO = "benh_hiem_ngheo"
    NGUOI_GIA_YEU_CO_DON = "nguoi_gia_yeu_co_don"
    NGUOI_CO_CONG = "nguoi_co_cong"  # người có công với cách mạng (seed 000 IV.3, seed 001)
    KHONG_CO_KHA_NANG_DI_LAI = "khong_co_kha_nang_di_lai"  # người không có khả năng đi lại (seed 003 4.a)
    BAT_KHA_KHANG = "bat_kha_khang"  # bất khả kháng, không có khả năng đi lại (seed 000 IV.3)
    DOI_TUONG_KHO_KHAN_KHAC = "doi_tuong_kho_khan_khac"  # các đối tượng khó khăn khác (seed 004 B.4)


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


# A request in one of these is done with: the citizen may ask for the same procedure again.
# The one place that says which statuses end a request; whatever moves a request into one must
# also drop its `open_key` from storage (the lifecycle's repository does).
TERMINAL_STATUSES: frozenset[RequestStatus] = frozenset({RequestStatus.CLOSED, RequestStatus.CANCELLED})


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
    registered_by: Registrar
    channel: RegistrationChannel
    cccd: str | None = None  # validated; stored sealed, never announced


@dataclass(frozen=True, kw_only=True)
class HomeRequest(HomeRequestDetails):
    """A registered request: the details, with its code, pseudonym, time and progress."""

    code: str
    citizen_ref: str
    registered_at: datetime
    status: RequestStatus = RequestStatus.REGISTERED
    visit: Visit | None = None

    @property
    def open_key(self) -> str | None:
        """While the request is open: what no other open request may share (the same citizen
        and procedure, however the procedure's name is typed); None once it is done with."""
        if self.status in TERMINAL_STATUSES:
            return None
        procedure = " ".join(unicodedata.normalize("NFC", self.procedure).casefold().split())
        return f"{self.citizen_ref}/{procedure}"


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


def fingerprint(details: HomeRequestDetails, key: bytes) -> str:
    """What a retry must repeat: the details as validated (so "0912 345 678" and "0912345678" agree).
    Keyed: the details hold a CCCD, which a plain hash of them would let be guessed back."""
    canonical = json.dumps(asdict(details), sort_keys=True, default=str, ensure_ascii=False)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


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
                registered_by=request.registered_by,
                channel=request.channel,
            )
        ),
    )


# --- what storing requests must promise ------------------------------------------


class DuplicateRequestCode(Exception):
    """Another request already holds this code."""


class IdempotencyKeyTaken(Exception):
    """Another registration with the same idempotency key was stored first."""


class OpenRequestExists(Exception):
    """The citizen already has an open request for this procedure."""

    def __init__(self, existing_code: str) -> None:
        super().__init__(existing_code)
        self.existing_code = existing_code


class WardNotServed(Exception):
    """No roster serves the ward at home: nobody could visit."""


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

        Raises `IdempotencyKeyTaken` if another registration took its key first, `OpenRequestExists`
        if an open request holds its `open_key` (kept while the request is open, dropped when it
        ends, unique among requests), `DuplicateRequestCode` if another request holds its code.
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

    async def reschedule_visit(self, ward_code: str, code: str, visit: Visit, *, as_of: datetime) -> bool:
        """Show the visit as dispatch changed it at `as_of` (its status stays), unless a change as
        late or later is shown already (a redelivery, or an older change arriving late); the booked
        visit, recorded or not, never hides it. Raises `LookupError` if the ward has no such request."""
        ...


class ServedWards(Protocol):
    """The wards dispatch serves, as its latest `wards.served` said; none before the first."""

    def serves(self, ward_code: str) -> bool:
        """Answered from memory: asking costs no database command."""
        ...

    async def record(self, ward_codes: tuple[str, ...], as_of: datetime) -> None:
        """Keep this announcement unless a later one is kept already; the same one again changes nothing."""
        ...

    async def load(self) -> None:
        """Read the kept announcement again: another intake process may have recorded a later one."""
        ...
