"""Home requests in intake's own database; each document carries its outbox."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from gandan.intake.domain import EligibilityCategory, HomeRequest, RequestStatus, Visit
from gandan.shared.events import Envelope, ProcedureField, ResultDelivery, TimeWindow
from gandan.shared.idempotency import insert_once
from gandan.shared.mongo import Document
from gandan.shared.outbox import pending


class DuplicateRequestCode(Exception):
    pass


class HomeRequestRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.collection = database["home_requests"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("ward_code", ASCENDING), ("registered_at", ASCENDING)])

    async def add(self, request: HomeRequest, events: tuple[Envelope[Any], ...]) -> None:
        """Store the request and the events it announces in one write."""
        document = _to_document(request) | {"outbox": pending(*events)}
        if not await insert_once(self.collection, document):
            raise DuplicateRequestCode(request.code)

    async def get(self, code: str) -> HomeRequest | None:
        document = await self.collection.find_one({"_id": code}, {"outbox": 0})
        return _from_document(document) if document else None

    async def record_visit(self, ward_code: str, code: str, visit: Visit) -> bool:
        """Setting the same visit again changes nothing, so a redelivered event is harmless."""
        result = await self.collection.update_one(
            {"_id": code, "ward_code": ward_code},
            {"$set": {"status": RequestStatus.VISIT_SCHEDULED.value, "visit": asdict(visit)}},
        )
        return result.matched_count == 1


def _to_document(request: HomeRequest) -> Document:
    document = asdict(request)
    document["_id"] = document.pop("code")
    # BSON has no date type: keep the preferred date as ISO text.
    document["preferred_date"] = request.preferred_date.isoformat()
    return document


def _from_document(document: Document) -> HomeRequest:
    values = dict(document)
    values["code"] = values.pop("_id")
    values["preferred_date"] = date.fromisoformat(values["preferred_date"])
    values["category"] = EligibilityCategory(values["category"])
    values["field"] = ProcedureField(values["field"])
    values["time_window"] = TimeWindow(values["time_window"])
    values["result_delivery"] = ResultDelivery(values["result_delivery"])
    values["status"] = RequestStatus(values["status"])
    values["visit"] = Visit(**values["visit"]) if values.get("visit") else None
    return HomeRequest(**values)
