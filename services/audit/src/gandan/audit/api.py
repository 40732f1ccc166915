"""HTTP: the evidence trail of one request, for the ward's staff and auditors."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, ConfigDict

from gandan.audit.domain import EvidenceLog, minimised
from gandan.shared.auth import Credential, Role, require
from gandan.shared.events import contract_of
from gandan.shared.http import ApiError, RequestCode, error_responses


class EvidenceView(BaseModel):
    # Read from an `Evidence`'s attributes of the same names.
    model_config = ConfigDict(from_attributes=True)

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


READERS = require(Role.OFFICER, Role.LEADERSHIP, Role.AUDITOR)


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
                # Minimised when stored; again when shown, for evidence stored by an older rule.
                EvidenceView.model_validate(replace(e, data=minimised(contract_of(e.type, e.version), e.data)))
                for e in evidence
            ],
        )

    return router
