"""What notify says, to whom and when: the messages of an event, rendered from versioned templates;
a message's life (created → sending → sent → delivered, or a failure) and what each outcome
announces; quiet hours; what storing contacts and messages must promise (`Messages`). No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from gandan.notify.templates import LETTERS, TEMPLATES, Encoding, Template, sms_size
from gandan.shared.clock import LOCAL_TZ, local
from gandan.shared.events import (
    AppointmentAgreed,
    DeliveryChannel,
    Envelope,
    EventData,
    NotificationDelivered,
    NotificationFailed,
    NotificationOutcome,
    NotificationSent,
    ProcedureKind,
    RecipientRole,
    RequestClosed,
    RequestOverdue,
    RequestProgress,
    ResultDelivered,
    ResultHandover,
    ResultReady,
    VisitScheduled,
    for_service,
)
from gandan.shared.idempotency import effect_id

EVENTS = for_service("notify")
# Failures that may pass are retried with growing pauses, then given up (as GOV.UK Notify does).
MAX_SEND_ATTEMPTS = 8
FIRST_RETRY_SECONDS, LONGEST_RETRY_SECONDS = 60, 3600

_WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")
_SHORT_WEEKDAYS = ("T2", "T3", "T4", "T5", "T6", "T7", "CN")


@dataclass(frozen=True)
class Preferences:
    """What the citizen of a request chose: a channel to be written on first, and whether to get
    messages that are not essential to their request (surveys, greetings)."""

    channel: DeliveryChannel | None = None
    non_essential: bool = True


@dataclass(frozen=True)
class Contact:
    """How to reach the citizen of one request."""

    request_code: str
    name: str
    phone: str
    address: str
    residential_group: str
    preferences: Preferences = Preferences()


@dataclass(frozen=True)
class Draft:
    """What to say to one person, not yet a message of its own."""

    recipient_role: RecipientRole
    recipient_name: str
    phone: str
    template: Template
    values: dict[str, str]
    preferred: DeliveryChannel | None = None  # the citizen's choice; staff go by the ward's route


def when(moment: datetime) -> str:
    """`08:00 thứ Ba, 01/12/2026`, in Vietnam's time."""
    at = local(moment)
    return f"{at:%H:%M} {_WEEKDAYS[at.weekday()]}, {at:%d/%m/%Y}"


def when_short(moment: datetime) -> str:
    """`08:00 T3 01/12`, for an SMS, where every character counts."""
    at = local(moment)
    return f"{at:%H:%M} {_SHORT_WEEKDAYS[at.weekday()]} {at:%d/%m}"


# Dispatch proposes a half-day (07:30–11:30 or 13:30–17:00): a visit longer than this is told as the
# time it may come in, not as an hour the team cannot promise.
_AN_HOUR = timedelta(hours=1)
_NOON = time(12)


def when_between(starts_at: datetime, ends_at: datetime) -> str:
    """`sáng thứ Hai, 30/11/2026 (7:30–11:30)` for a half-day; `08:00 thứ Hai, 30/11/2026` for an hour."""
    if ends_at - starts_at <= _AN_HOUR:
        return when(starts_at)
    start, end = local(starts_at), local(ends_at)
    day = f"{_WEEKDAYS[start.weekday()]}, {start:%d/%m/%Y}"
    return f"{_part_of_day(start, end)}{day} ({_hour(start)}–{_hour(end)})"


def when_between_short(starts_at: datetime, ends_at: datetime) -> str:
    """`sáng 30/11` for a half-day, `08:00 T2 30/11` for an hour: for an SMS."""
    if ends_at - starts_at <= _AN_HOUR:
        return when_short(starts_at)
    start, end = local(starts_at), local(ends_at)
    return f"{_part_of_day(start, end)}{start:%d/%m}"


def _part_of_day(start: datetime, end: datetime) -> str:
    if end.time() <= _NOON:
        return "sáng "
    if start.time() >= _NOON:
        return "chiều "
    return ""  # a whole day: its date says it


def _hour(at: datetime) -> str:
    return f"{at.hour}:{at.minute:02d}"


def centre_of(ward_name: str | None) -> str:
    # "Phường Thạch Khôi" reads "phường Thạch Khôi" inside a sentence.
    return (
        f"Trung tâm Phục vụ hành chính công {ward_name[:1].lower()}{ward_name[1:]}"
        if ward_name
        else "Trung tâm Phục vụ hành chính công"
    )


def ward_short(ward_name: str | None) -> str:
    """`Phường Thạch Khôi` → `P.Thạch Khôi`, `Xã Hồng Châu` → `X.Hồng Châu`: who speaks, in an SMS."""
    if not ward_name:
        return "TT Phục vụ HCC"
    kind, _, name = ward_name.partition(" ")
    return f"{kind[:1].upper()}.{name}" if name else ward_name


def visit_messages(visit: VisitScheduled, contact: Contact, ward_name: str | None) -> tuple[Draft, ...]:
    """The appointment for the citizen and the assignment for the officer and the group leader."""
    values = {
        "citizen_name": contact.name,
        "citizen_phone": contact.phone,
        "address": contact.address,
        "group": visit.residential_group,
        "centre": centre_of(ward_name),
        "ward": ward_short(ward_name),
        "when": when_between(visit.starts_at, visit.ends_at),
        "when_short": when_between_short(visit.starts_at, visit.ends_at),
        "procedure": visit.procedure,
        "officer_name": visit.officer.name,
        "officer_phone": visit.officer.phone,
        "leader_name": visit.leader.name,
        "leader_phone": visit.leader.phone,
        "request_code": visit.request_code,
    }
    recipients = (
        (RecipientRole.CITIZEN, contact.name, contact.phone, ("visit_appointment_citizen", 3)),
        (RecipientRole.OFFICER, visit.officer.name, visit.officer.phone, ("visit_assignment_officer", 3)),
        (RecipientRole.GROUP_LEADER, visit.leader.name, visit.leader.phone, ("visit_assignment_leader", 3)),
    )
    drafts = (
        Draft(role, name, phone, TEMPLATES[key], _used(TEMPLATES[key], values)) for role, name, phone, key in recipients
    )
    return tuple(d for d in (for_citizen(d, contact.preferences) for d in drafts) if d is not None)


def for_citizen(draft: Draft, preferences: Preferences) -> Draft | None:
    """The draft as the citizen chose to get it, or None if they do not want it; staff's drafts as they are."""
    if draft.recipient_role is not RecipientRole.CITIZEN:
        return draft
    if not draft.template.essential and not preferences.non_essential:
        return None
    return replace(draft, preferred=preferences.channel)


def _used(template: Template, values: dict[str, str]) -> dict[str, str]:
    """The values the template uses: a message records its parameters, and no personal data it did not carry."""
    names = {m.group("named") or m.group("braced") for m in template.sms.pattern.finditer(template.sms.template)}
    names |= set(template.zns_limits)
    return {name: value for name, value in values.items() if name in names}


# --- the letters of a request's progress (intake's lifecycle events) ----------------

# What to bring to the visit. The seeds name no documents; these few come from the law that makes each
# procedure (Luật Hộ tịch 2014 art. 16, 34; Nghị định 23/2015 art. 20), and every other procedure gets
# the generic list. Keyed by the procedure as the forms name it, in lower case.
DOCUMENTS_TO_BRING: Mapping[str, str] = {
    "đăng ký khai sinh": "CCCD, giấy chứng sinh",
    "đăng ký khai tử": "CCCD, giấy báo tử",
    "chứng thực bản sao từ bản chính": "CCCD, bản chính cần chứng thực",
}
ANY_DOCUMENTS = "CCCD, giấy tờ liên quan"
# Whom a citizen calls to move an appointment when neither the officer nor the centre's number is known.
THE_CENTRE = "Trung tâm PVHCC"


def documents_to_bring(procedure: str | None) -> str:
    return DOCUMENTS_TO_BRING.get((procedure or "").strip().lower(), ANY_DOCUMENTS)


@dataclass(frozen=True)
class BookedVisit:
    """What notify told the officer of a request's visit: their phone and the procedure."""

    officer_phone: str
    procedure: str | None


def progress_letters(
    event: RequestProgress,
    contact: Contact,
    ward: tuple[str, str | None],
    visit: BookedVisit | None,
    policy: Policy,
) -> tuple[Draft, ...]:
    """The letter a change of the request's state calls for, to its citizen; none for the others.
    `ward` is the request's ward, by code and name; `visit` what the officer was told, if anything."""
    ward_code, ward_name = ward
    values = {
        "citizen_name": contact.name,
        "centre": centre_of(ward_name),
        "ward": ward_short(ward_name),
        "request_code": event.request_code,
    }
    letter: tuple[str, dict[str, str]] | None
    match event:
        case AppointmentAgreed():
            letter = appointment_letter(event, visit, policy.centre_phones.get(ward_code))
        case ResultReady():
            letter = result_ready_letter(event)
        case ResultDelivered():
            letter = result_delivered_letter(event)
        case RequestOverdue():
            letter = ("request_overdue_apology", {"new_due_date": f"{event.new_due_date:%d/%m/%Y}"})
        case RequestClosed():
            letter = ("request_closed_survey", {"survey_url": policy.survey_url}) if policy.survey_url else None
        case _:
            letter = None
    if letter is None:
        return ()
    template_id, own = letter
    template = LETTERS[template_id]
    draft = Draft(RecipientRole.CITIZEN, contact.name, contact.phone, template, _used(template, values | own))
    chosen = for_citizen(draft, contact.preferences)
    return (chosen,) if chosen is not None else ()


def appointment_letter(
    event: AppointmentAgreed, visit: BookedVisit | None, centre_phone: str | None
) -> tuple[str, dict[str, str]]:
    """The agreed time, what to bring, and whom to call to move it: the officer who comes, once a visit
    was booked and announced; else the centre."""
    return (
        "appointment_agreed_citizen",
        {
            "when": when_between(event.starts_at, event.ends_at),
            "when_short": when_between_short(event.starts_at, event.ends_at),
            "documents": documents_to_bring(visit.procedure if visit else None),
            "hotline": (visit.officer_phone if visit else None) or centre_phone or THE_CENTRE,
        },
    )


_RESULT_READY = {
    ResultHandover.PORTAL: "result_ready_portal",
    ResultHandover.POST: "result_ready_post",
    ResultHandover.AT_CENTRE: "result_ready_centre",
    ResultHandover.AT_HOME: "result_ready_home",
}


def result_ready_letter(event: ResultReady) -> tuple[str, dict[str, str]]:
    # Intake requires a tracking number exactly for a result sent by post.
    return _RESULT_READY[event.handover], {"tracking_number": event.tracking_number or ""}


# A congratulation for a birth or a marriage, a condolence for a death (seed 004 B.4); no letter for the rest.
_GREETINGS = {
    ProcedureKind.BIRTH_REGISTRATION: "result_delivered_birth",
    ProcedureKind.MARRIAGE_REGISTRATION: "result_delivered_marriage",
    ProcedureKind.DEATH_REGISTRATION: "result_delivered_death",
}


def result_delivered_letter(event: ResultDelivered) -> tuple[str, dict[str, str]] | None:
    template_id = _GREETINGS.get(event.procedure_kind)
    return (template_id, {}) if template_id else None


# --- when citizens may be written to -----------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """No message to a citizen from `start` to `end` local time (across midnight)."""

    start: time = time(21)
    end: time = time(7)

    def defer(self, at: datetime) -> datetime:
        """`at`, or the end of the quiet hours it falls in."""
        moment = local(at)
        if self.start <= moment.time():
            day = moment.date() + timedelta(days=1)
        elif moment.time() < self.end:
            day = moment.date()
        else:
            return at
        return datetime.combine(day, self.end, LOCAL_TZ).astimezone(at.tzinfo)


@dataclass(frozen=True)
class Policy:
    """What each ward chose: quiet hours (None: none), templates urgent enough to break them, unaccented SMS."""

    quiet_hours: QuietHours | None = QuietHours()
    urgent: Mapping[str, frozenset[str]] = field(default_factory=dict)  # ward code → template ids
    unaccented_wards: frozenset[str] = frozenset()
    # ward code → the centre's number, for a citizen to call when no officer is known yet
    centre_phones: Mapping[str, str] = field(default_factory=dict)
    # Where citizens answer the satisfaction survey (a page over intake's POST /v1/survey); None: not asked.
    survey_url: str | None = None

    def earliest(self, ward_code: str, role: RecipientRole, template_id: str, at: datetime) -> datetime:
        """When a message may go: staff are written to at any hour; citizens not in quiet hours, unless urgent."""
        if self.quiet_hours is None or role is not RecipientRole.CITIZEN:
            return at
        if template_id in self.urgent.get(ward_code, frozenset()):
            return at
        return self.quiet_hours.defer(at)


# --- a message and its outcome ---------------------------------------------------


class MessageStatus(StrEnum):
    CREATED = "created"  # stored, waiting for its (next) attempt
    SENDING = "sending"  # claimed by one sender until its lease ends
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"  # the provider says it reached the phone
    PERMANENT_FAILURE = "permanent-failure"  # the number cannot get it
    TEMPORARY_FAILURE = "temporary-failure"  # the phone stayed unreachable through every retry
    TECHNICAL_FAILURE = "technical-failure"  # the providers stayed in trouble through every retry


FINAL = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.PERMANENT_FAILURE,
        MessageStatus.TEMPORARY_FAILURE,
        MessageStatus.TECHNICAL_FAILURE,
    }
)


class WrongStatus(ValueError):
    pass


@dataclass(frozen=True)
class Cause:
    """The event that asked for a message: its outcome event is caused by it, in the same piece of work."""

    event_id: UUID
    correlation_id: UUID


@dataclass
class Message:
    """One message to one person, from the moment it is prepared until it is delivered or given up."""

    id: str
    ward_code: str
    request_code: str
    recipient_role: RecipientRole
    recipient_name: str
    phone: str
    channel: DeliveryChannel
    template_id: str
    template_version: int
    params: dict[str, str]
    text: str  # the SMS form, as sent
    encoding: Encoding
    segments: int
    cause: Cause
    created_at: datetime
    next_attempt_at: datetime
    status: MessageStatus = MessageStatus.CREATED
    attempts: int = 0
    last_error: str | None = None
    # The sender that claimed it last: its outcome is stored only if no other claimed it since.
    lease_owner: str | None = None
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    provider_message_id: str | None = None
    # Sent by ZNS: when SMS follows if no receipt came by then.
    fallback_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    failure: str | None = None
    # What its last change announces, for the repository to store with it.
    events: list[Envelope[EventData]] = field(default_factory=list, compare=False)

    @classmethod
    def prepared(
        cls,
        cause: Envelope[VisitScheduled | RequestProgress],
        draft: Draft,
        channel: DeliveryChannel,
        now: datetime,
        policy: Policy,
    ) -> Message:
        template = draft.template
        text = template.sms_text(draft.values, unaccented=cause.ward_code in policy.unaccented_wards)
        size = sms_size(text)
        return cls(
            # One message per event, recipient and template: a redelivery prepares the same ids.
            id=effect_id(cause.id, f"{draft.recipient_role.value}:{template.id}"),
            ward_code=cause.ward_code,
            request_code=cause.data.request_code,
            recipient_role=draft.recipient_role,
            recipient_name=draft.recipient_name,
            phone=draft.phone,
            channel=channel,
            template_id=template.id,
            template_version=template.version,
            params=draft.values,
            text=text,
            encoding=size.encoding,
            segments=size.segments,
            cause=Cause(cause.id, cause.correlation_id),
            created_at=now,
            next_attempt_at=policy.earliest(cause.ward_code, draft.recipient_role, template.id, now),
        )

    @property
    def template(self) -> str:
        return f"{self.template_id}.v{self.template_version}"

    def due(self, now: datetime) -> bool:
        return self.status is MessageStatus.CREATED and self.next_attempt_at <= now

    def claim(self, owner: str, until: datetime) -> None:
        """This sender, and no other, sends it until `until`; a crashed sender's lease runs out."""
        self._expect(MessageStatus.CREATED)
        self.status, self.lease_owner, self.lease_until = MessageStatus.SENDING, owner, until

    def fall_back(self, channel: DeliveryChannel, reason: str) -> None:
        """The channel cannot reach the person: the next one carries it, as part of the same attempt."""
        self._expect(MessageStatus.SENDING)
        self.channel, self.last_error = channel, reason

    def mark_sent(self, provider_message_id: str, at: datetime, *, receipt_wait: timedelta | None = None) -> None:
        self._expect(MessageStatus.SENDING)
        self.status, self.sent_at, self.provider_message_id = MessageStatus.SENT, at, provider_message_id
        self.fallback_at = at + receipt_wait if receipt_wait is not None else None
        self.lease_until = None
        self.events.append(self._outcome(NotificationSent, provider_message_id=provider_message_id))

    def mark_delivered(self, at: datetime) -> None:
        self._expect(MessageStatus.SENT)
        self.status, self.delivered_at, self.fallback_at = MessageStatus.DELIVERED, at, None
        provider_message_id = self.provider_message_id or ""
        self.events.append(self._outcome(NotificationDelivered, provider_message_id=provider_message_id))

    def mark_undelivered(self, reason: str, at: datetime) -> None:
        """The provider says the message it accepted will not reach the phone (the carrier rejected it)."""
        self._expect(MessageStatus.SENT)
        self.status, self.failed_at, self.failure, self.fallback_at = MessageStatus.PERMANENT_FAILURE, at, reason, None
        self.events.append(self._outcome(NotificationFailed, reason=reason, permanent=True))

    def record_failure(
        self,
        reason: str,
        *,
        retry: bool,
        permanent: bool,
        technical: bool,
        at: datetime,
        retry_after: float | None,
        policy: Policy,
    ) -> None:
        """A failure that may pass is tried again after a growing pause (`retry_after` if the provider
        said); the last one, or one that will not pass, fails the message and announces it."""
        self._expect(MessageStatus.SENDING)
        self.attempts += 1
        self.lease_until = None
        if retry and self.attempts < MAX_SEND_ATTEMPTS:
            pause = min(FIRST_RETRY_SECONDS * 2 ** (self.attempts - 1), LONGEST_RETRY_SECONDS)
            self.status, self.last_error = MessageStatus.CREATED, reason
            retry_at = at + timedelta(seconds=max(pause, retry_after or 0))
            self.next_attempt_at = policy.earliest(self.ward_code, self.recipient_role, self.template_id, retry_at)
            return
        if permanent:
            self.status = MessageStatus.PERMANENT_FAILURE
        else:
            self.status = MessageStatus.TECHNICAL_FAILURE if technical else MessageStatus.TEMPORARY_FAILURE
        self.failed_at, self.failure = at, reason
        self.events.append(self._outcome(NotificationFailed, reason=reason, permanent=permanent))

    def _expect(self, status: MessageStatus) -> None:
        if self.status is not status:
            raise WrongStatus(f"message {self.id} is {self.status.value}, not {status.value}")

    def _outcome(self, outcome: type[NotificationOutcome], **details: Any) -> Envelope[EventData]:
        data = outcome(
            message_id=self.id,
            request_code=self.request_code,
            recipient_role=self.recipient_role,
            channel=self.channel,
            template=self.template,
            **details,
        )
        return EVENTS.new(
            data,
            ward_code=self.ward_code,
            correlation_id=self.cause.correlation_id,
            causation_id=self.cause.event_id,
        )


class Messages(Protocol):
    async def remember_contact(self, ward_code: str, contact: Contact) -> None:
        """Keep the first contact given for a request; later ones change nothing."""
        ...

    async def contact(self, request_code: str) -> Contact | None: ...

    async def booked_visit(self, request_code: str) -> BookedVisit | None:
        """What the officer of the request's latest visit was told, from their message; None before one."""
        ...

    async def set_preferences(self, ward_code: str, request_code: str, preferences: Preferences) -> bool:
        """Store the citizen's choice with the contact of the ward's request; False if there is none."""
        ...

    async def add(self, messages: list[Message]) -> list[Message]:
        """Store each message whose id is new; returns those this call stored."""
        ...

    async def claimed(self, owner: str) -> list[Message]:
        """The messages `owner` claimed and has not finished."""
        ...

    async def claim(self, now: datetime, owner: str, until: datetime, limit: int) -> list[Message]:
        """Claim for `owner` until `until` what is due: created messages whose attempt is due, messages
        whose sender's lease ran out, and messages sent by ZNS with no receipt by their `fallback_at`."""
        ...

    async def save(self, messages: list[Message]) -> None:
        """Store how claimed messages moved on, each with what it announces, in one command.

        A message no longer claimed by the same owner (its lease ran out and another took it) is left
        as it is: its outcome is recorded once.
        """
        ...

    async def by_provider_id(self, channel: DeliveryChannel, provider_message_id: str) -> Message | None: ...

    async def store_receipt(self, message: Message) -> bool:
        """Store what a delivery receipt said of a sent message, with its event; False if it was not `sent` any more."""
        ...

    async def listing(self, ward_code: str, request_code: str | None, limit: int) -> list[Message]:
        """The ward's messages, newest first."""
        ...
