"""Thin handlers: an event in, the domain's booking, the visit and its event stored together."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from gandan.dispatch.domain import (
    Booking,
    BookingError,
    Roster,
    WorkingCalendar,
    book_visit,
    earliest_start,
    first_search_day,
    leader_key,
)
from gandan.dispatch.repository import SlotTaken, VisitRecord, VisitRepository
from gandan.dispatch.roster import UnknownWard
from gandan.shared.events import Envelope, LeaderContact, RequestRegistered, StaffContact, VisitScheduled, caused_by
from gandan.shared.idempotency import effect_id
from gandan.shared.logs import log_fields
from gandan.shared.outbox import OutboxRelay

PRODUCER = "dispatch"
# Another handler may take the same hour between our read and our write; then we book again.
_BOOKING_ATTEMPTS = 5

logger = logging.getLogger(__name__)


async def schedule_home_visit(
    event: Envelope[RequestRegistered],
    *,
    rosters: Callable[[str], Roster],
    calendar: WorkingCalendar,
    repository: VisitRepository,
    relay: OutboxRelay,
    clock: Callable[[], datetime],
    min_lead: timedelta,
) -> None:
    request = event.data
    visit_id = effect_id(event.id)
    if await repository.exists(visit_id):
        return
    for _ in range(_BOOKING_ATTEMPTS):
        try:
            roster = rosters(event.ward_code)
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
            logger.warning(
                "no visit could be booked; set aside for the centre",
                extra=log_fields(request_code=request.request_code, reason=repr(error)),
            )
            await repository.set_aside(visit_id, request.request_code, event.ward_code, repr(error))
            return
        group = roster.group(request.residential_group)
        assert group is not None  # book_visit found it
        record = VisitRecord(
            id=visit_id,
            request_code=request.request_code,
            ward_code=event.ward_code,
            officer_key=booking.officer.staff_id,
            leader_key=leader_key(group, booking.leader),
            slot=booking.slot,
        )
        try:
            await repository.add(
                record, caused_by(event, visit_scheduled(request, visit_id, booking), producer=PRODUCER)
            )
        except SlotTaken:
            continue
        relay.wake()
        return
    raise SlotTaken(f"{visit_id}: every try collided with another booking")


def visit_scheduled(request: RequestRegistered, visit_id: str, booking: Booking) -> VisitScheduled:
    return VisitScheduled(
        request_code=request.request_code,
        visit_id=visit_id,
        starts_at=booking.slot.starts_at,
        ends_at=booking.slot.ends_at,
        residential_group=request.residential_group,
        procedure=request.procedure,
        field=request.field,
        officer=StaffContact(staff_id=booking.officer.staff_id, name=booking.officer.name, phone=booking.officer.phone),
        leader=LeaderContact(name=booking.leader.name, roles=booking.leader.roles, phone=booking.leader.phone),
    )
