"""Pure rules for changing a booked visit: its officer's or leader's answer to the assignment
(accepted, declined, another time asked), and people who can no longer go (leave marked, or off the
roster).

A person who declines or cannot go is replaced by another of the same kind: an officer of the visit's
field, or a leader of its residential group, not on leave, whose trip of the visit's half-day still
fits it (the other person keeps their place). Failing that, the visit gets the next half-day a new
request would get, without anyone who declined it. Failing that, it is set aside and the centre's
leadership is told. No I/O here: the caller passes the roster, the plans read, the calendar and now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gandan.dispatch.domain import GroupLeader, Officer, Roster, Slot, WorkingCalendar, leader_key
from gandan.dispatch.proposal import (
    DETAIL_LENGTH,
    AgreementRefused,
    BookingError,
    HalfDay,
    Planned,
    Plans,
    Stop,
    Travel,
    Visit,
    VisitStatus,
    earliest_start,
    leadership,
    moved,
    propose_visit,
    service_time,
    stop_for,
)
from gandan.shared.events import (
    EventData,
    LeaderContact,
    RecipientRole,
    RescheduleReason,
    StaffAnswer,
    StaffContact,
    StaffReplied,
    UnassignableReason,
    VisitRescheduled,
    VisitUnassignable,
)


@dataclass(frozen=True)
class Changed:
    """A visit as a change makes it, and what that announces."""

    visit: Visit
    announces: tuple[EventData, ...] = ()


def planned(visit: Visit) -> Planned:
    """The places a visit holds, as the plans read them."""
    return Planned(
        visit.officer_key,
        visit.leader_key,
        visit.half_day,
        visit.residential_group,
        visit.procedure,
        visit.claims,
        visit.id,
    )


def planned_with(plans: Iterable[Planned], visit: Visit) -> list[Planned]:
    """The plans once `visit` is stored as it now is."""
    others = [p for p in plans if p.visit_id != visit.id]
    return [*others, planned(visit)] if visit.status.holds_places else others


# --- answers to an assignment ------------------------------------------------------------------


def replier(visit: Visit, reply: StaffReplied) -> str | None:
    """Who answered (a person key), if still on the visit: a late answer of someone replaced is not."""
    match reply.recipient_role:
        case RecipientRole.OFFICER:
            return visit.officer_key if reply.staff_id == visit.officer_key else None
        case RecipientRole.GROUP_LEADER:
            # The answer names no leader (notify matched it by the phone the assignment went to).
            return visit.leader_key
    return None


def answered(
    visit: Visit,
    reply: StaffReplied,
    *,
    at: datetime,
    roster: Roster,
    plans: Sequence[Planned],
    calendar: WorkingCalendar,
    travel: Travel,
    now: datetime,
    min_lead: timedelta,
) -> Changed | None:
    """The visit after a reply to its assignment; None if the one who answered is no longer on it.

    `accepted` is recorded; `declined` replaces the person; `other_time` moves the visit to the time
    asked if both trips fit there (the citizen is told; the officer still calls them to confirm, so
    the visit is proposed again), else raises `AgreementRefused`.
    """
    person = replier(visit, reply)
    if person is None:
        return None
    match reply.answer:
        case StaffAnswer.ACCEPTED:
            if person == visit.officer_key:
                return Changed(replace(visit, officer_accepted_at=at))
            return Changed(replace(visit, leader_accepted_at=at))
        case StaffAnswer.DECLINED:
            return replaced(
                visit,
                person,
                RescheduleReason.OFFICER_DECLINED,
                roster=roster,
                plans=plans,
                calendar=calendar,
                travel=travel,
                now=now,
                min_lead=min_lead,
            )
        case StaffAnswer.OTHER_TIME:
            if reply.proposed_at is None:
                raise AgreementRefused("another time was asked without a time")
            return at_asked_time(
                visit, reply.proposed_at, roster=roster, plans=plans, calendar=calendar, travel=travel, now=now
            )
    raise TypeError(f"no rule for the answer {reply.answer!r}")


def at_asked_time(
    visit: Visit,
    asked_at: datetime,
    *,
    roster: Roster,
    plans: Sequence[Planned],
    calendar: WorkingCalendar,
    travel: Travel,
    now: datetime,
) -> Changed:
    """The visit moved to the time its officer (or leader) asked, for as long as its procedure takes.

    The REPLANNED reason: dispatch moved it, and the answer that asked is the event's cause in the trail.
    """
    if asked_at <= now:
        raise AgreementRefused(f"{asked_at.isoformat()} has passed")
    slot = Slot(asked_at, asked_at + service_time(visit.procedure))
    if slot == visit.window:
        return Changed(visit)
    at = moved(visit, slot, plans=_without(roster, plans, visit), calendar=calendar, travel=travel)
    changed = replace(at, status=VisitStatus.PROPOSED)
    return Changed(changed, (rescheduled(changed, roster, RescheduleReason.REPLANNED),))


# --- replacing a person ------------------------------------------------------------------------


def cannot_go(roster: Roster, visit: Visit, now: datetime) -> str | None:
    """The person of a visit not yet started who can no longer go that day (on leave, or no longer
    on the roster), if any. A visit under way stays as it is."""
    if not visit.status.holds_places or visit.window.starts_at <= now:
        return None
    day = visit.half_day.day
    officer = roster.member(visit.officer_key)
    if officer is None or officer.on_leave(day):
        return visit.officer_key
    leader = _leader(roster, visit)
    if leader is None or leader.on_leave(day):
        return visit.leader_key
    return None


def replaced(
    visit: Visit,
    person: str,
    reason: RescheduleReason,
    *,
    roster: Roster,
    plans: Sequence[Planned],
    calendar: WorkingCalendar,
    travel: Travel,
    now: datetime,
    min_lead: timedelta,
) -> Changed:
    """The visit without `person` (its officer or its leader): in its own half-day with another of
    the same kind if one fits, else at the next half-day that fits, else set aside."""
    declined = replace(visit, declined_by=tuple(dict.fromkeys((*visit.declined_by, person))))
    others = _without(roster, plans, visit)
    earliest = earliest_start(now, min_lead)
    same = _in_its_half_day(declined, person, others, travel, earliest)
    if same is not None:
        return Changed(same, (rescheduled(same, roster, reason),))
    try:
        proposal = propose_visit(
            plans=others,
            field=visit.field,
            residential_group=visit.residential_group,
            procedure=visit.procedure,
            preferred_date=visit.half_day.day,
            window=visit.half_day.half,
            calendar=calendar,
            travel=travel,
            now=now,
            min_lead=min_lead,
            excluding=frozenset(declined.declined_by),
        )
    except BookingError as error:
        return set_aside(declined, person, roster, error)
    new_leader = leader_key(proposal.group, proposal.leader)
    moved_visit = replace(
        declined,
        officer_key=proposal.officer.staff_id,
        leader_key=new_leader,
        half_day=proposal.half_day,
        window=proposal.window,
        claims=proposal.claims,
        # A new half-day: the officer calls the citizen to agree the hour again.
        status=VisitStatus.PROPOSED,
        provisional=proposal.provisional,
        officer_accepted_at=declined.officer_accepted_at if proposal.officer.staff_id == visit.officer_key else None,
        leader_accepted_at=declined.leader_accepted_at if new_leader == visit.leader_key else None,
    )
    return Changed(moved_visit, (rescheduled(moved_visit, roster, reason),))


def _in_its_half_day(visit: Visit, person: str, plans: Plans, travel: Travel, earliest: datetime) -> Visit | None:
    """The visit with another officer (or leader) in place of `person` in its own half-day, keeping
    its hour; None if nobody fits there or the hour comes too soon for anyone to get there."""
    roster = plans.roster
    hours = visit.half_day.window()
    if earliest >= hours.ends_at or (visit.status is VisitStatus.AGREED and visit.window.starts_at < earliest):
        return None
    usable = Slot(max(hours.starts_at, earliest), hours.ends_at)
    day, excluded = visit.half_day.day, set(visit.declined_by)
    stop = stop_for(roster, visit.residential_group, visit.procedure)
    window = visit.window if visit.status is VisitStatus.AGREED else usable
    if person == visit.officer_key:
        if _leader(roster, visit) is None:
            return None
        officers = [o.staff_id for o in roster.officers_for(visit.field) if not o.on_leave(day)]
        chosen = _first_fitting(officers, excluded, plans, visit.half_day, stop, travel, usable)
        if chosen is None:
            return None
        # Claims are (officer's, leader's): the leader keeps theirs.
        claims = (plans.next_claim(chosen, visit.half_day), visit.claims[1])
        return replace(visit, officer_key=chosen, window=window, claims=claims, officer_accepted_at=None)
    group = roster.group(visit.residential_group)
    if group is None or roster.member(visit.officer_key) is None:
        return None
    leaders = [leader_key(group, le) for le in group.leaders if not le.on_leave(day)]
    chosen = _first_fitting(leaders, excluded, plans, visit.half_day, stop, travel, usable)
    if chosen is None:
        return None
    claims = (visit.claims[0], plans.next_claim(chosen, visit.half_day))
    return replace(visit, leader_key=chosen, window=window, claims=claims, leader_accepted_at=None)


def _first_fitting(
    people: Iterable[str],
    excluded: set[str],
    plans: Plans,
    half_day: HalfDay,
    stop: Stop,
    travel: Travel,
    usable: Slot,
) -> str | None:
    return next((p for p in people if p not in excluded and plans.fits(p, half_day, stop, travel, usable)), None)


def set_aside(visit: Visit, person: str, roster: Roster, error: BookingError) -> Changed:
    """Nobody fits: the visit gives its places back and the centre's leadership arranges it."""
    aside = replace(visit, status=VisitStatus.SET_ASIDE, claims=())
    who = _name(roster, visit, person)
    detail = (
        f"{who} không thể đến buổi hẹn; không còn cán bộ lĩnh vực {visit.field} và người của tổ dân phố "
        f"{visit.residential_group} nào đến kịp (đã tính đường đi). {error}"
    )
    event = VisitUnassignable(
        request_code=visit.request_code,
        citizen_ref=visit.citizen_ref,
        reason=UnassignableReason.NO_REPLACEMENT,
        detail=detail[:DETAIL_LENGTH],
        leadership=leadership(roster),
    )
    return Changed(aside, (event,))


def rescheduled(visit: Visit, roster: Roster, reason: RescheduleReason) -> VisitRescheduled:
    officer, leader = roster.member(visit.officer_key), _leader(roster, visit)
    if officer is None or leader is None:
        raise LookupError(f"{visit.id}: its officer or leader is not on the roster")
    return VisitRescheduled(
        request_code=visit.request_code,
        visit_id=visit.id,
        starts_at=visit.window.starts_at,
        ends_at=visit.window.ends_at,
        officer=_contact(officer),
        leader=LeaderContact(name=leader.name, roles=leader.roles, phone=leader.phone),
        reason=reason,
    )


def _contact(officer: Officer) -> StaffContact:
    return StaffContact(staff_id=officer.staff_id, name=officer.name, phone=officer.phone)


def _leader(roster: Roster, visit: Visit) -> GroupLeader | None:
    group = roster.group(visit.residential_group)
    if group is None:
        return None
    return next((le for le in group.leaders if leader_key(group, le) == visit.leader_key), None)


def _name(roster: Roster, visit: Visit, person: str) -> str:
    if person == visit.officer_key:
        officer = roster.member(person)
        return f"Cán bộ {officer.name if officer else person}"
    leader = _leader(roster, visit)
    return f"Người của tổ dân phố {leader.name if leader else person}"


def _without(roster: Roster, plans: Iterable[Planned], visit: Visit) -> Plans:
    """The ward's plans without this visit: its own places are its to leave or keep."""
    return Plans(roster, (p for p in plans if p.visit_id != visit.id))
