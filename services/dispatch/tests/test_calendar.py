"""The working calendar as data: the year's decisions over the `holidays` package, the ward's
weekend openings, provisional days; and staff leave. Through the handler, as a request sees it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from gandan.dispatch.decisions import DecisionInvalid, parse_decision, shipped_decisions
from gandan.dispatch.domain import Period, WorkingCalendar, YearDecision
from gandan.dispatch.roster import load_roster
from gandan.shared.clock import LOCAL_TZ
from gandan.shared.events import ProcedureField, TimeWindow

from .fakes import FakeRosters, FakeVisits
from .test_handlers import GIANG, handler

DECIDED_2026 = tuple(shipped_decisions())
NEW_YEAR_2026 = datetime(2025, 12, 31, 9, tzinfo=LOCAL_TZ)  # a Wednesday; Thursday 1/1 is New Year's Day


def test_a_decided_year_overrides_the_package():
    calendar = WorkingCalendar(DECIDED_2026)

    assert WorkingCalendar().is_working_day(date(2026, 1, 2))  # the package alone gets Friday 2/1 wrong
    assert not calendar.is_working_day(date(2026, 1, 2))
    assert calendar.is_working_day(date(2026, 1, 10))  # the Saturday worked in exchange
    assert not calendar.is_working_day(date(2026, 1, 1))  # the package's days off still count
    assert not calendar.is_working_day(date(2026, 1, 17))  # an ordinary Saturday


def test_a_decision_can_make_a_package_holiday_a_working_day():
    calendar = WorkingCalendar([YearDecision(2026, not_days_off=frozenset({date(2026, 11, 24)}), source="x")])

    assert not WorkingCalendar().is_working_day(date(2026, 11, 24))
    assert calendar.is_working_day(date(2026, 11, 24))


def test_a_year_not_yet_decided_follows_the_package_and_is_provisional():
    calendar = WorkingCalendar(DECIDED_2026)

    assert calendar.is_provisional(date(2027, 3, 1)) and not calendar.is_provisional(date(2026, 3, 2))
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert calendar.is_working_day(date(2027, 1, 4))


def test_a_ward_opening_on_a_weekend_makes_that_day_a_working_day_for_it_alone():
    calendar = WorkingCalendar(DECIDED_2026)
    sunday = date(2026, 3, 8)

    assert not calendar.is_working_day(sunday)
    assert calendar.is_working_day(sunday, open_days=frozenset({sunday}))


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ('year = 2026\nsource = "x"\ndays_off = ["2027-01-01"]', "outside 2026"),
        ('year = 2026\nsource = "x"\ndays_off = ["2026-01-02"]\nworking_days = ["2026-01-02"]', "both"),
        ('year = 2026\nsource = "x"\ndays_off = ["2/1/2026"]', "YYYY-MM-DD"),
        ('year = 2026\ndays_off = ["2026-01-02"]', "source"),
        ('year = "2026"\nsource = "x"', "year"),
        ('year = 2026\nsource = "x"\nholidays = []', "unknown keys: holidays"),
    ],
)
def test_an_invalid_decision_file_is_refused(content, error):
    with pytest.raises(DecisionInvalid, match=error):
        parse_decision(content)


# --- through the handler -------------------------------------------------------------------


def handle_on(visits: FakeVisits, rosters: FakeRosters):
    return handler(visits, now=NEW_YEAR_2026, rosters=rosters)


async def test_friday_2_january_2026_is_never_booked(request_registered):
    visits = FakeVisits()

    await handle_on(visits, FakeRosters(decisions=DECIDED_2026))(
        request_registered(preferred_date=date(2026, 1, 2), time_window=TimeWindow.MORNING)
    )

    [visit] = visits.booked()
    assert visit.half_day.day == date(2026, 1, 5)  # Monday: Friday off, then the weekend
    assert not visit.provisional


async def test_the_make_up_saturday_is_bookable(request_registered):
    visits = FakeVisits()

    await handle_on(visits, FakeRosters(decisions=DECIDED_2026))(
        request_registered(preferred_date=date(2026, 1, 10), time_window=TimeWindow.MORNING)
    )

    [visit] = visits.booked()
    assert visit.half_day.day == date(2026, 1, 10)


async def test_a_visit_in_a_year_not_yet_decided_is_marked_provisional(request_registered):
    visits = FakeVisits()

    await handle_on(visits, FakeRosters(decisions=()))(request_registered(preferred_date=date(2026, 1, 5)))

    [visit] = visits.booked()
    assert visit.provisional


async def test_a_ward_open_on_a_sunday_books_that_sunday(request_registered):
    visits = FakeVisits()
    sunday = date(2026, 1, 4)
    opened = load_roster("11002").opened_on(sunday)

    await handle_on(visits, FakeRosters({"11002": opened}, DECIDED_2026))(request_registered(preferred_date=sunday))

    [visit] = visits.booked()
    assert visit.half_day.day == sunday


async def test_an_officer_on_leave_is_not_booked_and_a_leader_on_leave_is_replaced(request_registered):
    roster = load_roster("11002")
    monday = date(2026, 1, 5)
    on_leave = Period(monday, monday)
    thanh_xa = roster.groups[0]
    first_leader = replace(thanh_xa.leaders[0], leave=(on_leave,))
    roster = replace(
        roster.with_leave(GIANG.staff_id, on_leave),
        groups=(replace(thanh_xa, leaders=(first_leader, *thanh_xa.leaders[1:])), *roster.groups[1:]),
    )
    visits = FakeVisits()

    await handle_on(visits, FakeRosters({"11002": roster}, DECIDED_2026))(
        request_registered(preferred_date=monday, field=ProcedureField.HO_TICH, residential_group=thanh_xa.name)
    )

    [visit] = visits.booked()
    # Lê Văn Giang alone holds civil status: nobody goes on his day of leave.
    assert visit.half_day.day == monday + timedelta(days=1)

    other = FakeVisits()
    await handle_on(other, FakeRosters({"11002": replace(roster, officers=load_roster("11002").officers)}))(
        request_registered(preferred_date=monday, field=ProcedureField.HO_TICH, residential_group=thanh_xa.name)
    )
    [visit] = other.booked()
    assert visit.half_day.day == monday
    assert visit.leader_key == f"1:{thanh_xa.leaders[1].name}"
