"""HTTP: citizens' home-service requests. Validation errors name the field, give a stable code
and a Vietnamese message; a rejected request stores and publishes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Header
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from gandan.intake.cccd import InvalidCccd, check_cccd
from gandan.intake.domain import (
    BOOKING_HORIZON_DAYS,
    EligibilityCategory,
    HomeRequest,
    HomeRequestDetails,
    HomeRequests,
    IdempotencyKey,
    IdempotencyKeyReused,
    OpenRequestExists,
    RequestStatus,
    ServedWards,
    WardNotServed,
    citizen_ref,
)
from gandan.intake.handlers import register_home_request
from gandan.shared.auth import Credential, Role, require
from gandan.shared.clock import local, utcnow
from gandan.shared.events import ProcedureField, Registrar, RegistrationChannel, ResultDelivery, TimeWindow
from gandan.shared.http import ApiError, RequestCode, error_responses, example
from gandan.shared.phone import MOBILE_AS_TYPED, InvalidPhone, mask_in_text, normalise_mobile
from gandan.shared.text import PlainText
from gandan.shared.wards import ward_name


class HomeRequestForm(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra=example(
            lambda: {
                "name": "Nguyễn Văn An",
                "phone": "0912 345 678",
                "ward_code": "11002",
                "residential_group": "Thanh Xá",
                "address": "Số 12, ngõ 3, Thanh Xá",
                "category": "thuong_binh",
                "procedure": "Cấp bản sao trích lục khai sinh",
                "field": "ho_tich",
                "preferred_date": (local(utcnow()).date() + timedelta(days=3)).isoformat(),
                "time_window": "morning",
                "result_delivery": "post",
                "registered_by": "group_leader",
                "channel": "phone_call",
            }
        ),
    )

    name: PlainText = Field(min_length=2, max_length=100, description="Họ và tên người cần hỗ trợ")
    phone: str = Field(
        max_length=30,
        description="Số điện thoại di động của một nhà mạng Việt Nam (đầu số đang được cấp; có thể viết +84, "
        "dấu cách, chấm, gạch), ví dụ 0912 345 678",
        json_schema_extra={"pattern": MOBILE_AS_TYPED},
    )
    ward_code: str = Field(
        description="Mã phường/xã (5 chữ số) có trong danh mục đơn vị hành chính chính thức, ví dụ 11002",
        json_schema_extra={"pattern": r"^[0-9]{5}$"},
    )
    residential_group: PlainText = Field(min_length=1, max_length=100, description="Tổ dân phố / thôn")
    address: PlainText = Field(min_length=5, max_length=200, description="Địa chỉ nơi ở để cán bộ đến")
    category: EligibilityCategory
    procedure: PlainText = Field(min_length=3, max_length=200, description="Tên thủ tục hành chính")
    field: ProcedureField
    preferred_date: date = Field(
        description=f"Ngày mong muốn, YYYY-MM-DD: từ hôm nay đến {BOOKING_HORIZON_DAYS} ngày sau, "
        "tính theo giờ Việt Nam (Asia/Ho_Chi_Minh)"
    )
    time_window: TimeWindow
    result_delivery: ResultDelivery
    registered_by: Registrar = Field(
        description="Ai đăng ký: công dân, người thân, tổ trưởng tổ dân phố, cán bộ Trung tâm"
    )
    channel: RegistrationChannel = Field(
        description="Đăng ký qua: gọi điện, Zalo, tại Trung tâm, tại buổi hỗ trợ lưu động, trên web"
    )
    cccd: str | None = Field(
        None,
        description="Số căn cước công dân (12 chữ số), không bắt buộc; được lưu mã hóa, không hiển thị lại",
        json_schema_extra={"pattern": r"^[0-9]{12}$"},
    )

    @field_validator("phone")
    @classmethod
    def _mobile(cls, value: str) -> str:
        try:
            return normalise_mobile(value)
        except InvalidPhone:
            raise PydanticCustomError(
                "invalid_phone",
                "Số điện thoại di động không hợp lệ (10 chữ số, đầu số của một nhà mạng di động Việt Nam).",
            ) from None

    @field_validator("cccd")
    @classmethod
    def _citizen_id(cls, value: str | None) -> str | None:
        try:
            return None if value is None else check_cccd(value, local(utcnow()).date())
        except InvalidCccd as error:
            raise PydanticCustomError("invalid_cccd", str(error)) from None

    @field_validator("ward_code")
    @classmethod
    def _known_ward(cls, value: str) -> str:
        if ward_name(value) is None:
            raise PydanticCustomError("unknown_ward", "Mã phường/xã không có trong danh mục đơn vị hành chính.")
        return value

    @field_validator("preferred_date")
    @classmethod
    def _bookable(cls, value: date) -> date:
        today = local(utcnow()).date()
        if value < today:
            raise PydanticCustomError("date_in_past", "Ngày mong muốn không được ở trong quá khứ.")
        if value > today + timedelta(days=BOOKING_HORIZON_DAYS):
            raise PydanticCustomError(
                "date_too_far",
                "Ngày mong muốn không được quá {days} ngày kể từ hôm nay.",
                {"days": BOOKING_HORIZON_DAYS},
            )
        return value


class Accepted(BaseModel):
    request_code: str
    status: RequestStatus


class VisitView(BaseModel):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    officer_name: str
    leader_name: str


class HomeRequestStatus(BaseModel):
    request_code: str
    ward_code: str
    status: RequestStatus
    registered_at: AwareDatetime
    preferred_date: date
    time_window: TimeWindow
    visit: VisitView | None

    @classmethod
    def of(cls, request: HomeRequest) -> HomeRequestStatus:
        return cls(
            request_code=request.code,
            ward_code=request.ward_code,
            status=request.status,
            registered_at=request.registered_at,
            preferred_date=request.preferred_date,
            time_window=request.time_window,
            visit=VisitView(
                starts_at=request.visit.starts_at,
                ends_at=request.visit.ends_at,
                # Names come from a roster someone typed: no phone number written into one is shown.
                officer_name=mask_in_text(request.visit.officer_name),
                leader_name=mask_in_text(request.visit.leader_name),
            )
            if request.visit
            else None,
        )


# Who registers (seed 000): the citizen, a residential-group leader for them, a centre officer.
REGISTRARS = require(Role.CITIZEN, Role.GROUP_LEADER, Role.OFFICER)
READERS = require(Role.CITIZEN, Role.GROUP_LEADER, Role.OFFICER, Role.LEADERSHIP, Role.AUDITOR)


def home_requests_router(repository: HomeRequests, served: ServedWards, pseudonym_key: bytes) -> APIRouter:
    router = APIRouter(prefix="/v1/home-requests", tags=["home requests"])

    @router.post("", status_code=202, response_model=Accepted, responses=error_responses(401, 403, 409, 413, 422, 503))
    async def register(
        form: HomeRequestForm,
        credential: Annotated[Credential, Depends(REGISTRARS)],
        x_correlation_id: Annotated[UUID | None, Header()] = None,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=100,
                description="Optional. A POST retried with the same key gets the first answer, and registers nothing new.",
            ),
        ] = None,
    ) -> Accepted:
        credential.require_ward(form.ward_code)
        credential.require_citizen(citizen_ref(pseudonym_key, form.ward_code, form.phone))
        key = IdempotencyKey(credential.ward_code, credential.subject, idempotency_key) if idempotency_key else None
        try:
            request = await register_home_request(
                HomeRequestDetails(**form.model_dump()),
                key=key,
                repository=repository,
                served=served,
                pseudonym_key=pseudonym_key,
                correlation_id=x_correlation_id or uuid4(),
                now=utcnow(),
            )
        except IdempotencyKeyReused:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "Khóa Idempotency-Key này đã được dùng cho một yêu cầu có nội dung khác; hãy dùng khóa mới.",
                field="Idempotency-Key",
            ) from None
        except WardNotServed:
            raise ApiError(
                422,
                "ward_not_served",
                "Phường/xã này chưa có dịch vụ tiếp nhận hồ sơ và trả kết quả tại nhà; "
                "vui lòng liên hệ Trung tâm Phục vụ hành chính công.",
                field="ward_code",
            ) from None
        except OpenRequestExists as open_one:
            raise ApiError(
                409,
                "open_request_exists",
                f"Công dân đã có yêu cầu {open_one.existing_code} cho thủ tục này đang được xử lý; "
                "vui lòng theo dõi yêu cầu đó thay vì đăng ký lại.",
                field="procedure",
            ) from None
        # What registering answers, also to a retry of it: the request has just been registered.
        return Accepted(request_code=request.code, status=RequestStatus.REGISTERED)

    @router.get("/{code}", response_model=HomeRequestStatus, responses=error_responses(401, 404, 422, 503))
    async def status(code: RequestCode, credential: Annotated[Credential, Depends(READERS)]) -> HomeRequestStatus:
        request = await repository.get(code.strip().upper())  # read aloud or typed, case does not matter
        # A request the credential may not see (another ward's, another citizen's) is reported as
        # absent, so codes cannot be probed.
        if request is None or not credential.may_see(
            ward_code=request.ward_code, citizen_ref=request.citizen_ref, request_code=request.code
        ):
            raise ApiError(404, "request_not_found", "Không tìm thấy yêu cầu với mã này.", field="code")
        return HomeRequestStatus.of(request)

    return router
