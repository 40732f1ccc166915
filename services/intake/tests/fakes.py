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
from gandan.intake.lifecycle.domain import Appointment, Change, Progress, SurveyChange
from gandan.shared.events import Envelope, EventData


class FakeHomeRequests:
    def __init__(self) -> None:
        self.requests: dict[str, HomeRequest] = {}
        self.outbox: dict[str, tuple[Envelope[EventData], ...]] = {}
        self.keys: dict[IdempotencyKey, KeyedRequest] = {}
        self.rescheduled_at: dict[str, datetime] = {}

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

    async def schedule_visit(
        self, ward_code: str, code: str, visit: Visit, *, from_states: frozenset[RequestStatus]
    ) -> RequestStatus | None:
        request = self.requests.get(code)
        if request is None or request.ward_code != ward_code:
            return None
        if request.status in from_states:
            # A rescheduled visit stays shown over the booked one.
            shown = request.visit if code in self.rescheduled_at else visit
            request = self.requests[code] = replace(request, status=RequestStatus.APPOINTMENT_PROPOSED, visit=shown)
        return request.status

    async def reschedule_visit(self, ward_code: str, code: str, visit: Visit, *, as_of: datetime) -> bool:
        request = self.requests.get(code)
        if request is None or request.ward_code != ward_code:
            raise LookupError(code)
        if code in self.rescheduled_at and self.rescheduled_at[code] >= as_of:
            return False
        self.requests[code], self.rescheduled_at[code] = replace(request, visit=visit), as_of
        return True


class FakeRequestLifecycle:
    """The lifecycle's storage in memory, keeping the promises of `RequestLifecycle`."""

    def __init__(self, *requests: Progress) -> None:
        self.requests = {r.code: r for r in requests}
        self.events: list[Envelope[EventData]] = []
        self.collide = 0  # how many next stores find the request changed by someone else

    async def progress(self, code: str, ward_code: str | None = None) -> Progress | None:
        request = self.requests.get(code)
        return request if request and ward_code in (None, request.ward_code) else None

    async def store(self, change: Change | SurveyChange) -> bool:
        request = self.requests[change.code]
        if self.collide:
            self.collide -= 1
            self.requests[change.code] = replace(request, revision=request.revision + 1)
            return False
        if request.revision != change.revision or request.ward_code != change.ward_code:
            return False
        if isinstance(change, Change):
            request = replace(request, status=change.status, last_update=change.fingerprint)
            if isinstance(appointment := change.records.get("appointment"), Appointment):
                request = replace(request, appointment=appointment, appointment_agreed=True)
        else:
            request = replace(request, survey=change.answer, survey_replaced=change.replaces)
        self.requests[change.code] = replace(request, revision=request.revision + 1)
        self.events.append(change.event)
        return True


class FakeServedWards:
    def __init__(self, *ward_codes: str) -> None:
        self.wards, self.as_of = frozenset(ward_codes), datetime.min.replace(tzinfo=UTC)

    def serves(self, ward_code: str) -> bool:
        return ward_code in self.wards

    async def record(self, ward_codes: tuple[str, ...], as_of: datetime) -> None:
        if as_of > self.as_of:
            self.wards, self.as_of = frozenset(ward_codes), as_of

    async def load(self) -> None:
        """One process: nothing kept elsewhere to read."""
