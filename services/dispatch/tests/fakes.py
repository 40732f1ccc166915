"""dispatch's storage in memory, keeping the promises of `Visits` and `RosterBook`, for fast handler tests."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date

from gandan.dispatch.domain import Roster, UnknownWard, WorkingCalendar, YearDecision
from gandan.dispatch.proposal import Planned, Refusal, SlotTaken, Visit, VisitStatus
from gandan.dispatch.roster import load_roster, shipped_wards
from gandan.shared.events import Envelope, EventData


class FakeVisits:
    def __init__(self) -> None:
        self.visits: dict[str, Visit] = {}
        self.outbox: dict[str, list[Envelope[EventData]]] = {}
        self.refusals: dict[str, Refusal] = {}
        self.refusal_outbox: dict[str, list[Envelope[EventData]]] = {}
        self.collisions = 0  # writes refused because another visit held a claim
        self.announcements: list[Envelope[EventData]] = []
        self.planned_reads: list[tuple[date, date | None]] = []  # (first day, until) of each read

    async def add(self, visit: Visit, event: Envelope[EventData]) -> bool:
        if visit.id in self.visits:
            return False
        self._check_claims(visit)
        self.visits[visit.id] = visit
        self.outbox[visit.id] = [event]
        return True

    async def exists(self, visit_id: str) -> bool:
        return visit_id in self.visits

    async def planned_from(self, ward_code: str, first_day: date, until: date | None = None) -> list[Planned]:
        self.planned_reads.append((first_day, until))
        planned = [
            Planned(v.officer_key, v.leader_key, v.half_day, v.residential_group, v.procedure, v.claims, v.id)
            for v in self.visits.values()
            if v.ward_code == ward_code
            and first_day <= v.half_day.day
            and (until is None or v.half_day.day < until)
            and v.status.holds_places
        ]
        await asyncio.sleep(0)  # as a real read's answer travels back, other handlers run
        return planned

    async def refuse(self, refusal: Refusal, *events: Envelope[EventData]) -> None:
        if refusal.id not in self.refusals:
            self.refusals[refusal.id] = refusal
            self.refusal_outbox[refusal.id] = list(events)

    async def of_request(self, request_code: str) -> Visit | None:
        return next((v for v in self.visits.values() if v.request_code == request_code), None)

    async def visits_from(self, ward_code: str, first_day: date) -> list[Visit]:
        return [v for v in self.visits.values() if v.ward_code == ward_code and v.half_day.day >= first_day]

    async def change(self, visit: Visit, *events: Envelope[EventData]) -> bool:
        stored = self.visits.get(visit.id)
        if stored is None or stored.status is VisitStatus.CANCELLED or stored.revision != visit.revision:
            return False
        self._check_claims(visit)
        self.visits[visit.id] = replace(visit, revision=visit.revision + 1)
        self.outbox[visit.id].extend(events)
        return True

    async def cancel(self, request_code: str) -> bool:
        visit = await self.of_request(request_code)
        if visit is None:
            return False
        self.visits[visit.id] = replace(visit, status=VisitStatus.CANCELLED, claims=(), revision=visit.revision + 1)
        return True

    async def announce(self, served: Envelope[EventData]) -> None:
        self.announcements.append(served)

    def booked(self) -> list[Visit]:
        return sorted(self.visits.values(), key=lambda v: v.window.starts_at)  # stable: in the order stored

    def _check_claims(self, visit: Visit) -> None:
        held = {c for v in self.visits.values() if v.id != visit.id for c in v.claims}
        if set(visit.claims) & held:
            self.collisions += 1
            raise SlotTaken(visit.id)


class FakeRosters:
    """The rosters shipped with dispatch (or those given), and the calendar of the decisions given."""

    def __init__(self, rosters: dict[str, Roster] | None = None, decisions: tuple[YearDecision, ...] = ()) -> None:
        self.rosters = rosters if rosters is not None else {w: load_roster(w) for w in shipped_wards()}
        self.decisions = decisions

    async def roster(self, ward_code: str) -> Roster:
        if ward_code not in self.rosters:
            raise UnknownWard(ward_code)
        return self.rosters[ward_code]

    async def stored(self, ward_code: str) -> Roster:
        return await self.roster(ward_code)

    async def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(self.decisions)
