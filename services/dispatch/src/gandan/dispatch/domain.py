"""Pure rules for dispatching home visits: who goes, and when; the visit it books, what
that announces, and what storing visits must promise (`Visits`).

Seed 000: the officer of the citizen's field goes to the home together with a
leader of the citizen's residential group, at an agreed date and time.
No I/O here: the caller passes the roster, the calendar, existing bookings and now.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
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


@dataclass(frozen=True)
class Officer:
    staff_id: str
    name: str
    title: str
    fields: frozenset[str]
    phone: str


@dataclass(frozen=True)
class GroupLeader:
    name: str
    roles: tuple[str, ...]
    phone: str


@dataclass(frozen=True)
class ResidentialGroup:
    number: int
    name: str
    leaders: tuple[GroupLeader, ...]


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

    def officers_for(self, field: str) -> tuple[Officer, ...]:
        return tuple(o for o in self.officers if field in o.fields)

    def group(self, name: str) -> ResidentialGroup | None:
        wanted = _fold(name)
        return next((g for g in self.groups if _fold(g.name) == wanted), None)


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


class WorkingCalendar:
    """Ward office days: Monday-Friday except Vietnamese public holidays."""

    def __init__(self) -> None:
        # Expands to each year on first lookup, so any date can be asked.
        self._holidays = holidays.country_holidays("VN")

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._holidays


@dataclass(frozen=True)
class Booking:
    officer: Officer
    group: ResidentialGroup
    leader: GroupLeader
    slot: Slot


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
    first_day: date, earliest: datetime, window: TimeWindow, calendar: WorkingCalendar, horizon_days: int
) -> Iterator[Slot]:
    other = TimeWindow.AFTERNOON if window is TimeWindow.MORNING else TimeWindow.MORNING
    for offset in range(horizon_days):
        day = first_day + timedelta(days=offset)
        if not calendar.is_working_day(day):
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

    for slot in _candidate_slots(first_day, earliest, window, calendar, horizon_days):
        officer = next((o for o in officers if _is_free(o.staff_id, slot, busy)), None)
        if officer is None:
            continue
        leader = next((le for le in group.leaders if _is_free(leader_key(group, le), slot, busy)), None)
        if leader is not None:
            return Booking(officer=officer, group=group, leader=leader, slot=slot)
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
