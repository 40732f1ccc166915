"""Visits in dispatch's own database; each visit document carries its outbox.

A visit claims its officer's and its leader's hour (`claims`, unique), so two
handlers booking at once cannot give one person two visits at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from gandan.dispatch.domain import Slot
from gandan.shared.clock import LOCAL_TZ
from gandan.shared.events import Envelope
from gandan.shared.mongo import Document
from gandan.shared.outbox import pending


class SlotTaken(Exception):
    """Someone in this visit was booked for the same hour meanwhile."""


@dataclass(frozen=True)
class VisitRecord:
    id: str
    request_code: str
    ward_code: str
    officer_key: str
    leader_key: str
    slot: Slot


def _claim(ward_code: str, person: str, starts_at: datetime) -> str:
    # Person keys are unique within a ward's roster only.
    return f"{ward_code}/{person}@{starts_at.isoformat()}"


class VisitRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.visits = database["visits"]
        self.unassigned = database["unassigned_requests"]

    async def ensure_indexes(self) -> None:
        await self.visits.create_index([("claims", ASCENDING)], unique=True)
        await self.visits.create_index([("ward_code", ASCENDING), ("starts_at", ASCENDING)])

    async def add(self, visit: VisitRecord, event: Envelope[Any]) -> bool:
        """Store the visit with its event. False if this visit is already stored (a redelivery)."""
        document = {
            "_id": visit.id,
            "request_code": visit.request_code,
            "ward_code": visit.ward_code,
            "officer_key": visit.officer_key,
            "leader_key": visit.leader_key,
            "starts_at": visit.slot.starts_at,
            "ends_at": visit.slot.ends_at,
            "claims": [
                _claim(visit.ward_code, visit.officer_key, visit.slot.starts_at),
                _claim(visit.ward_code, visit.leader_key, visit.slot.starts_at),
            ],
            "outbox": pending(event),
        }
        try:
            await self.visits.insert_one(document)
        except DuplicateKeyError:
            if await self.visits.count_documents({"_id": visit.id}, limit=1):
                return False
            raise SlotTaken(visit.id) from None
        return True

    async def exists(self, visit_id: str) -> bool:
        return bool(await self.visits.count_documents({"_id": visit_id}, limit=1))

    async def busy_from(self, ward_code: str, first_day: date) -> dict[str, list[Slot]]:
        """Every booked hour of the ward's people from `first_day` (local) on."""
        since = datetime.combine(first_day, time(0), tzinfo=LOCAL_TZ)
        busy: dict[str, list[Slot]] = {}
        cursor = self.visits.find(
            {"ward_code": ward_code, "ends_at": {"$gt": since}},
            {"officer_key": 1, "leader_key": 1, "starts_at": 1, "ends_at": 1},
        )
        async for document in cursor:
            slot = Slot(starts_at=document["starts_at"], ends_at=document["ends_at"])
            for person in (document["officer_key"], document["leader_key"]):
                busy.setdefault(person, []).append(slot)
        return busy

    async def set_aside(self, request_id: str, request_code: str, ward_code: str, reason: str) -> None:
        """A request no one could be booked for: kept for the centre to arrange by hand."""
        await self.unassigned.update_one(
            {"_id": request_id},
            {"$setOnInsert": {"request_code": request_code, "ward_code": ward_code, "reason": reason}},
            upsert=True,
        )
