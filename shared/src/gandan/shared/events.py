"""The event contracts: one envelope, versioned data models.

Every event on the wire is an `Envelope` whose `data` is one of the frozen models
below. The routing key is the event type. A change that breaks a consumer gets a
new `version` (and a new model) instead of changing an old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Generic, TypeVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo

from gandan.shared.clock import utcnow


class Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EventData(Contract):
    """The payload of one event type at one version."""

    event_type: ClassVar[str]
    event_version: ClassVar[int]
    # The one service that publishes this type: consumers refuse it from anyone else,
    # and its broker credential is the only one allowed to publish the routing key.
    owner: ClassVar[str]


D = TypeVar("D", covariant=True)  # a visit.scheduled envelope is an envelope of an event


class Envelope(BaseModel, Generic[D]):
    """What every message carries, whatever the event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID = Field(description="Unique per event; consumers deduplicate on it.")
    type: str = Field(description="Event type; also the routing key.")
    version: int = Field(ge=1, description="Schema version of `data` for this type.")
    occurred_at: AwareDatetime = Field(description="When it happened, in UTC.")
    ward_code: str = Field(
        pattern=r"^\d{5}$",
        description="Official code of the ward or commune; 00000 for an event about several, named in its data.",
    )
    correlation_id: UUID = Field(description="Shared by every event of one piece of work.")
    causation_id: UUID | None = Field(description="The event that caused this one; null when a person's action did.")
    producer: str = Field(description="The service that published it.")
    data: D

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


def envelope_of(contract: type[EventData]) -> type[Envelope[EventData]]:
    """The envelope model whose `data` is `contract`: validates and documents that type's events."""
    # Parametrized with a class known at run time only; mypy takes only static types in brackets.
    return Envelope[contract]  # type: ignore[valid-type]


# --- personal data -----------------------------------------------------------


class Personal(StrEnum):
    """What becomes of a field carrying personal data outside the services that need it (audit's evidence).

    Shown in the JSON schemas as `x-personal`. Phone numbers typed into any text are masked
    whatever the mark.
    """

    MASK = "mask"  # a phone number: operator prefix and last three digits kept
    DROP = "drop"  # left out: a home address
    KEEP = "keep"  # kept as published: the trail must say who was served, and by whom


_PERSONAL = "x-personal"


def personal(how: Personal, description: str | None = None) -> Any:
    """The mark of a field carrying personal data: `Annotated[str, personal(Personal.MASK)]`."""
    return Field(description=description, json_schema_extra={_PERSONAL: how.value})


def personal_mark(field: FieldInfo) -> Personal | None:
    # Read on the field itself: an optional one is `Annotated[str | None, personal(...)]`, not `PhoneNumber | None`.
    extra = field.json_schema_extra
    return Personal(str(extra[_PERSONAL])) if isinstance(extra, dict) and _PERSONAL in extra else None


PhoneNumber = Annotated[str, personal(Personal.MASK)]
HomeAddress = Annotated[str, personal(Personal.DROP)]
PersonName = Annotated[str, personal(Personal.KEEP)]
CitizenRef = Annotated[str, personal(Personal.KEEP, "Pseudonymous reference to the citizen, stable within a ward.")]


# --- shared vocabulary -------------------------------------------------------


class ProcedureField(StrEnum):
    """Fields (lĩnh vực) of procedures a ward officer handles at home (seed 000)."""

    CHUNG_THUC = "chung_thuc"  # certification
    HO_TICH = "ho_tich"  # civil status
    DAT_DAI = "dat_dai"  # land
    XAY_DUNG = "xay_dung"  # construction
    MOI_TRUONG = "moi_truong"  # environment
    DANG_KY_KINH_DOANH = "dang_ky_kinh_doanh"  # business registration
    VAN_HOA_XA_HOI = "van_hoa_xa_hoi"  # culture–society
    Y_TE = "y_te"  # health (seed 004 B.4)
    GIAO_DUC = "giao_duc"  # education
    THE_BAO_HIEM_Y_TE = "the_bao_hiem_y_te"  # health-insurance cards, delivered at home (seed 004 B.4)


class Registrar(StrEnum):
    """Who registered the need (seed 000 III.4: the citizen, or someone for them)."""

    CITIZEN = "citizen"
    RELATIVE = "relative"
    GROUP_LEADER = "group_leader"  # residential group's BTCB, leader or deputy
    CENTRE_OFFICER = "centre_officer"


class RegistrationChannel(StrEnum):
    """How the need reached the centre (seed 000): evidence of the online share for the assessment."""

    PHONE_CALL = "phone_call"
    ZALO = "zalo"
    AT_CENTRE = "at_centre"
    MOBILE_SESSION = "mobile_session"
    WEB = "web"


class TimeWindow(StrEnum):
    MORNING = "morning"
    AFTERNOON = "afternoon"


class ResultDelivery(StrEnum):
    """How the result of the procedure goes back (seed 000, III.5)."""

    ONLINE = "online"  # on the national or city portal
    POST = "post"  # on paper, by the public postal service
    COMMUNITY_DIGITAL_TEAM = "community_digital_team"
    AT_CENTRE = "at_centre"


class DeliveryChannel(StrEnum):
    """How a message reaches its recipient."""

    SANDBOX = "sandbox"  # development channel: keeps the message, delivers nothing
    SMS = "sms"
    ZALO = "zalo"


class RecipientRole(StrEnum):
    CITIZEN = "citizen"
    OFFICER = "officer"
    GROUP_LEADER = "group_leader"
    LEADERSHIP = "leadership"  # the centre's leadership: escalations and the morning digest


class StaffContact(Contract):
    staff_id: str
    name: PersonName
    phone: PhoneNumber


class LeaderContact(Contract):
    name: PersonName
    roles: tuple[str, ...]
    phone: PhoneNumber


# --- events ------------------------------------------------------------------


class RequestRegistered(EventData):
    """A citizen's need for home service was registered.

    Carries no phone, CCCD or health condition: those stay in intake (the phone
    goes only to notify, in `contact.registered`).
    """

    event_type: ClassVar[str] = "request.registered"
    event_version: ClassVar[int] = 1
    owner: ClassVar[str] = "intake"

    request_code: str
    citizen_ref: CitizenRef
    residential_group: str
    procedure: str
    field: ProcedureField
    preferred_date: date
    time_window: TimeWindow
    result_delivery: ResultDelivery
    # Added within v1, optional: events published before carry neither.
    registered_by: Registrar | None = None
    channel: RegistrationChannel | None = None


class ContactRegistered(EventData):
    """How to reach the citizen of a request: only notify (and audit, masked) receive it."""

    event_type: ClassVar[str] = "contact.registered"
    event_version: ClassVar[int] = 1
    owner: ClassVar[str] = "intake"

    request_code: str
    citizen_ref: CitizenRef
    name: PersonName
    phone: PhoneNumber
    address: HomeAddress
    residential_group: str


class VisitScheduled(EventData):
    """A home visit was booked: who goes, with whom, when."""

    event_type: ClassVar[str] = "visit.scheduled"
    event_version: ClassVar[int] = 1
    owner: ClassVar[str] = "dispatch"

    request_code: str
    visit_id: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    residential_group: str
    procedure: str
    field: ProcedureField
    officer: StaffContact
    leader: LeaderContact


# The envelope's ward of an event about several wards (`wards.served`): no official code is 00000.
SEVERAL_WARDS = "00000"


class WardsServed(EventData):
    """The wards dispatch can serve at home now: those its rosters cover. Each announcement
    replaces the earlier ones; the latest `as_of` wins. Its envelope's ward is `SEVERAL_WARDS`."""

    event_type: ClassVar[str] = "wards.served"
    event_version: ClassVar[int] = 1
    owner: ClassVar[str] = "dispatch"

    ward_codes: tuple[Annotated[str, Field(pattern=r"^\d{5}$")], ...]
    as_of: AwareDatetime


class RosterChange(StrEnum):
    SEEDED = "seeded"  # from the roster shipped with dispatch, into an empty store
    IMPORTED = "imported"  # an operator's CSV replaced the whole roster
    MEMBER_SAVED = "member_saved"
    MEMBER_REMOVED = "member_removed"
    LEAVE_MARKED = "leave_marked"
    VEHICLE_SAVED = "vehicle_saved"
    OPENED_ON = "opened_on"  # the ward opens on a weekend day or holiday for sessions


class RosterChanged(EventData):
    """A ward's roster changed: who, what and when, never a phone number (no consumer needs one)."""

    event_type: ClassVar[str] = "roster.changed"
    event_version: ClassVar[int] = 1
    owner: ClassVar[str] = "dispatch"

    change: RosterChange
    version: int = Field(ge=1, description="The roster's version after this change; one per change.")
    subject: str | None = Field(description="The staff member, vehicle or day changed; none for a whole roster.")
    staff: int = Field(ge=0, description="Staff members on the roster after the change.")
    residential_groups: int = Field(ge=0)
    vehicles: int = Field(ge=0)


class NotificationOutcome(EventData):
    """What became of one message to one recipient."""

    owner: ClassVar[str] = "notify"
    message_id: str
    request_code: str
    recipient_role: RecipientRole
    channel: DeliveryChannel
    template: str


class NotificationSent(NotificationOutcome):
    """The provider accepted the message."""

    event_type: ClassVar[str] = "notification.sent"
    event_version: ClassVar[int] = 1

    provider_message_id: str


class NotificationFailed(NotificationOutcome):
    """The message could not be sent: refused for good, or still failing after every retry."""

    event_type: ClassVar[str] = "notification.failed"
    event_version: ClassVar[int] = 1

    reason: str
    permanent: bool


class NotificationDelivered(NotificationOutcome):
    """The provider reported that the message reached the phone (ZNS `user_received_message`, eSMS report)."""

    event_type: ClassVar[str] = "notification.delivered"
    event_version: ClassVar[int] = 1

    provider_message_id: str


# --- a request's progress after the visit is booked (intake; issue 8) ------------------------
# None carries the phone, the CCCD or the eligibility category: the citizen is `citizen_ref`.


class ProcedureKind(StrEnum):
    """What kind of procedure a result is of: notify chooses the letter by it (seed 004 B.4)."""

    BIRTH_REGISTRATION = "birth_registration"  # congratulation letter
    MARRIAGE_REGISTRATION = "marriage_registration"  # congratulation letter
    DEATH_REGISTRATION = "death_registration"  # condolence letter to the family
    CERTIFICATION = "certification"
    LAND = "land"
    OTHER = "other"


class DossierSubmission(StrEnum):
    ONLINE = "online"  # on the National Public Service Portal, at the visit
    PAPER = "paper"  # taken back to the centre's desk


class RevisitReason(StrEnum):
    CITIZEN_ABSENT = "citizen_absent"
    DOCUMENTS_MISSING = "documents_missing"


class CancelledBy(StrEnum):
    CITIZEN = "citizen"
    CENTRE = "centre"


class ResultHandover(StrEnum):
    """Where the result waits for the citizen (seed 000 III.4)."""

    PORTAL = "portal"
    POST = "post"  # with a tracking number
    AT_CENTRE = "at_centre"
    AT_HOME = "at_home"


class SurveyRating(StrEnum):
    """The scale the centres' satisfaction surveys use (seed 004)."""

    RAT_HAI_LONG = "rat_hai_long"  # rất hài lòng
    HAI_LONG = "hai_long"  # hài lòng
    KHONG_HAI_LONG = "khong_hai_long"  # không hài lòng


class RequestProgress(EventData):
    """A change of a request's state; `status` is the state it is in afterwards."""

    owner: ClassVar[str] = "intake"
    event_version: ClassVar[int] = 1

    request_code: str
    citizen_ref: CitizenRef
    status: str


class AppointmentAgreed(RequestProgress):
    """The centre officer called the citizen and agreed the visit's date and time (seed 000: "hẹn ngày, giờ")."""

    event_type: ClassVar[str] = "appointment.agreed"

    starts_at: AwareDatetime
    ends_at: AwareDatetime


class DossierReceived(RequestProgress):
    """Field report: the dossier was received at the visit."""

    event_type: ClassVar[str] = "dossier.received"

    dossier_code: str | None = Field(description="National dossier code; known once submitted online")
    pages_digitised: int
    submission: DossierSubmission
    fee_paid_online: bool
    certified_on_the_spot: bool


class DossierSubmitted(RequestProgress):
    """A paper dossier brought back from the visit was entered at the centre's desk."""

    event_type: ClassVar[str] = "dossier.submitted"

    dossier_code: str


class RevisitNeeded(RequestProgress):
    """Field report: the visit could not take the dossier; a new appointment is needed."""

    event_type: ClassVar[str] = "revisit.needed"

    reason: RevisitReason
    note: str | None


class RequestCancelled(RequestProgress):
    event_type: ClassVar[str] = "request.cancelled"

    cancelled_by: CancelledBy
    reason: str


class ResultReady(RequestProgress):
    event_type: ClassVar[str] = "result.ready"

    procedure_kind: ProcedureKind
    handover: ResultHandover
    tracking_number: str | None = Field(description="The postal tracking number, for a result sent by post")


class ResultDelivered(RequestProgress):
    event_type: ClassVar[str] = "result.delivered"

    procedure_kind: ProcedureKind


class RequestOverdue(RequestProgress):
    """The dossier will not be finished by its deadline: an apology letter is due (seed 004)."""

    event_type: ClassVar[str] = "request.overdue"

    procedure_kind: ProcedureKind
    new_due_date: date


class RequestClosed(RequestProgress):
    event_type: ClassVar[str] = "request.closed"

    procedure_kind: ProcedureKind


class SurveyAnswered(EventData):
    """A served citizen's satisfaction answer; `replaces` when it replaces their earlier one."""

    event_type: ClassVar[str] = "survey.answered"
    event_version: ClassVar[int] = 1
    owner: ClassVar[str] = "intake"

    request_code: str
    citizen_ref: CitizenRef
    rating: SurveyRating
    comment: str | None
    replaces: bool


# --- a day of home visits, planned and kept (dispatch; issue 9) ----------------------------


class VehicleKind(StrEnum):
    WARD_CAR = "xe_o_to_phuong"
    # Most officers ride their own (seed 003 §3): a motorbike of the roster is one the ward may count on.
    MOTORBIKE = "xe_may"


class RouteStop(Contract):
    """One visit of a team's day, in the order the team makes them."""

    request_code: str
    visit_id: str
    residential_group: str
    procedure: str
    arrives_from: AwareDatetime = Field(description="The earliest the team arrives; the citizen is told from … to …")
    arrives_until: AwareDatetime = Field(
        description="The latest arrival that keeps every later visit and the return on time"
    )


class RoutePlanned(EventData):
    """One team's day of home visits in order, planned at the ward's cut-off the day before and again
    whenever that day changes. For a (day, team) the highest `revision` replaces the earlier ones; a
    team left with no stops is published with none, so its people know their day changed."""

    event_type: ClassVar[str] = "route.planned"
    event_version: ClassVar[int] = 1
    owner: ClassVar[str] = "dispatch"

    day: date
    team_id: str
    revision: int = Field(ge=1)
    officer: StaffContact
    companions: tuple[StaffContact, ...] = Field(description="Staff travelling with the officer all day")
    vehicle_id: str | None
    vehicle_kind: VehicleKind | None
    stops: tuple[RouteStop, ...]
    provisional: bool = Field(description="The day is not yet settled by the government's decision for its year")


class UnassignableReason(StrEnum):
    NO_OFFICER_FOR_FIELD = "no_officer_for_field"
    UNKNOWN_RESIDENTIAL_GROUP = "unknown_residential_group"
    NO_LEADER_FOR_GROUP = "no_leader_for_group"
    NO_SLOT_AVAILABLE = "no_slot_available"
    NO_REPLACEMENT = "no_replacement"  # its officer declined or fell ill, and nobody else fits


class VisitUnassignable(EventData):
    """No visit could be booked or kept: the centre's leadership must arrange it, and the citizen is
    told the centre will call (today they heard nothing)."""

    event_type: ClassVar[str] = "visit.unassignable"
    event_version: ClassVar[int] = 1
    owner: ClassVar[str] = "dispatch"

    request_code: str
    citizen_ref: CitizenRef
    reason: UnassignableReason
    detail: str = Field(max_length=300, description="Why, in Vietnamese, for the centre's leadership")
    leadership: tuple[StaffContact, ...] = Field(description="The centre's leadership, who are told")


class RescheduleReason(StrEnum):
    OFFICER_DECLINED = "officer_declined"
    OFFICER_UNAVAILABLE = "officer_unavailable"  # fell ill, on leave since
    REPLANNED = "replanned"  # the day's plan moved it to keep every visit


class VisitRescheduled(EventData):
    """A booked visit changed officer or time, decided by dispatch; the citizen and the new officer are told."""

    event_type: ClassVar[str] = "visit.rescheduled"
    event_version: ClassVar[int] = 1
    owner: ClassVar[str] = "dispatch"

    request_code: str
    visit_id: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    officer: StaffContact
    leader: LeaderContact
    reason: RescheduleReason


class StaffAnswer(StrEnum):
    ACCEPTED = "accepted"  # "OK"
    DECLINED = "declined"  # "KHÔNG"
    OTHER_TIME = "other_time"  # "DOI 14:00"


class StaffReplied(EventData):
    """An officer's or a group leader's answer to an assignment, on Zalo or by SMS."""

    event_type: ClassVar[str] = "staff.replied"
    event_version: ClassVar[int] = 1
    owner: ClassVar[str] = "notify"

    request_code: str
    visit_id: str
    recipient_role: RecipientRole
    staff_id: str | None = Field(description="The officer's roster id; none for a group leader")
    answer: StaffAnswer
    proposed_at: AwareDatetime | None = Field(description="The time asked for, with `other_time`")
    channel: DeliveryChannel


class ServiceLevelRule(StrEnum):
    FIRST_CONTACT = "first_contact"  # the officer agrees the appointment within one working day
    VISIT_DEADLINE = "visit_deadline"  # the visit within the ward's number of working days


class ServiceLevelBreached(EventData):
    """A request missed one of the ward's service levels: the centre's leadership is told."""

    event_type: ClassVar[str] = "service_level.breached"
    event_version: ClassVar[int] = 1
    owner: ClassVar[str] = "dispatch"

    request_code: str
    rule: ServiceLevelRule
    due_at: AwareDatetime
    leadership: tuple[StaffContact, ...]


class DigestPrepared(EventData):
    """The morning digest for the centre's leadership: today's routes, and the requests no visit could be
    booked for or that are late."""

    event_type: ClassVar[str] = "digest.prepared"
    event_version: ClassVar[int] = 1
    owner: ClassVar[str] = "dispatch"

    day: date
    routes: int = Field(ge=0)
    visits: int = Field(ge=0)
    unassigned: tuple[str, ...] = Field(description="Request codes no visit could be booked for")
    late: tuple[str, ...] = Field(description="Request codes past a service level")
    leadership: tuple[StaffContact, ...]


EVENT_TYPES: tuple[type[EventData], ...] = (
    RequestRegistered,
    ContactRegistered,
    VisitScheduled,
    WardsServed,
    RosterChanged,
    NotificationSent,
    NotificationFailed,
    AppointmentAgreed,
    DossierReceived,
    DossierSubmitted,
    RevisitNeeded,
    RequestCancelled,
    ResultReady,
    ResultDelivered,
    RequestOverdue,
    RequestClosed,
    SurveyAnswered,
    NotificationDelivered,
    RoutePlanned,
    VisitUnassignable,
    VisitRescheduled,
    StaffReplied,
    ServiceLevelBreached,
    DigestPrepared,
)
# Keyed by (type, version); looked up with whatever a message carries, so any key may be asked for.
_BY_KEY: dict[tuple[object, object], type[EventData]] = {(t.event_type, t.event_version): t for t in EVENT_TYPES}


def contract_of(event_type: str, version: int) -> type[EventData] | None:
    """The model of `data` for this type and version; None if there is no such contract."""
    return _BY_KEY.get((event_type, version))


def owned_by(service: str) -> list[str]:
    """The event types `service` publishes."""
    return sorted({t.event_type for t in EVENT_TYPES if t.owner == service})


class EventRefused(ValueError):
    """A message that must not be acted on; `reason` is a stable code for operators."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def new_event(
    data: EventData,
    *,
    ward_code: str,
    producer: str,
    correlation_id: UUID,
    causation_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> Envelope[EventData]:
    return Envelope[EventData](
        id=uuid4(),
        type=data.event_type,
        version=data.event_version,
        occurred_at=occurred_at or utcnow(),
        ward_code=ward_code,
        correlation_id=correlation_id,
        causation_id=causation_id,
        producer=producer,
        data=data,
    )


@dataclass(frozen=True)
class EventFactory:
    """Builds one service's events: stamps it as their producer, and the piece of work each belongs to."""

    producer: str

    def new(
        self,
        data: EventData,
        *,
        ward_code: str,
        correlation_id: UUID,
        causation_id: UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> Envelope[EventData]:
        # Refused here rather than dead-lettered by every consumer later.
        if data.owner != self.producer:
            raise ValueError(f"{self.producer} cannot announce {data.event_type}: {data.owner} owns it")
        return new_event(
            data,
            ward_code=ward_code,
            producer=self.producer,
            correlation_id=correlation_id,
            causation_id=causation_id,
            occurred_at=occurred_at,
        )

    def caused_by(self, cause: Envelope[Any], data: EventData) -> Envelope[EventData]:
        """The event that `cause` led to: same ward and correlation, caused by it."""
        return self.new(data, ward_code=cause.ward_code, correlation_id=cause.correlation_id, causation_id=cause.id)


def for_service(name: str) -> EventFactory:
    """The factory of the events service `name` publishes."""
    return EventFactory(name)


def parse_event(body: object) -> Envelope[EventData]:
    """The envelope with `data` validated against its registered type and version, from its owner.

    Raises `EventRefused` for anything else: not an envelope, a type or version
    without a contract, data outside the contract, or a producer that does not own the type.
    """
    if not isinstance(body, dict):
        raise EventRefused("not_an_envelope", f"a JSON {type(body).__name__}, not an object")
    event_type, version = body.get("type"), body.get("version")
    if not any(t.event_type == event_type for t in EVENT_TYPES):
        raise EventRefused("unknown_type", f"no contract for type {str(event_type)[:100]!r}")
    model = _BY_KEY.get((event_type, version))
    if model is None:
        raise EventRefused("unknown_version", f"no contract for {event_type} v{str(version)[:20]}")
    try:
        envelope = envelope_of(model).model_validate(body)
    except ValidationError as error:
        in_data = all(e["loc"][:1] == ("data",) for e in error.errors())
        raise EventRefused("invalid_data" if in_data else "not_an_envelope", _summary(error)) from error
    if envelope.producer != model.owner:
        raise EventRefused("wrong_producer", f"{event_type} comes from {model.owner}, not {envelope.producer[:100]!r}")
    return envelope


def _summary(error: ValidationError) -> str:
    # Field paths and messages only: the input itself may be large or personal.
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])


def to_wire(envelope: Envelope[Any]) -> dict[str, Any]:
    # serialize_as_any: `data` is declared as the EventData base; dump the concrete model's fields.
    return envelope.model_dump(mode="json", serialize_as_any=True)
