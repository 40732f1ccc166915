"""Thin handlers: take a validated command or event, apply the domain, store, let the outbox publish."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from gandan.intake.domain import (
    HomeRequest,
    HomeRequestDetails,
    Visit,
    citizen_ref,
    new_request_code,
    registration_events,
)
from gandan.intake.repository import DuplicateRequestCode, HomeRequestRepository
from gandan.shared.events import Envelope, VisitScheduled
from gandan.shared.outbox import OutboxRelay

_CODE_ATTEMPTS = 5


async def register_home_request(
    details: HomeRequestDetails,
    *,
    repository: HomeRequestRepository,
    relay: OutboxRelay,
    pseudonym_key: bytes,
    correlation_id: UUID,
    now: datetime,
) -> HomeRequest:
    for _ in range(_CODE_ATTEMPTS):
        request = HomeRequest(
            code=new_request_code(),
            citizen_ref=citizen_ref(pseudonym_key, details.ward_code, details.phone),
            registered_at=now,
            **vars(details),
        )
        try:
            await repository.add(request, registration_events(request, correlation_id))
        except DuplicateRequestCode:
            continue
        relay.wake()
        return request
    raise RuntimeError("could not draw an unused request code")


async def record_visit_scheduled(event: Envelope[VisitScheduled], *, repository: HomeRequestRepository) -> None:
    visit = event.data
    found = await repository.record_visit(
        event.ward_code,
        visit.request_code,
        Visit(
            starts_at=visit.starts_at,
            ends_at=visit.ends_at,
            officer_name=visit.officer.name,
            leader_name=visit.leader.name,
        ),
    )
    if not found:
        raise LookupError(f"visit for unknown request {visit.request_code}")
