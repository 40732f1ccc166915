"""Thin handlers of the lifecycle: read the request, let the domain decide, store the change with
its event in one write. A change decided on a state another change has since moved is decided again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from gandan.intake.domain import RequestStatus
from gandan.intake.lifecycle.domain import (
    Progress,
    RequestLifecycle,
    SurveyAnswer,
    Update,
    advance,
    answer_survey,
)

# Changes to one request come one by one from people; more collisions than this is a fault.
_ATTEMPTS = 5


class RequestNotFound(Exception):
    """No such request (in the caller's ward), or not reached with its own phone."""


@dataclass(frozen=True)
class Outcome:
    status: RequestStatus
    changed: bool  # False: the same update was accepted before, nothing new was stored


async def update_request(
    ward_code: str,
    code: str,
    update: Update,
    *,
    repository: RequestLifecycle,
    correlation_id: UUID,
    now: datetime,
) -> Outcome:
    """Move the ward's request on by `update`. Raises `RequestNotFound`, or `NotAllowed` from the domain."""
    for _ in range(_ATTEMPTS):
        request = await repository.progress(code, ward_code)
        if request is None:
            raise RequestNotFound(code)
        change = advance(request, update, correlation_id=correlation_id, now=now)
        if change is None:
            return Outcome(request.status, changed=False)
        if await repository.store(change):
            return Outcome(change.status, changed=True)
    raise RuntimeError(f"{code}: the request kept changing under {_ATTEMPTS} updates")


async def reach(code: str, phone: str, *, repository: RequestLifecycle) -> Progress:
    """The request a citizen reaches with its code and their phone; `RequestNotFound` for a wrong
    phone as for an unknown code, so neither can be told from the other."""
    request = await repository.progress(code)
    if request is None or not request.reached_with(phone):
        raise RequestNotFound(code)
    return request


@dataclass(frozen=True)
class SurveyOutcome:
    replaced: bool  # it replaced an earlier answer


async def record_survey_answer(
    code: str,
    phone: str,
    answer: SurveyAnswer,
    *,
    repository: RequestLifecycle,
    correlation_id: UUID,
    now: datetime,
) -> SurveyOutcome:
    """Keep the citizen's answer, replacing an earlier one. Raises `RequestNotFound`, `NotServedYet`."""
    for _ in range(_ATTEMPTS):
        request = await reach(code, phone, repository=repository)
        change = answer_survey(request, answer, correlation_id=correlation_id, now=now)
        if change is None:
            return SurveyOutcome(replaced=request.survey_replaced)
        if await repository.store(change):
            return SurveyOutcome(replaced=change.replaces)
    raise RuntimeError(f"{code}: the request kept changing under {_ATTEMPTS} answers")
