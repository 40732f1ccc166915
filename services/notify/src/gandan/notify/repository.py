"""Contacts and messages in notify's own database. A message document carries its outbox."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from uuid import UUID

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from gandan.notify.domain import Cause, Contact, Message, MessageStatus
from gandan.shared.events import DeliveryChannel, RecipientRole
from gandan.shared.idempotency import insert_each_once
from gandan.shared.mongo import Document
from gandan.shared.outbox import WITHOUT_OUTBOX, Outbox, pending

# What a message's life changes; the rest is fixed when it is prepared.
_PROGRESS = (
    "status",
    "attempts",
    "last_error",
    "next_attempt_at",
    "sent_at",
    "provider_message_id",
    "failed_at",
    "failure",
)


class MongoMessages:
    def __init__(self, database: AsyncDatabase[Document], outbox: Outbox) -> None:
        self._outbox = outbox
        self.contacts = database["contacts"]
        self.messages = outbox.collection("messages")

    async def ensure_indexes(self) -> None:
        await self.messages.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self.messages.create_index([("ward_code", ASCENDING), ("created_at", DESCENDING)])
        await self.messages.create_index([("request_code", ASCENDING)])
        # What `save` finds by. SecantusDB serves `_id` with another field from an index only
        # if one holds both; without it, each save would read every message.
        await self.messages.create_index([("_id", ASCENDING), ("status", ASCENDING)])

    async def remember_contact(self, ward_code: str, contact: Contact) -> None:
        # $setOnInsert: a redelivered event finds the contact there and changes nothing.
        await self.contacts.update_one(
            {"_id": contact.request_code},
            {"$setOnInsert": asdict(contact) | {"ward_code": ward_code}},
            upsert=True,
        )

    async def contact(self, request_code: str) -> Contact | None:
        document = await self.contacts.find_one({"_id": request_code}, {"_id": 0, "ward_code": 0})
        return Contact(**document) if document else None

    async def add(self, messages: list[Message]) -> int:
        # Prepared messages announce nothing yet: an empty outbox.
        return await insert_each_once(self.messages, [_to_document(m) | pending() for m in messages])

    async def due(self, now: datetime, limit: int) -> list[Message]:
        cursor = self.messages.find(
            {"status": MessageStatus.PENDING, "next_attempt_at": {"$lte": now}}, WITHOUT_OUTBOX
        ).limit(limit)
        return [_from_document(document) async for document in cursor]

    async def save(self, messages: list[Message]) -> None:
        changes = []
        for message in messages:
            document = _to_document(message)
            query = {"_id": message.id, "status": MessageStatus.PENDING}
            changes.append((query, {"$set": {name: document[name] for name in _PROGRESS}}, list(message.events)))
        await self._outbox.update_each(self.messages, changes)
        for message in messages:
            message.events.clear()

    async def listing(self, ward_code: str, request_code: str | None, limit: int) -> list[Message]:
        query: Document = {"ward_code": ward_code}
        if request_code:
            query["request_code"] = request_code
        cursor = self.messages.find(query, WITHOUT_OUTBOX).sort([("created_at", DESCENDING), ("_id", ASCENDING)])
        return [_from_document(document) async for document in cursor.limit(limit)]


def _to_document(message: Message) -> Document:
    document = {f.name: getattr(message, f.name) for f in fields(message) if f.name != "events"}
    document["_id"] = document.pop("id")
    document["cause"] = {name: str(value) for name, value in asdict(message.cause).items()}
    return document


def _from_document(document: Document) -> Message:
    values = dict(document)
    values["id"] = values.pop("_id")
    values["recipient_role"] = RecipientRole(values["recipient_role"])
    values["channel"] = DeliveryChannel(values["channel"])
    values["status"] = MessageStatus(values["status"])
    values["cause"] = Cause(**{name: UUID(value) for name, value in values["cause"].items()})
    return Message(**values)
