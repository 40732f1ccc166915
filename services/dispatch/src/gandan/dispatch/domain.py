"""Pure rules for dispatching home visits: who goes, and when; the visit it books, what
that announces, and what storing visits must promise (`Visits`).

Seed 000: the officer of the citizen's field goes to the home together with a
leader of the citizen's residential group, at an agreed date and time.
No I/O here: the caller passes the roster, the calendar, existing bookings and now.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol
from uuid import uuid4

import holidays

from gandan.shared.clock import LOCAL_TZ, local
from gandan.shared.events import (
    SEVERAL_WARDS,
    Envelope,
    EventData,
    LeaderContact,
    ProcedureField,
    RequestRegistered,
    StaffContact,
    TimeWindow,
    VehicleKind,
    VisitScheduled,
    WardsServed,
    for_service,
)

EVENTS = for_service("dispatch")

# Fields an officer may hold: those citizens ask for, and procedure control (internal).
FIELDS: frozenset[str] = frozenset(ProcedureField) | {"kiem_soat_tthc"}

# BTCB (Party-cell secretary), Tổ trưởng (leader), Tổ phó (deputy).
LEADER_ROLES: frozenset[str] = frozenset({"bi_thu_chi_bo", "to_truong", "to_pho"})

VISIT_DURATION = timedelta(minutes=60)


class StaffRole(StrEnum):
    """Who a staff member is (seed 000: the centre's people, and those who go along on visits)."""

    LEADERSHIP = "lanh_dao_trung_tam"  # the centre's director and deputies: not dispatched by field
    CENTRE_OFFICER = "chuyen_vien"  # an officer of one or more fields
    WARD_POLICE = "cong_an_phuong"
    YOUTH_UNION = "doan_thanh_nien"
    DIGITAL_TEAM = "to_cong_nghe_so"  # the community digital team, a companion on visits


@dataclass(frozen=True)
class Period:
    """Whole local days, first to last included: a leave, or a vehicle out of service."""

    first_day: date
    last_day: date

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError("a period must not end before it starts")

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


def _any_covers(periods: Iterable[Period], day: date) -> bool:
    return any(p.covers(day) for p in periods)


@dataclass(frozen=True)
class Officer:
    """A staff member of the ward's roster (named so because most are the centre's officers)."""

    staff_id: str
    name: str
    title: str
    fields: frozenset[str]
    phone: str
    role: StaffRole = StaffRole.CENTRE_OFFICER
    # Residential-group numbers this person covers (a ward police officer's area, a digital team's groups).
    groups: frozenset[int] = frozenset()
    leave: tuple[Period, ...] = ()

    def on_leave(self, day: date) -> bool:
        return _any_covers(self.leave, day)


@dataclass(frozen=True)
class GroupLeader:
    name: str
    roles: tuple[str, ...]
    phone: str
    leave: tuple[Period, ...] = ()

    def on_leave(self, day: date) -> bool:
        return _any_covers(self.leave, day)


@dataclass(frozen=True)
class Location:
    """Where a residential group meets (its cultural house), WGS 84."""

    latitude: float
    longitude: float
    # True when placed by hand on a map rather than surveyed: good enough for travel estimates.
    approximate: bool = True

    def __post_init__(self) -> None:
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise ValueError("latitude must be within ±90 and longitude within ±180")


@dataclass(frozen=True)
class ResidentialGroup:
    number: int
    name: str
    leaders: tuple[GroupLeader, ...]
    location: Location | None = None


@dataclass(frozen=True)
class Vehicle:
    vehicle_id: str
    kind: VehicleKind
    seats: int
    carries: tuple[str, ...] = ()  # e.g. a scanner, a wheelchair ramp
    available: bool = True
    out_of_service: tuple[Period, ...] = ()

    def __post_init__(self) -> None:
        if self.seats < 1:
            raise ValueError("a vehicle has at least one seat")

    def available_on(self, day: date) -> bool:
        return self.available and not _any_covers(self.out_of_service, day)


def _fold(name: str) -> str:
    # Same text typed differently (NFD from some keyboards, case, stray
    # spaces) must match, but tone marks are meaningful: "Xa" is not "Xá".
    nfc = unicodedata.normalize("NFC", name)
    return unicodedata.normalize("NFC", " ".join(nfc.casefold().split()))


@dataclass(frozen=True)
class Roster:
    ward_code: str
    ward_name: str
    officers: tuple[Officer, ...]
    groups: tuple[ResidentialGroup, ...]
    vehicles: tuple[Vehicle, ...] = ()
    # Weekend or holiday days the ward opens for sessions: working days for this ward alone.
    open_days: frozenset[date] = frozenset()
    # The centre, where every team leaves from and comes back to; surveyed where known.
    centre: Location | None = None

    def depot(self) -> Location | None:
        """Where the ward's teams start: the centre, or else the middle of its residential groups'
        cultural houses (a ward is a few kilometres across: close enough for travel estimates)."""
        if self.centre is not None:
            return self.centre
        places = [g.location for g in self.groups if g.location is not None]
        if not places:
            return None
        return Location(
            sum(p.latitude for p in places) / len(places),
            sum(p.longitude for p in places) / len(places),
            approximate=True,
        )

    def officers_for(self, field: str) -> tuple[Officer, ...]:
        return tuple(o for o in self.officers if field in o.fields)

    def group(self, name: str) -> ResidentialGroup | None:
        wanted = _fold(name)
        return next((g for g in self.groups if _fold(g.name) == wanted), None)

    def member(self, staff_id: str) -> Officer | None:
        return next((o for o in self.officers if o.staff_id == staff_id), None)

    # --- changes: each returns the roster as it becomes, or raises RosterRefused -------------

    def with_member(self, member: Officer) -> Roster:
        """Adds the staff member, or replaces the one with the same staff_id."""
        unknown = sorted(member.groups - {g.number for g in self.groups})
        if unknown:
            raise RosterRefused("unknown_group", f"no residential group numbered {', '.join(map(str, unknown))}")
        others = tuple(o for o in self.officers if o.staff_id != member.staff_id)
        if len(others) == len(self.officers):
            return replace(self, officers=(*self.officers, member))
        return replace(self, officers=tuple(member if o.staff_id == member.staff_id else o for o in self.officers))

    def without_member(self, staff_id: str) -> Roster:
        self._require_member(staff_id)
        return replace(self, officers=tuple(o for o in self.officers if o.staff_id != staff_id))

    def with_leave(self, staff_id: str, leave: Period) -> Roster:
        member = self._require_member(staff_id)
        return self.with_member(replace(member, leave=(*member.leave, leave)))

    def with_vehicle(self, vehicle: Vehicle) -> Roster:
        others = tuple(v for v in self.vehicles if v.vehicle_id != vehicle.vehicle_id)
        return replace(self, vehicles=(*others, vehicle))

    def opened_on(self, day: date) -> Roster:
        return replace(self, open_days=self.open_days | {day})

    def _require_member(self, staff_id: str) -> Officer:
        member = self.member(staff_id)
        if member is None:
            raise RosterRefused("unknown_staff", f"no staff member {staff_id!r} in this roster")
        return member


class RosterRefused(ValueError):
    """A change that would make the roster wrong; `code` is stable for clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def leader_key(group: ResidentialGroup, leader: GroupLeader) -> str:
    """Key of a leader in `busy`; names alone may repeat across groups."""
    return f"{group.number}:{leader.name}"


# The office closes at 11:30 and 17:00 (opens 13:30 after lunch); every
# 60-minute visit starts and ends within those hours.
_WINDOW_STARTS: dict[TimeWindow, tuple[time, ...]] = {
    TimeWindow.MORNING: (time(8), time(9), time(10)),
    TimeWindow.AFTERNOON: (time(14), time(15), time(16)),
}


@dataclass(frozen=True)
class Slot:
    """Half-open interval [starts_at, ends_at), stored in UTC."""

    starts_at: datetime
    ends_at: datetime

    def __post_init__(self) -> None:
        # Naive datetimes (e.g. from a driver without tz_aware) would compare
        # wrongly or raise deep inside booking; refuse them at the border.
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("Slot datetimes must be timezone-aware")
        if self.ends_at <= self.starts_at:
            raise ValueError("Slot must end after it starts")
        # Normalised so equal instants compare and hash equal whatever zone came in.
        object.__setattr__(self, "starts_at", self.starts_at.astimezone(UTC))
        object.__setattr__(self, "ends_at", self.ends_at.astimezone(UTC))

    def overlaps(self, other: Slot) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


@dataclass(frozen=True)
class YearDecision:
    """The government's decision on one year's days off, as an operator entered it.

    The `holidays` package follows the Labour Code, not each year's decision: it lacks
    Friday 2/1/2026 (a day off, swapped with Saturday 10/1/2026), and a decision may move
    a day the package lists. So a decided year is the package's days off, plus `days_off`,
    minus `not_days_off`; `working_days` are make-up working days (usually Saturdays).
    """

    year: int
    days_off: frozenset[date] = frozenset()
    not_days_off: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()
    source: str = ""  # the decision it comes from, e.g. "Công văn 12345/VPCP-KGVX"

    def __post_init__(self) -> None:
        days = self.days_off | self.not_days_off | self.working_days
        strays = sorted(d.isoformat() for d in days if d.year != self.year)
        if strays:
            raise ValueError(f"days outside {self.year}: {', '.join(strays)}")
        both = sorted(d.isoformat() for d in self.days_off & (self.not_days_off | self.working_days))
        if both:
            raise ValueError(f"both a day off and a working day: {', '.join(both)}")


class WorkingCalendar:
    """Ward office days: Monday-Friday except days off, as the year's decision has them.

    A year without a decision yet follows the `holidays` package, and its days are provisional.
    """

    def __init__(self, decisions: Iterable[YearDecision] = ()) -> None:
        # Expands to each year on first lookup, so any date can be asked.
        self._holidays = holidays.country_holidays("VN")
        self._decisions = {d.year: d for d in decisions}

    def is_working_day(self, day: date, *, open_days: frozenset[date] = frozenset()) -> bool:
        """Whether the ward's office works that day; `open_days` are the ward's own weekend sessions."""
        if day in open_days:
            return True
        decision = self._decisions.get(day.year)
        if decision is None:
            return day.weekday() < 5 and day not in self._holidays
        if day in decision.working_days:
            return True
        day_off = (day in self._holidays and day not in decision.not_days_off) or day in decision.days_off
        return day.weekday() < 5 and not day_off

    def is_provisional(self, day: date) -> bool:
        """True while the government has not decided that day's year: the package's guess may move."""
        return day.year not in self._decisions


@dataclass(frozen=True)
class Booking:
    officer: Officer
    group: ResidentialGroup
    leader: GroupLeader
    slot: Slot
    # Booked on a day of a year the government has not decided yet: it may become a day off.
    provisional: bool = False


class BookingError(Exception):
    """Base of the reasons a visit cannot be booked."""


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
            f"no free slot for field {field!r} in group {residential_group!r} "
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


def _slot_at(day: date, start: time) -> Slot:
    local_start = datetime.combine(day, start, tzinfo=LOCAL_TZ)
    return Slot(local_start, local_start + VISIT_DURATION)


def _candidate_slots(
    first_day: date,
    earliest: datetime,
    window: TimeWindow,
    calendar: WorkingCalendar,
    horizon_days: int,
    open_days: frozenset[date],
) -> Iterator[Slot]:
    other = TimeWindow.AFTERNOON if window is TimeWindow.MORNING else TimeWindow.MORNING
    for offset in range(horizon_days):
        day = first_day + timedelta(days=offset)
        if not calendar.is_working_day(day, open_days=open_days):
            continue
        for w in (window, other):
            for start in _WINDOW_STARTS[w]:
                slot = _slot_at(day, start)
                if slot.starts_at >= earliest:
                    yield slot


def _is_free(key: str, slot: Slot, busy: Mapping[str, Sequence[Slot]]) -> bool:
    return not any(slot.overlaps(b) for b in busy.get(key, ()))


def book_visit(
    *,
    roster: Roster,
    field: str,
    residential_group: str,
    preferred_date: date,
    window: TimeWindow,
    busy: Mapping[str, Sequence[Slot]],
    calendar: WorkingCalendar,
    now: datetime,
    min_lead: timedelta,
    horizon_days: int = 30,
) -> Booking:
    """Earliest visit where an officer of `field` and a group leader are both free.

    Only visits starting at `now + min_lead` or later. Searches the calendar days
    first_search_day .. first_search_day + horizon_days - 1; each working day the
    preferred window first, then the other one.
    `busy` maps `officer.staff_id` / `leader_key(group, leader)` to booked slots.
    """
    if horizon_days < 1:
        raise ValueError("horizon_days must be at least 1")
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

    for slot in _candidate_slots(first_day, earliest, window, calendar, horizon_days, roster.open_days):
        day = local(slot.starts_at).date()
        officer = next((o for o in officers if not o.on_leave(day) and _is_free(o.staff_id, slot, busy)), None)
        if officer is None:
            continue
        leader = next(
            (le for le in group.leaders if not le.on_leave(day) and _is_free(leader_key(group, le), slot, busy)),
            None,
        )
        if leader is not None:
            return Booking(
                officer=officer, group=group, leader=leader, slot=slot, provisional=calendar.is_provisional(day)
            )
    raise NoSlotAvailable(
        field=field,
        residential_group=residential_group,
        first_day=first_day,
        horizon_days=horizon_days,
    )


# --- the booked visit ------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """A booked home visit: it holds its officer's and its leader's hour."""

    id: str
    request_code: str
    ward_code: str
    officer_key: str
    leader_key: str
    slot: Slot
    provisional: bool = False


def booked(request: Envelope[RequestRegistered], visit_id: str, booking: Booking) -> tuple[Visit, Envelope[EventData]]:
    """The visit a booking makes for a request, and the `visit.scheduled` it announces."""
    data = request.data
    visit = Visit(
        id=visit_id,
        request_code=data.request_code,
        ward_code=request.ward_code,
        officer_key=booking.officer.staff_id,
        leader_key=leader_key(booking.group, booking.leader),
        slot=booking.slot,
        provisional=booking.provisional,
    )
    officer, leader = booking.officer, booking.leader
    scheduled = VisitScheduled(
        request_code=data.request_code,
        visit_id=visit_id,
        starts_at=booking.slot.starts_at,
        ends_at=booking.slot.ends_at,
        residential_group=data.residential_group,
        procedure=data.procedure,
        field=data.field,
        officer=StaffContact(staff_id=officer.staff_id, name=officer.name, phone=officer.phone),
        leader=LeaderContact(name=leader.name, roles=leader.roles, phone=leader.phone),
    )
    return visit, EVENTS.caused_by(request, scheduled)


def wards_served(ward_codes: Sequence[str], now: datetime) -> Envelope[EventData]:
    """The announcement of the wards dispatch serves: intake refuses requests from any other."""
    return EVENTS.new(
        WardsServed(ward_codes=tuple(ward_codes), as_of=now),
        ward_code=SEVERAL_WARDS,
        correlation_id=uuid4(),
        occurred_at=now,
    )


@dataclass(frozen=True)
class SetAside:
    """A request no one could be booked for: kept for the centre to arrange by hand."""

    id: str
    request_code: str
    ward_code: str
    reason: str


class SlotTaken(Exception):
    """Someone in this visit was booked for the same hour meanwhile."""


class Visits(Protocol):
    async def add(self, visit: Visit, event: Envelope[EventData]) -> bool:
        """Store the visit with its event, at once. False if this visit is already stored (a redelivery);
        raises `SlotTaken` if its officer or its leader was booked for that hour meanwhile."""
        ...

    async def exists(self, visit_id: str) -> bool: ...

    async def busy_from(self, ward_code: str, first_day: date) -> dict[str, list[Slot]]:
        """Every booked hour of the ward's people from `first_day` (local) on, keyed as `book_visit` reads them."""
        ...

    async def set_aside(self, request: SetAside) -> None:
        """Keep it once, however often it is handled."""
        ...

    async def announce(self, served: Envelope[EventData]) -> None:
        """Store a `wards.served` announcement, to be published."""
        ...


class RosterBook(Protocol):
    """The wards' rosters and the working calendar, as the booking reads them."""

    async def roster(self, ward_code: str) -> Roster:
        """The ward's roster; raises `UnknownWard` when dispatch has none for it."""
        ...

    async def calendar(self) -> WorkingCalendar: ...


class UnknownWard(LookupError):
    def __init__(self, ward_code: str) -> None:
        super().__init__(f"no roster for ward {ward_code!r}")
        self.ward_code = ward_code
