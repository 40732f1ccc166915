"""A ward's planned days and missed service levels in dispatch's database, each stored with its events;
the day's visits read from the booking's `visits`.

`day_plans`: one document per ward and day (`{ward}/{day}`), replaced by each revision onto the revision
it was read at, with the firing that made it (a firing repeated after a crash finds its plan stored).
`service_level_breaches`: one document per request and rule, so each is announced once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from pydantic import TypeAdapter
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from gandan.dispatch.planning.domain import Breach, DayVisit, PlannedDay
from gandan.shared.events import Envelope, EventData, ServiceLevelRule
from gandan.shared.mongo import Document
from gandan.shared.outbox import WITHOUT_OUTBOX, Outbox

_VISIT_FIELDS = {
    "request_code": 1,
    "citizen_ref": 1,
    "residential_group": 1,
    "procedure": 1,
    "field": 1,
    "day": 1,
    "status": 1,
    "officer_key": 1,
    "starts_at": 1,
    "ends_at": 1,
    # When the visit was booked: the event it was stored with (the outbox keeps every entry).
    "outbox.event.occurred_at": 1,
}
_DAY_VISIT = TypeAdapter(DayVisit)


def _day_visit(document: Document) -> DayVisit:
    booked = [entry["event"]["occurred_at"] for entry in document.get("outbox", [])]
    fields = {k: v for k, v in document.items() if k not in ("_id", "outbox")}
    return _DAY_VISIT.validate_python(fields | {"id": document["_id"], "booked_at": booked[0] if booked else None})


def breach_id(request_code: str, rule: ServiceLevelRule) -> str:
    return f"{request_code}/{rule}"


def plan_id(ward_code: str, day: date) -> str:
    return f"{ward_code}/{day.isoformat()}"


class MongoDayPlans:
    def __init__(self, database: AsyncDatabase[Document], outbox: Outbox) -> None:
        self._outbox = outbox
        # Read only: the booking stores the visits (and their outbox, which its relay publishes).
        self.visits = database["visits"]
        self.plans = outbox.collection("day_plans")
        self.breaches = outbox.collection("service_level_breaches")

    async def ensure_indexes(self) -> None:
        await self.visits.create_index([("ward_code", ASCENDING), ("day", ASCENDING)])
        # What `visits_ending_after` asks (the service-level sweep): the past visits are never read.
        await self.visits.create_index([("ward_code", ASCENDING), ("ends_at", ASCENDING)])
        await self.plans.create_index([("ward_code", ASCENDING), ("day", ASCENDING)])
        await self.breaches.create_index([("ward_code", ASCENDING), ("visit_ends_at", ASCENDING)])

    # --- visits ----------------------------------------------------------------------------

    async def day_visits(self, ward_code: str, day: date) -> list[DayVisit]:
        cursor = self.visits.find({"ward_code": ward_code, "day": day.isoformat()}, _VISIT_FIELDS)
        return [_day_visit(d) async for d in cursor]

    async def visits_ending_after(self, ward_code: str, since: datetime) -> list[DayVisit]:
        """The ward's visits still to make (proposed or agreed) that end after `since`."""
        # The status is judged here, not in the query: with it there, SecantusDB reads the whole
        # collection instead of the (ward_code, ends_at) index (as `MongoVisits.planned_from` found).
        cursor = self.visits.find({"ward_code": ward_code, "ends_at": {"$gt": since}}, _VISIT_FIELDS)
        return [v for v in [_day_visit(d) async for d in cursor] if v.status.holds_places]

    # --- plans -----------------------------------------------------------------------------

    async def latest(self, ward_code: str, day: date) -> Document | None:
        return await self.plans.find_one({"_id": plan_id(ward_code, day)}, WITHOUT_OUTBOX)

    async def days_from(self, ward_code: str, day: date) -> list[Document]:
        """The ward's planned days from `day` on (today's and tomorrow's, at most)."""
        return await self.plans.find(
            {"ward_code": ward_code, "day": {"$gte": day.isoformat()}}, WITHOUT_OUTBOX
        ).to_list()

    async def store(self, planned: PlannedDay, *, firing: str, fingerprint: str, planned_at: datetime) -> bool:
        """Store the revision with its events onto the one before it; False if another got there first."""
        fields = {
            "ward_code": planned.ward_code,
            "day": planned.day.isoformat(),
            "revision": planned.revision,
            "routes": [
                {
                    "team_id": r.team_id,
                    "officer": r.officer.staff_id,
                    "vehicle_id": r.vehicle_id,
                    "vehicle_kind": r.vehicle_kind,
                    "stops": [s.model_dump() for s in r.stops],
                }
                for r in planned.routes
            ],
            "unassigned": list(planned.unassigned),
            "unassigned_requests": list(planned.unassigned_requests),
            "fingerprint": fingerprint,
            "firing": firing,
            "planned_at": planned_at,
        }
        key = plan_id(planned.ward_code, planned.day)
        if planned.revision == 1:
            return await self._outbox.insert(self.plans, {"_id": key, **fields}, *planned.events)
        query = {"_id": key, "revision": planned.revision - 1}
        return await self._outbox.update(self.plans, query, {"$set": fields}, *planned.events)

    # --- service levels --------------------------------------------------------------------

    async def breached(self, ward_code: str, request_codes: Iterable[str]) -> set[str]:
        """Which of these requests' breaches are recorded already, as `{request_code}/{rule}`."""
        ids = [breach_id(code, rule) for code in set(request_codes) for rule in ServiceLevelRule]
        cursor = self.breaches.find({"_id": {"$in": ids}, "ward_code": ward_code}, {"_id": 1})
        return {str(d["_id"]) async for d in cursor}

    async def record(self, ward_code: str, breach: Breach, event: Envelope[EventData]) -> bool:
        """Once per request and rule: the breach with its `service_level.breached`."""
        document = {
            "_id": breach_id(breach.request_code, breach.rule),
            "ward_code": ward_code,
            "request_code": breach.request_code,
            "rule": str(breach.rule),
            "due_at": breach.due_at,
            "visit_ends_at": breach.visit_ends_at,
        }
        return await self._outbox.insert(self.breaches, document, event)

    async def late(self, ward_code: str, since: datetime) -> list[str]:
        """Request codes with a breach whose visit is still to come after `since`."""
        cursor = self.breaches.find({"ward_code": ward_code, "visit_ends_at": {"$gt": since}}, {"request_code": 1})
        return [str(d["request_code"]) async for d in cursor]
