"""How a request moves on after registration: one table of allowed transitions, the facts each
update carries, and the event each accepted change announces. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from gandan.intake.domain import EVENTS, RequestStatus
from gandan.shared.events import (
    AppointmentAgreed,
    CancelledBy,
    DossierReceived,
    DossierSubmission,
    DossierSubmitted,
    Envelope,
    EventData,
    ProcedureKind,
    RequestCancelled,
    RequestClosed,
    RequestOverdue,
    ResultDelivered,
    ResultHandover,
    ResultReady,
    RevisitNeeded,
    RevisitReason,
    SurveyAnswered,
    SurveyRating,
)

S = RequestStatus

# What the lifecycle announces (intake's SPEC `produces` them).
LIFECYCLE_EVENTS: tuple[type[EventData], ...] = (
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
)


class Step(StrEnum):
    """What can happen to a request after it is registered."""

    PROPOSE_APPOINTMENT = "propose_appointment"  # dispatch booked a visit (visit.scheduled)
    AGREE_APPOINTMENT = "agree_appointment"  # staff, after calling the citizen
    RECEIVE_DOSSIER_ONLINE = "receive_dossier_online"  # field report: submitted on the portal at the visit
    RECEIVE_DOSSIER_ON_PAPER = "receive_dossier_on_paper"  # field report: taken back to the desk
    REPORT_CITIZEN_ABSENT = "report_citizen_absent"
    REPORT_DOCUMENTS_MISSING = "report_documents_missing"
    CANCEL = "cancel"  # by the citizen or the centre
    SUBMIT_PAPER_DOSSIER = "submit_paper_dossier"  # one-stop system: the paper dossier entered
    MARK_RESULT_READY = "mark_result_ready"
    MARK_DELIVERED = "mark_delivered"
    MARK_OVERDUE = "mark_overdue"
    FINISH = "finish"


_BEFORE_THE_VISIT = frozenset({S.APPOINTMENT_PROPOSED, S.APPOINTMENT_AGREED})
_STILL_OPEN = frozenset(
    {S.REGISTERED, S.APPOINTMENT_PROPOSED, S.APPOINTMENT_AGREED, S.REVISIT_NEEDED, S.VISITED, S.DOSSIER_SUBMITTED}
)

# THE table: each step, the states it may start from, and the state it leads to.
TRANSITIONS: Mapping[Step, tuple[frozenset[RequestStatus], RequestStatus]] = {
    Step.PROPOSE_APPOINTMENT: (frozenset({S.REGISTERED, S.REVISIT_NEEDED}), S.APPOINTMENT_PROPOSED),
    # Agreed directly when no visit could be booked, again after a failed visit, or moved to another time.
    Step.AGREE_APPOINTMENT: (
        frozenset({S.REGISTERED, S.APPOINTMENT_PROPOSED, S.APPOINTMENT_AGREED, S.REVISIT_NEEDED}),
        S.APPOINTMENT_AGREED,
    ),
    Step.RECEIVE_DOSSIER_ONLINE: (_BEFORE_THE_VISIT, S.DOSSIER_SUBMITTED),
    Step.RECEIVE_DOSSIER_ON_PAPER: (_BEFORE_THE_VISIT, S.VISITED),
    Step.REPORT_CITIZEN_ABSENT: (_BEFORE_THE_VISIT, S.REVISIT_NEEDED),
    Step.REPORT_DOCUMENTS_MISSING: (_BEFORE_THE_VISIT, S.REVISIT_NEEDED),
    Step.CANCEL: (_STILL_OPEN, S.CANCELLED),
    Step.SUBMIT_PAPER_DOSSIER: (frozenset({S.VISITED}), S.DOSSIER_SUBMITTED),
    # A late dossier can still be finished: its result becomes ready after the new due date was set.
    Step.MARK_RESULT_READY: (frozenset({S.DOSSIER_SUBMITTED, S.OVERDUE}), S.RESULT_READY),
    Step.MARK_OVERDUE: (frozenset({S.DOSSIER_SUBMITTED, S.OVERDUE}), S.OVERDUE),
    Step.MARK_DELIVERED: (frozenset({S.RESULT_READY}), S.DELIVERED),
    Step.FINISH: (frozenset({S.DELIVERED}), S.CLOSED),
}

# Where a request is, as a citizen or officer reads it.
STATUS_TEXT: Mapping[RequestStatus, str] = {
    S.REGISTERED: "đã đăng ký, chờ xếp lịch",
    S.APPOINTMENT_PROPOSED: "đã xếp lịch, chờ cán bộ gọi điện thống nhất ngày giờ",
    S.APPOINTMENT_AGREED: "đã hẹn ngày, giờ cán bộ đến",
    S.VISITED: "cán bộ đã đến nhận hồ sơ giấy",
    S.DOSSIER_SUBMITTED: "hồ sơ đã được nộp, đang giải quyết",
    S.RESULT_READY: "đã có kết quả",
    S.DELIVERED: "đã trả kết quả",
    S.CLOSED: "đã hoàn thành",
    S.CANCELLED: "đã hủy",
    S.REVISIT_NEEDED: "cần hẹn lại lần đến",
    S.OVERDUE: "quá hạn, đã hẹn ngày trả kết quả mới",
}

_STEP_TEXT: Mapping[Step, str] = {
    Step.PROPOSE_APPOINTMENT: "xếp lịch đến",
    Step.AGREE_APPOINTMENT: "ghi nhận lịch hẹn",
    Step.RECEIVE_DOSSIER_ONLINE: "ghi nhận đã nhận hồ sơ",
    Step.RECEIVE_DOSSIER_ON_PAPER: "ghi nhận đã nhận hồ sơ",
    Step.REPORT_CITIZEN_ABSENT: "ghi nhận công dân vắng nhà",
    Step.REPORT_DOCUMENTS_MISSING: "ghi nhận thiếu giấy tờ",
    Step.CANCEL: "hủy yêu cầu",
    Step.SUBMIT_PAPER_DOSSIER: "ghi nhận đã nộp hồ sơ giấy",
    Step.MARK_RESULT_READY: "ghi nhận đã có kết quả",
    Step.MARK_DELIVERED: "ghi nhận đã trả kết quả",
    Step.MARK_OVERDUE: "ghi nhận quá hạn",
    Step.FINISH: "kết thúc yêu cầu",
}

# Served: the officer came (or later). Only then is there something to be satisfied with.
SERVED = frozenset({S.VISITED, S.DOSSIER_SUBMITTED, S.RESULT_READY, S.DELIVERED, S.CLOSED, S.OVERDUE})


def may(step: Step, status: RequestStatus) -> bool:
    return status in TRANSITIONS[step][0]


class NotAllowed(Exception):
    """The update does not fit the request's current state."""

    def __init__(self, step: Step, status: RequestStatus) -> None:
        super().__init__(f"{step} not allowed in {status}")
        self.step, self.status = step, status

    @property
    def message(self) -> str:
        return f"Không thể {_STEP_TEXT[self.step]}: yêu cầu đang ở trạng thái “{STATUS_TEXT[self.status]}”."


class NotServedYet(Exception):
    """A satisfaction answer for a request nobody has come for yet."""


# --- what each update carries --------------------------------------------------------------


@dataclass(frozen=True)
class Appointment:
    """The date and time agreed with the citizen on the phone."""

    starts_at: datetime
    ends_at: datetime

    step = Step.AGREE_APPOINTMENT
    slot = "appointment"

    def event(self, request: Progress) -> EventData:
        return AppointmentAgreed(**request.about(self), starts_at=self.starts_at, ends_at=self.ends_at)


@dataclass(frozen=True)
class DossierReport:
    dossier_code: str | None
    pages_digitised: int
    submission: DossierSubmission
    fee_paid_online: bool
    certified_on_the_spot: bool

    slot = "dossier"

    @property
    def step(self) -> Step:
        online = self.submission is DossierSubmission.ONLINE
        return Step.RECEIVE_DOSSIER_ONLINE if online else Step.RECEIVE_DOSSIER_ON_PAPER

    def event(self, request: Progress) -> EventData:
        return DossierReceived(**request.about(self), **asdict(self))


@dataclass(frozen=True)
class RevisitReport:
    reason: RevisitReason
    note: str | None

    slot = "revisit"

    @property
    def step(self) -> Step:
        absent = self.reason is RevisitReason.CITIZEN_ABSENT
        return Step.REPORT_CITIZEN_ABSENT if absent else Step.REPORT_DOCUMENTS_MISSING

    def event(self, request: Progress) -> EventData:
        return RevisitNeeded(**request.about(self), reason=self.reason, note=self.note)


@dataclass(frozen=True)
class Cancellation:
    cancelled_by: CancelledBy
    reason: str

    step = Step.CANCEL
    slot = "cancellation"

    def event(self, request: Progress) -> EventData:
        return RequestCancelled(**request.about(self), cancelled_by=self.cancelled_by, reason=self.reason)


@dataclass(frozen=True)
class PaperDossierSubmitted:
    dossier_code: str

    step = Step.SUBMIT_PAPER_DOSSIER
    slot = "submission"

    def event(self, request: Progress) -> EventData:
        return DossierSubmitted(**request.about(self), dossier_code=self.dossier_code)


@dataclass(frozen=True)
class ResultReadiness:
    procedure_kind: ProcedureKind
    handover: ResultHandover
    tracking_number: str | None

    step = Step.MARK_RESULT_READY
    slot = "result"

    def event(self, request: Progress) -> EventData:
        return ResultReady(**request.about(self), **asdict(self))


@dataclass(frozen=True)
class Delivery:
    procedure_kind: ProcedureKind

    step = Step.MARK_DELIVERED
    slot = "delivery"

    def event(self, request: Progress) -> EventData:
        return ResultDelivered(**request.about(self), procedure_kind=self.procedure_kind)


@dataclass(frozen=True)
class Delay:
    procedure_kind: ProcedureKind
    new_due_date: date

    step = Step.MARK_OVERDUE
    slot = "delay"

    def event(self, request: Progress) -> EventData:
        return RequestOverdue(**request.about(self), **asdict(self))


@dataclass(frozen=True)
class Closure:
    procedure_kind: ProcedureKind

    step = Step.FINISH
    slot = "closure"

    def event(self, request: Progress) -> EventData:
        return RequestClosed(**request.about(self), procedure_kind=self.procedure_kind)


Update = (
    Appointment
    | DossierReport
    | RevisitReport
    | Cancellation
    | PaperDossierSubmitted
    | ResultReadiness
    | Delivery
    | Delay
    | Closure
)


@dataclass(frozen=True)
class SurveyAnswer:
    rating: SurveyRating
    comment: str | None


# --- a request as its lifecycle sees it ----------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """What the lifecycle reads of a stored request."""

    code: str
    ward_code: str
    citizen_ref: str
    phone: str
    status: RequestStatus
    revision: int  # counts accepted changes: a change is stored only onto the revision it was decided on
    last_update: str | None = None  # fingerprint of the last accepted update
    appointment: Appointment | None = None  # agreed, or else as dispatch proposed it
    appointment_agreed: bool = False
    survey: SurveyAnswer | None = None
    survey_replaced: bool = False  # whether the stored answer replaced an earlier one

    def about(self, update: Update) -> dict[str, Any]:
        """The fields every progress event carries: the request, and the state it moves to."""
        return {"request_code": self.code, "citizen_ref": self.citizen_ref, "status": TRANSITIONS[update.step][1]}

    def reached_with(self, phone: str) -> bool:
        """Whether `phone` (normalised) is the request's own: what a citizen without a credential proves."""
        return hmac.compare_digest(self.phone, phone)


@dataclass(frozen=True)
class Change:
    """An accepted change, to be stored with its event in one write onto `revision`."""

    code: str
    ward_code: str
    revision: int
    status: RequestStatus
    records: Mapping[str, object]  # slot → what to keep of the update
    fingerprint: str
    event: Envelope[EventData]


def fingerprint(update: Update | SurveyAnswer) -> str:
    canonical = json.dumps([type(update).__name__, asdict(update)], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def advance(request: Progress, update: Update, *, correlation_id: UUID, now: datetime) -> Change | None:
    """The change `update` makes, or None when it is the very update accepted last (a retry).

    Raises `NotAllowed` when it does not fit the request's state."""
    asked = fingerprint(update)
    if asked == request.last_update:
        return None
    if not may(update.step, request.status):
        raise NotAllowed(update.step, request.status)
    event = EVENTS.new(
        update.event(request), ward_code=request.ward_code, correlation_id=correlation_id, occurred_at=now
    )
    return Change(
        code=request.code,
        ward_code=request.ward_code,
        revision=request.revision,
        status=TRANSITIONS[update.step][1],
        records={update.slot: update},
        fingerprint=asked,
        event=event,
    )


@dataclass(frozen=True)
class SurveyChange:
    """A satisfaction answer to store with its event, onto `revision`; `replaces` an earlier one."""

    code: str
    ward_code: str
    revision: int
    answer: SurveyAnswer
    answered_at: datetime
    replaces: bool
    event: Envelope[EventData]


def answer_survey(
    request: Progress, answer: SurveyAnswer, *, correlation_id: UUID, now: datetime
) -> SurveyChange | None:
    """The answer to store, or None when it repeats the one stored (a retry). Raises `NotServedYet`."""
    if request.status not in SERVED:
        raise NotServedYet(request.status)
    if request.survey == answer:
        return None
    replaces = request.survey is not None
    data = SurveyAnswered(
        request_code=request.code,
        citizen_ref=request.citizen_ref,
        rating=answer.rating,
        comment=answer.comment,
        replaces=replaces,
    )
    event = EVENTS.new(data, ward_code=request.ward_code, correlation_id=correlation_id, occurred_at=now)
    return SurveyChange(request.code, request.ward_code, request.revision, answer, now, replaces, event)


# --- what storing the lifecycle must promise -----------------------------------------------


class RequestLifecycle(Protocol):
    async def progress(self, code: str, ward_code: str | None = None) -> Progress | None:
        """The request (of `ward_code`, when given) as the lifecycle sees it; None if there is none."""
        ...

    async def store(self, change: Change | SurveyChange) -> bool:
        """Store the change and its event in one write, only if the request is still at the change's
        revision; False if it is not (another change came first: decide again)."""
        ...
