"""HTTP of the lifecycle.

Staff of the request's ward record the appointment and their field reports; the centre's one-stop
system its result updates (with a staff credential until its own role exists). Each answers the
state the request is in; an update that does not fit it answers 409 `transition_not_allowed`
naming that state. Citizens, without a credential, see their request and answer the satisfaction
survey with the request code and their phone number, both in the body (a URL ends up in logs);
both are rate-limited per code and per client."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any, Self
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Header, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gandan.intake.domain import BOOKING_HORIZON_DAYS, RequestStatus
from gandan.intake.lifecycle.domain import (
    STATUS_TEXT,
    Appointment,
    Cancellation,
    Closure,
    Delay,
    Delivery,
    DossierReport,
    NotAllowed,
    NotServedYet,
    PaperDossierSubmitted,
    RequestLifecycle,
    ResultReadiness,
    RevisitReport,
    SurveyAnswer,
    Update,
)
from gandan.intake.lifecycle.handlers import RequestNotFound, reach, record_survey_answer, update_request
from gandan.intake.lifecycle.ratelimit import AttemptLimit
from gandan.shared.auth import Credential, Role, require
from gandan.shared.clock import local, utcnow
from gandan.shared.events import (
    CancelledBy,
    DossierSubmission,
    ProcedureKind,
    ResultHandover,
    RevisitReason,
    SurveyRating,
)
from gandan.shared.http import ApiError, RequestCode, error_responses, example
from gandan.shared.phone import MOBILE_AS_TYPED, InvalidPhone, normalise_mobile
from gandan.shared.text import PlainText

# A national dossier code as the portal prints it (letters, digits, dots, dashes, slashes).
DOSSIER_CODE = r"^[0-9A-Za-z][0-9A-Za-z.\-_/]{3,49}$"
# The longest an agreed visit may last.
LONGEST_VISIT = timedelta(hours=4)


def _appointment_example() -> dict[str, Any]:
    starts = local(utcnow()).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=2)
    return {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=1)).isoformat()}


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AppointmentForm(_Form):
    model_config = ConfigDict(json_schema_extra=example(_appointment_example))

    starts_at: AwareDatetime = Field(description="Giờ bắt đầu đã hẹn với công dân (ISO 8601, có múi giờ)")
    ends_at: AwareDatetime = Field(description="Giờ kết thúc dự kiến")

    @model_validator(mode="after")
    def _bookable(self) -> Self:
        now = utcnow()
        if self.starts_at <= now:
            raise PydanticCustomError("appointment_in_past", "Giờ hẹn phải ở trong tương lai.")
        if self.starts_at > now + timedelta(days=BOOKING_HORIZON_DAYS):
            raise PydanticCustomError(
                "date_too_far", "Giờ hẹn không được quá {days} ngày kể từ hôm nay.", {"days": BOOKING_HORIZON_DAYS}
            )
        if not self.starts_at < self.ends_at <= self.starts_at + LONGEST_VISIT:
            raise PydanticCustomError(
                "invalid_duration", "Giờ kết thúc phải sau giờ bắt đầu và trong vòng {hours} giờ.", {"hours": 4}
            )
        return self


class DossierReceivedForm(_Form):
    model_config = ConfigDict(
        json_schema_extra=example(
            lambda: {
                "dossier_code": "H31.11-261201-0002",
                "pages_digitised": 8,
                "submission": "online",
                "fee_paid_online": True,
                "certified_on_the_spot": False,
            }
        )
    )

    dossier_code: str | None = Field(
        default=None,
        description="Mã hồ sơ trên Cổng Dịch vụ công quốc gia; bắt buộc khi nộp trực tuyến",
        json_schema_extra={"pattern": DOSSIER_CODE},
    )
    pages_digitised: int = Field(ge=0, le=2000, description="Số trang đã số hóa")
    submission: DossierSubmission = Field(description="online: đã nộp trực tuyến; paper: mang hồ sơ giấy về Trung tâm")
    fee_paid_online: bool = Field(description="Phí, lệ phí đã nộp trực tuyến")
    certified_on_the_spot: bool = Field(description="Đã chứng thực ngay tại chỗ")

    @field_validator("dossier_code")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return _dossier_code(value) if value is not None else None

    @model_validator(mode="after")
    def _online_has_code(self) -> Self:
        if self.submission is DossierSubmission.ONLINE and self.dossier_code is None:
            raise PydanticCustomError("dossier_code_required", "Hồ sơ nộp trực tuyến phải có mã hồ sơ.")
        return self


class NoteForm(_Form):
    model_config = ConfigDict(json_schema_extra=example(lambda: {"note": "Đến hai lần, gọi không nghe máy"}))

    note: PlainText | None = Field(default=None, max_length=500, description="Ghi chú của cán bộ")


class DocumentsMissingForm(_Form):
    model_config = ConfigDict(json_schema_extra=example(lambda: {"note": "Thiếu bản chính giấy khai sinh"}))

    note: PlainText = Field(min_length=3, max_length=500, description="Giấy tờ còn thiếu")


class CancellationForm(_Form):
    model_config = ConfigDict(
        json_schema_extra=example(
            lambda: {"cancelled_by": "citizen", "reason": "Gia đình đã tự đến Trung tâm làm thủ tục"}
        )
    )

    cancelled_by: CancelledBy = Field(description="citizen: công dân xin hủy; centre: Trung tâm hủy")
    reason: PlainText = Field(min_length=3, max_length=500, description="Lý do hủy")


class DossierSubmittedForm(_Form):
    model_config = ConfigDict(json_schema_extra=example(lambda: {"dossier_code": "H31.11-261201-0002"}))

    dossier_code: str = Field(description="Mã hồ sơ", json_schema_extra={"pattern": DOSSIER_CODE})

    @field_validator("dossier_code")
    @classmethod
    def _code(cls, value: str) -> str:
        return _dossier_code(value)


class ResultReadyForm(_Form):
    model_config = ConfigDict(
        json_schema_extra=example(
            lambda: {"procedure_kind": "birth_registration", "handover": "post", "tracking_number": "EB123456789VN"}
        )
    )

    procedure_kind: ProcedureKind
    handover: ResultHandover = Field(description="portal, post (kèm mã bưu gửi), at_centre, at_home")
    tracking_number: str | None = Field(
        default=None, description="Mã bưu gửi, khi gửi qua bưu chính", json_schema_extra={"pattern": DOSSIER_CODE}
    )

    @field_validator("tracking_number")
    @classmethod
    def _tracking(cls, value: str | None) -> str | None:
        return _dossier_code(value, "invalid_tracking_number", "Mã bưu gửi không hợp lệ.") if value else None

    @model_validator(mode="after")
    def _post_is_tracked(self) -> Self:
        if (self.handover is ResultHandover.POST) != (self.tracking_number is not None):
            raise PydanticCustomError(
                "tracking_number_mismatch", "Chỉ kết quả gửi qua bưu chính có mã bưu gửi, và phải có."
            )
        return self


class ProcedureKindForm(_Form):
    model_config = ConfigDict(json_schema_extra=example(lambda: {"procedure_kind": "birth_registration"}))

    procedure_kind: ProcedureKind = Field(description="Loại thủ tục: để gửi đúng thư (chúc mừng, chia buồn)")


class OverdueForm(ProcedureKindForm):
    model_config = ConfigDict(
        json_schema_extra=example(
            lambda: {
                "procedure_kind": "land",
                "new_due_date": (local(utcnow()).date() + timedelta(days=10)).isoformat(),
            }
        )
    )

    new_due_date: date = Field(description="Ngày hẹn trả kết quả mới, YYYY-MM-DD")

    @field_validator("new_due_date")
    @classmethod
    def _ahead(cls, value: date) -> date:
        if value < local(utcnow()).date():
            raise PydanticCustomError("date_in_past", "Ngày hẹn trả mới không được ở trong quá khứ.")
        return value


def _dossier_code(value: str, code: str = "invalid_dossier_code", message: str = "Mã hồ sơ không hợp lệ.") -> str:
    if not re.fullmatch(DOSSIER_CODE, value):
        raise PydanticCustomError(code, message)
    return value


class ProgressAnswer(BaseModel):
    request_code: str
    status: RequestStatus
    changed: bool = Field(description="false: the same update was accepted before; nothing new was stored")


# --- citizens, without a credential ---------------------------------------------------------


class CitizenProof(_Form):
    model_config = ConfigDict(json_schema_extra=example(lambda: {"code": "GD-ABC2345", "phone": "0912 345 678"}))

    code: str = Field(min_length=1, max_length=20, description="Mã yêu cầu, ví dụ GD-ABCDEFG")
    phone: str = Field(
        max_length=30,
        description="Số điện thoại đã đăng ký yêu cầu",
        json_schema_extra={"pattern": MOBILE_AS_TYPED},
    )

    @field_validator("code")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()  # read aloud or typed, case does not matter

    @field_validator("phone")
    @classmethod
    def _mobile(cls, value: str) -> str:
        try:
            return normalise_mobile(value)
        except InvalidPhone:
            raise PydanticCustomError("invalid_phone", "Số điện thoại di động không hợp lệ.") from None


class SurveyForm(CitizenProof):
    model_config = ConfigDict(
        json_schema_extra=example(
            lambda: {
                "code": "GD-ABC2345",
                "phone": "0912 345 678",
                "rating": "rat_hai_long",
                "comment": "Cán bộ đến đúng hẹn, hướng dẫn tận tình",
            }
        )
    )

    rating: SurveyRating = Field(description="rat_hai_long (rất hài lòng), hai_long (hài lòng), khong_hai_long")
    comment: PlainText | None = Field(default=None, max_length=1000, description="Ý kiến thêm (không bắt buộc)")


class AppointmentView(BaseModel):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    agreed: bool = Field(description="true: agreed with the citizen on the phone; false: as first proposed")


class CitizenView(BaseModel):
    request_code: str
    status: RequestStatus
    status_text: str = Field(description="The status in Vietnamese")
    appointment: AppointmentView | None


class SurveyReceipt(BaseModel):
    request_code: str
    rating: SurveyRating
    replaced: bool = Field(description="true: this answer replaced an earlier one")


_NOT_FOUND = "Không tìm thấy yêu cầu với mã và số điện thoại này."


class CitizenLimits:
    """How often citizens' look-ups and survey answers may be tried, together: per request code and
    per client address (the connection's; a proxy in front must pass the client's own)."""

    def __init__(self, per_code_per_hour: int, per_client_per_minute: int) -> None:
        self.per_code = AttemptLimit(per_code_per_hour, 3600)
        self.per_client = AttemptLimit(per_client_per_minute, 60)

    def check(self, request: Request, code: str) -> None:
        client = request.client.host if request.client else "unknown"
        waits = [w for w in (self.per_client.attempt(client), self.per_code.attempt(code)) if w is not None]
        if waits:
            raise TooManyAttempts(max(waits))


class TooManyAttempts(ApiError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            "too_many_attempts",
            f"Bạn đã thử quá nhiều lần; vui lòng thử lại sau {retry_after} giây.",
            headers={"Retry-After": str(retry_after)},
        )


STAFF = require(Role.OFFICER, Role.LEADERSHIP)
ONE_STOP_SYSTEM = require(Role.ONE_STOP)  # the centre's one-stop system (hệ thống một cửa)
_ERRORS = error_responses(401, 403, 404, 409, 413, 422, 503)
Staff = Annotated[Credential, Depends(STAFF)]
System = Annotated[Credential, Depends(ONE_STOP_SYSTEM)]
Correlation = Annotated[UUID | None, Header()]


def lifecycle_router(repository: RequestLifecycle, limits: CitizenLimits) -> APIRouter:
    router = APIRouter()
    staff = APIRouter(prefix="/v1/home-requests/{code}", tags=["lifecycle: staff"])
    system = APIRouter(prefix="/v1/home-requests/{code}/results", tags=["lifecycle: one-stop system"])

    async def move(credential: Credential, code: str, update: Update, correlation_id: UUID | None) -> ProgressAnswer:
        code = code.strip().upper()
        try:
            outcome = await update_request(
                credential.ward_code,
                code,
                update,
                repository=repository,
                correlation_id=correlation_id or uuid4(),
                now=utcnow(),
            )
        except RequestNotFound:
            # Another ward's request is reported as absent: nothing of it leaks.
            raise ApiError(404, "request_not_found", "Không tìm thấy yêu cầu với mã này.", field="code") from None
        except NotAllowed as refused:
            raise ApiError(409, "transition_not_allowed", refused.message, field="status") from None
        return ProgressAnswer(request_code=code, status=outcome.status, changed=outcome.changed)

    @staff.post("/appointment", response_model=ProgressAnswer, responses=_ERRORS)
    async def agree_appointment(
        code: RequestCode, form: AppointmentForm, credential: Staff, x_correlation_id: Correlation = None
    ) -> ProgressAnswer:
        """The officer called the citizen and agreed the date and time (seed 000: "hẹn ngày, giờ")."""
        return await move(credential, code, Appointment(form.starts_at, form.ends_at), x_correlation_id)

    @staff.post("/reports/dossier-received", response_model=ProgressAnswer, responses=_ERRORS)
    async def dossier_received(
        code: RequestCode, form: DossierReceivedForm, credential: Staff, x_correlation_id: Correlation = None
    ) -> ProgressAnswer:
        """Field report: the dossier was received; submitted online (→ dossier_submitted) or on paper (→ visited)."""
        return await move(credential, code, DossierReport(**form.model_dump()), x_correlation_id)

    @staff.post("/reports/citizen-absent", response_model=ProgressAnswer, responses=_ERRORS)
    async def citizen_absent(
        code: RequestCode, form: NoteForm, credential: Staff, x_correlation_id: Correlation = None
    ) -> ProgressAnswer:
        """Field report: nobody was at home (→ revisit_needed)."""
        return await move(credential, code, RevisitReport(RevisitReason.CITIZEN_ABSENT, form.note), x_correlation_id)

    @staff.post("/reports/documents-missing", response_model=ProgressAnswer, responses=_ERRORS)
    async def documents_missing(
        code: RequestCode, form: DocumentsMissingForm, credential: Staff, x_correlation_id: Correlation = None
    ) -> ProgressAnswer:
        """Field report: documents were missing (→ revisit_needed)."""
        update = RevisitReport(RevisitReason.DOCUMENTS_MISSING, form.note)
        return await move(credential, code, update, x_correlation_id)

    @staff.post("/reports/cancelled", response_model=ProgressAnswer, responses=_ERRORS)
    async def cancelled(
        code: RequestCode, form: CancellationForm, credential: Staff, x_correlation_id: Correlation = None
    ) -> ProgressAnswer:
        """Cancelled by the citizen or the centre, with the reason (→ cancelled)."""
        return await move(credential, code, Cancellation(form.cancelled_by, form.reason), x_correlation_id)

    @system.post("/dossier-submitted", response_model=ProgressAnswer, responses=_ERRORS)
    async def dossier_submitted(
        code: RequestCode, form: DossierSubmittedForm, credential: System, x_correlation_id: Correlation = None
    ) -> ProgressAnswer:
        """A paper dossier from the visit was entered at the desk (visited → dossier_submitted)."""
        return await move(credential, code, PaperDossierSubmitted(form.dossier_code), x_correlation_id)

    @system.post("/ready", response_model=ProgressAnswer, responses=_ERRORS)
    async def result_ready(
        code: RequestCode, form: ResultReadyForm, credential: System, x_correlation_id: Correlation = None
    ) -> ProgressAnswer:
        """The result is ready: on the portal, sent by post (tracking number), at the centre, or brought home."""
        return await move(credential, code, ResultReadiness(**form.model_dump()), x_correlation_id)

    @system.post("/delivered", response_model=ProgressAnswer, responses=_ERRORS)
    async def delivered(
        code: RequestCode, form: ProcedureKindForm, credential: System, x_correlation_id: Correlation = None
    ) -> ProgressAnswer:
        return await move(credential, code, Delivery(form.procedure_kind), x_correlation_id)

    @system.post("/overdue", response_model=ProgressAnswer, responses=_ERRORS)
    async def overdue(
        code: RequestCode, form: OverdueForm, credential: System, x_correlation_id: Correlation = None
    ) -> ProgressAnswer:
        """Past its deadline, with the new due date; the result can still become ready."""
        return await move(credential, code, Delay(form.procedure_kind, form.new_due_date), x_correlation_id)

    @system.post("/finished", response_model=ProgressAnswer, responses=_ERRORS)
    async def finished(
        code: RequestCode, form: ProcedureKindForm, credential: System, x_correlation_id: Correlation = None
    ) -> ProgressAnswer:
        """The dossier is finished (delivered → closed)."""
        return await move(credential, code, Closure(form.procedure_kind), x_correlation_id)

    citizens = APIRouter(prefix="/v1", tags=["citizens"])

    @citizens.post("/lookup", response_model=CitizenView, responses=error_responses(404, 413, 422, 429, 503))
    async def look_up(form: CitizenProof, request: Request) -> CitizenView:
        """A citizen sees their request's status and appointment, with its code and their phone."""
        limits.check(request, form.code)
        try:
            found = await reach(form.code, form.phone, repository=repository)
        except RequestNotFound:
            raise ApiError(404, "request_not_found", _NOT_FOUND, field="code") from None
        appointment = found.appointment
        return CitizenView(
            request_code=found.code,
            status=found.status,
            status_text=STATUS_TEXT[found.status],
            appointment=AppointmentView(
                starts_at=appointment.starts_at, ends_at=appointment.ends_at, agreed=found.appointment_agreed
            )
            if appointment
            else None,
        )

    @citizens.post("/survey", response_model=SurveyReceipt, responses=error_responses(404, 409, 413, 422, 429, 503))
    async def survey(form: SurveyForm, request: Request, x_correlation_id: Correlation = None) -> SurveyReceipt:
        """A served citizen's satisfaction answer; a second answer replaces the first and says so."""
        limits.check(request, form.code)
        try:
            outcome = await record_survey_answer(
                form.code,
                form.phone,
                SurveyAnswer(form.rating, form.comment),
                repository=repository,
                correlation_id=x_correlation_id or uuid4(),
                now=utcnow(),
            )
        except RequestNotFound:
            raise ApiError(404, "request_not_found", _NOT_FOUND, field="code") from None
        except NotServedYet:
            raise ApiError(
                409, "not_served_yet", "Chỉ đánh giá được sau khi cán bộ đã đến giải quyết yêu cầu.", field="code"
            ) from None
        return SurveyReceipt(request_code=form.code, rating=form.rating, replaced=outcome.replaced)

    router.include_router(staff)
    router.include_router(system)
    router.include_router(citizens)
    return router
