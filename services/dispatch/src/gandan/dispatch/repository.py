"""Visits, refusals, rosters and the working calendar in dispatch's own database; each visit,
refusal and roster document carries its outbox.

A visit claims its officer's and its leader's place in its half-day (`claims`, unique; see
`proposal.claim`), so two handlers proposing at once cannot fill a half-day past what each checked.
"""

from __future__ import annotations

import time as monotonic
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

from pydantic import TypeAdapter
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from gandan.dispatch.domain import EVENTS, Roster, Slot, UnknownWard, WorkingCalendar, YearDecision, wards_served
from gandan.dispatch.proposal import HalfDay, Planned, Refusal, SlotTaken, Visit, VisitStatus
from gandan.shared.clock import utcnow
from gandan.shared.events import Envelope, EventData, RosterChange, RosterChanged, TimeWindow
from gandan.shared.mongo import Document
from gandan.shared.outbox import WITHOUT_OUTBOX, Outbox

_DUPLICATE_KEY = 11000


class MongoVisits:
    def __init__(self, database: AsyncDatabase[Document], outbox: Outbox) -> None:
        self._outbox = outbox
        self.visits = outbox.collection("visits")
        # Keyed by the visit id the request would have had: a redelivery publishes nothing twice.
        self.unassigned = outbox.collection("unassigned_requests")
        # One document per announcement: each start makes a new one, none is changed.
        self.announcements = outbox.collection("served_wards_announcements")

    async def ensure_indexes(self) -> None:
        # A cancelled visit has no claims: only those it has are unique.
        await self.visits.create_index(
            [("claims", ASCENDING)], unique=True, partialFilterExpression={"claims": {"$exists": True}}
        )
        # What `planned_from` asks: the ward's visits from a day on (the past ones are never read).
        await self.visits.create_index([("ward_code", ASCENDING), ("day", ASCENDING)])
        await self.visits.create_index([("request_code", ASCENDING)])

    async def add(self, visit: Visit, event: Envelope[EventData]) -> bool:
        if await self._outbox.insert(self.visits, {"_id": visit.id, **_fields(visit)}, event):
            return True
        if await self.exists(visit.id):
            return False
        raise SlotTaken(visit.id)  # a claim another visit holds

    async def exists(self, visit_id: str) -> bool:
        return bool(await self.visits.count_documents({"_id": visit_id}, limit=1))

    async def planned_from(self, ward_code: str, first_day: date, until: date | None = None) -> list[Planned]:
        # Cancelled and set-aside visits are left out here, not in the query: with their status in it, SecantusDB's
        # planner reads the whole collection instead of the (ward_code, day) index.
        days = {"$gte": first_day.isoformat()} | ({"$lt": until.isoformat()} if until is not None else {})
        cursor = self.visits.find(
            {"ward_code": ward_code, "day": days},
            {
                "status": 1,
                "officer_key": 1,
                "leader_key": 1,
                "day": 1,
                "half_day": 1,
                "residential_group": 1,
                "procedure": 1,
                "claims": 1,
            },
        )
        return [
            Planned(
                officer_key=d["officer_key"],
                leader_key=d["leader_key"],
                half_day=_half_day(d),
                residential_group=d["residential_group"],
                procedure=d["procedure"],
                claims=tuple(d.get("claims", ())),
                visit_id=d["_id"],
            )
            async for d in cursor
            if VisitStatus(d["status"]).holds_places
        ]

    async def refuse(self, refusal: Refusal, *events: Envelope[EventData]) -> None:
        values = asdict(refusal)
        await self._outbox.insert(self.unassigned, {"_id": values.pop("id"), **values}, *events)

    async def of_request(self, request_code: str) -> Visit | None:
        document = await self.visits.find_one({"request_code": request_code}, WITHOUT_OUTBOX)
        return None if document is None else _visit(document)

    async def visits_from(self, ward_code: str, first_day: date) -> list[Visit]:
        cursor = self.visits.find({"ward_code": ward_code, "day": {"$gte": first_day.isoformat()}}, WITHOUT_OUTBOX)
        return [_visit(d) async for d in cursor]

    async def change(self, visit: Visit, *events: Envelope[EventData]) -> bool:
        query = {"_id": visit.id, "revision": _at(visit.revision), "status": {"$ne": VisitStatus.CANCELLED}}
        update = {"$set": _fields(visit) | {"revision": visit.revision + 1}}
        try:
            return await self._outbox.update(self.visits, query, update, *events)
        except BulkWriteError as error:
            if all(e.get("code") == _DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
                raise SlotTaken(visit.id) from error
            raise

    async def cancel(self, request_code: str) -> bool:
        result = await self.visits.update_one(
            {"request_code": request_code},
            {"$set": {"status": VisitStatus.CANCELLED}, "$unset": {"claims": ""}, "$inc": {"revision": 1}},
        )
        return result.matched_count == 1

    async def announce(self, served: Envelope[EventData]) -> None:
        await self._outbox.insert(
            self.announcements, {"_id": str(served.id), "occurred_at": served.occurred_at}, served
        )


def _fields(visit: Visit) -> Document:
    """A visit's document (route planning reads these names too)."""
    return {
        "request_code": visit.request_code,
        "ward_code": visit.ward_code,
        "citizen_ref": visit.citizen_ref,
        "officer_key": visit.officer_key,
        "leader_key": visit.leader_key,
        "residential_group": visit.residential_group,
        "procedure": visit.procedure,
        "field": visit.field,
        "day": visit.half_day.day.isoformat(),
        "half_day": str(visit.half_day.half),
        "starts_at": visit.window.starts_at,
        "ends_at": visit.window.ends_at,
        "status": str(visit.status),
        "provisional": visit.provisional,
        "claims": list(visit.claims),
        "revision": visit.revision,
        "officer_accepted_at": visit.officer_accepted_at,
        "leader_accepted_at": visit.leader_accepted_at,
        "declined_by": list(visit.declined_by),
        "changes": list(visit.changes),
    }


def _at(revision: int) -> int | Document:
    # Visits stored before revisions were kept have none: theirs is 0.
    return {"$in": [0, None]} if revision == 0 else revision


def _half_day(document: Document) -> HalfDay:
    return HalfDay(date.fromisoformat(document["day"]), TimeWindow(document["half_day"]))


def _visit(document: Document) -> Visit:
    return Visit(
        id=document["_id"],
        request_code=document["request_code"],
        ward_code=document["ward_code"],
        citizen_ref=document["citizen_ref"],
        officer_key=document["officer_key"],
        leader_key=document["leader_key"],
        residential_group=document["residential_group"],
        procedure=document["procedure"],
        field=document["field"],
        half_day=_half_day(document),
        window=Slot(document["starts_at"], document["ends_at"]),
        claims=tuple(document.get("claims", ())),
        status=VisitStatus(document["status"]),
        provisional=document["provisional"],
        revision=document.get("revision", 0),
        officer_accepted_at=document.get("officer_accepted_at"),
        leader_accepted_at=document.get("leader_accepted_at"),
        declined_by=tuple(document.get("declined_by", ())),
        changes=tuple(document.get("changes", ())),
    )


_ROSTER = TypeAdapter(Roster)
_DECISION = TypeAdapter(YearDecision)
# Tries of a change that met another change of the same roster.
_CHANGE_ATTEMPTS = 5


class RosterConflict(Exception):
    """The roster kept changing under this change."""


class MongoRosters:
    """The wards' rosters (one document each, with its version and outbox) and the working
    calendar's yearly decisions, read through a cache in memory.

    Every change of a roster goes through `_write`: the one place that stores a roster with its
    `roster.changed`, then refreshes this process's cache. Changes made elsewhere (another
    dispatch process, the operator's command) are seen after `refresh_after` at most.
    """

    def __init__(
        self,
        database: AsyncDatabase[Document],
        outbox: Outbox,
        *,
        refresh_after: timedelta,
        clock: Callable[[], float] = monotonic.monotonic,
    ) -> None:
        self._outbox = outbox
        self.rosters = outbox.collection("rosters")
        self.years = database["calendar_years"]
        self._refresh_after = refresh_after.total_seconds()
        self._clock = clock
        self._cached: dict[str, tuple[float, Roster]] = {}
        self._calendar: tuple[float, WorkingCalendar] | None = None

    # --- read by the booking: from memory while fresh ---------------------------------------

    async def roster(self, ward_code: str) -> Roster:
        cached = self._cached.get(ward_code)
        if cached is not None and self._clock() < cached[0]:
            return cached[1]
        roster, _ = await self._read(ward_code)
        self._cache(roster)
        return roster

    async def stored(self, ward_code: str) -> Roster:
        roster, _ = await self._read(ward_code)
        self._cache(roster)
        return roster

    async def calendar(self) -> WorkingCalendar:
        if self._calendar is None or self._clock() >= self._calendar[0]:
            self._calendar = (self._clock() + self._refresh_after, WorkingCalendar(await self.decisions()))
        return self._calendar[1]

    async def wards(self) -> list[str]:
        """The wards dispatch has a roster for."""
        return sorted(str(d["_id"]) for d in await self.rosters.find({}, {"_id": 1}).to_list())

    async def decisions(self) -> list[YearDecision]:
        return [_DECISION.validate_python(d["decision"]) for d in await self.years.find({}).sort("_id").to_list()]

    # --- changes ----------------------------------------------------------------------------

    async def change(
        self, ward_code: str, how: Callable[[Roster], Roster], change: RosterChange, subject: str | None = None
    ) -> Roster:
        """Apply `how` to the stored roster and store the result with its event, onto the
        version it was read at; a change that met another is applied again."""
        for _ in range(_CHANGE_ATTEMPTS):
            roster, version = await self._read(ward_code)
            changed = how(roster)
            if await self._write(changed, version, change, subject):
                return changed
        raise RosterConflict(ward_code)

    async def replace(self, roster: Roster, change: RosterChange) -> None:
        """The whole roster, as imported: stored over what the ward had, or as its first."""
        for _ in range(_CHANGE_ATTEMPTS):
            try:
                _, version = await self._read(roster.ward_code)
            except UnknownWard:
                version = 0
            if await self._write(roster, version, change, None):
                return
        raise RosterConflict(roster.ward_code)

    async def seed(self, rosters: Iterable[Roster], decisions: Iterable[YearDecision]) -> None:
        """What dispatch ships, for the wards and years the store has nothing for yet."""
        for roster in rosters:
            if await self.rosters.count_documents({"_id": roster.ward_code}, limit=1) == 0:
                await self._write(roster, 0, RosterChange.SEEDED, None)
        for decision in decisions:
            await self.years.update_one(
                {"_id": decision.year}, {"$setOnInsert": self._decision_document(decision)}, upsert=True
            )

    async def decide(self, decision: YearDecision) -> None:
        """A year's decision, entered again or corrected: replaces what that year had."""
        await self.years.replace_one({"_id": decision.year}, self._decision_document(decision), upsert=True)
        self._calendar = None

    # --- the one place a roster is stored ---------------------------------------------------

    async def _write(self, roster: Roster, version: int, change: RosterChange, subject: str | None) -> bool:
        event = EVENTS.new(
            RosterChanged(
                change=change,
                version=version + 1,
                subject=subject,
                staff=len(roster.officers),
                residential_groups=len(roster.groups),
                vehicles=len(roster.vehicles),
            ),
            ward_code=roster.ward_code,
            correlation_id=uuid4(),
        )
        fields = {"version": version + 1, "roster": _ROSTER.dump_python(roster, mode="json")}
        if version == 0:
            # A ward's first roster: it is served from now on, and intake hears it in the same write.
            served = wards_served(sorted({*await self.wards(), roster.ward_code}), utcnow())
            stored = await self._outbox.insert(self.rosters, {"_id": roster.ward_code, **fields}, event, served)
        else:
            query = {"_id": roster.ward_code, "version": version}
            stored = await self._outbox.update(self.rosters, query, {"$set": fields}, event)
        if stored:
            self._cache(roster)
        return stored

    async def _read(self, ward_code: str) -> tuple[Roster, int]:
        document = await self.rosters.find_one({"_id": ward_code}, {"roster": 1, "version": 1})
        if document is None:
            raise UnknownWard(ward_code)
        return _ROSTER.validate_python(document["roster"]), int(document["version"])

    def _cache(self, roster: Roster) -> None:
        self._cached[roster.ward_code] = (self._clock() + self._refresh_after, roster)

    @staticmethod
    def _decision_document(decision: YearDecision) -> dict[str, Any]:
        return {"decision": _DECISION.dump_python(decision, mode="json")}
