"""Whatever goes wrong inside a service, the caller gets the documented error shape."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from pymongo.errors import AutoReconnect, ExecutionTimeout, OperationFailure

from gandan.shared.http import RETRY_AFTER_SECONDS, Deadline, ErrorBody, install_error_handlers


def app_raising(error: BaseException) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fails")
    async def fails() -> None:
        raise error

    return app


async def get(app, path: str = "/fails") -> httpx.Response:
    # As a real server does: the app's exception is answered, not raised into the client.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


@pytest.mark.parametrize(
    "error",
    [AutoReconnect("connection reset"), ExecutionTimeout("operation exceeded time limit", 50)],
    ids=["connection-lost", "server-timeout"],
)
async def test_a_database_that_cannot_answer_now_is_503_with_retry_after(error):
    response = await get(app_raising(error))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert [e.code for e in ErrorBody.model_validate(response.json()).errors] == ["temporarily_unavailable"]


@pytest.mark.parametrize(
    "error",
    [OperationFailure("unknown operator: $bogus", 2), RuntimeError("bug")],
    ids=["database-refuses-our-command", "bug"],
)
async def test_an_error_of_ours_is_500_in_the_error_shape_not_plain_text(error):
    response = await get(app_raising(error))
    assert response.status_code == 500
    assert "Retry-After" not in response.headers
    assert [e.code for e in ErrorBody.model_validate(response.json()).errors] == ["internal_error"]


async def test_an_answer_that_does_not_start_in_time_is_503():
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(30)
        return {"status": "late"}

    response = await asyncio.wait_for(get(Deadline(app, seconds=0.2), "/slow"), timeout=10)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    ErrorBody.model_validate(response.json())
