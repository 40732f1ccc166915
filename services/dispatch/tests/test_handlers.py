"""schedule_home_visit on dispatch's storage in memory (fast), then the visit repository on a real MongoDB."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gandan.dispatch.domain import (
    GroupLeader,
    Officer,
    ResidentialGroup,
    Roster,
    Slot,
    SlotTaken,
    Visit,
)
from gandan.dispatch.handlers import OneBookingAtATime, schedule_home_visit
from gandan.dispatch.roster import load_roster
from gandan.shared.clock import utcnow
from gandan.shared.events import LeaderContact, ProcedureField, StaffContact, TimeWindow, VisitScheduled
from gandan.testing.factories import envelope, visit_scheduled

from .fakes import FakeRosters, FakeVisits

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
THACH_KHOI = load_roster("11002")
GIANG = next(o for o in THACH_KHOI.officers if o.name == "Lê Văn Giang")
THANH_XA = next(g for g in THACH_KHOI.groups if g.name == "Thanh Xá")
THANH_XA_LEADER_KEYS = {f"{THANH_XA.number}:{le.name}" for le in THANH_XA.leaders}
LEAD = timedelta(hours=2)


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
        one_at_a_time=OneBookingAtATime(),
    )


@pytest.fixture
def handle(visits):
    return handler(visits)


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=HCM)


# --- 1. schedule_home_visit ---------------------------------------------------


async def test_request_gets_giang_and_a_thanh_xa_leader_at_08_00(handle, visits, request_registered, office_day):
    event = request_registered(preferred_date=office_day)

    await handle(event)

    [visit] = visits.booked()
    assert visit.officer_key == GIANG.staff_id
    assert visit.leader_key in THANH_XA_LEADER_KEYS
    assert visit.request_code == event.data.request_code
    assert visit.slot.starts_at == at(office_day, 8)
    assert visit.slot.starts_at == datetime.combine(office_day, time(1), tzinfo=UTC)
    assert visit.slot.ends_at == at(office_day, 9)


async def test_visit_holds_its_visit_scheduled_event_caused_by_the_request(
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
    assert data.starts_at == at(office_day, 8)
    assert data.ends_at == at(office_day, 9)
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
    assert visits.set_aside_requests == {}


async def test_second_request_for_the_same_hour_gets_the_next_free_hour(handle, visits, request_registered, office_day):
    await handle(request_registered(preferred_date=office_day))
    await handle(request_registered(preferred_date=office_day))

    first, second = visits.booked()
    # Giang is the only ho_tich officer: he cannot be in two homes at 08:00.
    assert first.officer_key == second.officer_key == GIANG.staff_id
    assert first.slot.starts_at == at(office_day, 8)
    assert second.slot.starts_at == at(office_day, 9)
    assert visits.outbox[second.id][0].data.starts_at == at(office_day, 9)


async def test_requests_handled_at_once_book_one_after_another_without_colliding(
    handle, visits, request_registered, office_day
):
    # Twenty at once, as the broker delivers them: each for Giang's first free morning hour.
    await asyncio.gather(*(handle(request_registered(preferred_date=office_day)) for _ in range(20)))

    booked = visits.booked()
    assert len(booked) == 20
    assert len({visit.slot.starts_at for visit in booked}) == 20
    assert visits.collisions == 0


async def test_afternoon_request_gets_14_00(handle, visits, request_registered, office_day):
    await handle(request_registered(preferred_date=office_day, time_window=TimeWindow.AFTERNOON))

    [visit] = visits.booked()
    assert visit.slot.starts_at == at(office_day, 14)


async def test_a_request_for_today_handled_at_16_00_is_visited_the_next_working_morning(
    visits, request_registered, office_day, first_office_day
):
    await handler(visits, now=at(office_day, 16))(request_registered(preferred_date=office_day))

    [visit] = visits.booked()
    assert visit.slot.starts_at == at(first_office_day(office_day + timedelta(days=1)), 8)


async def test_a_late_event_books_after_the_moment_it_is_handled_around_existing_visits(
    visits, request_registered, office_day
):
    handle = handler(visits, now=at(office_day, 10))
    await handle(request_registered(preferred_date=office_day, time_window=TimeWindow.AFTERNOON))

    await handle(request_registered(preferred_date=office_day - timedelta(days=7)))

    first, late = visits.booked()
    assert first.slot.starts_at == at(office_day, 14)
    assert late.slot.starts_at == at(office_day, 15)


async def test_unknown_residential_group_is_set_aside_with_a_reason(handle, visits, request_registered, office_day):
    event = request_registered(preferred_date=office_day, residential_group="Tổ dân phố Không Có")

    await handle(event)

    assert visits.booked() == []
    [aside] = visits.set_aside_requests.values()
    assert aside.request_code == event.data.request_code
    assert aside.ward_code == "11002"
    assert "Tổ dân phố Không Có" in aside.reason


async def test_a_group_name_without_its_tone_mark_is_not_guessed(handle, visits, request_registered, office_day):
    await handle(request_registered(preferred_date=office_day, residential_group="Thanh Xa"))

    assert visits.booked() == []
    assert len(visits.set_aside_requests) == 1


@pytest.mark.parametrize("field", [ProcedureField.Y_TE, ProcedureField.GIAO_DUC, ProcedureField.THE_BAO_HIEM_Y_TE])
async def test_a_field_no_officer_of_the_roster_handles_is_set_aside(visits, request_registered, field):
    without = replace(THACH_KHOI, officers=tuple(o for o in THACH_KHOI.officers if field not in o.fields))

    await handler(visits, rosters=FakeRosters({without.ward_code: without}))(request_registered(field=field))

    assert visits.booked() == []
    [aside] = visits.set_aside_requests.values()
    assert "no officer handles field" in aside.reason


async def test_ward_without_a_roster_is_set_aside(handle, visits, request_registered, office_day):
    event = request_registered(preferred_date=office_day, ward_code="11218")

    await handle(event)

    assert visits.booked() == []
    [aside] = visits.set_aside_requests.values()
    assert aside.request_code == event.data.request_code
    assert aside.ward_code == "11218"
    assert "11218" in aside.reason


async def test_a_namesake_leader_in_another_ward_does_not_block_the_hour(visits, request_registered, office_day):
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

    assert [v.slot.starts_at for v in visits.booked() if v.ward_code == "10672"] == [at(office_day, 8)]


# --- 2. repository -------------------------------------------------------------


async def stored_visits(db) -> list[dict[str, Any]]:
    return await db["visits"].find().sort("starts_at", 1).to_list()


def visit(visit_id: str, *, officer: str = "tk-03", leader: str = "1:Đông Đức Hợp", slot: Slot, ward: str = "11002"):
    return Visit(
        id=visit_id,
        request_code=f"GD-{visit_id}",
        ward_code=ward,
        officer_key=officer,
        leader_key=leader,
        slot=slot,
    )


def scheduled_event(record: Visit):
    data = visit_scheduled(record.slot.starts_at, request_code=record.request_code, visit_id=record.id)
    return envelope(data, ward_code=record.ward_code)


def hour(day: date, h: int) -> Slot:
    return Slot(at(day, h), at(day, h) + timedelta(hours=1))


async def add(repository, record: Visit) -> bool:
    return await repository.add(record, scheduled_event(record))


async def test_same_officer_same_hour_is_refused(repository, dispatch_db, office_day):
    assert await add(repository, visit("a", leader="1:Đông Đức Hợp", slot=hour(office_day, 8)))

    with pytest.raises(SlotTaken):
        await add(repository, visit("b", leader="2:Nguyễn Văn Hiện", slot=hour(office_day, 8)))

    assert [v["_id"] for v in await stored_visits(dispatch_db)] == ["a"]


async def test_same_leader_same_hour_is_refused(repository, dispatch_db, office_day):
    assert await add(repository, visit("a", officer="tk-03", slot=hour(office_day, 8)))

    with pytest.raises(SlotTaken):
        await add(repository, visit("b", officer="tk-06", slot=hour(office_day, 8)))

    assert [v["_id"] for v in await stored_visits(dispatch_db)] == ["a"]


async def test_same_people_at_another_hour_are_accepted(repository, dispatch_db, office_day):
    assert await add(repository, visit("a", slot=hour(office_day, 8)))
    assert await add(repository, visit("b", slot=hour(office_day, 9)))

    assert [v["_id"] for v in await stored_visits(dispatch_db)] == ["a", "b"]


async def test_adding_the_same_visit_twice_is_a_redelivery(repository, dispatch_db, office_day):
    record = visit("a", slot=hour(office_day, 8))

    assert await add(repository, record) is True
    assert await add(repository, record) is False

    [document] = await stored_visits(dispatch_db)
    assert len(document["outbox"]) == 1
    assert await repository.exists("a")
    assert not await repository.exists("b")


async def test_same_keys_in_two_wards_are_different_people(repository, dispatch_db, office_day):
    # Staff ids and leader keys come from each ward's own roster: they may repeat across wards.
    assert await add(repository, visit("a", slot=hour(office_day, 8), ward="11002"))
    assert await add(repository, visit("b", slot=hour(office_day, 8), ward="10672"))

    assert [v["_id"] for v in await stored_visits(dispatch_db)] == ["a", "b"]


async def test_busy_from_keys_booked_hours_by_officer_and_leader(repository, office_day):
    day_before = office_day - timedelta(days=1)
    await add(repository, visit("old", slot=hour(day_before, 8)))
    await add(repository, visit("a", officer="tk-03", leader="1:Đông Đức Hợp", slot=hour(office_day, 8)))
    await add(repository, visit("b", officer="tk-03", leader="1:Đông Đức Mua", slot=hour(office_day, 9)))
    await add(repository, visit("c", officer="tk-06", leader="1:Đông Đức Hợp", slot=hour(office_day, 14)))
    await add(
        repository,
        visit("other-ward", officer="gv-01", leader="1:Phạm Văn Bình", slot=hour(office_day, 8), ward="11359"),
    )

    busy = await repository.busy_from("11002", office_day)

    assert {key: sorted(slots, key=lambda s: s.starts_at) for key, slots in busy.items()} == {
        "tk-03": [hour(office_day, 8), hour(office_day, 9)],
        "tk-06": [hour(office_day, 14)],
        "1:Đông Đức Hợp": [hour(office_day, 8), hour(office_day, 14)],
        "1:Đông Đức Mua": [hour(office_day, 9)],
    }
    assert await repository.busy_from("11002", office_day + timedelta(days=1)) == {}


async def test_the_visit_is_stored_with_its_event_waiting_in_its_outbox(repository, dispatch_db, office_day):
    record = visit("a", slot=hour(office_day, 8))
    event = scheduled_event(record)

    assert await repository.add(record, event)

    [document] = await stored_visits(dispatch_db)
    assert document["starts_at"] == at(office_day, 8)
    assert [(e["event_id"], e["published_at"]) for e in document["outbox"]] == [(str(event.id), None)]


async def test_a_set_aside_request_handled_again_is_kept_once(repository, dispatch_db, request_registered, office_day):
    event = request_registered(preferred_date=office_day, ward_code="11218")

    await handler(repository)(event)
    await handler(repository)(event)

    [aside] = await dispatch_db["unassigned_requests"].find().to_list()
    assert aside["request_code"] == event.data.request_code
    assert "11218" in aside["reason"]


async def test_six_handlers_at_once_never_double_book_the_officer(
    repository, dispatch_db, request_registered, office_day
):
    handle = handler(repository)
    await asyncio.gather(*(handle(request_registered(preferred_date=office_day)) for _ in range(6)))

    booked = await stored_visits(dispatch_db)
    assert len(booked) == 6
    assert {v["officer_key"] for v in booked} == {GIANG.staff_id}
    assert sorted(v["starts_at"] for v in booked) == [at(office_day, h) for h in (8, 9, 10, 14, 15, 16)]
