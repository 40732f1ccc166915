"""dispatch's storage in memory, keeping the promises of `Visits` and `RosterBook`, for fast handler tests."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time

from gandan.dispatch.domain import Roster, SetAside, Slot, SlotTaken, UnknownWard, Visit, WorkingCalendar, YearDecision
from gandan.dispatch.roster import load_roster, shipped_wards
from gandan.shared.clock import LOCAL_TZ
from gandan.shared.events import Envelope, EventData


class FakeVisits:
    def __init__(self) -> None:
        self.visits: dict[str, Visit] = {}
        self.outbox: dict[str, list[Envelope[EventData]]] = {}
        self.set_aside_requests: dict[str, SetAside] = {}
        self.collisions = 0  # writes refused because another visit held a claim
        self.announcements: list[Envelope[EventData]] = []

    async def add(self, visit: Visit, event: Envelope[EventData]) -> bool:
        if visit.id in self.visits:
            return False
        if _claims(visit) & {c for v in self.visits.values() for c in _claims(v)}:
            self.collisions += 1
            raise SlotTaken(visit.id)
        self.visits[visit.id] = visit
        self.outbox[visit.id] = [event]
        return True

    async def exists(self, visit_id: str) -> bool:
        return visit_id in self.visits

    async def busy_from(self, ward_code: str, first_day: date) -> dict[str, list[Slot]]:
        since = datetime.combine(first_day, time(0), tzinfo=LOCAL_TZ)
        busy: dict[str, list[Slot]] = {}
        for visit in self.visits.values():
            if visit.ward_code == ward_code and visit.slot.ends_at > since:
                for person in (visit.officer_key, visit.leader_key):
                    busy.setdefault(person, []).append(visit.slot)
        await asyncio.sleep(0)  # as a real read's answer travels back, other handlers run
        return busy

    async def set_aside(self, request: SetAside) -> None:
        self.set_aside_requests.setdefault(request.id, request)

    async def announce(self, served: Envelope[EventData]) -> None:
        self.announcements.append(served)

    def booked(self) -> list[Visit]:
        return sorted(self.visits.values(), key=lambda v: v.slot.starts_at)


def _claims(visit: Visit) -> set[tuple[str, str, datetime]]:
    return {(visit.ward_code, person, visit.slot.starts_at) for person in (visit.officer_key, visit.leader_key)}


class FakeRosters:
    """The rosters shipped with dispatch (or those given), and the calendar of the decisions given."""

    def __init__(self, rosters: dict[str, Roster] | None = None, decisions: tuple[YearDecision, ...] = ()) -> None:
        self.rosters = rosters if rosters is not None else {w: load_roster(w) for w in shipped_wards()}
        self.decisions = decisions

    async def roster(self, ward_code: str) -> Roster:
        if ward_code not in self.rosters:
            raise UnknownWard(ward_code)
        return self.rosters[ward_code]

    async def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(self.decisions)
