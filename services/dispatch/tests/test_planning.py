"""The pure rules of a ward's day: when it is planned, the routing problem its visits make, what its plan
announces, the service levels with the working calendar, and the morning digest."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

from gandan.dispatch.decisions import shipped_decisions
from gandan.dispatch.domain import Period, WorkingCalendar
from gandan.dispatch.planning.domain import (
    DayVisit,
    PinnedStop,
    add_working_days,
    breaches,
    crews,
    day_problem,
    digest,
    fingerprint,
    next_cutoff,
    next_daily,
    planned_day,
)
from gandan.dispatch.proposal import DEFAULT_SERVICE, VisitStatus, service_time
from gandan.dispatch.roster import load_roster
from gandan.dispatch.routing.model import DayPlan, Stop, TeamRoute, Trip
from gandan.dispatch.routing.solver import solve_day
from gandan.dispatch.routing.travel import GreatCircleTravel
from gandan.shared.clock import LOCAL_TZ
from gandan.shared.events import (
    DigestPrepared,
    RoutePlanned,
    ServiceLevelRule,
    UnassignableReason,
    VehicleKind,
    VisitUnassignable,
)

DECIDED = WorkingCalendar(shipped_decisions())  # 2026: Friday 2/1 off, Saturday 10/1 worked
UNDECIDED = WorkingCalendar()
ROSTER = load_roster("11002")  # Thạch Khôi: leadership tk-01, tk-02; officers tk-03..tk-07; a ward car
MONDAY = date(2026, 12, 7)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LOCAL_TZ)


def visit(
    id: str,
    *,
    day: date = MONDAY,
    field: str = "ho_tich",
    group: str = "Thanh Xá",
    status: VisitStatus = VisitStatus.AGREED,
    window: tuple[int, int] = (8, 11),
    booked_at: datetime | None = None,
    procedure: str = "Đăng ký khai tử",
    officer: str | None = None,
) -> DayVisit:
    return DayVisit(
        id=id,
        request_code=f"HS-{id}",
        citizen_ref=f"c-{id}",
        residential_group=group,
        procedure=procedure,
        field=field,
        day=day,
        status=status,
        starts_at=at(day, window[0]),
        ends_at=at(day, window[1]),
        booked_at=booked_at,
        officer_key=officer,
    )


# --- the working calendar: Friday 2/1/2026 ------------------------------------------------


def test_one_working_day_after_new_years_eve_2025_is_monday_5_1_2026_once_the_year_is_decided():
    booked = at(date(2025, 12, 31), 10)
    # 1/1 New Year; 2/1 the government's day off (swapped with Saturday 10/1); then the weekend.
    assert add_working_days(booked, 1, DECIDED) == at(date(2026, 1, 5), 10)
    # The `holidays` package alone does not know 2/1.
    assert add_working_days(booked, 1, UNDECIDED) == at(date(2026, 1, 2), 10)


def test_the_make_up_saturday_counts_as_a_working_day():
    assert add_working_days(at(date(2026, 1, 9), 9), 1, DECIDED) == at(date(2026, 1, 10), 9)
    assert add_working_days(at(date(2026, 1, 9), 9), 1, UNDECIDED) == at(date(2026, 1, 12), 9)


def test_a_wards_open_day_is_a_working_day_for_it():
    sunday = date(2026, 12, 6)
    assert add_working_days(at(date(2026, 12, 4), 9), 1, DECIDED, frozenset({sunday})) == at(sunday, 9)


# --- when a day is planned ------------------------------------------------------------------


def test_the_cut_off_is_on_the_working_day_before_the_day_it_plans():
    friday = date(2026, 12, 4)
    assert next_cutoff(at(friday, 9), time(16), DECIDED) == (at(friday, 16), MONDAY)
    assert next_cutoff(at(friday, 16, 1), time(16), DECIDED) == (at(MONDAY, 16), date(2026, 12, 8))
    # Over the New Year: Wednesday 31/12/2025 plans Monday 5/1/2026.
    assert next_cutoff(at(date(2025, 12, 31), 8), time(16), DECIDED) == (
        at(date(2025, 12, 31), 16),
        date(2026, 1, 5),
    )
    # Saturday: no cut-off until Monday.
    assert next_cutoff(at(date(2026, 12, 5), 9), time(15, 30), DECIDED) == (at(MONDAY, 15, 30), date(2026, 12, 8))


def test_the_digest_is_at_its_hour_of_the_next_working_day():
    friday = date(2026, 12, 4)
    assert next_daily(at(friday, 6), time(7), DECIDED) == at(friday, 7)
    assert next_daily(at(friday, 7), time(7), DECIDED) == at(MONDAY, 7)


# --- the day's problem ------------------------------------------------------------------------


def test_the_days_problem_has_the_visits_windows_places_and_service_times_and_the_rosters_teams():
    visits = [
        visit("a", window=(9, 10)),  # agreed at nine
        visit("b", status=VisitStatus.PROPOSED, window=(7, 11), field="dat_dai", group="Qua Bộ", procedure="Cấp phép"),
        visit("c", status=VisitStatus.CANCELLED),
        visit("s", status=VisitStatus.SET_ASIDE),  # nobody could go: the leadership arranges it
        visit("d", day=MONDAY + timedelta(days=1)),
        visit("e", group="Không có tổ này"),
    ]
    draft = day_problem(ROSTER, visits, MONDAY, now=at(MONDAY - timedelta(days=3), 16))

    problem = draft.problem
    depot = ROSTER.depot()
    assert depot is not None
    [only_depot] = problem.depots
    assert (only_depot.place.latitude, only_depot.place.longitude) == (depot.latitude, depot.longitude)
    by_id = {v.id: v for v in problem.visits}
    assert set(by_id) == {"a", "b"}
    assert (by_id["a"].window.starts_at, by_id["a"].window.ends_at) == (at(MONDAY, 9), at(MONDAY, 10))
    assert (by_id["b"].window.starts_at, by_id["b"].window.ends_at) == (at(MONDAY, 7), at(MONDAY, 11))
    # The same time at the home as the proposal counted: one table for both.
    assert by_id["a"].service == service_time("Đăng ký khai tử") == timedelta(minutes=45)
    assert by_id["b"].service == DEFAULT_SERVICE  # no time set for its procedure
    qua_bo = ROSTER.group("Qua Bộ")
    assert qua_bo is not None and qua_bo.location is not None
    assert (by_id["b"].place.latitude, by_id["b"].place.longitude) == (
        qua_bo.location.latitude,
        qua_bo.location.longitude,
    )
    assert draft.unplaceable == ("e",)

    teams = {t.id: t for t in problem.teams}
    assert set(teams) == {"tk-03", "tk-04", "tk-05", "tk-06", "tk-07"}  # the centre's officers, not leadership
    assert teams["tk-03"].fields == {"ho_tich", "chung_thuc"}
    assert teams["tk-04"].vehicle.kind is VehicleKind.WARD_CAR  # the ward car: the officer of most fields
    assert teams["tk-04"].vehicle.id == "tk-xe-01"
    assert {t.vehicle.kind for i, t in teams.items() if i != "tk-04"} == {VehicleKind.MOTORBIKE}
    team = teams["tk-03"]
    assert (team.shift.starts_at, team.shift.ends_at) == (at(MONDAY, 7, 30), at(MONDAY, 17))
    assert team.lunch is not None
    assert (team.lunch.starts_at, team.lunch.ends_at) == (at(MONDAY, 11, 30), at(MONDAY, 13, 30))


def test_an_officer_on_leave_has_no_team_and_without_a_car_everyone_rides_a_motorbike():
    roster = ROSTER.with_leave("tk-03", Period(MONDAY, MONDAY))
    roster = roster.with_vehicle(replace(roster.vehicles[0], available=False))
    teams = crews(roster, MONDAY)
    assert "tk-03" not in teams
    assert {c.vehicle_kind for c in teams.values()} == {VehicleKind.MOTORBIKE}


def test_planned_again_during_the_day_no_new_arrival_is_before_now_and_a_pinned_visit_keeps_team_and_time():
    visits = [visit("a", window=(7, 11)), visit("b", window=(7, 11)), visit("c", window=(8, 9))]
    now = at(MONDAY, 9, 30)
    pinned = [PinnedStop("tk-06", "a", at(MONDAY, 8, 5))]
    draft = day_problem(ROSTER, visits, MONDAY, now, pinned)
    by_id = {v.id: v for v in draft.problem.visits}
    assert by_id["b"].window.starts_at == now
    assert draft.unplaceable == ("c",)  # its hour is over
    assert by_id["a"].window.starts_at == at(MONDAY, 8, 5)
    # Only tk-06's team can serve it (tk-06 holds no ho_tich field).
    able = [t.id for t in draft.problem.teams if t.can_serve(by_id["a"])]
    assert able == ["tk-06"]

    plan = solve_day(draft.problem, _tables(draft), timedelta(seconds=1))
    [route] = [r for r in plan.routes if any(s.visit_id == "a" for t in r.trips for s in t.stops)]
    assert route.team_id == "tk-06"
    [stop] = [s for t in route.trips for s in t.stops if s.visit_id == "a"]
    assert stop.arrives_at == at(MONDAY, 8, 5)


def test_each_visit_goes_with_the_officer_who_agreed_it_and_to_another_of_its_field_only_if_they_are_away():
    # Two officers of hộ tịch; one team doing both visits, next door to each other, would travel least.
    tk_07 = ROSTER.member("tk-07")
    assert tk_07 is not None
    roster = ROSTER.with_member(replace(tk_07, fields=frozenset({"ho_tich"})))
    visits = [visit("a", officer="tk-03"), visit("b", officer="tk-07")]
    draft = day_problem(roster, visits, MONDAY, at(MONDAY - timedelta(days=3), 16))
    plan = solve_day(draft.problem, _tables(draft), timedelta(seconds=1))
    served_by = {s.visit_id: r.team_id for r in plan.routes for t in r.trips for s in t.stops}
    assert served_by == {"a": "tk-03", "b": "tk-07"}

    away = roster.with_leave("tk-07", Period(MONDAY, MONDAY))
    draft = day_problem(away, visits, MONDAY, at(MONDAY - timedelta(days=3), 16))
    plan = solve_day(draft.problem, _tables(draft), timedelta(seconds=1))
    assert {s.visit_id: r.team_id for r in plan.routes for t in r.trips for s in t.stops} == {
        "a": "tk-03",
        "b": "tk-03",
    }


def _tables(draft):
    places = [d.place for d in draft.problem.depots] + [v.place for v in draft.problem.visits]
    return {kind: asyncio.run(GreatCircleTravel().table(places, kind)) for kind in VehicleKind}


def test_the_fingerprint_changes_when_a_visit_is_agreed_moved_or_cancelled():
    base = [visit("a", status=VisitStatus.PROPOSED), visit("b")]
    same = fingerprint(list(reversed(base)))
    assert fingerprint(base) == same
    assert fingerprint([visit("a"), visit("b")]) != same
    assert fingerprint([visit("a", status=VisitStatus.PROPOSED, window=(9, 10)), visit("b")]) != same
    assert fingerprint([visit("a", status=VisitStatus.PROPOSED), visit("b", status=VisitStatus.CANCELLED)]) != same


# --- what a plan announces --------------------------------------------------------------------


def _plan(routes: dict[str, list[tuple[str, int]]], unassigned: tuple[str, ...] = ()) -> DayPlan:
    return DayPlan(
        routes=tuple(
            TeamRoute(
                team_id,
                f"{team_id}/xe-may",
                (
                    Trip(
                        at(MONDAY, 7, 30),
                        tuple(Stop(v, at(MONDAY, h), at(MONDAY, h, 20), at(MONDAY, h + 1)) for v, h in stops),
                        at(MONDAY, 11),
                    ),
                ),
            )
            for team_id, stops in routes.items()
        ),
        unassigned=unassigned,
    )


def test_a_plan_announces_a_route_per_team_an_empty_one_for_a_team_left_without_stops_and_each_unassignable_once():
    visits = [visit("a"), visit("b"), visit("c"), visit("e", group="Không có tổ này")]
    draft = day_problem(ROSTER, visits, MONDAY, at(MONDAY - timedelta(days=3), 16))
    plan = _plan({"tk-03": [("b", 9), ("a", 8)]}, unassigned=("c",))

    day = planned_day(
        ROSTER,
        MONDAY,
        2,
        visits,
        draft,
        plan,
        provisional=False,
        earlier_teams=["tk-03", "tk-06"],
        earlier_unassigned=["e"],
    )

    routes = {e.data.team_id: e.data for e in day.events if isinstance(e.data, RoutePlanned)}
    assert set(routes) == {"tk-03", "tk-06"}
    route = routes["tk-03"]
    assert route.revision == 2 and route.day == MONDAY and not route.provisional
    assert [s.visit_id for s in route.stops] == ["b", "a"]  # the solver's order
    assert (route.stops[0].arrives_from, route.stops[0].arrives_until) == (at(MONDAY, 9), at(MONDAY, 9, 20))
    assert route.stops[0].request_code == "HS-b"
    assert route.officer.staff_id == "tk-03" and route.vehicle_kind is VehicleKind.MOTORBIKE
    assert route.vehicle_id is None  # the officer's own motorbike
    assert routes["tk-06"].stops == ()
    assert day.unassigned == ("c", "e")
    assert day.unassigned_requests == ("HS-c", "HS-e")
    [unassignable] = [e.data for e in day.events if isinstance(e.data, VisitUnassignable)]
    assert unassignable.request_code == "HS-c"  # "e" was told in the earlier revision
    assert unassignable.reason is UnassignableReason.NO_SLOT_AVAILABLE
    assert unassignable.citizen_ref == "c-c"
    assert {c.staff_id for c in unassignable.leadership} == {"tk-01", "tk-02"}
    assert {e.ward_code for e in day.events} == {"11002"}


# --- service levels -------------------------------------------------------------------------


def test_first_contact_is_missed_by_a_visit_still_proposed_one_working_day_after_booking():
    booked = at(date(2025, 12, 31), 10)
    proposed = visit("p", day=date(2026, 1, 6), status=VisitStatus.PROPOSED, booked_at=booked)
    agreed = visit("q", day=date(2026, 1, 6), booked_at=booked)
    # Friday 2/1/2026 is a day off: not missed until Monday 5/1 10:00.
    assert breaches([proposed, agreed], at(date(2026, 1, 2), 11), DECIDED, visit_within_working_days=5) == []
    assert breaches([proposed], at(date(2026, 1, 5), 9, 59), DECIDED, visit_within_working_days=5) == []
    [missed] = breaches([proposed, agreed], at(date(2026, 1, 5), 10), DECIDED, visit_within_working_days=5)
    assert (missed.request_code, missed.rule, missed.due_at) == (
        "HS-p",
        ServiceLevelRule.FIRST_CONTACT,
        at(date(2026, 1, 5), 10),
    )
    # Without the year's decision the package's calendar would have counted Friday.
    [early] = breaches([proposed], at(date(2026, 1, 2), 11), UNDECIDED, visit_within_working_days=5)
    assert early.due_at == at(date(2026, 1, 2), 10)


def test_the_visit_deadline_is_missed_once_it_passes_with_the_visit_still_after_it():
    booked = at(date(2026, 12, 1), 10)  # Tuesday
    late = visit("l", day=date(2026, 12, 9), booked_at=booked)
    in_time = visit("t", day=date(2026, 12, 3), booked_at=booked)
    cancelled = visit("x", day=date(2026, 12, 9), booked_at=booked, status=VisitStatus.CANCELLED)
    due = at(date(2026, 12, 8), 10)  # five working days: 2, 3, 4, 7, 8 December
    assert breaches([late, in_time, cancelled], due - timedelta(minutes=1), DECIDED, visit_within_working_days=5) == []
    [missed] = breaches([late, in_time, cancelled], due, DECIDED, visit_within_working_days=5)
    assert (missed.request_code, missed.rule, missed.due_at) == ("HS-l", ServiceLevelRule.VISIT_DEADLINE, due)
    assert missed.visit_ends_at == late.ends_at
    # A ward with three working days: due Friday 4/12.
    [sooner] = breaches([late], at(date(2026, 12, 4), 10), DECIDED, visit_within_working_days=3)
    assert sooner.due_at == at(date(2026, 12, 4), 10)


# --- the morning digest ---------------------------------------------------------------------


def test_the_digest_counts_the_routes_with_stops_and_their_visits_and_lists_unassigned_and_late_requests():
    routes: list[dict[str, Any]] = [
        {"team_id": "tk-03", "stops": [{"visit_id": "a"}, {"visit_id": "b"}]},
        {"team_id": "tk-06", "stops": [{"visit_id": "c"}]},
        {"team_id": "tk-07", "stops": []},
    ]
    prepared = digest(ROSTER, MONDAY, routes, ["HS-9", "HS-1"], ["HS-5", "HS-5"])
    data = prepared.data
    assert isinstance(data, DigestPrepared)
    assert (data.day, data.routes, data.visits) == (MONDAY, 2, 3)
    assert data.unassigned == ("HS-1", "HS-9")
    assert data.late == ("HS-5",)
    assert [c.staff_id for c in data.leadership] == ["tk-01", "tk-02"]
    assert prepared.ward_code == "11002"
