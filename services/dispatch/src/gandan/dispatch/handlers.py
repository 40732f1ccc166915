"""Thin handlers: an event in, the proposal's rules, the visit (or the refusal) and its event stored together."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from gandan.dispatch.changes import Changed, answered, cannot_go, planned, planned_with, replaced
from gandan.dispatch.domain import EVENTS, RosterBook, Slot, UnknownWard, WorkingCalendar, wards_served
from gandan.dispatch.proposal import (
    HORIZON_DAYS,
    AgreementRefused,
    BookingError,
    NoSlotAvailable,
    Plans,
    Proposal,
    Refusal,
    SlotTaken,
    Travel,
    Visits,
    agree,
    booked,
    earliest_start,
    first_search_day,
    propose_visit,
    unassignable,
)
from gandan.shared.clock import local
from gandan.shared.events import (
    AppointmentAgreed,
    Envelope,
    EventData,
    RequestCancelled,
    RequestRegistered,
    RescheduleReason,
    RosterChanged,
    StaffReplied,
)
from gandan.shared.idempotency import effect_id
from gandan.shared.logs import log_fields

# Another handler may take the same place in a half-day between our read and our write; then we propose again.
_BOOKING_ATTEMPTS = 5
# The days read first when proposing a visit.
_NEAR_DAYS = timedelta(days=7)

logger = logging.getLogger(__name__)


class OneBookingAtATime:
    """Per ward, one booking at a time in this process. Handlers that read the ward's plans
    together all pick the same place and all but one collide on its claim: at 20 at once,
    20 of 400 requests ran out of tries. Across processes the unique claims still decide."""

    def __init__(self) -> None:
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def __call__(self, ward_code: str) -> asyncio.Lock:
        return self._locks[ward_code]


async def schedule_home_visit(
    event: Envelope[RequestRegistered],
    *,
    rosters: RosterBook,
    repository: Visits,
    clock: Callable[[], datetime],
    min_lead: timedelta,
    travel: Travel,
    one_at_a_time: OneBookingAtATime,
) -> None:
    async with one_at_a_time(event.ward_code):
        await _propose(event, rosters=rosters, repository=repository, clock=clock, min_lead=min_lead, travel=travel)


async def _propose(
    event: Envelope[RequestRegistered],
    *,
    rosters: RosterBook,
    repository: Visits,
    clock: Callable[[], datetime],
    min_lead: timedelta,
    travel: Travel,
) -> None:
    request = event.data
    # No read first: a redelivered event proposes again, and storing finds the visit already there.
    visit_id = effect_id(event.id)
    for _ in range(_BOOKING_ATTEMPTS):
        try:
            # From memory (README "Rosters"): the journey's database commands stay the visit's own.
            roster = await rosters.roster(event.ward_code)
        except UnknownWard as error:
            # Intake refuses wards dispatch does not serve: only a race gets here, and no one of
            # the ward's leadership is known to tell.
            logger.warning(
                "no roster for the request's ward; set aside",
                extra=log_fields(request_code=request.request_code, reason=repr(error)),
            )
            await repository.refuse(Refusal(visit_id, request.request_code, event.ward_code, repr(error)))
            return
        calendar = await rosters.calendar()
        # Judged when handled, not when published: a late event must not propose a past half-day.
        now = clock()
        first_day = first_search_day(request.preferred_date, earliest_start(now, min_lead))
        # The first week's plans first: a request nearly always fits there, and reading every visit to
        # the horizon cost the database more with each booking (README "Performance").
        near = first_day + _NEAR_DAYS
        held = await repository.planned_from(event.ward_code, first_day, until=near)
        try:
            try:
                proposal = _first_fit(request, Plans(roster, held), calendar, travel, now, min_lead, _NEAR_DAYS.days)
            except NoSlotAvailable:
                held += await repository.planned_from(event.ward_code, near)
                proposal = _first_fit(request, Plans(roster, held), calendar, travel, now, min_lead, HORIZON_DAYS)
        except BookingError as error:
            if await repository.exists(visit_id):
                return  # a redelivery, proposed the first time: its own visit may have taken the last place
            logger.warning(
                "no visit fits; the centre's leadership is told",
                extra=log_fields(request_code=request.request_code, reason=repr(error)),
            )
            await repository.refuse(*unassignable(event, visit_id, roster, error))
            return
        try:
            await repository.add(*booked(event, visit_id, proposal))
        except SlotTaken:
            continue
        return
    raise SlotTaken(f"{visit_id}: every try collided with another booking")


def _first_fit(
    request: RequestRegistered,
    plans: Plans,
    calendar: WorkingCalendar,
    travel: Travel,
    now: datetime,
    min_lead: timedelta,
    horizon_days: int,
) -> Proposal:
    return propose_visit(
        plans=plans,
        field=request.field,
        residential_group=request.residential_group,
        procedure=request.procedure,
        preferred_date=request.preferred_date,
        window=request.time_window,
        calendar=calendar,
        travel=travel,
        now=now,
        min_lead=min_lead,
        horizon_days=horizon_days,
    )


async def agree_appointment(
    event: Envelope[AppointmentAgreed],
    *,
    rosters: RosterBook,
    repository: Visits,
    travel: Travel,
    one_at_a_time: OneBookingAtATime,
) -> None:
    """The officer agreed a time with the citizen: the visit is agreed at that time, moved to
    another half-day if it fits there, or left as it was with the reason logged."""
    request_code = event.data.request_code
    agreed = Slot(event.data.starts_at, event.data.ends_at)
    async with one_at_a_time(event.ward_code):
        for _ in range(_BOOKING_ATTEMPTS):
            visit = await repository.of_request(request_code)
            if visit is None or not visit.status.holds_places:
                logger.warning("an agreed time for no visit", extra=log_fields(request_code=request_code))
                return
            roster = await rosters.roster(event.ward_code)
            calendar = await rosters.calendar()
            plans = Plans(roster, await repository.planned_from(event.ward_code, local(agreed.starts_at).date()))
            try:
                changed = agree(visit, agreed, plans=plans, calendar=calendar, travel=travel)
            except AgreementRefused as refused:
                logger.warning(
                    "agreed time not taken; the visit stays as it was",
                    extra=log_fields(request_code=request_code, reason=str(refused)),
                )
                return
            if changed == visit:
                return  # a redelivery
            try:
                if await repository.change(changed):
                    return
            except SlotTaken:
                pass
            # Changed meanwhile (another answer, a replacement, a cancellation): read it again.
        raise SlotTaken(f"{request_code}: every try to store the agreed visit collided")


async def answer_staff_reply(
    event: Envelope[StaffReplied],
    *,
    rosters: RosterBook,
    repository: Visits,
    clock: Callable[[], datetime],
    min_lead: timedelta,
    travel: Travel,
    one_at_a_time: OneBookingAtATime,
) -> None:
    """An officer's or leader's answer to their assignment: recorded, or the person replaced, or the
    visit moved to the time asked; each once, as the reply's id is stored with the change."""
    reply, reply_id = event.data, str(event.id)
    async with one_at_a_time(event.ward_code):
        for _ in range(_BOOKING_ATTEMPTS):
            visit = await repository.of_request(reply.request_code)
            if visit is None or visit.id != reply.visit_id or not visit.status.holds_places:
                logger.warning("a reply for no visit held", extra=log_fields(request_code=reply.request_code))
                return
            if reply_id in visit.changes:
                return  # a redelivery
            now = clock()
            try:
                changed = answered(
                    visit,
                    reply,
                    at=event.occurred_at,
                    roster=await rosters.roster(event.ward_code),
                    plans=await repository.planned_from(event.ward_code, local(now).date()),
                    calendar=await rosters.calendar(),
                    travel=travel,
                    now=now,
                    min_lead=min_lead,
                )
            except AgreementRefused as refused:
                logger.warning(
                    "time asked not taken; the visit stays as it was",
                    extra=log_fields(request_code=reply.request_code, reason=str(refused)),
                )
                return
            if changed is None:
                logger.warning(
                    "a reply from someone no longer on the visit", extra=log_fields(request_code=reply.request_code)
                )
                return
            if await _store(changed, event, repository):
                return
        raise SlotTaken(f"{reply.request_code}: every try to store the answer collided")


async def replace_who_cannot_go(
    event: Envelope[RosterChanged],
    *,
    rosters: RosterBook,
    repository: Visits,
    clock: Callable[[], datetime],
    min_lead: timedelta,
    travel: Travel,
    one_at_a_time: OneBookingAtATime,
) -> None:
    """After a roster change (leave marked, someone removed, ...): the visits not yet started whose
    officer or leader can no longer go are replaced, or set aside.

    A handler of dispatch's own `roster.changed`, not a call after the roster's write: that event is
    stored in the same write as the roster, so a crash between the two writes delays the replacement
    (the event is published and handled again) but cannot lose it. A visit handed over no longer
    has the person who cannot go: handled again, nothing is done twice."""
    async with one_at_a_time(event.ward_code):
        # As stored: this process may remember the roster from before the change.
        roster = await rosters.stored(event.ward_code)
        calendar = await rosters.calendar()
        for _ in range(_BOOKING_ATTEMPTS):
            now = clock()
            visits = await repository.visits_from(event.ward_code, local(now).date())
            plans = [planned(v) for v in visits if v.status.holds_places]
            for visit in visits:
                person = cannot_go(roster, visit, now)
                if person is None:
                    continue
                changed = replaced(
                    visit,
                    person,
                    RescheduleReason.OFFICER_UNAVAILABLE,
                    roster=roster,
                    plans=plans,
                    calendar=calendar,
                    travel=travel,
                    now=now,
                    min_lead=min_lead,
                )
                if not await _store(changed, event, repository):
                    break  # changed meanwhile: read the visits again
                plans = planned_with(plans, changed.visit)
            else:
                return
        raise SlotTaken(f"{event.ward_code}: every try to replace who cannot go collided")


async def _store(changed: Changed, cause: Envelope[EventData], repository: Visits) -> bool:
    """The change with the cause's id and its events, in one write; False if the visit changed meanwhile."""
    visit = replace(changed.visit, changes=(*changed.visit.changes, str(cause.id)))
    try:
        return await repository.change(visit, *(EVENTS.caused_by(cause, data) for data in changed.announces))
    except SlotTaken:
        return False


async def cancel_visit(event: Envelope[RequestCancelled], *, repository: Visits) -> None:
    """A cancelled request frees its visit's people (idempotent: cancelling twice changes nothing)."""
    await repository.cancel(event.data.request_code)


async def announce_served_wards(served: Sequence[str], *, repository: Visits, clock: Callable[[], datetime]) -> None:
    """At each start: the wards that have a roster now (a ward's first roster is announced as it
    is stored, by `MongoRosters`), so intake, which refuses the others, hears them even if an
    earlier announcement was lost with its queue."""
    await repository.announce(wards_served(served, clock()))
