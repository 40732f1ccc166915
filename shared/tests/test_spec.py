"""A service's handlers get what they need when it is composed, or it does not start."""

import re

import pytest

from gandan.shared.events import Envelope, RequestRegistered
from gandan.shared.service import Service
from gandan.shared.settings import ServiceSettings
from gandan.shared.spec import ServiceSpec


async def book(event: Envelope[RequestRegistered], *, repository: object, clock: object) -> None:
    raise AssertionError("not called here")


SPEC = ServiceSpec(name="booking", settings=ServiceSettings, produces=(), handlers={"request.registered": book})


@pytest.fixture
def service(service_settings) -> Service:
    return Service(SPEC, ServiceSettings())


def test_a_handler_missing_what_it_needs_stops_the_composition(service):
    with pytest.raises(TypeError, match=re.escape("booking: the handler of request.registered needs clock")):
        service.consume(repository=object())


def test_something_given_that_no_handler_needs_stops_the_composition(service):
    with pytest.raises(TypeError, match="booking: no handler needs relay"):
        service.consume(repository=object(), clock=object(), relay=object())


def test_the_port_setting_and_database_come_from_the_spec():
    assert (SPEC.http_port_variable, SPEC.default_http_port, SPEC.database("t1")) == ("HTTP_PORT", 8000, "t1_booking")
    assert SPEC.bindings == ("request.registered",)
