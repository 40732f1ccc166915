"""Pure rules of a ward's day: when it is planned, the routing problem its visits make, the events its
plan announces, the service levels a request may miss, and the morning digest. No I/O.

A team is one centre officer on their own motorbike (seed 003 §3), or, where the roster has a ward car
available that day, the car with the officer of the most fields and the community digital team as
companions (seed 000 names them as companions on visits). The group leader of each visit meets the
team at the citizen's home, booked with the visit: no team stands for a group, so every team may serve
every group, and serves the visits of its officer's fields.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import uuid4

from gandan.dispatch.domain import EVENTS, Officer, Roster, Slot, StaffRole, WorkingCalendar
from gandan.dispatch.proposal import VisitStatus, service_time
from gandan.dispatch.routing.model import DayPlan, DayProblem, Depot, Place, PlannedVisit, Team, Vehicle
from gandan.shared.clock import LOCAL_TZ, local
from gandan.shared.events import (
    DigestPrepared,
    Envelope,
    EventData,
    RoutePlanned,
    RouteStop,
    ServiceLevelBreached,
    ServiceLevelRule,
    StaffContact,
    UnassignableReason,
    VehicleKind,
    VisitUnassignable,
)

DEPOT = "trung_tam"
SHIFT = (time(7, 30), time(17, 0))
LUNCH = (time(11, 30), time(13, 30))
# A pinned visit (under way when the day is planned again) keeps its arrival: this much slack only.
_PINNED_SLACK = timedelta(minutes=1)


@dataclass(frozen=True)
class DayVisit:
    """A visit document of dispatch's `visits`, as planning reads it."""

    id: str
    request_code: str
    citizen_ref: str
    residential_group: str
    procedure: str
    field: str
    day: date
    status: VisitStatus
    starts_at: datetime
    ends_at: datetime
    booked_at: datetime | None = None
    # The officer the visit was given to, who calls the citizen to agree it (seed 000).
    officer_key: str | None = None


def on_local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=LOCAL_TZ)


def next_working_day(day: date, calendar: WorkingCalendar, open_days: frozenset[date] = frozenset()) -> date:
    """The first working day after `day`."""
    day += timedelta(days=1)
    while not calendar.is_working_day(day, open_days=open_days):
        day += timedelta(days=1)
    return day


def add_working_days(
    moment: datetime, days: int, calendar: WorkingCalendar, open_days: frozenset[date] = frozenset()
) -> datetime:
    """The same local time `days` working days after `moment`'s local day (holidays, the government's
    swaps and the ward's open days counted as the calendar has them), in UTC."""
    at = local(moment)
    day = at.date()
    for _ in range(days):
        day = next_working_day(day, calendar, open_days)
    return datetime.combine(day, at.timetz()).astimezone(UTC)


def next_cutoff(
    now: datetime, cutoff: time, calendar: WorkingCalendar, open_days: frozenset[date] = frozenset()
) -> tuple[datetime, date]:
    """The first cut-off after `now` and the day it plans: the cut-off is on the working day before it."""
    day = local(now).date()
    while True:
        moment = on_local(day, cutoff)
        if calendar.is_working_day(day, open_days=open_days) and moment > now:
            return moment, next_working_day(day, calendar, open_days)
        day += timedelta(days=1)


def next_daily(
    now: datetime, at: time, calendar: WorkingCalendar, open_days: frozenset[date] = frozenset()
) -> datetime:
    """The first `at` (local) of a working day after `now`."""
    day = local(now).date()
    while not (calendar.is_working_day(day, open_days=open_days) and on_local(day, at) > now):
        day += timedelta(days=1)
    return on_local(day, at)


# --- the day's problem -------------------------------------------------------------------


@dataclass(frozen=True)
class Crew:
    """Who a team is, as `route.planned` names them."""

    officer: Officer
    companions: tuple[Officer, ...]
    vehicle_id: str | None  # a ward vehicle; None for the officer's own motorbike
    vehicle_kind: VehicleKind


@dataclass(frozen=True)
class PinnedStop:
    """A stop of an earlier revision whose arrival has passed: it keeps its team and its arrival."""

    team_id: str
    visit_id: str
    arrives_at: datetime


@dataclass(frozen=True)
class DayDraft:
    problem: DayProblem
    crews: Mapping[str, Crew]
    # Visits that cannot be put on any route: their group has no place, or their window has passed.
    unplaceable: tuple[str, ...]


def crews(roster: Roster, day: date) -> dict[str, Crew]:
    """The day's teams by id (the officer's staff id)."""
    present = [o for o in roster.officers if not o.on_leave(day)]
    officers = [o for o in present if o.role is StaffRole.CENTRE_OFFICER and o.fields]
    digital = tuple(o for o in present if o.role is StaffRole.DIGITAL_TEAM)
    car = next((v for v in roster.vehicles if v.kind is VehicleKind.WARD_CAR and v.available_on(day)), None)
    # The car goes to whoever can serve the most visits; ties by roster order.
    driver = max(officers, key=lambda o: len(o.fields), default=None) if car is not None else None
    teams: dict[str, Crew] = {}
    for officer in officers:
        if car is not None and officer is driver:
            teams[officer.staff_id] = Crew(officer, digital, car.vehicle_id, VehicleKind.WARD_CAR)
        else:
            teams[officer.staff_id] = Crew(officer, (), None, VehicleKind.MOTORBIKE)
    return teams


def _pin_field(team_id: str) -> str:
    return f"ghim:{team_id}"


def day_problem(
    roster: Roster,
    visits: Sequence[DayVisit],
    day: date,
    now: datetime,
    pinned: Iterable[PinnedStop] = (),
) -> DayDraft:
    """The routing problem of the ward's visits of `day` (agreed or proposed), planned at `now`.

    A visit's window is its agreed hour, or else its half-day, as the visit stores it; no new arrival
    is planned before `now`. A pinned visit must be served by its team at its arrival.
    """
    depot = roster.depot()
    if depot is None:
        raise ValueError(f"ward {roster.ward_code}: no centre and no group with a place, nowhere to leave from")
    teams_by_id = crews(roster, day)
    pins = {p.visit_id: p for p in pinned if p.team_id in teams_by_id}
    shift = Slot(on_local(day, SHIFT[0]), on_local(day, SHIFT[1]))
    lunch = Slot(on_local(day, LUNCH[0]), on_local(day, LUNCH[1]))
    planned: list[PlannedVisit] = []
    unplaceable: list[str] = []
    for visit in visits:
        if not visit.status.holds_places or visit.day != day:
            continue
        group = roster.group(visit.residential_group)
        pin = pins.get(visit.id)
        if pin is not None:
            window, field_ = Slot(pin.arrives_at, pin.arrives_at + _PINNED_SLACK), _pin_field(pin.team_id)
        else:
            window_start = max(visit.starts_at, now)
            # The officer who agreed it with the citizen goes; another of its field only if they are away.
            field_ = _pin_field(visit.officer_key) if visit.officer_key in teams_by_id else visit.field
            if window_start >= visit.ends_at:
                unplaceable.append(visit.id)
                continue
            window = Slot(window_start, visit.ends_at)
        if group is None or group.location is None:
            unplaceable.append(visit.id)
            continue
        place = Place(group.location.latitude, group.location.longitude)
        planned.append(
            PlannedVisit(visit.id, place, window, service_time(visit.procedure), field_, visit.residential_group)
        )
    pinned_teams = {p.team_id for p in pins.values()} | {v.officer_key for v in visits if v.officer_key}
    teams = tuple(
        Team(
            id=team_id,
            people=frozenset({crew.officer.staff_id, *(c.staff_id for c in crew.companions)}),
            fields=crew.officer.fields | ({_pin_field(team_id)} if team_id in pinned_teams else frozenset()),
            groups=None,
            vehicle=Vehicle(crew.vehicle_id or f"{team_id}/xe-may", crew.vehicle_kind),
            depot=DEPOT,
            shift=shift,
            lunch=lunch,
        )
        for team_id, crew in teams_by_id.items()
    )
    problem = DayProblem(
        depots=(Depot(DEPOT, Place(depot.latitude, depot.longitude)),), teams=teams, visits=tuple(planned)
    )
    return DayDraft(problem, teams_by_id, tuple(unplaceable))


def pinned_stops(routes: Iterable[Mapping[str, Any]], now: datetime) -> list[PinnedStop]:
    """The stops of a stored plan whose arrival has passed: under way or done, they keep their place."""
    return [
        PinnedStop(route["team_id"], stop["visit_id"], stop["arrives_from"])
        for route in routes
        for stop in route["stops"]
        if stop["arrives_from"] <= now
    ]


def fingerprint(visits: Iterable[DayVisit]) -> str:
    """What of a day's visits its plan depends on: a change of any re-plans the day."""
    lines = sorted(
        f"{v.id}|{v.status}|{v.starts_at.isoformat()}|{v.ends_at.isoformat()}|{v.field}|{v.residential_group}"
        f"|{v.officer_key}"
        for v in visits
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


# --- what the plan announces -------------------------------------------------------------


def contact(member: Officer) -> StaffContact:
    return StaffContact(staff_id=member.staff_id, name=member.name, phone=member.phone)


def leadership(roster: Roster) -> tuple[StaffContact, ...]:
    return tuple(contact(o) for o in roster.officers if o.role is StaffRole.LEADERSHIP)


@dataclass(frozen=True)
class PlannedDay:
    """A revision of a ward's day, as stored and announced."""

    ward_code: str
    day: date
    revision: int
    routes: tuple[RoutePlanned, ...]
    unassigned: tuple[str, ...]  # visit ids
    unassigned_requests: tuple[str, ...]  # their request codes
    events: tuple[Envelope[EventData], ...]


def planned_day(
    roster: Roster,
    day: date,
    revision: int,
    visits: Sequence[DayVisit],
    draft: DayDraft,
    plan: DayPlan,
    *,
    provisional: bool,
    earlier_teams: Iterable[str] = (),
    earlier_unassigned: Iterable[str] = (),
) -> PlannedDay:
    """The revision's `route.planned` per team (and an empty one for a team that had stops in the earlier
    revision and has none now), and a `visit.unassignable` for each visit newly left out."""
    by_id = {v.id: v for v in visits}
    correlation = uuid4()
    routes: dict[str, RoutePlanned] = {}
    for route in plan.routes:
        crew = draft.crews[route.team_id]
        stops = tuple(
            RouteStop(
                request_code=by_id[s.visit_id].request_code,
                visit_id=s.visit_id,
                residential_group=by_id[s.visit_id].residential_group,
                procedure=by_id[s.visit_id].procedure,
                arrives_from=s.arrives_at,
                arrives_until=s.latest_arrival,
            )
            for trip in route.trips
            for s in trip.stops
        )
        routes[route.team_id] = _route(crew, day, revision, stops, provisional)
    for team_id in earlier_teams:
        if team_id not in routes and team_id in draft.crews:
            routes[team_id] = _route(draft.crews[team_id], day, revision, (), provisional)
    unassigned = tuple(sorted({*plan.unassigned, *draft.unplaceable}))
    told = set(earlier_unassigned)
    contacts = leadership(roster)
    events: list[Envelope[EventData]] = [
        EVENTS.new(r, ward_code=roster.ward_code, correlation_id=correlation) for r in routes.values()
    ]
    events += [
        EVENTS.new(
            VisitUnassignable(
                request_code=by_id[visit_id].request_code,
                citizen_ref=by_id[visit_id].citizen_ref,
                reason=UnassignableReason.NO_SLOT_AVAILABLE,
                detail=f"Không xếp được lịch đến nhà ngày {day:%d/%m/%Y} trong khung giờ đã hẹn; "
                "trung tâm cần gọi lại cho người dân.",
                leadership=contacts,
            ),
            ward_code=roster.ward_code,
            correlation_id=correlation,
        )
        for visit_id in unassigned
        if visit_id not in told
    ]
    requests = tuple(sorted({by_id[v].request_code for v in unassigned}))
    return PlannedDay(roster.ward_code, day, revision, tuple(routes.values()), unassigned, requests, tuple(events))


def _route(crew: Crew, day: date, revision: int, stops: tuple[RouteStop, ...], provisional: bool) -> RoutePlanned:
    return RoutePlanned(
        day=day,
        team_id=crew.officer.staff_id,
        revision=revision,
        officer=contact(crew.officer),
        companions=tuple(contact(c) for c in crew.companions),
        vehicle_id=crew.vehicle_id,
        vehicle_kind=crew.vehicle_kind,
        stops=stops,
        provisional=provisional,
    )


# --- service levels ----------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    request_code: str
    rule: ServiceLevelRule
    due_at: datetime
    visit_ends_at: datetime


def breaches(
    visits: Iterable[DayVisit],
    now: datetime,
    calendar: WorkingCalendar,
    *,
    visit_within_working_days: int,
    open_days: frozenset[date] = frozenset(),
) -> list[Breach]:
    """The service levels the ward's visits have missed by `now`:

    - first contact: the visit is still only proposed one working day after it was booked (the officer
      has not agreed it with the citizen);
    - visit deadline: the visit is not made within `visit_within_working_days` working days of booking
      (its start is at or after that moment, which has passed).
    """
    found: list[Breach] = []
    for visit in visits:
        if not visit.status.holds_places or visit.booked_at is None:
            continue
        contact_due = add_working_days(visit.booked_at, 1, calendar, open_days)
        if visit.status is VisitStatus.PROPOSED and now >= contact_due:
            found.append(Breach(visit.request_code, ServiceLevelRule.FIRST_CONTACT, contact_due, visit.ends_at))
        visit_due = add_working_days(visit.booked_at, visit_within_working_days, calendar, open_days)
        if now >= visit_due and visit.starts_at >= visit_due:
            found.append(Breach(visit.request_code, ServiceLevelRule.VISIT_DEADLINE, visit_due, visit.ends_at))
    return found


def breached(roster: Roster, breach: Breach) -> Envelope[EventData]:
    return EVENTS.new(
        ServiceLevelBreached(
            request_code=breach.request_code, rule=breach.rule, due_at=breach.due_at, leadership=leadership(roster)
        ),
        ward_code=roster.ward_code,
        correlation_id=uuid4(),
    )


# --- the morning digest ------------------------------------------------------------------


def digest(
    roster: Roster,
    day: date,
    routes: Iterable[Mapping[str, Any]],
    unassigned: Iterable[str],
    late: Iterable[str],
) -> Envelope[EventData]:
    """Today's routes (those with stops, from the day's latest plan), their visits, and the request codes
    left unassigned or late, for the centre's leadership."""
    with_stops = [r for r in routes if r["stops"]]
    return EVENTS.new(
        DigestPrepared(
            day=day,
            routes=len(with_stops),
            visits=sum(len(r["stops"]) for r in with_stops),
            unassigned=tuple(sorted(set(unassigned))),
            late=tuple(sorted(set(late))),
            leadership=leadership(roster),
        ),
        ward_code=roster.ward_code,
        correlation_id=uuid4(),
    )
