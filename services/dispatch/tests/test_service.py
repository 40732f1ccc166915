"""The dispatch service running in-process on the real RabbitMQ and MongoDB:
request.registered in, visit.scheduled out on the notify queue."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest

from gandan.dispatch.app import DispatchSettings, build
from gandan.shared.auth import Role
from gandan.shared.clock import utcnow
from gandan.shared.events import AppointmentAgreed, CancelledBy, RequestCancelled, VisitScheduled, WardsServed
from gandan.shared.topology import Topology
from gandan.testing import auth, eventually, queued, serving
from gandan.testing.factories import envelope

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
SATURDAY = 5
_VN = holidays.country_holidays("VN")


def saturday_from(day: date) -> date:
    return day + timedelta(days=(SATURDAY - day.weekday()) % 7)


def a_plain_saturday() -> date:
    """A Saturday ahead whose Monday is an ordinary working day."""
    day = saturday_from(date.today() + timedelta(days=14))
    while day + timedelta(days=2) in _VN:
        day += timedelta(days=7)
    return day


def a_saturday_before_a_holiday_monday() -> date:
    """A Saturday ahead whose Monday is a public holiday (Tết, an observed day off, ...)."""
    day = saturday_from(date.today() + timedelta(days=14))
    for _ in range(52 * 3):
        if day + timedelta(days=2) in _VN:
            return day
        day += timedelta(days=7)
    pytest.skip("no Saturday before a holiday Monday in the next three years")


@pytest.fixture
def notify_queue(namespace: str) -> str:
    return Topology(namespace).queue("notify").name


@pytest.fixture
def dispatch(service_settings):
    return build(DispatchSettings())


@pytest.mark.parametrize("saturday", [a_plain_saturday, a_saturday_before_a_holiday_monday])
async def test_saturday_request_is_proposed_the_next_working_morning(
    saturday, dispatch, publish, collect, notify_queue, request_registered, first_office_day
):
    preferred = saturday()
    assert preferred.weekday() == SATURDAY
    expected_day = first_office_day(preferred)
    assert expected_day >= preferred + timedelta(days=2)
    request = request_registered(preferred_date=preferred)

    async with serving(*dispatch):
        await publish(request)
        events = await collect(notify_queue, 1)

    [scheduled] = events
    assert scheduled.type == "visit.scheduled"
    assert scheduled.causation_id == request.id
    assert scheduled.correlation_id == request.correlation_id
    data = scheduled.data
    assert isinstance(data, VisitScheduled)
    assert data.request_code == request.data.request_code
    local_start, local_end = data.starts_at.astimezone(HCM), data.ends_at.astimezone(HCM)
    assert (local_start.date(), local_start.time(), local_end.time()) == (expected_day, time(7, 30), time(11, 30))
    assert data.officer.name == "Lê Văn Giang"
    assert data.leader.name in {"Đông Đức Hợp", "Đông Đức Mua"}


async def test_health_is_ready_while_serving(dispatch):
    async with serving(*dispatch) as client:
        response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["checks"] == {"workers": True, "database": True, "broker": True, "consumers": True}


async def test_health_is_not_ready_when_its_consumer_is_detached(dispatch):
    service, _ = dispatch
    async with serving(*dispatch) as client:
        # As the broker does after an access refusal: the consumer's channel closed, the connection still up.
        [subscriber] = service.broker.subscribers
        assert subscriber._queue_obj is not None
        await subscriber._queue_obj.channel.close()
        response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["consumers"] is False
    assert response.json()["checks"]["broker"] is True


async def test_six_requests_at_once_fill_the_morning_then_the_afternoon(
    dispatch, publish, collect, notify_queue, request_registered, office_day, dispatch_db, namespace, rabbitmq_url
):
    requests = [request_registered(preferred_date=office_day) for _ in range(6)]

    async with serving(*dispatch):
        await asyncio.gather(*(publish(r) for r in requests))
        events = await collect(notify_queue, 6)

    assert len(events) == 6
    assert {e.causation_id for e in events} == {r.id for r in requests}
    assert {e.data.officer.staff_id for e in events} == {"tk-03"}
    # Five 45-minute visits in Thanh Xá and the ride there and back fill Giang's morning.
    windows = Counter((e.data.starts_at.astimezone(HCM), e.data.ends_at.astimezone(HCM)) for e in events)
    morning = (datetime.combine(office_day, time(7, 30), HCM), datetime.combine(office_day, time(11, 30), HCM))
    afternoon = (datetime.combine(office_day, time(13, 30), HCM), datetime.combine(office_day, time(17), HCM))
    assert windows == {morning: 5, afternoon: 1}

    stored = await dispatch_db["visits"].find().to_list()
    assert Counter(v["half_day"] for v in stored) == {"morning": 5, "afternoon": 1}
    assert len({c for v in stored for c in v["claims"]}) == 12
    assert await queued(rabbitmq_url, Topology(namespace).dead_letter_queue("dispatch").name) == []


async def test_a_redelivered_request_is_scheduled_once(
    dispatch, publish, collect, notify_queue, request_registered, office_day
):
    request = request_registered(preferred_date=office_day)

    async with serving(*dispatch):
        await publish(request)
        await publish(request)
        events = await collect(notify_queue, 1, settle=1.5)

    assert [e.causation_id for e in events] == [request.id]


async def test_request_from_a_ward_without_roster_is_set_aside_and_not_scheduled(
    dispatch, publish, request_registered, office_day, dispatch_db, notify_queue, rabbitmq_url
):
    request = request_registered(preferred_date=office_day, ward_code="11218")

    async with serving(*dispatch):
        await publish(request)
        await eventually(lambda: dispatch_db["unassigned_requests"].count_documents({}), what="the request set aside")
        await asyncio.sleep(0.5)

    [aside] = await dispatch_db["unassigned_requests"].find().to_list()
    assert aside["request_code"] == request.data.request_code
    assert await queued(rabbitmq_url, notify_queue) == []


async def test_a_request_nothing_fits_is_stored_and_told_to_the_leadership_once(
    dispatch, publish, request_registered, office_day, dispatch_db, notify_queue, rabbitmq_url
):
    request = request_registered(preferred_date=office_day, residential_group="Tổ dân phố Không Có")

    async with serving(*dispatch):
        await publish(request)
        await publish(request)

        async def published() -> list[dict[str, Any]]:
            return await dispatch_db["unassigned_requests"].find({"outbox.published_at": {"$ne": None}}).to_list()

        [refusal] = await eventually(published, what="the refusal stored and its event published")
        await asyncio.sleep(0.5)

    [told] = refusal["outbox"]
    assert told["event"]["type"] == "visit.unassignable"
    assert told["event"]["data"]["reason"] == "unknown_residential_group"
    assert {m["staff_id"] for m in told["event"]["data"]["leadership"]} == {"tk-01", "tk-02"}
    assert await dispatch_db["unassigned_requests"].count_documents({}) == 1
    # Notify hears it once, though the request came twice: the citizen and the leadership are told once.
    assert [m.routing_key for m in await queued(rabbitmq_url, notify_queue)] == ["visit.unassignable"]


async def test_an_agreed_time_then_a_cancellation_reach_the_visit(
    dispatch, publish, collect, notify_queue, request_registered, office_day, dispatch_db
):
    request = request_registered(preferred_date=office_day)
    agreed_at = datetime.combine(office_day, time(9), HCM)
    progress = {"request_code": request.data.request_code, "citizen_ref": request.data.citizen_ref}
    agreed = AppointmentAgreed(
        **progress, status="appointment_agreed", starts_at=agreed_at, ends_at=agreed_at + timedelta(hours=1)
    )
    cancelled = RequestCancelled(
        **progress, status="cancelled", cancelled_by=CancelledBy.CITIZEN, reason="Không cần nữa"
    )

    async def visit() -> dict[str, Any] | None:
        return await dispatch_db["visits"].find_one({"request_code": request.data.request_code})

    async with serving(*dispatch):
        await publish(request)
        await collect(notify_queue, 1)
        await publish(envelope(agreed, ward_code=request.ward_code))
        agreed_visit = await eventually(
            visit, lambda v: v is not None and v["status"] == "agreed", what="the visit agreed"
        )
        await publish(envelope(cancelled, ward_code=request.ward_code))
        cancelled_visit = await eventually(
            visit, lambda v: v is not None and v["status"] == "cancelled", what="the visit cancelled"
        )

    assert agreed_visit is not None and cancelled_visit is not None
    assert (agreed_visit["starts_at"], agreed_visit["ends_at"]) == (agreed_at, agreed_at + timedelta(hours=1))
    assert agreed_visit["half_day"] == "morning"
    assert "claims" not in cancelled_visit


async def test_the_minimum_lead_time_is_read_from_dispatch_min_lead_minutes(
    service_settings, monkeypatch, publish, collect, notify_queue, request_registered
):
    monkeypatch.setenv("DISPATCH_MIN_LEAD_MINUTES", str(3 * 24 * 60))
    dispatch = build(DispatchSettings())
    published_at = utcnow()
    today_at_the_ward = published_at.astimezone(HCM).date()

    async with serving(*dispatch):
        await publish(request_registered(preferred_date=today_at_the_ward))
        [scheduled] = await collect(notify_queue, 1)

    assert scheduled.data.starts_at >= published_at + timedelta(days=3)


async def test_each_start_announces_the_wards_its_rosters_serve_to_intake(dispatch, collect, namespace):
    intake_queue = Topology(namespace).queue("intake").name
    before = utcnow()

    # The first start: each shipped roster stored announces with it, then the start itself.
    async with serving(*dispatch):
        *_, first = await collect(intake_queue, 4)
    async with serving(*build(DispatchSettings())):
        [second] = await collect(intake_queue, 1)

    for event in (first, second):
        assert event.type == "wards.served"
        assert isinstance(event.data, WardsServed)
        assert event.data.ward_codes == ("10672", "11002", "11359")  # Nam Đồng, Thạch Khôi, Gia Viên: shipped
        assert event.data.as_of >= before
    assert second.id != first.id and second.data.as_of > first.data.as_of


async def test_a_leave_marked_through_the_api_hands_the_visits_it_touches_to_another_officer(
    dispatch, publish, collect, notify_queue, request_registered, office_day, dispatch_db
):
    request = request_registered(preferred_date=office_day)
    operator = auth("11002", Role.OPERATOR)
    hoa = {
        "name": "Trần Thị Hoa",
        "title": "Chuyên viên",
        "role": "chuyen_vien",
        "fields": ["ho_tich"],
        "phone": "0500111222",
    }

    async with serving(*dispatch) as client:
        await publish(request)
        [scheduled] = await collect(notify_queue, 1)
        assert scheduled.data.officer.staff_id == "tk-03"
        assert (await client.put("/v1/wards/11002/roster/staff/tk-08", headers=operator, json=hoa)).status_code == 200
        leave = {"first_day": office_day.isoformat(), "last_day": office_day.isoformat()}
        marked = await client.post("/v1/wards/11002/roster/staff/tk-03/leave", headers=operator, json=leave)
        assert marked.status_code == 200, marked.text
        [rescheduled] = await collect(notify_queue, 1)

    assert rescheduled.type == "visit.rescheduled"
    assert rescheduled.data.reason == "officer_unavailable"
    assert rescheduled.data.officer.staff_id == "tk-08"
    assert (rescheduled.data.starts_at, rescheduled.data.ends_at) == (scheduled.data.starts_at, scheduled.data.ends_at)
    visit = await dispatch_db["visits"].find_one({"request_code": request.data.request_code})
    assert visit is not None and visit["officer_key"] == "tk-08"
