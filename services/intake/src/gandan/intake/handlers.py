"""Thin handlers: take a validated command or event, apply the domain, store, let the outbox publish."""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

from gandan.intake.domain import (
    DuplicateRequestCode,
    HomeRequest,
    HomeRequestDetails,
    HomeRequests,
    IdempotencyKey,
    IdempotencyKeyReused,
    IdempotencyKeyTaken,
    KeyedRequest,
    Registration,
    RequestStatus,
    ServedWards,
    Visit,
    WardNotServed,
    citizen_ref,
    fingerprint,
    new_request_code,
    registration_events,
)
from gandan.intake.lifecycle.domain import TRANSITIONS, Step
from gandan.shared.events import Envelope, VisitRescheduled, VisitScheduled, WardsServed
from gandan.shared.logs import log_fields

logger = logging.getLogger(__name__)

_CODE_ATTEMPTS = 5


async def register_home_request(
    details: HomeRequestDetails,
    *,
    key: IdempotencyKey | None,
    repository: HomeRequests,
    served: ServedWards,
    pseudonym_key: bytes,
    correlation_id: UUID,
    now: datetime,
) -> HomeRequest:
    """Store a new request, or, for a key already used, the request it stands for.

    Raises `WardNotServed` for a ward no roster serves, `OpenRequestExists` when the citizen
    already has this procedure open (from the repository: its index decides a race).
    """
    asked = fingerprint(details, pseudonym_key)
    if key is not None and (earlier := await repository.by_idempotency_key(key)):
        return _same_registration(earlier, asked)
    if not served.serves(details.ward_code):
        # Each announcement reaches one intake process of several: before refusing, read what the
        # one that heard it kept (only a refusal pays this read).
        await served.load()
        if not served.serves(details.ward_code):
            raise WardNotServed(details.ward_code)
    # Drawn once per request: only a code that another request holds is drawn again.
    code = new_request_code()
    for _ in range(_CODE_ATTEMPTS):
        request = HomeRequest(
            code=code,
            citizen_ref=citizen_ref(pseudonym_key, details.ward_code, details.phone),
            registered_at=now,
            **vars(details),
        )
        try:
            await repository.add(Registration(request, registration_events(request, correlation_id), key, asked))
        except DuplicateRequestCode:
            code = new_request_code()
            continue
        except IdempotencyKeyTaken:
            # A retry of the same POST, sent while this one was on its way, was stored first.
            assert key is not None
            earlier = await repository.by_idempotency_key(key)
            assert earlier is not None
            return _same_registration(earlier, asked)
        return request
    raise RuntimeError("could not draw an unused request code")


def _same_registration(earlier: KeyedRequest, asked: str) -> HomeRequest:
    if earlier.fingerprint != asked:
        raise IdempotencyKeyReused
    return earlier.request


async def record_visit_scheduled(event: Envelope[VisitScheduled], *, repository: HomeRequests) -> None:
    visit = event.data
    booked = Visit(
        starts_at=visit.starts_at, ends_at=visit.ends_at, officer_name=visit.officer.name, leader_name=visit.leader.name
    )
    # One write, no read first: the ward's request is found by the write itself.
    status = await repository.schedule_visit(
        event.ward_code, visit.request_code, booked, from_states=TRANSITIONS[Step.PROPOSE_APPOINTMENT][0]
    )
    if status is None:
        raise LookupError(f"visit for unknown request {visit.request_code}")
    if status is not RequestStatus.APPOINTMENT_PROPOSED:
        # Agreed on the phone or cancelled meanwhile: the booking does not move the request back.
        logger.warning("visit not recorded", extra=log_fields(request_code=visit.request_code, status=status.value))


async def record_visit_rescheduled(event: Envelope[VisitRescheduled], *, repository: HomeRequests) -> None:
    """The new officer, leader or time of the request's visit, shown from now on; no change of status."""
    visit = event.data
    changed = Visit(
        starts_at=visit.starts_at, ends_at=visit.ends_at, officer_name=visit.officer.name, leader_name=visit.leader.name
    )
    await repository.reschedule_visit(event.ward_code, visit.request_code, changed, as_of=event.occurred_at)


async def record_wards_served(event: Envelope[WardsServed], *, served: ServedWards) -> None:
    await served.record(event.data.ward_codes, event.data.as_of)
