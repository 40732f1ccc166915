"""What notify says, to whom: Vietnamese messages rendered from templates; a message's
life (pending, then sent or failed) and what each outcome announces; what storing
contacts and messages must promise (`Messages`). No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from string import Template
from typing import Any, Protocol
from uuid import UUID

from gandan.shared.clock import local
from gandan.shared.events import (
    DeliveryChannel,
    Envelope,
    EventData,
    NotificationFailed,
    NotificationOutcome,
    NotificationSent,
    RecipientRole,
    VisitScheduled,
    for_service,
)
from gandan.shared.idempotency import effect_id

EVENTS = for_service("notify")
# Temporary failures are retried with growing pauses, then given up as failed (like GOV.UK Notify).
MAX_SEND_ATTEMPTS = 8

_WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")

# Versioned names: a changed wording is a new template, so evidence says which text was sent.
TEMPLATES: dict[str, Template] = {
    "visit_appointment_citizen.v1": Template(
        "Kính gửi ông/bà $citizen_name: $centre hẹn đến nhà ông/bà lúc $when để hỗ trợ thủ tục "
        '"$procedure". Cán bộ $officer_name cùng ông/bà $leader_name (tổ dân phố $group) sẽ đến. '
        "Mã yêu cầu: $request_code."
    ),
    "visit_assignment_officer.v1": Template(
        "Phân công: đồng chí $officer_name đến nhà ông/bà $citizen_name, $address (tổ dân phố $group) "
        'lúc $when để hỗ trợ thủ tục "$procedure", cùng ông/bà $leader_name ($leader_phone). '
        "Mã yêu cầu: $request_code."
    ),
    "visit_assignment_leader.v1": Template(
        "Đề nghị ông/bà $leader_name cùng cán bộ $officer_name ($officer_phone) đến nhà ông/bà "
        '$citizen_name, $address lúc $when để hỗ trợ thủ tục "$procedure". Mã yêu cầu: $request_code.'
    ),
}


@dataclass(frozen=True)
class Contact:
    """How to reach the citizen of one request."""

    request_code: str
    name: str
    phone: str
    address: str
    residential_group: str


@dataclass(frozen=True)
class Draft:
    """What to say to one person, not yet a message of its own."""

    recipient_role: RecipientRole
    recipient_name: str
    phone: str
    template: str
    text: str


def when(moment: datetime) -> str:
    """`08:00 thứ Ba, 01/12/2026`, in Vietnam's time."""
    at = local(moment)
    return f"{at:%H:%M} {_WEEKDAYS[at.weekday()]}, {at:%d/%m/%Y}"


def centre_of(ward_name: str | None) -> str:
    # "Phường Thạch Khôi" reads "phường Thạch Khôi" inside a sentence.
    return (
        f"Trung tâm Phục vụ hành chính công {ward_name[:1].lower()}{ward_name[1:]}"
        if ward_name
        else "Trung tâm Phục vụ hành chính công"
    )


def visit_messages(visit: VisitScheduled, contact: Contact, ward_name: str | None) -> tuple[Draft, ...]:
    """The appointment for the citizen and the assignment for the officer and the group leader."""
    values = {
        "citizen_name": contact.name,
        "address": contact.address,
        "group": visit.residential_group,
        "centre": centre_of(ward_name),
        "when": when(visit.starts_at),
        "procedure": visit.procedure,
        "officer_name": visit.officer.name,
        "officer_phone": visit.officer.phone,
        "leader_name": visit.leader.name,
        "leader_phone": visit.leader.phone,
        "request_code": visit.request_code,
    }
    recipients = (
        (RecipientRole.CITIZEN, contact.name, contact.phone, "visit_appointment_citizen.v1"),
        (RecipientRole.OFFICER, visit.officer.name, visit.officer.phone, "visit_assignment_officer.v1"),
        (RecipientRole.GROUP_LEADER, visit.leader.name, visit.leader.phone, "visit_assignment_leader.v1"),
    )
    return tuple(
        Draft(role, name, phone, template, TEMPLATES[template].substitute(values))
        for role, name, phone, template in recipients
    )


# --- a message and its outcome ---------------------------------------------------


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class Cause:
    """The event that asked for a message: its outcome event is caused by it, in the same piece of work."""

    event_id: UUID
    correlation_id: UUID


@dataclass
class Message:
    """One message to one person, from the moment it is prepared until it is sent or given up."""

    id: str
    ward_code: str
    request_code: str
    recipient_role: RecipientRole
    recipient_name: str
    phone: str
    channel: DeliveryChannel
    template: str
    text: str
    cause: Cause
    created_at: datetime
    next_attempt_at: datetime
    status: MessageStatus = MessageStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    provider_message_id: str | None = None
    failed_at: datetime | None = None
    failure: str | None = None
    # What its last change announces, for the repository to store with it.
    events: list[Envelope[EventData]] = field(default_factory=list, compare=False)

    @classmethod
    def prepared(
        cls, cause: Envelope[VisitScheduled], draft: Draft, channel: DeliveryChannel, now: datetime
    ) -> Message:
        return cls(
            # One message per recipient of this event: a redelivery prepares the same ids.
            id=effect_id(cause.id, draft.recipient_role.value),
            ward_code=cause.ward_code,
            request_code=cause.data.request_code,
            recipient_role=draft.recipient_role,
            recipient_name=draft.recipient_name,
            phone=draft.phone,
            channel=channel,
            template=draft.template,
            text=draft.text,
            cause=Cause(cause.id, cause.correlation_id),
            created_at=now,
            next_attempt_at=now,
        )

    def mark_sent(self, provider_message_id: str, at: datetime) -> None:
        self._still_pending()
        self.status, self.sent_at, self.provider_message_id = MessageStatus.SENT, at, provider_message_id
        self.events.append(self._outcome(NotificationSent, provider_message_id=provider_message_id))

    def record_failure(self, reason: str, *, permanent: bool, at: datetime) -> None:
        """A temporary failure is tried again after a growing pause; the last one, or a permanent one, fails it."""
        self._still_pending()
        self.attempts += 1
        if not permanent and self.attempts < MAX_SEND_ATTEMPTS:
            self.last_error = reason
            self.next_attempt_at = at + timedelta(seconds=min(30 * 2**self.attempts, 3600))
            return
        self.status, self.failed_at, self.failure = MessageStatus.FAILED, at, reason
        self.events.append(self._outcome(NotificationFailed, reason=reason, permanent=permanent))

    def _still_pending(self) -> None:
        if self.status is not MessageStatus.PENDING:
            raise ValueError(f"message {self.id} is {self.status.value}, no longer pending")

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

    async def add(self, messages: list[Message]) -> int:
        """Store each message whose id is new; returns how many this call stored."""
        ...

    async def due(self, now: datetime, limit: int) -> list[Message]:
        """Pending messages whose next attempt is due."""
        ...

    async def save(self, messages: list[Message]) -> None:
        """Store how pending messages moved on, each with what it announces, in one command.

        A message no longer pending is left as it is: its outcome is recorded once.
        """
        ...

    async def listing(self, ward_code: str, request_code: str | None, limit: int) -> list[Message]:
        """The ward's messages, newest first."""
        ...
