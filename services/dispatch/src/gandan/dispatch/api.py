"""HTTP: the centre's leadership and operators read and change their ward's roster.

Every change is stored with its `roster.changed` (MongoRosters.change). Another ward's roster
answers 403 `wrong_ward`; a ward dispatch has no roster for, 404 `roster_not_found`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gandan.dispatch.domain import (
    FIELDS,
    Officer,
    Period,
    Roster,
    RosterRefused,
    StaffRole,
    UnknownWard,
    Vehicle,
)
from gandan.dispatch.repository import MongoRosters, RosterConflict
from gandan.dispatch.roster import staff_phone, text
from gandan.shared.auth import Credential, Role, require
from gandan.shared.events import RosterChange, VehicleKind
from gandan.shared.http import ApiError, error_responses
from gandan.shared.text import PlainText

ADMINS = require(Role.LEADERSHIP, Role.OPERATOR)
WardCode = Annotated[str, Path(pattern=r"^[0-9]{5}$", description="Mã phường/xã, ví dụ 11002")]
ItemId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$", description="chữ thường, số và '-'")]
_ROSTER = TypeAdapter(Roster)


class MemberForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: PlainText = Field(min_length=2, max_length=100)
    title: PlainText = Field(min_length=2, max_length=200, description="Chức vụ")
    role: StaffRole
    fields: list[str] = Field(default=[], max_length=len(FIELDS), description="Lĩnh vực phụ trách")
    groups: list[int] = Field(default=[], max_length=200, description="Số các tổ dân phố phụ trách")
    phone: str = Field(max_length=30, description="10 chữ số, 03x/05x/07x/08x/09x")

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - FIELDS)
        if unknown:
            raise PydanticCustomError(
                "unknown_field", "Lĩnh vực không có trong danh mục: {unknown}", {"unknown": unknown}
            )
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        try:
            return staff_phone(value)
        except ValueError:
            raise PydanticCustomError(
                "invalid_phone", "Số điện thoại không hợp lệ (10 chữ số, bắt đầu bằng 03, 05, 07, 08 hoặc 09)."
            ) from None


class LeaveForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_day: date
    last_day: date

    @model_validator(mode="after")
    def _ordered(self) -> LeaveForm:
        if self.last_day < self.first_day:
            raise PydanticCustomError("leave_reversed", "Ngày kết thúc nghỉ không được trước ngày bắt đầu.")
        return self


class VehicleForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: VehicleKind
    seats: int = Field(ge=1, le=50)
    carries: list[PlainText] = Field(default=[], max_length=20, description="Thiết bị mang theo")
    available: bool = True


class Changed(BaseModel):
    ward_code: str
    roster: dict[str, Any]


def roster_router(rosters: MongoRosters) -> APIRouter:
    router = APIRouter(prefix="/v1/wards/{ward_code}/roster", tags=["roster"])
    errors = error_responses(401, 403, 404, 422, 503)
    change_errors = error_responses(401, 403, 404, 409, 413, 422, 503)

    async def changed(
        credential: Credential, ward_code: str, how: Callable[[Roster], Roster], change: RosterChange, subject: str
    ) -> Changed:
        credential.require_ward(ward_code)
        try:
            roster = await rosters.change(ward_code, how, change, subject)
        except UnknownWard:
            raise _not_found() from None
        except RosterRefused as refused:
            status = 404 if refused.code == "unknown_staff" else 422
            raise ApiError(status, refused.code, str(refused)) from None
        except RosterConflict:
            raise ApiError(409, "roster_busy", "Danh sách đang được sửa cùng lúc; hãy thử lại.") from None
        return Changed(ward_code=ward_code, roster=_ROSTER.dump_python(roster, mode="json"))

    @router.get("", response_model=Changed, responses=errors)
    async def read(ward_code: WardCode, credential: Annotated[Credential, Depends(ADMINS)]) -> Changed:
        credential.require_ward(ward_code)
        try:
            roster = await rosters.roster(ward_code)
        except UnknownWard:
            raise _not_found() from None
        return Changed(ward_code=ward_code, roster=_ROSTER.dump_python(roster, mode="json"))

    @router.put("/staff/{staff_id}", response_model=Changed, responses=change_errors)
    async def save_member(
        ward_code: WardCode, staff_id: ItemId, form: MemberForm, credential: Annotated[Credential, Depends(ADMINS)]
    ) -> Changed:
        member = Officer(
            staff_id=staff_id,
            name=text(form.name),
            title=text(form.title),
            fields=frozenset(form.fields),
            phone=form.phone,
            role=form.role,
            groups=frozenset(form.groups),
        )

        def save(roster: Roster) -> Roster:
            # A change of someone keeps their leave: it is marked on its own endpoint.
            kept = roster.member(staff_id)
            return roster.with_member(replace(member, leave=kept.leave if kept else ()))

        return await changed(credential, ward_code, save, RosterChange.MEMBER_SAVED, staff_id)

    @router.delete("/staff/{staff_id}", response_model=Changed, responses=error_responses(401, 403, 404, 409, 422, 503))
    async def remove_member(
        ward_code: WardCode, staff_id: ItemId, credential: Annotated[Credential, Depends(ADMINS)]
    ) -> Changed:
        return await changed(
            credential, ward_code, lambda r: r.without_member(staff_id), RosterChange.MEMBER_REMOVED, staff_id
        )

    @router.post("/staff/{staff_id}/leave", response_model=Changed, responses=change_errors)
    async def mark_leave(
        ward_code: WardCode, staff_id: ItemId, form: LeaveForm, credential: Annotated[Credential, Depends(ADMINS)]
    ) -> Changed:
        leave = Period(form.first_day, form.last_day)
        return await changed(
            credential, ward_code, lambda r: r.with_leave(staff_id, leave), RosterChange.LEAVE_MARKED, staff_id
        )

    @router.put("/vehicles/{vehicle_id}", response_model=Changed, responses=change_errors)
    async def save_vehicle(
        ward_code: WardCode, vehicle_id: ItemId, form: VehicleForm, credential: Annotated[Credential, Depends(ADMINS)]
    ) -> Changed:
        vehicle = Vehicle(vehicle_id, form.kind, form.seats, tuple(form.carries), form.available)
        return await changed(
            credential, ward_code, lambda r: r.with_vehicle(vehicle), RosterChange.VEHICLE_SAVED, vehicle_id
        )

    return router


def _not_found() -> ApiError:
    return ApiError(404, "roster_not_found", "Phường/xã này chưa có danh sách cán bộ trong hệ thống.")
