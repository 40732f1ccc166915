"""HTTP: the messages notify has sent or tried to send, for the ward's staff; the providers' delivery receipts."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from gandan.notify.domain import Messages, MessageStatus, Preferences
from gandan.notify.handlers import ReplyOutcome, Sender, record_receipt, record_staff_reply
from gandan.shared.auth import Credential, Role, require
from gandan.shared.clock import utcnow
from gandan.shared.events import DeliveryChannel, RecipientRole
from gandan.shared.http import ApiError, RequestCode, error_responses
from gandan.shared.phone import InvalidPhone, mask, mask_in_text, normalise_mobile


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

    # The shape of a request code: anything else can match no message, and is refused as a mistake.
    request_code: str | None = Field(
        None, pattern=r"^GD-[A-Z0-9]{7}$", description="Chỉ các tin nhắn của mã yêu cầu này, ví dụ GD-AB12CD3"
    )
    limit: int = Field(100, ge=1, le=500, description="Số tin nhắn nhiều nhất")


class MessageList(BaseModel):
    messages: list[MessageView]


READERS = require(Role.OFFICER, Role.LEADERSHIP, Role.AUDITOR)
CHOOSERS = require(Role.CITIZEN, Role.OFFICER, Role.LEADERSHIP)


class MessagePreferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preferred_channel: Literal[DeliveryChannel.ZALO, DeliveryChannel.SMS] | None = Field(
        None, description="Kênh muốn nhận tin trước (zalo hoặc sms); để trống: theo cách phường gửi"
    )
    non_essential: bool = Field(True, description="Có nhận các tin không thiết yếu (khảo sát, thư chúc mừng) không")


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


def preferences_router(repository: Messages) -> APIRouter:
    router = APIRouter(prefix="/v1/contacts", tags=["preferences"])

    @router.put(
        "/{code}/preferences", response_model=MessagePreferences, responses=error_responses(401, 403, 404, 422, 503)
    )
    async def choose(
        code: RequestCode, chosen: MessagePreferences, credential: Annotated[Credential, Depends(CHOOSERS)]
    ) -> MessagePreferences:
        """The citizen of a request (or the ward's staff for them) chooses how notify writes to them."""
        if credential.role is Role.CITIZEN and credential.request_code != code:
            raise ApiError(403, "not_your_request", "Công dân chỉ chọn được cho yêu cầu của chính mình.")
        preferences = Preferences(chosen.preferred_channel, chosen.non_essential)
        if not await repository.set_preferences(credential.ward_code, code, preferences):
            raise ApiError(404, "request_not_found", "Không tìm thấy yêu cầu này ở phường/xã.")
        return chosen

    return router


# --- delivery receipts from the providers -------------------------------------------------
# The providers hold no credential of ours: a receipt is checked by its signature (Zalo) or the
# secret in the callback address we gave (eSMS) instead.

ZALO_SIGNATURE = "X-ZEvent-Signature"
ESMS_DELIVERED, ESMS_REJECTED = "5", "4"


class ReceiptAnswer(BaseModel):
    status: Literal["recorded", "ignored"] = Field(
        description="recorded: the message's status changed; ignored: unknown message, or nothing to record"
    )


class ZaloMessageRef(BaseModel):
    msg_id: str = Field(max_length=100)
    delivery_time: str | None = Field(None, max_length=40)
    text: str | None = Field(None, max_length=1000)  # `user_send_text`: what the person wrote


class ZaloSender(BaseModel):
    id: str = Field(max_length=100)


class ZaloEvent(BaseModel):
    app_id: str = Field(max_length=100)
    event_name: str = Field(max_length=100)
    timestamp: str = Field(max_length=40)
    message: ZaloMessageRef | None = None
    sender: ZaloSender | None = None


class EsmsReport(BaseModel):
    model_config = ConfigDict(extra="ignore")

    secret: str = Field(max_length=200)
    SMSID: str = Field(max_length=100)
    SendStatus: str = Field(max_length=4)


def zalo_mac(app_id: str, body: bytes, timestamp: str, secret: str) -> str:
    """Zalo's webhook signature: sha256 of app id, raw body, timestamp and the OA's secret key."""
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret.encode()).hexdigest()


def receipts_router(
    repository: Messages, sender: Sender, *, zalo_app_id: str, zalo_secret: str | None, esms_secret: str | None
) -> APIRouter:
    router = APIRouter(prefix="/v1/receipts", tags=["receipts"])

    # Zalo posts every event of the OA to its one webhook: the receipts, and what people write to the OA.
    @router.post("/zalo", response_model=ReceiptAnswer | ReplyAnswer, responses=error_responses(401, 422, 503))
    async def zalo_receipt(request: Request) -> ReceiptAnswer | ReplyAnswer:
        body = await request.body()
        try:
            event = ZaloEvent.model_validate_json(body)
        except ValidationError as error:
            raise ApiError(422, "invalid_receipt", "Không đọc được thông báo từ Zalo.") from error
        given = request.headers.get(ZALO_SIGNATURE, "").removeprefix("mac=")
        if (
            zalo_secret is None
            or event.app_id != zalo_app_id
            or not hmac.compare_digest(given, zalo_mac(event.app_id, body, event.timestamp, zalo_secret))
        ):
            raise ApiError(401, "invalid_signature", "Chữ ký của thông báo không đúng.", ZALO_SIGNATURE)
        if event.event_name == "user_send_text" and event.message is not None and event.sender is not None:
            return await _reply(
                repository,
                sender,
                DeliveryChannel.ZALO,
                event.sender.id,
                event.message.text or "",
                event.message.msg_id,
            )
        if event.event_name != "user_received_message" or event.message is None:
            return ReceiptAnswer(status="ignored")  # `user_seen_message` and the rest: nothing to record
        recorded = await record_receipt(
            repository, DeliveryChannel.ZALO, event.message.msg_id, delivered=True, reason="", at=utcnow()
        )
        return ReceiptAnswer(status="recorded" if recorded else "ignored")

    @router.get("/esms", response_model=ReceiptAnswer, responses=error_responses(401, 422, 503))
    async def esms_receipt(report: Annotated[EsmsReport, Query()]) -> ReceiptAnswer:
        if esms_secret is None or not hmac.compare_digest(report.secret.encode(), esms_secret.encode()):
            raise ApiError(401, "invalid_secret", "Mã bí mật của địa chỉ nhận báo cáo không đúng.", "secret")
        if report.SendStatus not in (ESMS_DELIVERED, ESMS_REJECTED):
            return ReceiptAnswer(status="ignored")  # waiting, or handed to the carrier: not there yet
        delivered = report.SendStatus == ESMS_DELIVERED
        recorded = await record_receipt(
            repository,
            DeliveryChannel.SMS,
            report.SMSID,
            delivered=delivered,
            reason="esms: the carrier rejected the message",
            at=utcnow(),
        )
        return ReceiptAnswer(status="recorded" if recorded else "ignored")

    return router


# --- staff's replies to their assignments ------------------------------------------------------


class ReplyAnswer(BaseModel):
    status: ReplyOutcome = Field(
        description="recorded: understood, staff.replied announced; help_sent: not understood, the sender gets "
        "a short help message; ignored: no assignment was sent to that phone"
    )


class EsmsInbound(BaseModel):
    """A text sent to the brandname's two-way number (eSMS's MO callback)."""

    model_config = ConfigDict(extra="ignore")

    Phone: str = Field(max_length=20)
    # A reply is a few words; at most this, escaped in JSON, stays under the body limit (16 KiB): a longer one is 422.
    Content: str = Field(max_length=1000)
    SMSID: str | None = Field(None, max_length=100, description="eSMS's id of the inbound message, when given")


def replies_router(repository: Messages, sender: Sender, *, esms_secret: str | None) -> APIRouter:
    """eSMS's two-way SMS callback, checked like its delivery reports: by the secret in the address we gave.
    (Zalo's replies come to its one webhook, `/v1/receipts/zalo`.)"""
    router = APIRouter(prefix="/v1/replies", tags=["replies"])

    def checked(secret: str) -> None:
        if esms_secret is None or not hmac.compare_digest(secret.encode(), esms_secret.encode()):
            raise ApiError(401, "invalid_secret", "Mã bí mật của địa chỉ nhận tin không đúng.", "secret")

    @router.get("/esms", response_model=ReplyAnswer, responses=error_responses(401, 422, 503))
    async def esms_reply(
        inbound: Annotated[EsmsInbound, Query()], secret: Annotated[str, Query(max_length=200)]
    ) -> ReplyAnswer:
        checked(secret)
        return await _reply(repository, sender, DeliveryChannel.SMS, inbound.Phone, inbound.Content, inbound.SMSID)

    @router.post("/esms", response_model=ReplyAnswer, responses=error_responses(401, 413, 422, 503))
    async def esms_reply_posted(inbound: EsmsInbound, secret: Annotated[str, Query(max_length=200)]) -> ReplyAnswer:
        checked(secret)
        return await _reply(repository, sender, DeliveryChannel.SMS, inbound.Phone, inbound.Content, inbound.SMSID)

    return router


async def _reply(
    repository: Messages, sender: Sender, channel: DeliveryChannel, who: str, text: str, inbound_id: str | None
) -> ReplyAnswer:
    try:
        # We assume the OA's webhook names the person by phone for people reached by ZNS (as its ZNS
        # receipts do); a Zalo user id is no phone of ours, and is ignored like an unknown phone.
        phone = normalise_mobile(who)
    except InvalidPhone:
        return ReplyAnswer(status=ReplyOutcome.IGNORED)
    outcome = await record_staff_reply(
        repository, sender, channel=channel, phone=phone, text=text, inbound_id=inbound_id
    )
    return ReplyAnswer(status=outcome)
