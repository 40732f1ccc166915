"""What notify says, to whom and when: the messages of an event, rendered from versioned templates;
a message's life (created → sending → sent → delivered, or a failure) and what each outcome
announces; quiet hours; what storing contacts and messages must promise (`Messages`). No I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from gandan.notify.replies import Reply
from gandan.notify.templates import LETTERS, TEMPLATES, Encoding, Template, clipped, sms_size
from gandan.shared.clock import LOCAL_TZ, local
from gandan.shared.events import (
    AppointmentAgreed,
    DeliveryChannel,
    DigestPrepared,
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
    RoutePlanned,
    RouteStop,
    ServiceLevelBreached,
    ServiceLevelRule,
    StaffAnswer,
    StaffContact,
    StaffReplied,
    VisitRescheduled,
    VisitScheduled,
    VisitUnassignable,
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
    # What it is about: a request code, or the key of a message about no one request (`route_key`,
    # `digest_key`); NotificationOutcome carries it as its `request_code`.
    subject: str = field(kw_only=True)
    # Tells apart recipients of one role and template in one event (a day's citizens, the leadership).
    recipient_key: str = field(default="", kw_only=True)
    # What a staff reply to it refers to (`visit_id`, `staff_id`, `day`): kept with the message.
    refs: Mapping[str, str] = field(default_factory=dict, kw_only=True)


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
    # What the staff's replies refer to.
    assignment = {"visit_id": visit.visit_id, "day": local(visit.starts_at).date().isoformat()}
    recipients: tuple[tuple[RecipientRole, str, str, tuple[str, int], dict[str, str]], ...] = (
        (RecipientRole.CITIZEN, contact.name, contact.phone, ("visit_appointment_citizen", 3), {}),
        (
            RecipientRole.OFFICER,
            visit.officer.name,
            visit.officer.phone,
            ("visit_assignment_officer", 3),
            assignment | {"staff_id": visit.officer.staff_id},
        ),
        (RecipientRole.GROUP_LEADER, visit.leader.name, visit.leader.phone, ("visit_assignment_leader", 3), assignment),
    )
    drafts = (
        Draft(role, name, phone, TEMPLATES[key], _used(TEMPLATES[key], values), subject=visit.request_code, refs=refs)
        for role, name, phone, key, refs in recipients
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
    draft = Draft(
        RecipientRole.CITIZEN,
        contact.name,
        contact.phone,
        template,
        _used(template, values | own),
        subject=event.request_code,
    )
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


# --- letters of dispatch's planned day (route.planned, visit.unassignable, visit.rescheduled,
# service_level.breached, digest.prepared) -------------------------------------------------------

SMS_PARTS = 2  # what an SMS may take for typical values
# The templates a staff member answers (OK / KHÔNG / ĐỔI …): the officer's and the group leader's assignments.
ANSWERABLE = frozenset({"visit_assignment_officer", "visit_rescheduled_officer", "visit_assignment_leader"})
_RULES = {
    ServiceLevelRule.FIRST_CONTACT: "gọi hẹn trong 1 ngày làm việc",
    ServiceLevelRule.VISIT_DEADLINE: "đến nhà đúng hạn",
}
_DETAIL_SHORT = 50


def route_key(day: date, team_id: str) -> str:
    """What a team's day's route is about, in place of a request code."""
    return f"route:{day.isoformat()}:{team_id}"


def digest_key(day: date) -> str:
    return f"digest:{day.isoformat()}"


def day_short(day: date) -> str:
    """`30/11`."""
    return f"{day:%d/%m}"


def day_long(day: date) -> str:
    """`thứ Hai, 30/11/2026`."""
    return f"{_WEEKDAYS[day.weekday()]}, {day:%d/%m/%Y}"


def _clock(moment: datetime) -> str:
    at = local(moment)
    return f"{at.hour}:{at.minute:02d}"


def window(stop: RouteStop) -> str:
    """`8:10-8:50`, in Vietnam's time (a hyphen: an en dash is not in the GSM alphabet)."""
    return f"{_clock(stop.arrives_from)}-{_clock(stop.arrives_until)}"


def _fit(
    template: Template, values: dict[str, str], name: str, render: Callable[[int], str], most: int
) -> dict[str, str]:
    """`values` with `name` rendered with as many of `most` items as keep the SMS within two parts."""
    for shown in range(most, 0, -1):
        fitted = values | {name: render(shown)}
        if sms_size(template.sms_text(fitted, unaccented=False)).segments <= SMS_PARTS:
            return fitted
    return values | {name: render(0)}


def route_messages(
    route: RoutePlanned, contacts: Mapping[str, Contact], told: Mapping[str, str], ward_name: str | None
) -> tuple[Draft, ...]:
    """Each citizen of the day their arrival window, unless `told` (request code → window) says they have
    it already; the officer and companions the route of the day, in order."""
    drafts: list[Draft] = []
    citizen_letter = LETTERS["visit_window_citizen"]
    common = {
        "ward": ward_short(ward_name),
        "centre": centre_of(ward_name),
        "day": day_short(route.day),
        "day_long": day_long(route.day),
    }
    for stop in route.stops:
        if told.get(stop.request_code) == window(stop):
            continue
        contact = contacts[stop.request_code]
        values = common | {
            "citizen_name": contact.name,
            "window": window(stop),
            "procedure": stop.procedure,
            "request_code": stop.request_code,
        }
        draft = Draft(
            RecipientRole.CITIZEN,
            contact.name,
            contact.phone,
            citizen_letter,
            _used(citizen_letter, values),
            subject=stop.request_code,
            recipient_key=stop.request_code,
            refs={"day": route.day.isoformat()},  # what `Messages.windows_told` finds it by
        )
        if (chosen := for_citizen(draft, contact.preferences)) is not None:
            drafts.append(chosen)
    letter = LETTERS["route_of_day_officer"]
    stops = [f"{window(s)} {s.request_code} ({s.residential_group})" for s in route.stops]
    count = f"{len(stops)} nhà"
    listed = f"{count}: " + "; ".join(f"{i}) {stop}" for i, stop in enumerate(stops, 1)) if stops else ""

    def short(shown: int) -> str:
        if not stops:
            return "không còn nhà nào."
        more = len(stops) - shown
        first = [f"{_clock(s.arrives_from)} {s.request_code} {s.residential_group}" for s in route.stops[:shown]]
        return f"{count}: " + "; ".join(first + ([f"+{more} nhà"] if more else []))

    for staff in (route.officer, *route.companions):
        values = common | {
            "changed": " (đã đổi)" if route.revision > 1 else "",
            "officer_name": staff.name,
            "stops": listed or "không còn nhà nào",
        }
        values = _fit(letter, values, "stops_short", short, len(stops))
        drafts.append(
            Draft(
                RecipientRole.OFFICER,
                staff.name,
                staff.phone,
                letter,
                _used(letter, values),
                subject=route_key(route.day, route.team_id),
                recipient_key=staff.staff_id,
            )
        )
    return tuple(drafts)


def unassignable_messages(event: VisitUnassignable, contact: Contact, ward_name: str | None) -> tuple[Draft, ...]:
    """The citizen: the centre will call; each of the leadership: whom to call, and why."""
    values = {
        "ward": ward_short(ward_name),
        "centre": centre_of(ward_name),
        "request_code": event.request_code,
        "citizen_name": contact.name,
        "citizen_phone": contact.phone,
        "detail": event.detail,
        "detail_short": clipped(event.detail, _DETAIL_SHORT),
    }
    citizen_letter = LETTERS["visit_unassignable_citizen"]
    citizen = Draft(
        RecipientRole.CITIZEN,
        contact.name,
        contact.phone,
        citizen_letter,
        _used(citizen_letter, values),
        subject=event.request_code,
    )
    chosen = for_citizen(citizen, contact.preferences)
    return (
        *((chosen,) if chosen else ()),
        *_to_leadership("visit_unassignable_leadership", event.leadership, values, event.request_code),
    )


def rescheduled_messages(event: VisitRescheduled, contact: Contact, ward_name: str | None) -> tuple[Draft, ...]:
    """The citizen: the new time and officer; the new officer: the assignment, with the citizen's phone."""
    values = {
        "ward": ward_short(ward_name),
        "centre": centre_of(ward_name),
        "citizen_name": contact.name,
        "citizen_phone": contact.phone,
        "address": contact.address,
        "when": when_between(event.starts_at, event.ends_at),
        "when_short": when_between_short(event.starts_at, event.ends_at),
        "officer_name": event.officer.name,
        "leader_name": event.leader.name,
        "leader_phone": event.leader.phone,
        "request_code": event.request_code,
    }
    to_citizen, to_officer = LETTERS["visit_rescheduled_citizen"], LETTERS["visit_rescheduled_officer"]
    citizen = Draft(
        RecipientRole.CITIZEN,
        contact.name,
        contact.phone,
        to_citizen,
        _used(to_citizen, values),
        subject=event.request_code,
    )
    officer = Draft(
        RecipientRole.OFFICER,
        event.officer.name,
        event.officer.phone,
        to_officer,
        _used(to_officer, values),
        subject=event.request_code,
        refs={
            "visit_id": event.visit_id,
            "staff_id": event.officer.staff_id,
            "day": local(event.starts_at).date().isoformat(),
        },
    )
    chosen = for_citizen(citizen, contact.preferences)
    return (*((chosen,) if chosen else ()), officer)


def breach_messages(event: ServiceLevelBreached, ward_name: str | None) -> tuple[Draft, ...]:
    values = {
        "centre": centre_of(ward_name),
        "request_code": event.request_code,
        "rule": _RULES[event.rule],
        "due": when(event.due_at),
        "due_short": when_short(event.due_at),
    }
    return _to_leadership("service_level_breached_leadership", event.leadership, values, event.request_code)


def digest_messages(event: DigestPrepared, ward_name: str | None) -> tuple[Draft, ...]:
    letter = LETTERS["digest_leadership"]
    codes = [*event.unassigned, *event.late]
    values = {
        "ward": ward_short(ward_name),
        "centre": centre_of(ward_name),
        "day": day_short(event.day),
        "day_long": day_long(event.day),
        "routes": str(event.routes),
        "visits": str(event.visits),
        "unassigned_count": str(len(event.unassigned)),
        "unassigned": ", ".join(event.unassigned) or "không",
        "late_count": str(len(event.late)),
        "late": ", ".join(event.late) or "không",
    }

    def short(shown: int) -> str:
        unassigned, late = event.unassigned[:shown], event.late[: max(0, shown - len(event.unassigned))]
        parts = [
            f"{label}: {', '.join(listed)}" for label, listed in (("Chưa xếp", unassigned), ("Trễ", late)) if listed
        ]
        more = len(codes) - shown
        return "; ".join(parts + ([f"+{more} mã"] if more else []))

    values = _fit(letter, values, "codes_short", short, len(codes))
    return _to_leadership("digest_leadership", event.leadership, values, digest_key(event.day))


def _to_leadership(
    template_id: str, leadership: tuple[StaffContact, ...], values: dict[str, str], subject: str
) -> tuple[Draft, ...]:
    letter = LETTERS[template_id]
    return tuple(
        Draft(
            RecipientRole.LEADERSHIP,
            person.name,
            person.phone,
            letter,
            _used(letter, values),
            subject=subject,
            recipient_key=person.staff_id,
        )
        for person in leadership
    )


def help_message(assignment: Message) -> Draft:
    """The short help SMS to a staff member whose answer to `assignment` was not understood."""
    letter = LETTERS["staff_reply_help"]
    return Draft(
        assignment.recipient_role,
        assignment.recipient_name,
        assignment.phone,
        letter,
        {"request_code": assignment.request_code},
        subject=assignment.request_code,
    )


def staff_replied(assignment: Message, reply: Reply, channel: DeliveryChannel) -> StaffReplied | None:
    """What a reply to `assignment` announces; None if it was not understood."""
    proposed_at = reply.proposed_at(date.fromisoformat(assignment.refs["day"]))
    if reply.answer is None or (reply.answer is StaffAnswer.OTHER_TIME and proposed_at is None):
        return None
    return StaffReplied(
        request_code=assignment.request_code,
        visit_id=assignment.refs["visit_id"],
        recipient_role=assignment.recipient_role,
        staff_id=assignment.refs.get("staff_id"),
        answer=reply.answer,
        proposed_at=proposed_at,
        channel=channel,
    )


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
    refs: dict[str, str] = field(default_factory=dict)  # what a staff reply to it refers to (Draft.refs)
    # What its last change announces, for the repository to store with it.
    events: list[Envelope[EventData]] = field(default_factory=list, compare=False)

    @classmethod
    def prepared(
        cls,
        cause: Envelope[EventData],
        draft: Draft,
        channel: DeliveryChannel,
        now: datetime,
        policy: Policy,
    ) -> Message:
        # One message per event, recipient and template: a redelivery prepares the same ids.
        part = f"{draft.recipient_role.value}:{draft.template.id}"
        if draft.recipient_key:
            part = f"{part}:{draft.recipient_key}"
        return cls.drafted(
            effect_id(cause.id, part),
            cause.ward_code,
            Cause(cause.id, cause.correlation_id),
            draft,
            channel,
            now,
            policy,
        )

    @classmethod
    def drafted(
        cls,
        id: str,
        ward_code: str,
        cause: Cause,
        draft: Draft,
        channel: DeliveryChannel,
        now: datetime,
        policy: Policy,
    ) -> Message:
        template = draft.template
        text = template.sms_text(draft.values, unaccented=ward_code in policy.unaccented_wards)
        size = sms_size(text)
        return cls(
            id=id,
            ward_code=ward_code,
            request_code=draft.subject,
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
            cause=cause,
            created_at=now,
            next_attempt_at=policy.earliest(ward_code, draft.recipient_role, template.id, now),
            refs=dict(draft.refs),
        )

    @property
    def template(self) -> str:
        return f"{self.template_id}.v{self.template_version}"

    def due(self, now: datetime) -> bool:
        return self.status is MessageStatus.CREATED and self.next_attempt_at <= now

    @property
    def due_at(self) -> datetime | None:
        """When a sender next takes it up, whichever way it comes due: an attempt, a claim that runs
        out, a receipt that did not come in time. None once it has nothing left to do."""
        match self.status:
            case MessageStatus.CREATED:
                return self.next_attempt_at
            case MessageStatus.SENDING:
                return self.lease_until
            case MessageStatus.SENT:
                return self.fallback_at
        return None

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

    async def claimed(self, owner: str, ids: list[str]) -> list[Message]:
        """Those of the messages `ids` that `owner` claimed and has not finished."""
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

    # --- for dispatch's planned day and the staff's replies ---

    async def contacts_of(self, request_codes: list[str]) -> dict[str, Contact]:
        """The contacts known of these requests, by request code."""
        ...

    async def claim_route(self, ward_code: str, day: date, team_id: str, revision: int, event_id: UUID) -> bool:
        """Whether this revision of the team's day is the latest one seen, and `event_id` the event that
        brought it (so its redelivery goes on); False if a later revision, or another event, had it first."""
        ...

    async def windows_told(self, day: date, request_codes: list[str], except_cause: UUID) -> dict[str, str]:
        """The arrival window last prepared for each of these citizens for `day`, by events other than `except_cause`."""
        ...

    async def latest_answerable(self, phone: str) -> Message | None:
        """The latest message to `phone` a staff member answers (`ANSWERABLE`)."""
        ...

    async def record_reply(self, reply_id: str, reply: dict[str, Any], event: Envelope[EventData]) -> bool:
        """Store a staff reply with the event it announces, in one write, once per `reply_id`; True if new."""
        ...
