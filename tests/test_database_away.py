"""While the database server is away, every endpoint of every service answers 503 in the
documented error shape with Retry-After, within a bounded time: never a plain-text 500, never
a hang. The services run on the real broker against a SecantusDB process of the test's own,
which the test kills (SIGKILL) or freezes (SIGSTOP: a server that accepts and never answers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest

from gandan.audit.app import build as build_audit
from gandan.intake.app import build as build_intake
from gandan.notify.app import build as build_notify
from gandan.shared.clock import utcnow
from gandan.shared.events import WardsServed
from gandan.shared.http import RESPONSE_DEADLINE_SECONDS, RETRY_AFTER_SECONDS, ErrorBody
from gandan.testing import DatabaseServer, auth, eventually, serving, ward_not_served
from gandan.testing.factories import envelope
from gandan.testing.factories import home_request_form as form

WARD = "11002"


@pytest.fixture
async def clients(
    service_settings, database_server: DatabaseServer, monkeypatch: pytest.MonkeyPatch, publish
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """intake, notify and audit, running against the test's own database server; intake told, as
    dispatch would tell it, that the ward is served."""
    monkeypatch.setenv("MONGODB_URL", database_server.url)
    async with AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(serving(*build()))
            for name, build in (("intake", build_intake), ("notify", build_notify), ("audit", build_audit))
        }
        await publish(envelope(WardsServed(ward_codes=(WARD,), as_of=utcnow())))
        await eventually(
            lambda: clients["intake"].post(
                "/v1/home-requests", json=form(procedure="Đăng ký khai tử"), headers=auth(WARD)
            ),
            lambda answer: not ward_not_served(answer),
            what="intake knows the ward is served",
        )
        yield clients


async def timed(request) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    async with asyncio.timeout(60):  # a hang fails here, not at pytest's timeout
        response = await request
    return response, time.monotonic() - started


def assert_unavailable(response: httpx.Response, seconds: float) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    [error] = ErrorBody.model_validate(response.json()).errors
    assert error.code == "temporarily_unavailable"
    assert "thử lại" in error.message
    assert seconds < RESPONSE_DEADLINE_SECONDS + 3, seconds


async def test_with_the_database_killed_every_endpoint_answers_503_with_retry_after(
    clients, database_server: DatabaseServer
):
    intake, notify, audit = clients["intake"], clients["notify"], clients["audit"]
    # Up: the endpoints work, so what follows is the database's doing.
    assert (await intake.post("/v1/home-requests", json=form(), headers=auth(WARD))).status_code == 202
    assert (await notify.get("/v1/messages", headers=auth(WARD))).status_code == 200

    database_server.kill()

    answers = await asyncio.gather(
        timed(intake.post("/v1/home-requests", json=form(), headers=auth(WARD))),
        timed(intake.get("/v1/home-requests/GD-ZZZZZZZ", headers=auth(WARD))),
        timed(notify.get("/v1/messages", headers=auth(WARD))),
        timed(audit.get("/v1/requests/GD-ZZZZZZZ/trail", headers=auth(WARD))),
    )
    for response, seconds in answers:
        assert_unavailable(response, seconds)


async def test_a_database_that_never_answers_gets_503_within_the_bound(clients, database_server: DatabaseServer):
    intake = clients["intake"]
    assert (await intake.post("/v1/home-requests", json=form(), headers=auth(WARD))).status_code == 202

    database_server.freeze()
    try:
        answers = await asyncio.gather(
            timed(intake.post("/v1/home-requests", json=form(), headers=auth(WARD))),
            timed(intake.get("/v1/home-requests/GD-ZZZZZZZ", headers=auth(WARD))),
        )
    finally:
        # Killed before the services stop: closing a client waits for a server that answers.
        database_server.kill()
    for response, seconds in answers:
        assert_unavailable(response, seconds)
