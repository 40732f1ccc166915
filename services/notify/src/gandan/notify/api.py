"""HTTP: the messages notify has sent or tried to send, for the ward's staff."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gandan.notify.domain import Messages, MessageStatus
from gandan.shared.auth import Credential, Role, require
from gandan.shared.events import DeliveryChannel, RecipientRole
from gandan.shared.http import error_responses
from gandan.shared.phone import mask, mask_in_text


class MessageView(BaseModel):
    """One message as the ward's staff follow it up. Phone numbers are masked, in the name and the
    text too: the list is for following up, not for copying numbers."""

    message_id: str = Field(description="Mã tin nhắn; cũng là khóa chống gửi trùng của nhà mạng")
    request_code: str = Field(description="Mã yêu cầu mà tin nhắn nói về")
    recipient_role: RecipientRole = Field(description="Người nhận: người dân, cán bộ hay tổ trưởng")
    recipient_name: str = Field(description="Tên người nhận")
    phone: str = Field(description="Số điện thoại người nhận, đã che, ví dụ 091****678")
    channel: DeliveryChannel = Field(description="Kênh gửi")
    template: str = Field(description="Mẫu tin nhắn và phiên bản, ví dụ visit_appointment_citizen.v1")
    text: str = Field(description="Nội dung tin SMS")
    segments: int = Field(description="Số tin SMS (phần) mà nội dung chiếm")
    status: MessageStatus
    attempts: int = Field(description="Số lần gửi không thành")
    last_error: str | None = Field(None, description="Lỗi gần nhất từ nhà mạng")
    created_at: AwareDatetime = Field(description="Lúc soạn tin (UTC)")
    sent_at: AwareDatetime | None = Field(None, description="Lúc nhà mạng nhận tin (UTC)")
    delivered_at: AwareDatetime | None = Field(None, description="Lúc tin đến máy người nhận (UTC)")


class MessageFilter(BaseModel):
    # An unknown parameter is refused (422 extra_forbidden), not silently ignored: a caller who
    # misspells `request_code` would otherwise read every message of the ward as if filtered.
    model_config = ConfigDict(extra="forbid")

    request_code: str | None = Field(None, max_length=40, description="Chỉ các tin nhắn của mã yêu cầu này")
    limit: int = Field(100, ge=1, le=500, description="Số tin nhắn nhiều nhất")


class MessageList(BaseModel):
    messages: list[MessageView]


READERS = require(Role.OFFICER, Role.LEADERSHIP, Role.AUDITOR)


def messages_router(repository: Messages) -> APIRouter:
    router = APIRouter(prefix="/v1/messages", tags=["messages"])

    @router.get("", response_model=MessageList, responses=error_responses(401, 403, 422, 503))
    async def list_messages(
        credential: Annotated[Credential, Depends(READERS)],
        filters: Annotated[MessageFilter, Query()],
    ) -> MessageList:
        messages = await repository.listing(credential.ward_code, filters.request_code, filters.limit)
        return MessageList(
            messages=[
                MessageView(
                    message_id=m.id,
                    request_code=m.request_code,
                    recipient_role=m.recipient_role,
                    recipient_name=mask_in_text(m.recipient_name),
                    phone=mask(m.phone),
                    channel=m.channel,
                    template=m.template,
                    text=mask_in_text(m.text),
                    segments=m.segments,
                    status=m.status,
                    attempts=m.attempts,
                    last_error=mask_in_text(m.last_error) if m.last_error else None,
                    created_at=m.created_at,
                    sent_at=m.sent_at,
                    delivered_at=m.delivered_at,
                )
                for m in messages
            ]
        )

    return router
