"""Visits in dispatch's own database; each visit document carries its outbox.

A visit claims its officer's and its leader's hour (`claims`, unique), so two
handlers booking at once cannot give one person two visits at the same time.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, time

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from gandan.dispatch.domain import SetAside, Slot, SlotTaken, Visit
from gandan.shared.clock import LOCAL_TZ
from gandan.shared.events import Envelope, EventData
from gandan.shared.mongo import Document
from gandan.shared.outbox import Outbox


def _claim(ward_code: str, person: str, starts_at: datetime) -> str:
    # Person keys are unique within a ward's roster only.
    return f"{ward_code}/{person}@{starts_at.isoformat()}"


class MongoVisits:
    def __init__(self, database: AsyncDatabase[Document], outbox: Outbox) -> None:
        self._outbox = outbox
        self.visits = outbox.collection("visits")
        self.unassigned = database["unassigned_requests"]
        # One document per announcement: each start makes a new one, none is changed.
        self.announcements = outbox.collection("served_wards_announcements")

    async def ensure_indexes(self) -> None:
        await self.visits.create_index([("claims", ASCENDING)], unique=True)
        # What `busy_from` asks: the ward's visits ending after a day. Keyed by the end, so the
        # past visits are never read, however many there are.
        await self.visits.create_index([("ward_code", ASCENDING), ("ends_at", ASCENDING)])

    async def add(self, visit: Visit, event: Envelope[EventData]) -> bool:
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
        }
        if await self._outbox.insert(self.visits, document, event):
            return True
        if await self.exists(visit.id):
            return False
        raise SlotTaken(visit.id)  # a claim another visit holds

    async def exists(self, visit_id: str) -> bool:
        return bool(await self.visits.count_documents({"_id": visit_id}, limit=1))

    async def busy_from(self, ward_code: str, first_day: date) -> dict[str, list[Slot]]:
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

    async def announce(self, served: Envelope[EventData]) -> None:
        await self._outbox.insert(
            self.announcements, {"_id": str(served.id), "occurred_at": served.occurred_at}, served
        )

    async def set_aside(self, request: SetAside) -> None:
        values = asdict(request)
        await self.unassigned.update_one({"_id": values.pop("id")}, {"$setOnInsert": values}, upsert=True)
