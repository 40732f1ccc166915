"""intake's handlers on its storage in memory: a registration stored once with what it announces,
and a booked visit moving the request on."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from uuid import uuid4

import pytest

from gandan.intake.domain import (
    HomeRequestDetails,
    IdempotencyKey,
    IdempotencyKeyReused,
    OpenRequestExists,
    RequestStatus,
    Visit,
    WardNotServed,
)
from gandan.intake.handlers import record_visit_scheduled, record_wards_served, register_home_request
from gandan.shared.events import WardsServed
from gandan.testing import factories
from gandan.testing.factories import envelope

from .fakes import FakeHomeRequests, FakeServedWards
from .test_domain import a_request

KEY = b"k" * 32
NOW = datetime(2026, 6, 3, 14, 15, tzinfo=UTC)


@pytest.fixture
def requests() -> FakeHomeRequests:
    return FakeHomeRequests()


def details(**changes) -> HomeRequestDetails:
    values = {k: v for k, v in asdict(a_request()).items() if k in HomeRequestDetails.__dataclass_fields__}
    return HomeRequestDetails(**values | changes)


def register(requests: FakeHomeRequests, key: IdempotencyKey | None = None, served: FakeServedWards | None = None):
    return partial(
        register_home_request,
        key=key,
        repository=requests,
        served=served or FakeServedWards("11002", "11359"),
        pseudonym_key=KEY,
        correlation_id=uuid4(),
        now=NOW,
    )


async def test_a_registration_is_stored_with_its_two_events(requests):
    request = await register(requests)(details())

    assert requests.requests == {request.code: request}
    contact, registered = requests.outbox[request.code]
    assert (contact.type, registered.type) == ("contact.registered", "request.registered")
    assert {contact.producer, registered.producer} == {"intake"}
    assert contact.correlation_id == registered.correlation_id


async def test_a_code_another_request_holds_is_drawn_again(requests, monkeypatch):
    taken = await register(requests)(details())
    draws = iter([taken.code, "GD-NEWCODE"])
    monkeypatch.setattr("gandan.intake.handlers.new_request_code", lambda: next(draws))

    request = await register(requests)(details(name="Trần Thị Bình", phone="0987654321"))

    assert request.code == "GD-NEWCODE"
    assert requests.requests[taken.code].name == taken.name


async def test_a_key_stands_for_its_first_registration_and_refuses_other_details(requests):
    key = IdempotencyKey("11002", "leader-thanh-xa", "k-1")
    first = await register(requests, key)(details())

    assert await register(requests, key)(details()) == first
    with pytest.raises(IdempotencyKeyReused):
        await register(requests, key)(details(procedure="Chứng thực bản sao"))
    assert list(requests.requests) == [first.code]


async def test_a_ward_dispatch_does_not_serve_is_refused_and_nothing_is_stored(requests):
    with pytest.raises(WardNotServed):
        await register(requests, served=FakeServedWards("11359"))(details(ward_code="11002"))
    with pytest.raises(WardNotServed):
        await register(requests, served=FakeServedWards())(details(ward_code="11002"))  # none announced yet
    assert requests.requests == {}


async def test_a_ward_is_served_once_announced_and_until_a_later_announcement_drops_it(requests):
    served = FakeServedWards()
    announced = envelope(WardsServed(ward_codes=("11002",), as_of=NOW))
    await record_wards_served(announced, served=served)
    request = await register(requests, served=served)(details(ward_code="11002"))

    await record_wards_served(envelope(WardsServed(ward_codes=("11359",), as_of=NOW + timedelta(1))), served=served)
    await record_wards_served(announced, served=served)  # an older one, late: changes nothing

    assert list(requests.requests) == [request.code]
    with pytest.raises(WardNotServed):
        await register(requests, served=served)(details(ward_code="11002", phone="0987654321"))


async def test_a_second_open_request_for_the_same_citizen_and_procedure_is_refused_naming_the_first(requests):
    first = await register(requests)(details(procedure="Cấp bản sao trích lục khai sinh"))

    for typed in ("Cấp bản sao trích lục khai sinh", "  cấp bản sao  TRÍCH LỤC khai sinh "):
        with pytest.raises(OpenRequestExists) as refused:
            await register(requests)(details(procedure=typed, preferred_date=first.preferred_date + timedelta(1)))
        assert refused.value.existing_code == first.code
    assert list(requests.requests) == [first.code]


async def test_another_procedure_or_another_citizen_is_a_new_request(requests):
    first = await register(requests)(details())
    other_procedure = await register(requests)(details(procedure="Chứng thực bản sao từ bản chính"))
    other_citizen = await register(requests)(details(phone="0987654321"))
    other_ward = await register(requests)(details(ward_code="11359"))  # another ward: another citizen_ref

    assert len({first.code, other_procedure.code, other_citizen.code, other_ward.code}) == 4


async def test_a_retry_with_its_key_gets_the_first_answer_not_a_conflict(requests):
    key = IdempotencyKey("11002", "leader-thanh-xa", "k-2")
    first = await register(requests, key)(details())

    assert await register(requests, key)(details()) == first


def visit_scheduled(request_code: str, ward_code: str = "11002"):
    return envelope(factories.visit_scheduled(NOW + timedelta(days=2), request_code=request_code), ward_code=ward_code)


async def test_a_booked_visit_moves_the_request_on(requests):
    request = await register(requests)(details())
    event = visit_scheduled(request.code)

    await record_visit_scheduled(event, repository=requests)
    await record_visit_scheduled(event, repository=requests)  # redelivered: the same again

    assert requests.requests[request.code] == replace(
        request,
        status=RequestStatus.APPOINTMENT_PROPOSED,
        visit=Visit(event.data.starts_at, event.data.ends_at, "Lê Văn Giang", "Đông Đức Hợp"),
    )


@pytest.mark.parametrize("ward_code", ["11002", "11359"])
async def test_a_visit_for_a_request_not_found_in_its_ward_is_refused(requests, ward_code):
    request = await register(requests)(details())
    code = "GD-NOTHERE" if ward_code == "11002" else request.code

    with pytest.raises(LookupError):
        await record_visit_scheduled(visit_scheduled(code, ward_code), repository=requests)

    assert requests.requests[request.code] == request
