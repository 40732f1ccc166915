"""schedule_home_visit on dispatch's storage in memory (fast), then the visit repository on a real MongoDB."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from itertools import cycle
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gandan.dispatch.domain import GroupLeader, Officer, Period, ResidentialGroup, Roster, Slot, WorkingCalendar
from gandan.dispatch.handlers import OneBookingAtATime, agree_appointment, cancel_visit, schedule_home_visit
from gandan.dispatch.proposal import HalfDay, Plans, SlotTaken, Visit, VisitStatus, booked, claim, propose_visit
from gandan.dispatch.roster import load_roster
from gandan.dispatch.routing.travel import GreatCircleTravel
from gandan.shared.clock import utcnow
from gandan.shared.events import (
    AppointmentAgreed,
    CancelledBy,
    LeaderContact,
    ProcedureField,
    RequestCancelled,
    StaffContact,
    TimeWindow,
    UnassignableReason,
    VehicleKind,
    VisitScheduled,
    VisitUnassignable,
)
from gandan.testing.factories import envelope, visit_scheduled

from .fakes import FakeRosters, FakeVisits

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
THACH_KHOI = load_roster("11002")
GIANG = next(o for o in THACH_KHOI.officers if o.name == "Lê Văn Giang")
THANH_XA = next(g for g in THACH_KHOI.groups if g.name == "Thanh Xá")
THANH_XA_LEADER_KEYS = {f"{THANH_XA.number}:{le.name}" for le in THANH_XA.leaders}
LEAD = timedelta(hours=2)
TRAVEL = GreatCircleTravel().between(VehicleKind.MOTORBIKE)
MORNING, AFTERNOON = TimeWindow.MORNING, TimeWindow.AFTERNOON
# Giang's half-days for 45-minute visits in Thanh Xá, 6 min 21 s from the depot each way.
MORNING_HOLDS, AFTERNOON_HOLDS = 5, 4


@pytest.fixture
def visits() -> FakeVisits:
    return FakeVisits()


def handler(repository, *, now=None, rosters=None):
    """The handler as the service composes it; with `now`, its clock stopped there."""
    return partial(
        schedule_home_visit,
        rosters=rosters or FakeRosters(),
        repository=repository,
        clock=(lambda: now) if now else utcnow,
        min_lead=LEAD,
        travel=TRAVEL,
        one_at_a_time=OneBookingAtATime(),
    )


@pytest.fixture
def handle(visits):
    return handler(visits)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=HCM)


def half_days(booked: list[Visit]) -> list[HalfDay]:
    return [v.half_day for v in booked]


# --- 1. schedule_home_visit ---------------------------------------------------


async def test_request_gets_giang_and_a_thanh_xa_leader_for_the_preferred_morning(
    handle, visits, request_registered, office_day
):
    event = request_registered(preferred_date=office_day)

    await handle(event)

    [visit] = visits.booked()
    assert visit.officer_key == GIANG.staff_id
    assert visit.leader_key in THANH_XA_LEADER_KEYS
    assert visit.request_code == event.data.request_code
    assert visit.half_day == HalfDay(office_day, MORNING)
    assert visit.window == Slot(at(office_day, 7, 30), at(office_day, 11, 30))
    assert visit.window.starts_at == datetime.combine(office_day, time(0, 30), tzinfo=UTC)
    assert visit.status is VisitStatus.PROPOSED
    assert (visit.citizen_ref, visit.procedure, visit.field) == (
        event.data.citizen_ref,
        event.data.procedure,
        event.data.field,
    )


async def test_a_proposal_reads_the_first_weeks_plans_and_the_rest_only_when_that_week_is_full(
    visits, request_registered, office_day
):
    week = timedelta(days=7)
    await handler(visits)(request_registered(preferred_date=office_day))
    assert visits.planned_reads == [(office_day, office_day + week)]

    # Giang, the one officer of hộ tịch, is away the whole first week.
    away = THACH_KHOI.with_leave(GIANG.staff_id, Period(office_day, office_day + week - timedelta(days=1)))
    visits.planned_reads.clear()
    await handler(visits, rosters=FakeRosters({"11002": away}))(request_registered(preferred_date=office_day))

    assert visits.planned_reads == [(office_day, office_day + week), (office_day + week, None)]
    assert visits.booked()[-1].half_day.day >= office_day + week


async def test_visit_holds_its_visit_scheduled_event_with_the_half_day_window(
    handle, visits, request_registered, office_day
):
    event = request_registered(preferred_date=office_day)

    await handle(event)

    [visit] = visits.booked()
    [scheduled] = visits.outbox[visit.id]
    assert scheduled.type == "visit.scheduled"
    assert scheduled.causation_id == event.id
    assert scheduled.correlation_id == event.correlation_id
    assert scheduled.ward_code == "11002"
    assert scheduled.producer == "dispatch"
    data = scheduled.data
    assert isinstance(data, VisitScheduled)
    assert data.visit_id == visit.id
    assert data.request_code == event.data.request_code
    assert data.field is ProcedureField.HO_TICH
    assert (data.starts_at, data.ends_at) == (at(office_day, 7, 30), at(office_day, 11, 30))
    assert data.officer == StaffContact(staff_id=GIANG.staff_id, name="Lê Văn Giang", phone=GIANG.phone)
    leader = next(le for le in THANH_XA.leaders if le.name == data.leader.name)
    assert data.leader == LeaderContact(name=leader.name, roles=leader.roles, phone=leader.phone)


async def test_the_same_event_again_stores_nothing_new(handle, visits, request_registered, office_day):
    event = request_registered(preferred_date=office_day)
    await handle(event)
    before = visits.booked()
    [announced] = visits.outbox[before[0].id]

    await handle(event)
    await handle(event)

    assert visits.booked() == before
    assert visits.outbox[before[0].id] == [announced]
    assert visits.refusals == {}


async def test_giangs_morning_takes_what_fits_with_travel_then_the_afternoon(
    handle, visits, request_registered, office_day
):
    for _ in range(MORNING_HOLDS + 1):
        await handle(request_registered(preferred_date=office_day))

    booked = visits.booked()
    assert {v.officer_key for v in booked} == {GIANG.staff_id}
    assert half_days(booked) == [HalfDay(office_day, MORNING)] * MORNING_HOLDS + [HalfDay(office_day, AFTERNOON)]
    assert sorted(c for v in booked for c in v.claims if "tk-03" in c) == [
        *(claim("11002", "tk-03", HalfDay(office_day, AFTERNOON), 0),),
        *(claim("11002", "tk-03", HalfDay(office_day, MORNING), k) for k in range(MORNING_HOLDS)),
    ]
    last = visits.outbox[booked[-1].id][0].data
    assert (last.starts_at, last.ends_at) == (at(office_day, 13, 30), at(office_day, 17))


async def test_requests_handled_at_once_never_overfill_and_never_collide(
    handle, visits, request_registered, office_day, first_office_day
):
    # Twenty at once, as the broker delivers them: each for Giang's preferred morning.
    await asyncio.gather(*(handle(request_registered(preferred_date=office_day)) for _ in range(20)))

    booked = visits.booked()
    assert len(booked) == 20
    per_half_day = Counter(v.half_day for v in booked)
    assert per_half_day[HalfDay(office_day, MORNING)] == MORNING_HOLDS
    assert per_half_day[HalfDay(office_day, AFTERNOON)] == AFTERNOON_HOLDS
    assert all(n <= MORNING_HOLDS for n in per_half_day.values())
    assert visits.collisions == 0


async def test_afternoon_request_gets_the_afternoon(handle, visits, request_registered, office_day):
    await handle(request_registered(preferred_date=office_day, time_window=AFTERNOON))

    [visit] = visits.booked()
    assert visit.half_day == HalfDay(office_day, AFTERNOON)


async def test_a_request_for_today_handled_at_16_00_gets_the_next_working_morning(
    visits, request_registered, office_day, first_office_day
):
    await handler(visits, now=at(office_day, 16))(request_registered(preferred_date=office_day))

    [visit] = visits.booked()
    assert visit.half_day == HalfDay(first_office_day(office_day + timedelta(days=1)), MORNING)


async def test_a_late_event_gets_what_is_left_of_a_half_day_after_the_lead_time(visits, request_registered, office_day):
    await handler(visits, now=at(office_day, 8))(request_registered(preferred_date=office_day - timedelta(days=7)))

    [visit] = visits.booked()
    assert visit.half_day == HalfDay(office_day, MORNING)
    assert visit.window == Slot(at(office_day, 10), at(office_day, 11, 30))


async def test_unknown_residential_group_tells_the_leadership(handle, visits, request_registered, office_day):
    event = request_registered(preferred_date=office_day, residential_group="Tổ dân phố Không Có")

    await handle(event)

    assert visits.booked() == []
    [refusal] = visits.refusals.values()
    assert refusal.request_code == event.data.request_code
    assert refusal.ward_code == "11002"
    assert "Tổ dân phố Không Có" in refusal.reason
    [told] = visits.refusal_outbox[refusal.id]
    assert told.type == "visit.unassignable"
    assert told.causation_id == event.id
    data = told.data
    assert isinstance(data, VisitUnassignable)
    assert data.reason is UnassignableReason.UNKNOWN_RESIDENTIAL_GROUP
    assert "Tổ dân phố Không Có" in data.detail
    assert {m.staff_id for m in data.leadership} == {"tk-01", "tk-02"}  # Thạch Khôi's director and deputy


async def test_a_refusal_handled_again_is_told_once(handle, visits, request_registered, office_day):
    event = request_registered(preferred_date=office_day, residential_group="Thanh Xa")

    await handle(event)
    await handle(event)

    assert visits.booked() == []
    [told] = [e for events in visits.refusal_outbox.values() for e in events]
    assert told.data.reason is UnassignableReason.UNKNOWN_RESIDENTIAL_GROUP


@pytest.mark.parametrize("field", [ProcedureField.Y_TE, ProcedureField.GIAO_DUC, ProcedureField.THE_BAO_HIEM_Y_TE])
async def test_a_field_no_officer_of_the_roster_handles_is_unassignable(visits, request_registered, field):
    without = replace(THACH_KHOI, officers=tuple(o for o in THACH_KHOI.officers if field not in o.fields))

    await handler(visits, rosters=FakeRosters({without.ward_code: without}))(request_registered(field=field))

    assert visits.booked() == []
    [refusal] = visits.refusals.values()
    assert "no officer handles field" in refusal.reason
    [told] = visits.refusal_outbox[refusal.id]
    assert told.data.reason is UnassignableReason.NO_OFFICER_FOR_FIELD


async def test_a_request_nothing_fits_within_the_horizon_is_unassignable(visits, request_registered, office_day):
    handle = handler(visits, rosters=FakeRosters({"11002": replace(THACH_KHOI, groups=(THANH_XA,))}))
    # Thirty days hold at most 22 working days of nine visits for Giang: 200 is more.
    for _ in range(200):
        await handle(request_registered(preferred_date=office_day))

    assert len(visits.booked()) < 200
    told = [e for events in visits.refusal_outbox.values() for e in events]
    assert told and {e.data.reason for e in told} == {UnassignableReason.NO_SLOT_AVAILABLE}
    assert len(visits.booked()) + len(told) == 200


async def test_ward_without_a_roster_is_set_aside_without_telling_anyone(
    handle, visits, request_registered, office_day
):
    event = request_registered(preferred_date=office_day, ward_code="11218")

    await handle(event)

    assert visits.booked() == []
    [refusal] = visits.refusals.values()
    assert refusal.request_code == event.data.request_code
    assert refusal.ward_code == "11218"
    assert "11218" in refusal.reason
    assert visits.refusal_outbox[refusal.id] == []  # no leadership known to tell


async def test_a_namesake_leader_in_another_ward_does_not_take_a_place(visits, request_registered, office_day):
    # Nam Đồng's group 1 happens to be led by someone named like Thạch Khôi's group 1 leader.
    nam_dong = Roster(
        ward_code="10672",
        ward_name="Phường Nam Đồng",
        officers=(Officer("nd-01", "Trần Văn An", "Chuyên viên", frozenset({"ho_tich"}), "0911111111"),),
        groups=(
            ResidentialGroup(1, "Tổ dân phố 1", (GroupLeader(THANH_XA.leaders[0].name, ("to_truong",), "0922222222"),)),
        ),
    )
    handle = handler(visits, rosters=FakeRosters({"11002": THACH_KHOI, "10672": nam_dong}))
    await handle(request_registered(preferred_date=office_day, ward_code="11002"))

    await handle(request_registered(preferred_date=office_day, ward_code="10672", residential_group="Tổ dân phố 1"))

    [visit] = [v for v in visits.booked() if v.ward_code == "10672"]
    assert visit.claims[1] == claim("10672", "1:Đông Đức Hợp", HalfDay(office_day, MORNING), 0)


# --- agreeing and cancelling ---------------------------------------------------------


def agreed_event(request, starts_at: datetime, hours: float = 1):
    data = AppointmentAgreed(
        request_code=request.data.request_code,
        citizen_ref=request.data.citizen_ref,
        status="appointment_agreed",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=hours),
    )
    return envelope(data, ward_code=request.ward_code)


def cancelled_event(request):
    data = RequestCancelled(
        request_code=request.data.request_code,
        citizen_ref=request.data.citizen_ref,
        status="cancelled",
        cancelled_by=CancelledBy.CITIZEN,
        reason="Đã tự đến Trung tâm",
    )
    return envelope(data, ward_code=request.ward_code)


def agreeing(repository, rosters=None):
    return partial(
        agree_appointment,
        rosters=rosters or FakeRosters(),
        repository=repository,
        travel=TRAVEL,
        one_at_a_time=OneBookingAtATime(),
    )


async def test_an_agreed_hour_in_the_proposed_half_day_agrees_the_visit(handle, visits, request_registered, office_day):
    request = request_registered(preferred_date=office_day)
    await handle(request)
    [proposed] = visits.booked()

    await agreeing(visits)(agreed_event(request, at(office_day, 9)))
    await agreeing(visits)(agreed_event(request, at(office_day, 9)))

    [visit] = visits.booked()
    assert visit.status is VisitStatus.AGREED
    assert visit.window == Slot(at(office_day, 9), at(office_day, 10))
    assert (visit.half_day, visit.claims) == (proposed.half_day, proposed.claims)


async def test_an_agreed_hour_on_another_day_moves_the_visit_and_frees_its_place(
    handle, visits, request_registered, office_day, first_office_day
):
    requests = [request_registered(preferred_date=office_day) for _ in range(MORNING_HOLDS)]
    for request in requests:
        await handle(request)
    next_day = first_office_day(office_day + timedelta(days=1))

    await agreeing(visits)(agreed_event(requests[0], at(next_day, 14)))

    moved = next(v for v in visits.booked() if v.request_code == requests[0].data.request_code)
    assert (moved.half_day, moved.status) == (HalfDay(next_day, AFTERNOON), VisitStatus.AGREED)
    assert moved.claims[0] == claim("11002", "tk-03", HalfDay(next_day, AFTERNOON), 0)
    # The morning it left has a place again: the next request takes it.
    await handle(request_registered(preferred_date=office_day))
    assert Counter(half_days(visits.booked()))[HalfDay(office_day, MORNING)] == MORNING_HOLDS


async def test_an_agreed_hour_outside_the_half_days_leaves_the_visit_as_proposed(
    handle, visits, request_registered, office_day, caplog
):
    request = request_registered(preferred_date=office_day)
    await handle(request)
    [before] = visits.booked()

    await agreeing(visits)(agreed_event(request, at(office_day, 18)))

    assert visits.booked() == [before]
    assert "agreed time not taken" in caplog.text


async def test_a_cancelled_request_frees_its_people_once(handle, visits, request_registered, office_day):
    requests = [request_registered(preferred_date=office_day) for _ in range(MORNING_HOLDS)]
    for request in requests:
        await handle(request)

    await cancel_visit(cancelled_event(requests[2]), repository=visits)
    await cancel_visit(cancelled_event(requests[2]), repository=visits)

    cancelled = next(v for v in visits.booked() if v.request_code == requests[2].data.request_code)
    assert (cancelled.status, cancelled.claims) == (VisitStatus.CANCELLED, ())
    await handle(request_registered(preferred_date=office_day))
    mornings = [v for v in visits.booked() if v.half_day == HalfDay(office_day, MORNING)]
    assert len([v for v in mornings if v.status is not VisitStatus.CANCELLED]) == MORNING_HOLDS
    # An agreement arriving after the cancellation changes nothing.
    await agreeing(visits)(agreed_event(requests[2], at(office_day, 9)))
    assert next(v for v in visits.booked() if v.id == cancelled.id) == cancelled


# --- 2. repository -------------------------------------------------------------


async def stored_visits(db) -> list[dict[str, Any]]:
    return await db["visits"].find().sort("_id", 1).to_list()


def visit(
    visit_id: str,
    *,
    officer: str = "tk-03",
    leader: str = "1:Đông Đức Hợp",
    half_day: HalfDay,
    k: int = 0,
    ward: str = "11002",
) -> Visit:
    return Visit(
        id=visit_id,
        request_code=f"GD-{visit_id}",
        ward_code=ward,
        citizen_ref=f"citizen-{visit_id}",
        officer_key=officer,
        leader_key=leader,
        residential_group="Thanh Xá",
        procedure="Đăng ký khai tử",
        field="ho_tich",
        half_day=half_day,
        window=half_day.window(),
        claims=(claim(ward, officer, half_day, k), claim(ward, leader, half_day, k)),
    )


def scheduled_event(record: Visit):
    data = visit_scheduled(record.window.starts_at, request_code=record.request_code, visit_id=record.id)
    return envelope(data, ward_code=record.ward_code)


async def add(repository, record: Visit) -> bool:
    return await repository.add(record, scheduled_event(record))


async def test_two_bookers_who_read_the_same_plan_collide_on_the_officers_place(repository, dispatch_db, office_day):
    morning = HalfDay(office_day, MORNING)
    assert await add(repository, visit("a", leader="1:Đông Đức Hợp", half_day=morning))

    with pytest.raises(SlotTaken):
        await add(repository, visit("b", leader="2:Nguyễn Văn Hiện", half_day=morning))

    assert [v["_id"] for v in await stored_visits(dispatch_db)] == ["a"]


async def test_two_bookers_who_read_the_same_plan_collide_on_the_leaders_place(repository, dispatch_db, office_day):
    morning = HalfDay(office_day, MORNING)
    assert await add(repository, visit("a", officer="tk-03", half_day=morning))

    with pytest.raises(SlotTaken):
        await add(repository, visit("b", officer="tk-06", half_day=morning))

    assert [v["_id"] for v in await stored_visits(dispatch_db)] == ["a"]


async def test_the_next_place_of_a_half_day_and_another_half_day_are_accepted(repository, dispatch_db, office_day):
    assert await add(repository, visit("a", half_day=HalfDay(office_day, MORNING)))
    assert await add(repository, visit("b", half_day=HalfDay(office_day, MORNING), k=1))
    assert await add(repository, visit("c", half_day=HalfDay(office_day, AFTERNOON)))

    assert [v["_id"] for v in await stored_visits(dispatch_db)] == ["a", "b", "c"]


async def test_adding_the_same_visit_twice_is_a_redelivery(repository, dispatch_db, office_day):
    record = visit("a", half_day=HalfDay(office_day, MORNING))

    assert await add(repository, record) is True
    assert await add(repository, record) is False

    [document] = await stored_visits(dispatch_db)
    assert len(document["outbox"]) == 1
    assert await repository.exists("a")
    assert not await repository.exists("b")


async def test_same_keys_in_two_wards_are_different_people(repository, dispatch_db, office_day):
    # Staff ids and leader keys come from each ward's own roster: they may repeat across wards.
    assert await add(repository, visit("a", half_day=HalfDay(office_day, MORNING), ward="11002"))
    assert await add(repository, visit("b", half_day=HalfDay(office_day, MORNING), ward="10672"))

    assert [v["_id"] for v in await stored_visits(dispatch_db)] == ["a", "b"]


async def test_the_visit_document_carries_what_route_planning_reads(repository, dispatch_db, office_day):
    record = visit("a", half_day=HalfDay(office_day, AFTERNOON))
    event = scheduled_event(record)

    assert await repository.add(record, event)

    [document] = await stored_visits(dispatch_db)
    assert {k: v for k, v in document.items() if k not in ("outbox", "unpublished", "outbox_lease")} == {
        "_id": "a",
        "request_code": "GD-a",
        "ward_code": "11002",
        "citizen_ref": "citizen-a",
        "officer_key": "tk-03",
        "leader_key": "1:Đông Đức Hợp",
        "residential_group": "Thanh Xá",
        "procedure": "Đăng ký khai tử",
        "field": "ho_tich",
        "day": office_day.isoformat(),
        "half_day": "afternoon",
        "starts_at": at(office_day, 13, 30),
        "ends_at": at(office_day, 17),
        "status": "proposed",
        "provisional": False,
        "claims": [
            f"11002/tk-03@{office_day.isoformat()}/afternoon#0",
            f"11002/1:Đông Đức Hợp@{office_day.isoformat()}/afternoon#0",
        ],
        "revision": 0,
        "officer_accepted_at": None,
        "leader_accepted_at": None,
        "declined_by": [],
        "changes": [],
    }
    assert [(e["event_id"], e["published_at"]) for e in document["outbox"]] == [(str(event.id), None)]
    assert await repository.of_request("GD-a") == record


async def test_planned_from_reads_the_wards_visits_from_a_day_on_but_not_the_cancelled(repository, office_day):
    day_before = office_day - timedelta(days=1)
    await add(repository, visit("old", half_day=HalfDay(day_before, MORNING)))
    await add(repository, visit("a", half_day=HalfDay(office_day, MORNING)))
    await add(repository, visit("b", officer="tk-06", half_day=HalfDay(office_day + timedelta(days=3), AFTERNOON)))
    await add(repository, visit("gone", half_day=HalfDay(office_day, MORNING), k=1))
    await add(repository, visit("other-ward", officer="gv-01", half_day=HalfDay(office_day, MORNING), ward="11359"))
    assert await repository.cancel("GD-gone")

    planned = await repository.planned_from("11002", office_day)

    assert sorted((p.officer_key, p.half_day.day, p.half_day.half) for p in planned) == [
        ("tk-03", office_day, MORNING),
        ("tk-06", office_day + timedelta(days=3), AFTERNOON),
    ]
    assert await repository.planned_from("11002", office_day + timedelta(days=4)) == []


async def test_a_refusal_is_kept_once_with_its_event(repository, dispatch_db, request_registered, office_day):
    event = request_registered(preferred_date=office_day, residential_group="Thanh Xa")

    await handler(repository)(event)
    await handler(repository)(event)

    [refusal] = await dispatch_db["unassigned_requests"].find().to_list()
    assert refusal["request_code"] == event.data.request_code
    assert "Thanh Xa" in refusal["reason"]
    [told] = refusal["outbox"]
    assert told["event"]["type"] == "visit.unassignable"


async def test_a_cancelled_visit_gives_its_places_back(repository, dispatch_db, office_day):
    morning = HalfDay(office_day, MORNING)
    assert await add(repository, visit("a", half_day=morning))

    assert await repository.cancel("GD-a")
    assert await repository.cancel("GD-a")  # again: the same
    assert not await repository.cancel("GD-none")

    [document] = await stored_visits(dispatch_db)
    assert document["status"] == "cancelled" and "claims" not in document
    assert await add(repository, visit("b", half_day=morning))  # the same places, free again
    assert await add(repository, visit("c", officer="tk-06", leader="2:Nguyễn Văn Hiện", half_day=morning))
    assert await repository.cancel("GD-c")  # two visits without claims do not collide


async def test_an_agreed_move_takes_new_places_or_collides(repository, dispatch_db, office_day):
    morning, afternoon = HalfDay(office_day, MORNING), HalfDay(office_day, AFTERNOON)
    a = visit("a", half_day=morning)
    assert await add(repository, a)
    assert await add(repository, visit("b", half_day=afternoon))
    agreed = Slot(at(office_day, 14), at(office_day, 15))

    with pytest.raises(SlotTaken):
        await repository.change(
            replace(a, half_day=afternoon, window=agreed, claims=visit("x", half_day=afternoon).claims)
        )
    assert await repository.change(
        moved := replace(
            a,
            half_day=afternoon,
            window=agreed,
            status=VisitStatus.AGREED,
            claims=visit("x", half_day=afternoon, k=1).claims,
        )
    )

    assert await repository.of_request("GD-a") == replace(moved, revision=1)
    assert await add(repository, visit("c", half_day=morning))  # the morning's place is free


async def test_six_handlers_at_once_never_overfill_the_officers_half_day(
    repository, dispatch_db, request_registered, office_day
):
    handle = handler(repository)
    await asyncio.gather(*(handle(request_registered(preferred_date=office_day)) for _ in range(MORNING_HOLDS + 1)))

    booked = await stored_visits(dispatch_db)
    assert len(booked) == MORNING_HOLDS + 1
    assert {v["officer_key"] for v in booked} == {GIANG.staff_id}
    assert Counter((v["day"], v["half_day"]) for v in booked) == {
        (office_day.isoformat(), "morning"): MORNING_HOLDS,
        (office_day.isoformat(), "afternoon"): 1,
    }


async def test_two_bookers_who_read_the_same_plan_collide_and_the_second_proposes_again(
    repository, dispatch_db, request_registered, office_day
):
    for _ in range(MORNING_HOLDS - 1):
        await handler(repository)(request_registered(preferred_date=office_day))
    # Two processes read Giang's morning with one place left, and both propose it.
    read = await repository.planned_from("11002", office_day)
    first, second = (request_registered(preferred_date=office_day) for _ in range(2))
    proposals = [
        propose_visit(
            plans=Plans(THACH_KHOI, read),
            field=r.data.field,
            residential_group=r.data.residential_group,
            procedure=r.data.procedure,
            preferred_date=office_day,
            window=MORNING,
            calendar=WorkingCalendar(),
            travel=TRAVEL,
            now=utcnow(),
            min_lead=LEAD,
        )
        for r in (first, second)
    ]
    assert [p.half_day for p in proposals] == [HalfDay(office_day, MORNING)] * 2

    assert await repository.add(*booked(first, "first", proposals[0]))
    with pytest.raises(SlotTaken):
        await repository.add(*booked(second, "second", proposals[1]))

    # The second one's handler reads again: the morning is full, the afternoon has room.
    await handler(repository)(second)
    stored = await stored_visits(dispatch_db)
    assert Counter(v["half_day"] for v in stored) == {"morning": MORNING_HOLDS, "afternoon": 1}


async def test_bookers_of_two_processes_never_overfill_a_half_day(
    repository, dispatch_db, request_registered, office_day
):
    # Two handlers with a lock each, as in two processes: only the claims keep them apart.
    processes = cycle((handler(repository), handler(repository)))
    requests = [request_registered(preferred_date=office_day) for _ in range(MORNING_HOLDS + 1)]
    await asyncio.gather(*(process(r) for process, r in zip(processes, requests, strict=False)))

    booked = await stored_visits(dispatch_db)
    assert len(booked) == MORNING_HOLDS + 1
    assert Counter(v["half_day"] for v in booked if v["day"] == office_day.isoformat())["morning"] == MORNING_HOLDS
