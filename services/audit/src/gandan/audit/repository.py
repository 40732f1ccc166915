"""Evidence in audit's own database: one document per event, keyed by the event id."""

from __future__ import annotations

from uuid import UUID

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from gandan.audit.domain import Evidence
from gandan.shared.idempotency import GroupedInserts
from gandan.shared.mongo import Document


class MongoEvidenceLog:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.events = database["events"]
        # The consumer handles up to a prefetch of events at once: their evidence goes in one insert.
        self._inserts = GroupedInserts(self.events)

    async def ensure_indexes(self) -> None:
        await self.events.create_index(
            [("ward_code", ASCENDING), ("request_code", ASCENDING), ("occurred_at", ASCENDING)]
        )
        await self.events.create_index([("ward_code", ASCENDING), ("type", ASCENDING), ("occurred_at", ASCENDING)])

    async def record(self, evidence: Evidence) -> bool:
        return await self._inserts.insert_once(
            {
                "_id": str(evidence.event_id),
                "type": evidence.type,
                "version": evidence.version,
                "occurred_at": evidence.occurred_at,
                "ward_code": evidence.ward_code,
                "correlation_id": str(evidence.correlation_id),
                "causation_id": str(evidence.causation_id) if evidence.causation_id else None,
                "producer": evidence.producer,
                "request_code": evidence.request_code,
                "data": evidence.data,
                "recorded_at": evidence.recorded_at,
            },
        )

    async def trail(self, ward_code: str, request_code: str) -> list[Evidence]:
        # Events of one moment (a registration announces two) keep one order from call to call.
        cursor = self.events.find({"ward_code": ward_code, "request_code": request_code}).sort(
            [("occurred_at", ASCENDING), ("recorded_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [_evidence(document) async for document in cursor]


def _evidence(document: Document) -> Evidence:
    causation_id = document["causation_id"]
    return Evidence(
        event_id=UUID(document["_id"]),
        type=document["type"],
        version=document["version"],
        occurred_at=document["occurred_at"],
        ward_code=document["ward_code"],
        correlation_id=UUID(document["correlation_id"]),
        causation_id=UUID(causation_id) if causation_id else None,
        producer=document["producer"],
        data=document["data"],
        recorded_at=document["recorded_at"],
    )
