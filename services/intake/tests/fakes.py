"""intake's storage in memory, keeping the promises of `HomeRequests`, for fast handler tests."""

from __future__ import annotations

from dataclasses import replace

from gandan.intake.domain import (
    DuplicateRequestCode,
    HomeRequest,
    IdempotencyKey,
    IdempotencyKeyTaken,
    KeyedRequest,
    Registration,
    RequestStatus,
    Visit,
)
from gandan.shared.events import Envelope, EventData


class FakeHomeRequests:
    def __init__(self) -> None:
        self.requests: dict[str, HomeRequest] = {}
        self.outbox: dict[str, tuple[Envelope[EventData], ...]] = {}
        self.keys: dict[IdempotencyKey, KeyedRequest] = {}

    async def add(self, registration: Registration) -> None:
        request, key = registration.request, registration.key
        if request.code in self.requests:
            if self.outbox[request.code][0].id == registration.events[0].id:
                return  # this very write, retried
            raise DuplicateRequestCode(request.code)
        if key is not None:
            if key in self.keys:
                raise IdempotencyKeyTaken(key.key)
            self.keys[key] = KeyedRequest(request, registration.fingerprint)
        self.requests[request.code], self.outbox[request.code] = request, registration.events

    async def by_idempotency_key(self, key: IdempotencyKey) -> KeyedRequest | None:
        return self.keys.get(key)

    async def get(self, code: str) -> HomeRequest | None:
        return self.requests.get(code)

    async def schedule_visit(self, ward_code: str, code: str, visit: Visit) -> bool:
        request = self.requests.get(code)
        if request is None or request.ward_code != ward_code:
            return False
        self.requests[code] = replace(request, status=RequestStatus.VISIT_SCHEDULED, visit=visit)
        return True
