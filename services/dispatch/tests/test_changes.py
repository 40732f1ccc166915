"""Changing a booked visit: an answer to the assignment (accepted, declined, another time), and
people who can no longer go. Pure rules, on the small roster of test_domain (no places: only the
services count, a morning holds five 45-minute visits)."""

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gandan.dispatch.changes import Changed, answered, cannot_go, planned, planned_with, replaced
from gandan.dispatch.domain import Period, Roster, Slot, leader_key
from gandan.dispatch.proposal import (
    AgreementRefused,
    HalfDay,
    Planned,
    Stop,
    Visit,
    VisitStatus,
    claim,
    fits_trip,
    stop_for,
)
from gandan.shared.events import (
    DeliveryChannel,
    RecipientRole,
    RescheduleReason,
    StaffAnswer,
    StaffReplied,
    UnassignableReason,
    VisitRescheduled,
    VisitUnassignable,
)

from .test_domain import (
    AFTERNOON,
    BEFORE,
    CALENDAR,
    GIANG,
    HOA,
    HOP,
    KHAI_TU,
    LEAD,
    MONDAY,
    MORNING,
    MUA,
    ROSTER,
    THANH_XA,
    TUESDAY,
    at,
    no_travel,
)

HOP_KEY, MUA_KEY = leader_key(THANH_XA, HOP), leader_key(THANH_XA, MUA)
MONDAY_MORNING = HalfDay(MONDAY, MORNING)


def a_visit(
    visit_id: str = "v",
    *,
    officer: str = GIANG.staff_id,
    leader: str = HOP_KEY,
    half_day: HalfDay = MONDAY_MORNING,
    k: int = 0,
    status: VisitStatus = VisitStatus.PROPOSED,
) -> Visit:
    return Visit(
        id=visit_id,
        request_code=f"GD-{visit_id}",
        ward_code="11002",
        citizen_ref=f"citizen-{visit_id}",
        officer_key=officer,
        leader_key=leader,
        residential_group="Thanh Xá",
        procedure=KHAI_TU,
        field="ho_tich",
        half_day=half_day,
        window=half_day.window(),
        claims=(claim("11002", officer, half_day, k), claim("11002", leader, half_day, k)),
        status=status,
    )


def fill(officer: str, half_day: HalfDay, leader: str = "9:Someone") -> list[Planned]:
    """Five 45-minute visits: the officer's half-day is full."""
    return [
        planned(a_visit(f"{officer}-{k}", officer=officer, leader=leader, half_day=half_day, k=k)) for k in range(5)
    ]


def reply(visit: Visit, answer: StaffAnswer, *, by: str | None = GIANG.staff_id, asked: datetime | None = None):
    role = RecipientRole.OFFICER if by is not None else RecipientRole.GROUP_LEADER
    return StaffReplied(
        request_code=visit.request_code,
        visit_id=visit.id,
        recipient_role=role,
        staff_id=by,
        answer=answer,
        proposed_at=asked,
        channel=DeliveryChannel.SMS,
    )


def answer(visit: Visit, the_reply: StaffReplied, *, roster: Roster = ROSTER, plans=None) -> Changed | None:
    return answered(
        visit,
        the_reply,
        at=BEFORE,
        roster=roster,
        plans=[planned(visit)] if plans is None else plans,
        calendar=CALENDAR,
        travel=no_travel,
        now=BEFORE,
        min_lead=LEAD,
    )


def without_hoa() -> Roster:
    return replace(ROSTER, officers=tuple(o for o in ROSTER.officers if o != HOA))


# --- declined ---------------------------------------------------------------------------------


def test_a_declining_officer_is_replaced_by_another_of_the_field_in_the_same_half_day():
    visit = a_visit()

    changed = answer(visit, reply(visit, StaffAnswer.DECLINED))

    assert changed is not None
    new = changed.visit
    assert (new.officer_key, new.leader_key, new.half_day, new.window) == (
        HOA.staff_id,
        HOP_KEY,
        MONDAY_MORNING,
        visit.window,
    )
    assert new.claims == (claim("11002", HOA.staff_id, MONDAY_MORNING, 0), visit.claims[1])  # the leader keeps theirs
    assert new.declined_by == (GIANG.staff_id,)
    [event] = changed.announces
    assert isinstance(event, VisitRescheduled)
    assert event.reason is RescheduleReason.OFFICER_DECLINED
    assert (event.officer.staff_id, event.officer.name, event.leader.name) == (HOA.staff_id, HOA.name, HOP.name)
    assert (event.starts_at, event.ends_at) == (visit.window.starts_at, visit.window.ends_at)


def test_an_agreed_visit_keeps_its_hour_with_the_new_officer():
    agreed = replace(a_visit(status=VisitStatus.AGREED), window=Slot(at(MONDAY, 9), at(MONDAY, 10)))

    changed = answer(agreed, reply(agreed, StaffAnswer.DECLINED))

    assert changed is not None
    assert (changed.visit.officer_key, changed.visit.window, changed.visit.status) == (
        HOA.staff_id,
        agreed.window,
        VisitStatus.AGREED,
    )


def test_a_replacement_whose_half_day_is_full_takes_the_next_half_day_that_fits():
    visit = a_visit()

    changed = answer(
        visit, reply(visit, StaffAnswer.DECLINED), plans=[planned(visit), *fill(HOA.staff_id, MONDAY_MORNING)]
    )

    assert changed is not None
    new = changed.visit
    assert (new.officer_key, new.half_day, new.status) == (
        HOA.staff_id,
        HalfDay(MONDAY, AFTERNOON),
        VisitStatus.PROPOSED,
    )
    assert new.window == HalfDay(MONDAY, AFTERNOON).window()


def test_a_replacement_on_leave_that_day_is_not_taken_but_on_the_next_day_is():
    on_leave = ROSTER.with_leave(HOA.staff_id, Period(MONDAY, MONDAY))
    visit = a_visit()

    changed = answer(visit, reply(visit, StaffAnswer.DECLINED), roster=on_leave)

    assert changed is not None
    assert (changed.visit.officer_key, changed.visit.half_day) == (HOA.staff_id, HalfDay(TUESDAY, MORNING))


def test_the_decliner_is_never_proposed_again_for_that_visit():
    # Hoa declined first, then Giang: nobody of the field is left.
    visit = replace(a_visit(officer=HOA.staff_id), declined_by=(GIANG.staff_id,))

    changed = answer(visit, reply(visit, StaffAnswer.DECLINED, by=HOA.staff_id))

    assert changed is not None
    assert changed.visit.status is VisitStatus.SET_ASIDE


def test_nobody_fits_sets_the_visit_aside_and_tells_the_leadership():
    visit = a_visit()

    changed = answer(visit, reply(visit, StaffAnswer.DECLINED), roster=without_hoa())

    assert changed is not None
    assert changed.visit.status is VisitStatus.SET_ASIDE
    assert changed.visit.claims == ()
    [event] = changed.announces
    assert isinstance(event, VisitUnassignable)
    assert event.reason is UnassignableReason.NO_REPLACEMENT
    assert event.request_code == visit.request_code
    assert [m.staff_id for m in event.leadership] == ["tk-01"]
    assert GIANG.name in event.detail
    assert planned_with([planned(visit)], changed.visit) == []  # its places are free


def test_a_declining_leader_is_replaced_by_another_leader_of_the_group():
    visit = a_visit()

    changed = answer(visit, reply(visit, StaffAnswer.DECLINED, by=None))

    assert changed is not None
    assert (changed.visit.officer_key, changed.visit.leader_key) == (GIANG.staff_id, MUA_KEY)
    assert changed.visit.claims == (visit.claims[0], claim("11002", MUA_KEY, MONDAY_MORNING, 0))
    [event] = changed.announces
    assert isinstance(event, VisitRescheduled) and event.leader.name == MUA.name


def test_an_answer_from_an_officer_no_longer_on_the_visit_changes_nothing():
    visit = a_visit(officer=HOA.staff_id)

    assert answer(visit, reply(visit, StaffAnswer.DECLINED, by=GIANG.staff_id)) is None


# --- accepted, another time -------------------------------------------------------------------


def test_an_accepted_assignment_is_recorded_and_announces_nothing():
    visit = a_visit()

    by_officer = answer(visit, reply(visit, StaffAnswer.ACCEPTED))
    by_leader = answer(visit, reply(visit, StaffAnswer.ACCEPTED, by=None))

    assert by_officer == Changed(replace(visit, officer_accepted_at=BEFORE))
    assert by_leader == Changed(replace(visit, leader_accepted_at=BEFORE))


def test_another_time_asked_moves_the_visit_there_and_tells_the_citizen():
    visit = a_visit(status=VisitStatus.AGREED)

    changed = answer(visit, reply(visit, StaffAnswer.OTHER_TIME, asked=at(MONDAY, 14)))

    assert changed is not None
    new = changed.visit
    assert (new.half_day, new.window.starts_at, new.window.ends_at) == (
        HalfDay(MONDAY, AFTERNOON),
        at(MONDAY, 14),
        at(MONDAY, 14, 45),  # as long as its procedure takes
    )
    assert new.status is VisitStatus.PROPOSED  # the citizen has not agreed it yet
    assert new.claims == (
        claim("11002", GIANG.staff_id, HalfDay(MONDAY, AFTERNOON), 0),
        claim("11002", HOP_KEY, HalfDay(MONDAY, AFTERNOON), 0),
    )
    [event] = changed.announces
    assert isinstance(event, VisitRescheduled) and event.reason is RescheduleReason.REPLANNED


@pytest.mark.parametrize(
    ("asked", "reason"),
    [(at(MONDAY, 14), "full"), (BEFORE - timedelta(hours=1), "passed"), (at(MONDAY, 12), "outside")],
)
def test_another_time_that_does_not_fit_leaves_the_visit_as_it_was(asked, reason):
    visit = a_visit()
    full_afternoon = fill(GIANG.staff_id, HalfDay(MONDAY, AFTERNOON))

    with pytest.raises(AgreementRefused, match=reason):
        answer(visit, reply(visit, StaffAnswer.OTHER_TIME, asked=asked), plans=[planned(visit), *full_afternoon])


# --- who can no longer go ---------------------------------------------------------------------


def test_an_officer_on_leave_that_day_cannot_go_unless_the_visit_has_started():
    on_leave = ROSTER.with_leave(GIANG.staff_id, Period(MONDAY, TUESDAY))
    visit = a_visit()

    assert cannot_go(on_leave, visit, BEFORE) == GIANG.staff_id
    assert cannot_go(on_leave, visit, at(MONDAY, 7, 30)) is None  # under way: it stays
    assert cannot_go(ROSTER, visit, BEFORE) is None
    assert cannot_go(on_leave, a_visit(half_day=HalfDay(MONDAY + timedelta(days=2), MORNING)), BEFORE) is None
    assert cannot_go(without_hoa(), a_visit(officer=HOA.staff_id), BEFORE) == HOA.staff_id  # off the roster
    assert cannot_go(on_leave, replace(visit, status=VisitStatus.CANCELLED), BEFORE) is None


def test_an_officer_on_leave_is_replaced_for_being_unavailable():
    on_leave = ROSTER.with_leave(GIANG.staff_id, Period(MONDAY, MONDAY))
    visit = a_visit()

    changed = replaced(
        visit,
        GIANG.staff_id,
        RescheduleReason.OFFICER_UNAVAILABLE,
        roster=on_leave,
        plans=[planned(visit)],
        calendar=CALENDAR,
        travel=no_travel,
        now=BEFORE,
        min_lead=LEAD,
    )

    assert changed.visit.officer_key == HOA.staff_id
    [event] = changed.announces
    assert isinstance(event, VisitRescheduled) and event.reason is RescheduleReason.OFFICER_UNAVAILABLE


# --- many changes -----------------------------------------------------------------------------

changes_ = st.lists(
    st.tuples(st.integers(min_value=0, max_value=9), st.sampled_from(["officer", "leader"])),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=10), changes_)
def test_replacements_never_overfill_anyone_nor_take_a_decliner(booked, declines):
    """Giang's and Hợp's Monday and Tuesday mornings filled; then people decline, one after another."""
    halves = [HalfDay(MONDAY, MORNING), HalfDay(TUESDAY, MORNING)]
    visits: dict[str, Visit] = {}
    plans: list[Planned] = []
    for i in range(booked):
        half_day = halves[i // 5 % len(halves)]
        visit = a_visit(f"v{i}", half_day=half_day, k=i % 5)
        visits[visit.id] = visit
        plans.append(planned(visit))
    for index, who in declines:
        found = visits.get(f"v{index}")
        if found is None or not found.status.holds_places:
            continue
        visit = found
        person = visit.officer_key if who == "officer" else visit.leader_key
        changed = replaced(
            visit,
            person,
            RescheduleReason.OFFICER_DECLINED,
            roster=ROSTER,
            plans=plans,
            calendar=CALENDAR,
            travel=no_travel,
            now=BEFORE,
            min_lead=LEAD,
        )
        new = visits[visit.id] = changed.visit
        plans = planned_with(plans, new)
        if new.status.holds_places:
            assert new.officer_key not in new.declined_by and new.leader_key not in new.declined_by
            assert new.officer_key in {GIANG.staff_id, HOA.staff_id} and new.leader_key in {HOP_KEY, MUA_KEY}

    claims = [c for p in plans for c in p.claims]
    assert len(claims) == len(set(claims))
    trips: dict[tuple[str, HalfDay], list[Stop]] = {}
    for p in plans:
        for person in (p.officer_key, p.leader_key):
            trips.setdefault((person, p.half_day), []).append(stop_for(ROSTER, p.residential_group, p.procedure))
    for (_, half_day), stops in trips.items():
        assert fits_trip(ROSTER.depot(), stops[:-1], stops[-1], no_travel, half_day.window())
