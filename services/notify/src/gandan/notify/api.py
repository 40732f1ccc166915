"""HTTP: the messages notify has sent or tried to send, for the ward's staff."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel

from gandan.notify.repository import NotifyRepository
from gandan.shared.auth import Credential, Role, require
from gandan.shared.events import DeliveryChannel, RecipientRole
from gandan.shared.http import error_responses
from gandan.shared.phone import mask, mask_in_text


class MessageView(BaseModel):
    message_id: str
    request_code: str
    recipient_role: RecipientRole
    recipient_name: str
    # Masked, in the name and the text too: the list is for following up, not for copying numbers.
    phone: str
    channel: DeliveryChannel
    template: str
    text: str
    status: str
    created_at: AwareDatetime
    sent_at: AwareDatetime | None = None


class MessageList(BaseModel):
    messages: list[MessageView]


READERS = require(Role.STAFF, Role.AUDITOR)


def messages_router(repository: NotifyRepository) -> APIRouter:
    router = APIRouter(prefix="/v1/messages", tags=["messages"])

    @router.get("", response_model=MessageList, responses=error_responses(401, 403, 422, 503))
    async def list_messages(
        credential: Annotated[Credential, Depends(READERS)],
        request_code: Annotated[str | None, Query(max_length=40)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> MessageList:
        documents = await repository.listing(credential.ward_code, request_code, limit)
        return MessageList(
            messages=[
                MessageView(
                    message_id=d["_id"],
                    request_code=d["request_code"],
                    recipient_role=d["recipient_role"],
                    recipient_name=mask_in_text(d["recipient_name"]),
                    phone=mask(d["phone"]),
                    channel=d["channel"],
                    template=d["template"],
                    text=mask_in_text(d["text"]),
                    status=d["status"],
                    created_at=d["created_at"],
                    sent_at=d.get("sent_at"),
                )
                for d in documents
            ]
        )

    return router
