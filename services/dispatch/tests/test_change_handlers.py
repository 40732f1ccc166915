"""Answers to an assignment and roster changes, handled on a real MongoDB: each change once, with its
event in the visit's own write, however often the cause is delivered."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gandan.dispatch.domain import Officer, Period
from gandan.dispatch.handlers import OneBookingAtATime, answer_staff_reply, replace_who_cannot_go, schedule_home_visit
from gandan.dispatch.proposal import Visit, VisitStatus
from gandan.dispatch.roster import load_roster
from gandan.dispatch.routing.travel import GreatCircleTravel
from gandan.shared.events import (
    DeliveryChannel,
    RecipientRole,
    RescheduleReason,
    RosterChange,
    RosterChanged,
    StaffAnswer,
    StaffReplied,
    VehicleKind,
)
from gandan.testing.factories import envelope

from .fakes import FakeRosters

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
LEAD = timedelta(hours=2)
TRAVEL = GreatCircleTravel().between(VehicleKind.MOTORBIKE)
HOA = Officer("tk-08", "Trần Thị Hoa", "Chuyên viên", frozenset({"ho_tich"}), "0500111222")
# Thạch Khôi with a second officer of civil status, so Giang has someone to hand over to.
WITH_HOA = load_roster("11002").with_member(HOA)


def handler(handle, repository, rosters: FakeRosters, now: datetime):
    """The handler as the service composes it, its clock stopped at `now`."""
    return partial(
        handle,
        rosters=rosters,
        repository=repository,
        clock=lambda: now,
        min_lead=LEAD,
        travel=TRAVEL,
        one_at_a_time=OneBookingAtATime(),
    )


async def book(repository, request_registered, day: date, now: datetime) -> Visit:
    event = request_registered(preferred_date=day)
    await handler(schedule_home_visit, repository, FakeRosters({"11002": WITH_HOA}), now)(event)
    visit = await repository.of_request(event.data.request_code)
    assert visit is not None and visit.officer_key == "tk-03"
    return visit


def declined(visit: Visit, role: RecipientRole = RecipientRole.OFFICER):
    data = StaffReplied(
        request_code=visit.request_code,
        visit_id=visit.id,
        recipient_role=role,
        staff_id=visit.officer_key if role is RecipientRole.OFFICER else None,
        answer=StaffAnswer.DECLINED,
        proposed_at=None,
        channel=DeliveryChannel.SMS,
    )
    return envelope(data, ward_code="11002")


def leave_marked(staff_id: str):
    data = RosterChanged(
        change=RosterChange.LEAVE_MARKED, version=2, subject=staff_id, staff=9, residential_groups=18, vehicles=1
    )
    return envelope(data, ward_code="11002")


def outbox_types(document: dict[str, Any]) -> list[str]:
    return [entry["event"]["type"] for entry in document["outbox"]]


@pytest.mark.parametrize(
    ("role", "field", "first", "replacement"),
    [
        (RecipientRole.OFFICER, "officer_key", "tk-03", "tk-08"),
        (RecipientRole.GROUP_LEADER, "leader_key", "1:Đông Đức Hợp", "1:Đông Đức Mua"),
    ],
)
async def test_a_declined_assignment_redelivered_is_replaced_once(
    repository, dispatch_db, request_registered, office_day, role, field, first, replacement
):
    now = datetime.combine(office_day - timedelta(days=7), time(9), HCM)
    visit = await book(repository, request_registered, office_day, now)
    reply = declined(visit, role)
    handle = handler(answer_staff_reply, repository, FakeRosters({"11002": WITH_HOA}), now)

    await handle(reply)
    await handle(reply)  # redelivered: a leader's answer names no one, so only its id tells

    document = await dispatch_db["visits"].find_one({"_id": visit.id})
    assert document is not None
    assert outbox_types(document) == ["visit.scheduled", "visit.rescheduled"]
    rescheduled = document["outbox"][1]["event"]
    assert rescheduled["causation_id"] == str(reply.id)
    assert rescheduled["data"]["reason"] == RescheduleReason.OFFICER_DECLINED
    assert (document[field], document["declined_by"], document["changes"]) == (replacement, [first], [str(reply.id)])
    assert document["revision"] == 1
    assert f"11002/{replacement}@{office_day.isoformat()}/morning#0" in document["claims"]


async def test_a_declined_assignment_nobody_can_take_is_set_aside_once(
    repository, dispatch_db, request_registered, office_day
):
    now = datetime.combine(office_day - timedelta(days=7), time(9), HCM)
    visit = await book(repository, request_registered, office_day, now)
    reply = declined(visit)
    # Hoa is on leave the whole month: nobody of the field is left.
    month_off = WITH_HOA.with_leave("tk-08", Period(office_day - timedelta(days=1), office_day + timedelta(days=40)))
    handle = handler(answer_staff_reply, repository, FakeRosters({"11002": month_off}), now)

    await handle(reply)
    await handle(reply)

    document = await dispatch_db["visits"].find_one({"_id": visit.id})
    assert document is not None
    assert outbox_types(document) == ["visit.scheduled", "visit.unassignable"]
    assert document["outbox"][1]["event"]["data"]["reason"] == "no_replacement"
    assert (document["status"], document["claims"]) == (VisitStatus.SET_ASIDE, [])
    assert await repository.planned_from("11002", office_day) == []


async def test_a_leave_marked_replaces_the_visits_it_touches_once_but_not_one_under_way(
    repository, dispatch_db, request_registered, office_day, first_office_day
):
    next_day = first_office_day(office_day + timedelta(days=1))
    booked_at = datetime.combine(office_day - timedelta(days=7), time(9), HCM)
    under_way = await book(repository, request_registered, office_day, booked_at)
    ahead = await book(repository, request_registered, next_day, booked_at)
    # Giang falls ill on the morning of his first visit, while it is under way.
    ill = WITH_HOA.with_leave("tk-03", Period(office_day, next_day))
    now = datetime.combine(office_day, time(8), HCM)
    handle = handler(replace_who_cannot_go, repository, FakeRosters({"11002": ill}), now)
    change = leave_marked("tk-03")

    await handle(change)
    await handle(change)

    kept = await dispatch_db["visits"].find_one({"_id": under_way.id})
    moved = await dispatch_db["visits"].find_one({"_id": ahead.id})
    assert kept is not None and moved is not None
    assert (kept["officer_key"], outbox_types(kept)) == ("tk-03", ["visit.scheduled"])
    assert moved["officer_key"] == "tk-08"
    assert outbox_types(moved) == ["visit.scheduled", "visit.rescheduled"]
    assert moved["outbox"][1]["event"]["data"]["reason"] == RescheduleReason.OFFICER_UNAVAILABLE
    assert moved["outbox"][1]["event"]["causation_id"] == str(change.id)


async def test_a_change_stored_onto_a_revision_that_moved_on_is_refused(repository, request_registered, office_day):
    now = datetime.combine(office_day - timedelta(days=7), time(9), HCM)
    visit = await book(repository, request_registered, office_day, now)

    assert await repository.change(replace(visit, officer_accepted_at=now))
    # Read before that change: storing it would undo the acceptance.
    assert not await repository.change(replace(visit, leader_accepted_at=now))

    stored = await repository.of_request(visit.request_code)
    assert stored is not None
    assert (stored.officer_accepted_at, stored.leader_accepted_at, stored.revision) == (now, None, 1)
