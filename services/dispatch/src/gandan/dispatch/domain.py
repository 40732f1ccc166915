"""Pure rules of dispatch's world: the ward's roster (its people, groups, vehicles and depot), the
working calendar, and what reading them must promise (`RosterBook`). Proposing a visit is in
`proposal`, ordering a day's visits in `routing`.

No I/O here: the caller passes what was read.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Protocol
from uuid import uuid4

import holidays

from gandan.shared.events import (
    SEVERAL_WARDS,
    Envelope,
    EventData,
    ProcedureField,
    VehicleKind,
    WardsServed,
    for_service,
)

EVENTS = for_service("dispatch")

# Fields an officer may hold: those citizens ask for, and procedure control (internal).
FIELDS: frozenset[str] = frozenset(ProcedureField) | {"kiem_soat_tthc"}

# BTCB (Party-cell secretary), Tổ trưởng (leader), Tổ phó (deputy).
LEADER_ROLES: frozenset[str] = frozenset({"bi_thu_chi_bo", "to_truong", "to_pho"})


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
    """Key of a leader in the plans; names alone may repeat across groups."""
    return f"{group.number}:{leader.name}"


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


def wards_served(ward_codes: Sequence[str], now: datetime) -> Envelope[EventData]:
    """The announcement of the wards dispatch serves: intake refuses requests from any other."""
    return EVENTS.new(
        WardsServed(ward_codes=tuple(ward_codes), as_of=now),
        ward_code=SEVERAL_WARDS,
        correlation_id=uuid4(),
        occurred_at=now,
    )


class RosterBook(Protocol):
    """The wards' rosters and the working calendar, as the booking reads them."""

    async def roster(self, ward_code: str) -> Roster:
        """The ward's roster; raises `UnknownWard` when dispatch has none for it."""
        ...

    async def stored(self, ward_code: str) -> Roster:
        """The ward's roster as stored now, not as remembered (a change made by another process)."""
        ...

    async def calendar(self) -> WorkingCalendar: ...


class UnknownWard(LookupError):
    def __init__(self, ward_code: str) -> None:
        super().__init__(f"no roster for ward {ward_code!r}")
        self.ward_code = ward_code
