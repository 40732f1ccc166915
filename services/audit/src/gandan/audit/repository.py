"""Evidence in audit's own database: one document per event, keyed by the event id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from gandan.shared.events import Envelope
from gandan.shared.idempotency import insert_once
from gandan.shared.mongo import Document


class EvidenceRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.events = database["events"]

    async def ensure_indexes(self) -> None:
        await self.events.create_index(
            [("ward_code", ASCENDING), ("request_code", ASCENDING), ("occurred_at", ASCENDING)]
        )
        await self.events.create_index([("ward_code", ASCENDING), ("type", ASCENDING), ("occurred_at", ASCENDING)])

    async def record(self, event: Envelope[dict[str, Any]], data: dict[str, Any], recorded_at: datetime) -> bool:
        """Store the event once; False if it was already there (a redelivery)."""
        return await insert_once(
            self.events,
            {
                "_id": str(event.id),
                "type": event.type,
                "version": event.version,
                "occurred_at": event.occurred_at,
                "ward_code": event.ward_code,
                "correlation_id": str(event.correlation_id),
                "causation_id": str(event.causation_id) if event.causation_id else None,
                "producer": event.producer,
                "request_code": data.get("request_code"),
                "data": data,
                "recorded_at": recorded_at,
            },
        )

    async def trail(self, ward_code: str, request_code: str) -> list[Document]:
        # Events of one moment (a registration announces two) keep one order from call to call.
        cursor = self.events.find({"ward_code": ward_code, "request_code": request_code}).sort(
            [("occurred_at", ASCENDING), ("recorded_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [document async for document in cursor]
