"""Contacts and messages in notify's own database. A message document carries its outbox."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from gandan.notify.domain import Contact
from gandan.shared.events import Envelope
from gandan.shared.idempotency import insert_each_once
from gandan.shared.mongo import Document
from gandan.shared.outbox import append


class MessageStatus:
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class NotifyRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.contacts = database["contacts"]
        self.messages = database["messages"]

    async def ensure_indexes(self) -> None:
        await self.messages.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self.messages.create_index([("ward_code", ASCENDING), ("created_at", DESCENDING)])
        await self.messages.create_index([("request_code", ASCENDING)])

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

    async def add_messages(self, documents: list[Document]) -> int:
        return await insert_each_once(self.messages, documents)

    async def due(self, now: datetime, limit: int) -> list[Document]:
        cursor = self.messages.find(
            {"status": MessageStatus.PENDING, "next_attempt_at": {"$lte": now}}, {"outbox": 0}
        ).limit(limit)
        return [document async for document in cursor]

    async def mark_sent(self, message_id: str, provider_message_id: str, at: datetime, event: Envelope[Any]) -> None:
        await self.messages.update_one(
            {"_id": message_id, "status": MessageStatus.PENDING},
            {
                "$set": {"status": MessageStatus.SENT, "sent_at": at, "provider_message_id": provider_message_id},
                **append(event),
            },
        )

    async def mark_failed(self, message_id: str, reason: str, at: datetime, event: Envelope[Any]) -> None:
        await self.messages.update_one(
            {"_id": message_id, "status": MessageStatus.PENDING},
            {"$set": {"status": MessageStatus.FAILED, "failed_at": at, "failure": reason}, **append(event)},
        )

    async def postpone(self, message_id: str, attempts: int, next_attempt_at: datetime, reason: str) -> None:
        await self.messages.update_one(
            {"_id": message_id, "status": MessageStatus.PENDING},
            {"$set": {"attempts": attempts, "next_attempt_at": next_attempt_at, "last_error": reason}},
        )

    async def listing(self, ward_code: str, request_code: str | None, limit: int) -> list[Document]:
        query: Document = {"ward_code": ward_code}
        if request_code:
            query["request_code"] = request_code
        # Newest first: the list is for following up on what was just sent.
        cursor = self.messages.find(query, {"outbox": 0}).sort([("created_at", DESCENDING), ("_id", ASCENDING)])
        return [document async for document in cursor.limit(limit)]
