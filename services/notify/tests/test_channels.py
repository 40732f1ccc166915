"""Each adapter against a local server speaking its provider's documented API, error codes included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from gandan.notify.channels import (
    PERMANENT_FAILURE_NUMBER,
    TEMPORARY_FAILURE_NUMBER,
    DeliveryFailed,
    DevelopmentChannel,
    EsmsChannel,
    Failure,
    Outgoing,
    SpeedSmsChannel,
    ZnsChannel,
)
from gandan.testing import free_port

from .providers import ESMS_KEYS, SPEEDSMS_TOKEN, ZNS_TOKEN, Providers, running

MESSAGE = Outgoing(
    message_id="evt-1/citizen:visit_appointment_citizen",
    phone="0912345678",
    template="visit_appointment_citizen.v2",
    sms_text="P.Thạch Khôi hẹn đến nhà ông/bà Nguyễn Thị Lan lúc 08:00 T2 30/11",
    unicode=True,
    zns_data={"citizen_name": "Nguyễn Thị Lan", "request_code": "GD-AB12CD3"},
)


def to(phone: str) -> Outgoing:
    return Outgoing(**{**MESSAGE.__dict__, "phone": phone, "message_id": f"m-{phone}"})


class NoLimit:
    async def acquire(self, now: datetime) -> float | None:
        return None


@pytest.fixture
def providers() -> Providers:
    return Providers()


@pytest.fixture
async def client(providers: Providers) -> AsyncIterator[httpx.AsyncClient]:
    async with running(providers) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


async def token() -> str:
    return ZNS_TOKEN


def zns(client: httpx.AsyncClient, **options: Any) -> ZnsChannel:
    templates = {"visit_appointment_citizen.v2": "231456"}
    return ZnsChannel(client, access_token=token, templates=templates, **options)


def esms(client: httpx.AsyncClient) -> EsmsChannel:
    api_key, secret_key = ESMS_KEYS
    return EsmsChannel(client, api_key=api_key, secret_key=secret_key, brandname="PHUONG-TK", callback_url="http://cb")


def speedsms(client: httpx.AsyncClient, limit: Any = None) -> SpeedSmsChannel:
    return SpeedSmsChannel(client, sender="PHUONG-TK", limit=limit or NoLimit(), clock=lambda: datetime.now(UTC))


async def failure_of(channel: Any, message: Outgoing) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as failed:
        await channel.send(message)
    return failed.value


# --- Zalo ZNS -----------------------------------------------------------------------


async def test_zns_sends_the_registered_template_by_international_phone_with_our_tracking_id(client, providers):
    assert await zns(client).send(MESSAGE) == "zns-1"

    [(_, body, headers)] = providers.requests
    assert body == {
        "phone": "84912345678",
        "template_id": "231456",
        "template_data": {"citizen_name": "Nguyễn Thị Lan", "request_code": "GD-AB12CD3"},
        "tracking_id": MESSAGE.message_id,
    }
    assert headers["access_token"] == ZNS_TOKEN
    # Sent again (a crash before its outcome was stored): Zalo knows the tracking id, the phone gets one.
    assert await zns(client).send(MESSAGE) == "zns-1"
    assert len(providers.accepted) == 1


async def test_zns_development_mode_asks_zalos_sandbox(client, providers):
    await zns(client, development=True).send(MESSAGE)

    assert providers.requests[0][1]["mode"] == "development"


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        (-118, Failure.UNREACHABLE),  # no Zalo account: SMS follows
        (-108, Failure.PERMANENT),  # invalid phone
        (-100, Failure.TECHNICAL),  # unknown: retried
        (-101, Failure.UNREACHABLE),  # the app, secret or OA: configuration, not retried on ZNS
        (-109, Failure.UNREACHABLE),  # template id
        (-112, Failure.UNREACHABLE),  # template data
        (-144, Failure.UNREACHABLE),  # out of quota (and other refusals): SMS follows
    ],
)
async def test_zns_error_codes(client, providers, code, failure):
    providers.zns_codes["84912345678"] = code

    failed = await failure_of(zns(client), MESSAGE)

    assert failed.failure is failure
    assert str(code) in failed.reason


async def test_zns_without_a_registered_template_leaves_it_to_sms_without_asking_zalo(client, providers):
    failed = await failure_of(zns(client), Outgoing(**{**MESSAGE.__dict__, "template": "other.v1"}))

    assert failed.failure is Failure.UNREACHABLE
    assert providers.requests == []


async def test_a_provider_answering_an_http_error_or_not_at_all_is_a_technical_failure(client, providers):
    providers.fail_http = 502
    assert (await failure_of(zns(client), MESSAGE)).failure is Failure.TECHNICAL
    assert (await failure_of(esms(client), MESSAGE)).failure is Failure.TECHNICAL

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}") as nowhere:
        assert (await failure_of(zns(nowhere), MESSAGE)).failure is Failure.TECHNICAL
        assert (await failure_of(speedsms(nowhere), MESSAGE)).failure is Failure.TECHNICAL


# --- eSMS.vn -------------------------------------------------------------------------


async def test_esms_sends_customer_care_sms_with_our_request_id(client, providers):
    assert await esms(client).send(MESSAGE) == "esms-1"

    [(_, body, _)] = providers.requests
    assert body == {
        "ApiKey": ESMS_KEYS[0],
        "SecretKey": ESMS_KEYS[1],
        "Brandname": "PHUONG-TK",
        "SmsType": "2",
        "Sandbox": "0",
        "CallbackUrl": "http://cb",
        "Phone": "0912345678",
        "Content": MESSAGE.sms_text,
        "IsUnicode": "1",
        "RequestId": MESSAGE.message_id,
    }


async def test_esms_refusing_a_repeated_request_id_means_the_message_is_on_its_way(client, providers):
    await esms(client).send(MESSAGE)

    assert await esms(client).send(MESSAGE) == f"esms-request-{MESSAGE.message_id}"
    assert len(providers.accepted) == 1


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        ("99", Failure.PERMANENT),  # blocked number
        ("108", Failure.PERMANENT),  # phone format
        ("101", Failure.TECHNICAL),  # keys: the operator fixes them, meanwhile retried
        ("103", Failure.TECHNICAL),  # balance
        ("104", Failure.TECHNICAL),  # brandname
        ("140", Failure.TECHNICAL),  # IP not allowed
        ("146", Failure.TECHNICAL),  # template mismatch
    ],
)
async def test_esms_error_codes(client, providers, code, failure):
    providers.esms_codes["0912345678"] = code

    failed = await failure_of(esms(client), MESSAGE)

    assert failed.failure is failure
    assert code in failed.reason


# --- SpeedSMS ------------------------------------------------------------------------


async def test_speedsms_sends_brandname_sms_with_basic_auth(providers):
    async with running(providers) as url, httpx.AsyncClient(base_url=url, auth=(SPEEDSMS_TOKEN, "x")) as client:
        assert await speedsms(client).send(MESSAGE) == "1001"
        providers.speedsms_invalid.add("84912345678")
        assert (await failure_of(speedsms(client), MESSAGE)).failure is Failure.PERMANENT

    [(_, body, headers), _] = providers.requests
    assert body == {"to": ["84912345678"], "content": MESSAGE.sms_text, "sms_type": 3, "sender": "PHUONG-TK"}
    assert headers["authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("code", "failure"),
    [("113", Failure.PERMANENT), ("007", Failure.TECHNICAL), ("110", Failure.TECHNICAL), ("300", Failure.TECHNICAL)],
)
async def test_speedsms_error_codes(providers, code, failure):
    providers.speedsms_codes["84912345678"] = code
    async with running(providers) as url, httpx.AsyncClient(base_url=url, auth=(SPEEDSMS_TOKEN, "x")) as client:
        failed = await failure_of(speedsms(client), MESSAGE)

    assert failed.failure is failure


async def test_speedsms_wrong_token_is_a_technical_failure(client):
    assert (await failure_of(speedsms(client), MESSAGE)).failure is Failure.TECHNICAL


async def test_speedsms_over_its_rate_says_when_to_try_again(providers):
    providers.speedsms_per_minute = 0
    async with running(providers) as url, httpx.AsyncClient(base_url=url, auth=(SPEEDSMS_TOKEN, "x")) as client:
        failed = await failure_of(speedsms(client), MESSAGE)

    assert (failed.failure, failed.retry_after) == (Failure.TECHNICAL, 42)


async def test_speedsms_is_not_asked_while_our_own_limit_says_wait(client, providers):
    class Spent:
        async def acquire(self, now: datetime) -> float | None:
            return 12.5

    failed = await failure_of(speedsms(client, Spent()), MESSAGE)

    assert (failed.failure, failed.retry_after) == (Failure.TECHNICAL, 12.5)
    assert providers.requests == []


# --- development ---------------------------------------------------------------------


async def test_the_development_channel_accepts_everything_and_fails_for_the_simulator_numbers():
    channel = DevelopmentChannel()

    assert await channel.send(MESSAGE) == f"sandbox-{MESSAGE.message_id}"
    assert (await failure_of(channel, to(PERMANENT_FAILURE_NUMBER))).failure is Failure.PERMANENT
    assert (await failure_of(channel, to(TEMPORARY_FAILURE_NUMBER))).failure is Failure.TEMPORARY
