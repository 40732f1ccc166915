"""Thin handlers: an event in, the domain's booking, the visit and its event stored together."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from gandan.dispatch.domain import (
    BookingError,
    RosterBook,
    SetAside,
    SlotTaken,
    UnknownWard,
    Visits,
    book_visit,
    booked,
    earliest_start,
    first_search_day,
    wards_served,
)
from gandan.shared.events import Envelope, RequestRegistered
from gandan.shared.idempotency import effect_id
from gandan.shared.logs import log_fields

# Another handler may take the same hour between our read and our write; then we book again.
_BOOKING_ATTEMPTS = 5

logger = logging.getLogger(__name__)


class OneBookingAtATime:
    """Per ward, one booking at a time in this process. Handlers that read the ward's busy hours
    together all pick the same free hour and all but one collide on its claim: at 20 at once,
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
    one_at_a_time: OneBookingAtATime,
) -> None:
    async with one_at_a_time(event.ward_code):
        await _book(event, rosters=rosters, repository=repository, clock=clock, min_lead=min_lead)


async def _book(
    event: Envelope[RequestRegistered],
    *,
    rosters: RosterBook,
    repository: Visits,
    clock: Callable[[], datetime],
    min_lead: timedelta,
) -> None:
    request = event.data
    # No read first: a redelivered event books again, and storing finds the visit already there.
    visit_id = effect_id(event.id)
    for _ in range(_BOOKING_ATTEMPTS):
        try:
            # From memory (README "Rosters"): the journey's database commands stay the visit's own.
            roster = await rosters.roster(event.ward_code)
            calendar = await rosters.calendar()
            # Judged when handled, not when published: a late event must not book a past hour.
            now = clock()
            first_day = first_search_day(request.preferred_date, earliest_start(now, min_lead))
            busy = await repository.busy_from(event.ward_code, first_day)
            booking = book_visit(
                roster=roster,
                field=request.field,
                residential_group=request.residential_group,
                preferred_date=request.preferred_date,
                window=request.time_window,
                busy=busy,
                calendar=calendar,
                now=now,
                min_lead=min_lead,
            )
        except (BookingError, UnknownWard) as error:
            if await repository.exists(visit_id):
                return  # a redelivery, booked the first time: its own visit may have taken the last hour
            logger.warning(
                "no visit could be booked; set aside for the centre",
                extra=log_fields(request_code=request.request_code, reason=repr(error)),
            )
            await repository.set_aside(SetAside(visit_id, request.request_code, event.ward_code, repr(error)))
            return
        try:
            await repository.add(*booked(event, visit_id, booking))
        except SlotTaken:
            continue
        return
    raise SlotTaken(f"{visit_id}: every try collided with another booking")


async def announce_served_wards(served: Sequence[str], *, repository: Visits, clock: Callable[[], datetime]) -> None:
    """At each start: the wards that have a roster now (a ward's first roster is announced as it
    is stored, by `MongoRosters`), so intake, which refuses the others, hears them even if an
    earlier announcement was lost with its queue."""
    await repository.announce(wards_served(served, clock()))
