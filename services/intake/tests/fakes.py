"""intake's storage in memory, keeping the promises of `HomeRequests`, for fast handler tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from gandan.intake.domain import (
    DuplicateRequestCode,
    HomeRequest,
    IdempotencyKey,
    IdempotencyKeyTaken,
    KeyedRequest,
    OpenRequestExists,
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
        if key is not None and key in self.keys:
            raise IdempotencyKeyTaken(key.key)
        if open_one := next((r for r in self.requests.values() if r.open_key == request.open_key), None):
            raise OpenRequestExists(open_one.code)
        if key is not None:
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


class FakeServedWards:
    def __init__(self, *ward_codes: str) -> None:
        self.wards, self.as_of = frozenset(ward_codes), datetime.min.replace(tzinfo=UTC)

    def serves(self, ward_code: str) -> bool:
        return ward_code in self.wards

    async def record(self, ward_codes: tuple[str, ...], as_of: datetime) -> None:
        if as_of > self.as_of:
            self.wards, self.as_of = frozenset(ward_codes), as_of
