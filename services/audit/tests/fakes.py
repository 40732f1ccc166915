"""audit's evidence in memory, keeping the promises of `EvidenceLog`, for fast handler tests."""

from __future__ import annotations

from gandan.audit.domain import Evidence


class FakeEvidenceLog:
    def __init__(self) -> None:
        self.evidence: dict[str, Evidence] = {}

    async def record(self, evidence: Evidence) -> bool:
        key = str(evidence.event_id)
        if key in self.evidence:
            return False
        self.evidence[key] = evidence
        return True

    async def trail(self, ward_code: str, request_code: str) -> list[Evidence]:
        found = [e for e in self.evidence.values() if (e.ward_code, e.request_code) == (ward_code, request_code)]
        return sorted(found, key=lambda e: (e.occurred_at, e.recorded_at, str(e.event_id)))
