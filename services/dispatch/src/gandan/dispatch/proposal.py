"""Pure rules for proposing a home visit: a day and a half-day at once, feasible once travel is
counted; the visit it makes, what that announces, the refusal when nothing fits, the officer's
agreement with the citizen, and what storing visits must promise (`Visits`).

Seed 000: the officer of the citizen's field goes to the home together with a leader of the
citizen's residential group; the officer then calls the citizen to agree the date and time.
A person's visits of one half-day are one trip from the ward's depot and back, inside that
half-day: a new visit is proposed only if it can be inserted into that trip, for the officer and
for the leader. No I/O here: the caller passes the roster, the calendar, the plans read, the
travel rule and now.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from itertools import count, pairwise
from typing import Protocol

from gandan.dispatch.domain import (
    EVENTS,
    GroupLeader,
    Location,
    Officer,
    ResidentialGroup,
    Roster,
    Slot,
    StaffRole,
    WorkingCalendar,
    leader_key,
)
from gandan.shared.clock import LOCAL_TZ, local
from gandan.shared.events import (
    Envelope,
    EventData,
    LeaderContact,
    RequestRegistered,
    StaffContact,
    TimeWindow,
    UnassignableReason,
    VisitScheduled,
    VisitUnassignable,
)

# The office's hours (the centre closes for lunch): a visit is proposed for one of them.
HALF_DAY_HOURS: Mapping[TimeWindow, tuple[time, time]] = {
    TimeWindow.MORNING: (time(7, 30), time(11, 30)),
    TimeWindow.AFTERNOON: (time(13, 30), time(17)),
}

# Time at the citizen's home, per procedure. ESTIMATES, not measured: seed 000 describes a visit as
# checking papers, filling in the forms, scanning and paying online; a copy of an extract is only
# handed over and signed for. To be replaced by the centres' own figures.
DEFAULT_SERVICE = timedelta(minutes=45)
SERVICE_TIMES: Mapping[str, timedelta] = {
    "Cấp bản sao trích lục khai sinh": timedelta(minutes=20),
    "Cấp bản sao trích lục khai tử": timedelta(minutes=20),
    "Chứng thực bản sao từ bản chính": timedelta(minutes=30),
    "Chứng thực chữ ký": timedelta(minutes=30),
    "Đăng ký khai sinh": timedelta(minutes=45),
    "Đăng ký khai tử": timedelta(minutes=45),
    "Đăng ký thường trú": timedelta(minutes=60),
}

# How far ahead a visit is proposed; beyond, the centre's leadership arranges it.
HORIZON_DAYS = 30

# Up to this many places a trip's shortest order is found exactly (Held-Karp: 2^n·n² steps);
# beyond, by cheapest insertion, which may only say no where an order exists, never the reverse.
_EXACT_PLACES = 8


def service_time(procedure: str) -> timedelta:
    wanted = _fold(procedure)
    return next((t for name, t in SERVICE_TIMES.items() if _fold(name) == wanted), DEFAULT_SERVICE)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.casefold().split()))


class VisitStatus(StrEnum):
    PROPOSED = "proposed"  # dispatch proposed the half-day; the officer still has to call the citizen
    AGREED = "agreed"  # the officer and the citizen agreed a time
    CANCELLED = "cancelled"
    # Its officer or leader could not go and nobody else fits: the centre's leadership arranges it.
    SET_ASIDE = "set_aside"

    @property
    def holds_places(self) -> bool:
        return self in (VisitStatus.PROPOSED, VisitStatus.AGREED)


@dataclass(frozen=True)
class HalfDay:
    """A local day's morning or afternoon."""

    day: date
    half: TimeWindow

    def window(self) -> Slot:
        opens, closes = HALF_DAY_HOURS[self.half]
        return Slot(
            datetime.combine(self.day, opens, tzinfo=LOCAL_TZ), datetime.combine(self.day, closes, tzinfo=LOCAL_TZ)
        )

    @classmethod
    def holding(cls, slot: Slot) -> HalfDay | None:
        """The half-day whose hours hold the whole slot, if any."""
        for half in HALF_DAY_HOURS:
            half_day = cls(local(slot.starts_at).date(), half)
            window = half_day.window()
            if window.starts_at <= slot.starts_at and slot.ends_at <= window.ends_at:
                return half_day
        return None


# --- one half-day's trip -----------------------------------------------------------

# Travel time from one place to another (the offline rule of `routing.travel`, or a road network's).
Travel = Callable[[Location, Location], timedelta]


@dataclass(frozen=True)
class Stop:
    """A visit in a trip: where (its residential group's cultural house) and how long it takes there.
    No place (a group not yet located): no travel is counted to or from it."""

    place: Location | None
    service: timedelta


def fits_trip(depot: Location | None, stops: Sequence[Stop], new_stop: Stop, travel: Travel, window: Slot) -> bool:
    """Whether `stops` and `new_stop`, in the best order, make one trip from `depot` and back within
    `window`: the services plus the travel of the shortest round over their places."""
    everything = (*stops, new_stop)
    length = window.ends_at - window.starts_at
    services = sum((s.service for s in everything), timedelta(0))
    if services > length:
        return False
    if depot is None:
        return True  # a ward with no place at all: only the services are counted
    # Visits at one place follow each other: the round goes to each place once.
    places = list(dict.fromkeys(s.place for s in everything if s.place is not None and s.place != depot))
    return services + _shortest_round(depot, places, travel) <= length


def _shortest_round(depot: Location, places: Sequence[Location], travel: Travel) -> timedelta:
    if not places:
        return timedelta(0)
    legs = {(a, b): travel(a, b) if a != b else timedelta(0) for a in (depot, *places) for b in (depot, *places)}
    if len(places) <= _EXACT_PLACES:
        return _held_karp(depot, places, legs)
    return _cheapest_insertion(depot, places, legs)


def _held_karp(
    depot: Location, places: Sequence[Location], legs: Mapping[tuple[Location, Location], timedelta]
) -> timedelta:
    # best[(set, last)]: shortest path from the depot through the places of `set` ending at `last`.
    best: dict[tuple[int, int], timedelta] = {(1 << i, i): legs[depot, p] for i, p in enumerate(places)}
    for size in range(2, len(places) + 1):
        for (subset, last), so_far in [item for item in best.items() if item[0][0].bit_count() == size - 1]:
            for j, place in enumerate(places):
                if subset & (1 << j):
                    continue
                key = (subset | (1 << j), j)
                candidate = so_far + legs[places[last], place]
                if key not in best or candidate < best[key]:
                    best[key] = candidate
    everyone = (1 << len(places)) - 1
    return min(best[everyone, i] + legs[p, depot] for i, p in enumerate(places))


def _cheapest_insertion(
    depot: Location, places: Sequence[Location], legs: Mapping[tuple[Location, Location], timedelta]
) -> timedelta:
    round_ = [depot, depot]
    for place in places:
        at = min(
            range(1, len(round_)),
            key=lambda i: legs[round_[i - 1], place] + legs[place, round_[i]] - legs[round_[i - 1], round_[i]],
        )
        round_.insert(at, place)
    return sum((legs[a, b] for a, b in pairwise(round_)), timedelta(0))


# --- the ward's plans, as read -----------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """A visit already in the ward's plans (proposed or agreed): the half-day it fills for its two people."""

    officer_key: str
    leader_key: str
    half_day: HalfDay
    residential_group: str
    procedure: str
    claims: tuple[str, ...]
    visit_id: str


def claim(ward_code: str, person: str, half_day: HalfDay, k: int) -> str:
    """A person's k-th place in a half-day. Two bookers who read the same plan take the same k and
    collide on it (the claims are unique), so a half-day is never filled past what was checked."""
    # Person keys are unique within a ward's roster only.
    return f"{ward_code}/{person}@{half_day.day.isoformat()}/{half_day.half}#{k}"


class Plans:
    """Each person's stops per half-day, and the claims the ward's visits hold."""

    def __init__(self, roster: Roster, planned: Iterable[Planned]) -> None:
        self.roster = roster
        self._stops: defaultdict[tuple[str, HalfDay], list[Stop]] = defaultdict(list)
        self._claims: set[str] = set()
        for visit in planned:
            stop = stop_for(roster, visit.residential_group, visit.procedure)
            for person in (visit.officer_key, visit.leader_key):
                self._stops[person, visit.half_day].append(stop)
            self._claims.update(visit.claims)

    def stops(self, person: str, half_day: HalfDay) -> Sequence[Stop]:
        return self._stops.get((person, half_day), ())

    def fits(self, person: str, half_day: HalfDay, stop: Stop, travel: Travel, window: Slot) -> bool:
        return fits_trip(self.roster.depot(), self.stops(person, half_day), stop, travel, window)

    def next_claim(self, person: str, half_day: HalfDay) -> str:
        """The first of the person's places in that half-day no visit holds (a cancelled one frees its own)."""
        return next(c for k in count() if (c := claim(self.roster.ward_code, person, half_day, k)) not in self._claims)


def stop_for(roster: Roster, residential_group: str, procedure: str) -> Stop:
    group = roster.group(residential_group)
    return Stop(group.location if group is not None else None, service_time(procedure))


# --- proposing -----------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    officer: Officer
    group: ResidentialGroup
    leader: GroupLeader
    half_day: HalfDay
    # The half-day's hours, from the earliest start on when that falls inside them.
    window: Slot
    claims: tuple[str, str]
    # On a day of a year the government has not decided yet: it may become a day off.
    provisional: bool = False


class BookingError(Exception):
    """Base of the reasons a visit cannot be proposed."""


class NoOfficerForField(BookingError):
    def __init__(self, field: str) -> None:
        super().__init__(f"no officer handles field {field!r}")
        self.field = field


class UnknownResidentialGroup(BookingError):
    def __init__(self, residential_group: str) -> None:
        super().__init__(f"no residential group named {residential_group!r}")
        self.residential_group = residential_group


class NoLeaderForGroup(BookingError):
    def __init__(self, group: ResidentialGroup) -> None:
        super().__init__(f"residential group {group.number} {group.name!r} has no leader")
        self.group = group


class NoSlotAvailable(BookingError):
    def __init__(self, *, field: str, residential_group: str, first_day: date, horizon_days: int) -> None:
        super().__init__(
            f"no half-day fits field {field!r} in group {residential_group!r} "
            f"within {horizon_days} days from {first_day.isoformat()}"
        )
        self.field = field
        self.residential_group = residential_group
        self.first_day = first_day
        self.horizon_days = horizon_days


def earliest_start(now: datetime, min_lead: timedelta) -> datetime:
    """The first moment a visit may start: never in the past, never sooner than the lead time."""
    # A naive `now` would be read in the server's zone, which may be UTC, not Vietnam's.
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if min_lead < timedelta(0):
        raise ValueError("min_lead must not be negative")
    return now + min_lead


def first_search_day(preferred_date: date, earliest: datetime) -> date:
    """The preferred date, or the first bookable day when that is later.

    Days are Vietnam's: at 23:30 UTC it is already the next day at the ward.
    A preferred date already past (an event delivered late) starts at the first bookable day.
    """
    return max(preferred_date, local(earliest).date())


def _candidate_half_days(
    first_day: date,
    earliest: datetime,
    preferred: TimeWindow,
    calendar: WorkingCalendar,
    horizon_days: int,
    open_days: frozenset[date],
) -> Iterator[tuple[HalfDay, Slot]]:
    """Working days' half-days, the preferred one first each day, with what is left of their hours."""
    other = TimeWindow.AFTERNOON if preferred is TimeWindow.MORNING else TimeWindow.MORNING
    for offset in range(horizon_days):
        day = first_day + timedelta(days=offset)
        if not calendar.is_working_day(day, open_days=open_days):
            continue
        for half in (preferred, other):
            window = HalfDay(day, half).window()
            if earliest < window.ends_at:
                yield HalfDay(day, half), Slot(max(window.starts_at, earliest), window.ends_at)


def propose_visit(
    *,
    plans: Plans,
    field: str,
    residential_group: str,
    procedure: str,
    preferred_date: date,
    window: TimeWindow,
    calendar: WorkingCalendar,
    travel: Travel,
    now: datetime,
    min_lead: timedelta,
    horizon_days: int = HORIZON_DAYS,
    excluding: frozenset[str] = frozenset(),
) -> Proposal:
    """The first half-day where an officer of `field` and a leader of the group can both insert
    this visit into their trip of that half-day; never one of the people `excluding` (person keys:
    those who declined this visit).

    From `now + min_lead` on; searches the calendar days first_search_day .. + horizon_days - 1,
    each working day the preferred half-day first; officers and leaders in roster order.
    """
    if horizon_days < 1:
        raise ValueError("horizon_days must be at least 1")
    roster = plans.roster
    earliest = earliest_start(now, min_lead)
    first_day = first_search_day(preferred_date, earliest)
    officers = roster.officers_for(field)
    if not officers:
        raise NoOfficerForField(field)
    group = roster.group(residential_group)
    if group is None:
        raise UnknownResidentialGroup(residential_group)
    if not group.leaders:
        raise NoLeaderForGroup(group)
    officers = tuple(o for o in officers if o.staff_id not in excluding)
    leaders = tuple(le for le in group.leaders if leader_key(group, le) not in excluding)
    stop = stop_for(roster, residential_group, procedure)

    for half_day, usable in _candidate_half_days(first_day, earliest, window, calendar, horizon_days, roster.open_days):
        officer = next(
            (
                o
                for o in officers
                if not o.on_leave(half_day.day) and plans.fits(o.staff_id, half_day, stop, travel, usable)
            ),
            None,
        )
        if officer is None:
            continue
        leader = next(
            (
                le
                for le in leaders
                if not le.on_leave(half_day.day) and plans.fits(leader_key(group, le), half_day, stop, travel, usable)
            ),
            None,
        )
        if leader is not None:
            return Proposal(
                officer=officer,
                group=group,
                leader=leader,
                half_day=half_day,
                window=usable,
                claims=(
                    plans.next_claim(officer.staff_id, half_day),
                    plans.next_claim(leader_key(group, leader), half_day),
                ),
                provisional=calendar.is_provisional(half_day.day),
            )
    raise NoSlotAvailable(
        field=field, residential_group=residential_group, first_day=first_day, horizon_days=horizon_days
    )


# --- the proposed visit --------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """A home visit: it holds its officer's and its leader's place in its half-day (`claims`)."""

    id: str
    request_code: str
    ward_code: str
    citizen_ref: str
    officer_key: str
    leader_key: str
    residential_group: str
    procedure: str
    field: str
    half_day: HalfDay
    # The half-day's hours while proposed; the agreed hour once agreed.
    window: Slot
    claims: tuple[str, ...]
    status: VisitStatus = VisitStatus.PROPOSED
    provisional: bool = False
    # Each stored change moves it on: a change is stored onto the revision it was read at.
    revision: int = 0
    # When the officer and the leader answered "OK" to their assignment.
    officer_accepted_at: datetime | None = None
    leader_accepted_at: datetime | None = None
    # Who declined it or could not go (person keys): never proposed for it again.
    declined_by: tuple[str, ...] = ()
    # The ids of the events whose change it took (replies, roster changes): a redelivery finds its own.
    changes: tuple[str, ...] = ()


def booked(
    request: Envelope[RequestRegistered], visit_id: str, proposal: Proposal
) -> tuple[Visit, Envelope[EventData]]:
    """The visit a proposal makes for a request, and the `visit.scheduled` it announces."""
    data = request.data
    visit = Visit(
        id=visit_id,
        request_code=data.request_code,
        ward_code=request.ward_code,
        citizen_ref=data.citizen_ref,
        officer_key=proposal.officer.staff_id,
        leader_key=leader_key(proposal.group, proposal.leader),
        residential_group=data.residential_group,
        procedure=data.procedure,
        field=data.field,
        half_day=proposal.half_day,
        window=proposal.window,
        claims=proposal.claims,
        provisional=proposal.provisional,
    )
    officer, leader = proposal.officer, proposal.leader
    scheduled = VisitScheduled(
        request_code=data.request_code,
        visit_id=visit_id,
        starts_at=proposal.window.starts_at,
        ends_at=proposal.window.ends_at,
        residential_group=data.residential_group,
        procedure=data.procedure,
        field=data.field,
        officer=StaffContact(staff_id=officer.staff_id, name=officer.name, phone=officer.phone),
        leader=LeaderContact(name=leader.name, roles=leader.roles, phone=leader.phone),
    )
    return visit, EVENTS.caused_by(request, scheduled)


# --- when nothing fits ---------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """A request no visit could be proposed for: kept for the centre to arrange by hand."""

    id: str
    request_code: str
    ward_code: str
    reason: str


DETAIL_LENGTH = 300  # VisitUnassignable.detail's limit


def leadership(roster: Roster) -> tuple[StaffContact, ...]:
    """The centre's leadership, who are told of a visit nobody can make."""
    return tuple(
        StaffContact(staff_id=m.staff_id, name=m.name, phone=m.phone)
        for m in roster.officers
        if m.role is StaffRole.LEADERSHIP
    )


def unassignable(
    request: Envelope[RequestRegistered], visit_id: str, roster: Roster, error: BookingError
) -> tuple[Refusal, Envelope[EventData]]:
    """The refusal, and the `visit.unassignable` that tells the centre's leadership why, in Vietnamese."""
    data = request.data
    reason, detail = _why(error)
    event = VisitUnassignable(
        request_code=data.request_code,
        citizen_ref=data.citizen_ref,
        reason=reason,
        detail=detail[:DETAIL_LENGTH],
        leadership=leadership(roster),
    )
    return Refusal(visit_id, data.request_code, request.ward_code, repr(error)), EVENTS.caused_by(request, event)


def _why(error: BookingError) -> tuple[UnassignableReason, str]:
    match error:
        case NoOfficerForField(field=field):
            return UnassignableReason.NO_OFFICER_FOR_FIELD, f"Phường chưa có cán bộ phụ trách lĩnh vực {field}."
        case UnknownResidentialGroup(residential_group=name):
            return (
                UnassignableReason.UNKNOWN_RESIDENTIAL_GROUP,
                f"Không có tổ dân phố “{name}” trong danh sách của phường.",
            )
        case NoLeaderForGroup(group=group):
            return (
                UnassignableReason.NO_LEADER_FOR_GROUP,
                f"Tổ dân phố {group.name} chưa có bí thư chi bộ, tổ trưởng hay tổ phó để cùng đến nhà.",
            )
        case NoSlotAvailable():
            return (
                UnassignableReason.NO_SLOT_AVAILABLE,
                f"Trong {error.horizon_days} ngày từ {error.first_day:%d/%m/%Y} không còn buổi nào mà cán bộ "
                f"lĩnh vực {error.field} và người của tổ dân phố {error.residential_group} "
                "cùng đến kịp (đã tính đường đi).",
            )
    raise TypeError(f"no reason for {error!r}")


# --- the officer's agreement with the citizen ---------------------------------------------


class AgreementRefused(ValueError):
    """A time dispatch does not move the visit to (agreed with the citizen, or asked by its officer):
    it stays as it was, and the reason is logged."""


def agree(visit: Visit, agreed: Slot, *, plans: Plans, calendar: WorkingCalendar, travel: Travel) -> Visit:
    """The visit at the time its officer agreed with the citizen (see `moved`)."""
    return replace(moved(visit, agreed, plans=plans, calendar=calendar, travel=travel), status=VisitStatus.AGREED)


def moved(visit: Visit, slot: Slot, *, plans: Plans, calendar: WorkingCalendar, travel: Travel) -> Visit:
    """The visit at `slot`.

    Inside its own half-day: as it is. Another half-day: moved there (with new claims) only if that
    half-day is a working one for its people and the visit fits in both their trips; otherwise
    refused, since proposing it there would have been refused too.
    """
    half_day = HalfDay.holding(slot)
    if half_day is None:
        raise AgreementRefused(f"{local(slot.starts_at):%d/%m/%Y %H:%M} is outside the office's half-days")
    if half_day == visit.half_day:
        return replace(visit, window=slot)
    roster = plans.roster
    if not calendar.is_working_day(half_day.day, open_days=roster.open_days):
        raise AgreementRefused(f"{half_day.day.isoformat()} is not a working day")
    officer = roster.member(visit.officer_key)
    if officer is not None and officer.on_leave(half_day.day):
        raise AgreementRefused(f"{visit.officer_key} is on leave on {half_day.day.isoformat()}")
    stop = stop_for(roster, visit.residential_group, visit.procedure)
    for person in (visit.officer_key, visit.leader_key):
        if not plans.fits(person, half_day, stop, travel, half_day.window()):
            raise AgreementRefused(f"{person}'s {half_day.half} of {half_day.day.isoformat()} is full")
    return replace(
        visit,
        half_day=half_day,
        window=slot,
        claims=(plans.next_claim(visit.officer_key, half_day), plans.next_claim(visit.leader_key, half_day)),
        provisional=calendar.is_provisional(half_day.day),
    )


# --- storing -------------------------------------------------------------------------------


class SlotTaken(Exception):
    """Someone in this visit took the same place in a half-day meanwhile (another booker read the same plan)."""


class Visits(Protocol):
    async def add(self, visit: Visit, event: Envelope[EventData]) -> bool:
        """Store the visit with its event, at once. False if this visit is already stored (a redelivery);
        raises `SlotTaken` if one of its claims was taken meanwhile."""
        ...

    async def exists(self, visit_id: str) -> bool: ...

    async def planned_from(self, ward_code: str, first_day: date, until: date | None = None) -> list[Planned]:
        """The ward's visits that hold their places (proposed or agreed) of `first_day` (local) and
        after; before `until` only, when given."""
        ...

    async def refuse(self, refusal: Refusal, *events: Envelope[EventData]) -> None:
        """Keep the refusal with its events, once however often it is handled."""
        ...

    async def of_request(self, request_code: str) -> Visit | None: ...

    async def visits_from(self, ward_code: str, first_day: date) -> list[Visit]:
        """The ward's visits of `first_day` (local) and after, whatever their status."""
        ...

    async def change(self, visit: Visit, *events: Envelope[EventData]) -> bool:
        """Store the changed visit, with its events, over the stored one if that is still at
        `visit.revision` and not cancelled (then its revision moves on); False otherwise (re-read it).
        Raises `SlotTaken` if a moved visit's new claims were taken meanwhile."""
        ...

    async def cancel(self, request_code: str) -> bool:
        """Cancel the request's visit and drop its claims (its people are free again); False if none."""
        ...

    async def announce(self, served: Envelope[EventData]) -> None:
        """Store a `wards.served` announcement, to be published."""
        ...
