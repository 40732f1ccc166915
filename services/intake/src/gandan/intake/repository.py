"""Home requests in intake's own database; each document carries its outbox. And the wards
dispatch serves, as it last announced them."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from gandan.intake.cccd import CccdCipher
from gandan.intake.domain import (
    DuplicateRequestCode,
    EligibilityCategory,
    HomeRequest,
    IdempotencyKey,
    IdempotencyKeyTaken,
    KeyedRequest,
    OpenRequestExists,
    Registration,
    RequestStatus,
    Visit,
)
from gandan.shared.events import ProcedureField, Registrar, RegistrationChannel, ResultDelivery, TimeWindow
from gandan.shared.idempotency import insert_once
from gandan.shared.mongo import Document, drop_index_if_present
from gandan.shared.outbox import WITHOUT_OUTBOX, Outbox

_KEY = "idempotency"
# Written by the lifecycle (`gandan.intake.lifecycle.repository`), not part of a `HomeRequest`.
_REVISION, _LIFECYCLE = "revision", "lifecycle"
# The visit as dispatch last changed it (`visit.rescheduled`) and when: shown over the booked one.
_RESCHEDULED, _RESCHEDULED_AT = "rescheduled_visit", "rescheduled_at"
# Held only while the request is open; unique, so a race of two registrations keeps one.
_OPEN = "open_key"


class MongoHomeRequests:
    def __init__(self, outbox: Outbox, cipher: CccdCipher) -> None:
        self._outbox = outbox
        self._cipher = cipher
        self.collection = outbox.collection("home_requests")

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("ward_code", ASCENDING), ("registered_at", ASCENDING)])
        # What a write that checks the state (`schedule_visit`) or the lifecycle's revision finds by.
        # SecantusDB plans `_id` with other fields through an index holding them all (without one it
        # walks its planner's fallbacks, dearer than the index costs). `{_id, ward_code}` alone, as
        # `schedule_visit`'s read after a miss and the lifecycle's reads ask, is a prefix of both.
        await self.collection.create_index([("_id", ASCENDING), ("ward_code", ASCENDING), ("status", ASCENDING)])
        await self.collection.create_index([("_id", ASCENDING), ("ward_code", ASCENDING), (_REVISION, ASCENDING)])
        # Every index is rewritten with each write of a request (three in a journey: about 0.1 ms of
        # the database's CPU each, measured): the `(_id, ward_code)` one, redundant, goes.
        await drop_index_if_present(self.collection, "_id_1_ward_code_1")
        # Sparse: only requests sent with a key are indexed, and each key is taken once.
        await self.collection.create_index(
            [(f"{_KEY}.ward_code", ASCENDING), (f"{_KEY}.subject", ASCENDING), (f"{_KEY}.key", ASCENDING)],
            unique=True,
            sparse=True,
        )
        # Sparse, not partial: a partial index's filter cannot say "status not in ...", and a
        # closed request simply drops the key.
        await self.collection.create_index([(_OPEN, ASCENDING)], unique=True, sparse=True)

    async def add(self, registration: Registration) -> None:
        """One write: the request and its events. A retry of this write (the driver's, after a
        lost answer) can meet the document the first try stored: that is success, not a code collision.
        """
        request, events, key = registration.request, registration.events, registration.key
        document = self._to_document(request)
        if key is not None:
            document[_KEY] = asdict(key) | {"fingerprint": registration.fingerprint}
        if await self._outbox.insert(self.collection, document, *events):
            return
        # The same code with the same first event can only be this very write.
        if await self.collection.count_documents({"_id": request.code, "outbox.event_id": str(events[0].id)}, limit=1):
            return
        if key is not None and await self.collection.count_documents(_key_filter(key), limit=1):
            raise IdempotencyKeyTaken(key.key)
        if open_one := await self.collection.find_one({_OPEN: request.open_key}, {"_id": 1}):
            raise OpenRequestExists(open_one["_id"])
        raise DuplicateRequestCode(request.code)

    async def by_idempotency_key(self, key: IdempotencyKey) -> KeyedRequest | None:
        document = await self.collection.find_one(_key_filter(key), WITHOUT_OUTBOX)
        if document is None:
            return None
        return KeyedRequest(self._from_document(document), document[_KEY]["fingerprint"])

    async def get(self, code: str) -> HomeRequest | None:
        document = await self.collection.find_one({"_id": code}, WITHOUT_OUTBOX)
        return self._from_document(document) if document else None

    async def schedule_visit(
        self, ward_code: str, code: str, visit: Visit, *, from_states: frozenset[RequestStatus]
    ) -> RequestStatus | None:
        # No read first on the journey's path: the write itself checks the state. Only when it
        # finds nothing (a redelivery, a request moved on, an unknown one) is the request read.
        result = await self.collection.update_one(
            {"_id": code, "ward_code": ward_code, "status": {"$in": sorted(from_states)}},
            {
                "$set": {"status": RequestStatus.APPOINTMENT_PROPOSED.value, "visit": asdict(visit)},
                # Moves the lifecycle's revision on, so that no update decided before it is stored after it.
                "$inc": {_REVISION: 1},
            },
        )
        if result.matched_count:
            return RequestStatus.APPOINTMENT_PROPOSED
        document = await self.collection.find_one({"_id": code, "ward_code": ward_code}, {"status": 1})
        return RequestStatus(document["status"]) if document else None

    async def reschedule_visit(self, ward_code: str, code: str, visit: Visit, *, as_of: datetime) -> bool:
        # Kept apart from the booked visit, so a `visit.scheduled` handled after it cannot hide it.
        result = await self.collection.update_one(
            {"_id": code, "ward_code": ward_code, _RESCHEDULED_AT: {"$not": {"$gte": as_of}}},
            {"$set": {_RESCHEDULED: asdict(visit), _RESCHEDULED_AT: as_of}},
        )
        if result.matched_count:
            return True
        if not await self.collection.count_documents({"_id": code, "ward_code": ward_code}, limit=1):
            raise LookupError(f"rescheduled visit for unknown request {code}")
        return False

    def _to_document(self, request: HomeRequest) -> Document:
        document = asdict(request)
        document["_id"] = document.pop("code")
        # BSON has no date type: keep the preferred date as ISO text.
        document["preferred_date"] = request.preferred_date.isoformat()
        if request.cccd is not None:
            document["cccd"] = self._cipher.seal(request.cccd, request.code)
        if request.open_key is not None:
            document[_OPEN] = request.open_key
        return document

    def _from_document(self, document: Document) -> HomeRequest:
        values = dict(document)
        values["code"] = values.pop("_id")
        values.pop(_KEY, None)
        values.pop(_OPEN, None)
        values.pop(_REVISION, None)
        values.pop(_LIFECYCLE, None)
        values["preferred_date"] = date.fromisoformat(values["preferred_date"])
        values["category"] = EligibilityCategory(values["category"])
        values["field"] = ProcedureField(values["field"])
        values["time_window"] = TimeWindow(values["time_window"])
        values["result_delivery"] = ResultDelivery(values["result_delivery"])
        values["registered_by"] = Registrar(values["registered_by"])
        values["channel"] = RegistrationChannel(values["channel"])
        values["status"] = RequestStatus(values["status"])
        values.pop(_RESCHEDULED_AT, None)
        shown = values.pop(_RESCHEDULED, None) or values.get("visit")
        values["visit"] = Visit(**shown) if shown else None
        if values.get("cccd") is not None:
            values["cccd"] = self._cipher.open(values["cccd"], values["code"])
        return HomeRequest(**values)


def _key_filter(key: IdempotencyKey) -> Document:
    return {f"{_KEY}.{name}": value for name, value in asdict(key).items()}


class MongoServedWards:
    """One document, the latest announcement; kept in memory too, so a registration asks no database."""

    _ID = "served_wards"

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.collection = database["served_wards"]
        self._wards: frozenset[str] = frozenset()
        self._as_of: datetime | None = None

    async def load(self) -> None:
        """At start: what an earlier run learnt (nothing, before the first announcement)."""
        document = await self.collection.find_one({"_id": self._ID})
        if document is not None:
            self._wards, self._as_of = frozenset(document["ward_codes"]), document["as_of"]

    def serves(self, ward_code: str) -> bool:
        return ward_code in self._wards

    async def record(self, ward_codes: tuple[str, ...], as_of: datetime) -> None:
        announcement = {"ward_codes": list(ward_codes), "as_of": as_of}
        if not await insert_once(self.collection, {"_id": self._ID} | announcement):
            # Only a later announcement replaces the kept one: events may arrive out of order.
            await self.collection.update_one({"_id": self._ID, "as_of": {"$lt": as_of}}, {"$set": announcement})
        # Known once kept, not before: a restart must find what a registration was judged by.
        if self._as_of is None or as_of > self._as_of:
            self._wards, self._as_of = frozenset(ward_codes), as_of
