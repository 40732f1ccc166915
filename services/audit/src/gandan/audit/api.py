"""HTTP: the evidence trail of one request, for the ward's staff and auditors."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel

from gandan.audit.domain import EvidenceLog, minimised
from gandan.shared.auth import Credential, Role, require
from gandan.shared.events import contract_of
from gandan.shared.http import ApiError, RequestCode, error_responses


class EvidenceView(BaseModel):
    event_id: UUID
    type: str
    version: int
    occurred_at: AwareDatetime
    producer: str
    correlation_id: UUID
    causation_id: UUID | None
    data: dict[str, Any]


class Trail(BaseModel):
    request_code: str
    ward_code: str
    events: list[EvidenceView]


READERS = require(Role.STAFF, Role.AUDITOR)


def evidence_router(repository: EvidenceLog) -> APIRouter:
    router = APIRouter(prefix="/v1/requests", tags=["evidence"])

    @router.get("/{code}/trail", response_model=Trail, responses=error_responses(401, 403, 404, 422, 503))
    async def trail(code: RequestCode, credential: Annotated[Credential, Depends(READERS)]) -> Trail:
        evidence = await repository.trail(credential.ward_code, code)
        if not evidence:
            raise ApiError(404, "request_not_found", "Không có minh chứng nào cho mã yêu cầu này.", field="code")
        return Trail(
            request_code=code,
            ward_code=credential.ward_code,
            events=[
                EvidenceView(
                    event_id=e.event_id,
                    type=e.type,
                    version=e.version,
                    occurred_at=e.occurred_at,
                    producer=e.producer,
                    correlation_id=e.correlation_id,
                    causation_id=e.causation_id,
                    # Minimised when stored; again when shown, for evidence stored by an older rule.
                    data=minimised(contract_of(e.type, e.version), e.data),
                )
                for e in evidence
            ],
        )

    return router
