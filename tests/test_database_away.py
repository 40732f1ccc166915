"""While the database server is away, every endpoint of every service answers 503 in the
documented error shape with Retry-After, within a bounded time: never a plain-text 500, never
a hang. The services run on the real broker against a SecantusDB process of the test's own,
which the test kills (SIGKILL) or freezes (SIGSTOP: a server that accepts and never answers)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from gandan.audit.app import build as build_audit
from gandan.intake.app import build as build_intake
from gandan.notify.app import build as build_notify
from gandan.shared.http import RESPONSE_DEADLINE_SECONDS, RETRY_AFTER_SECONDS, ErrorBody
from gandan.shared.launcher import reachable
from gandan.shared.testing import auth, free_port, serving

WARD = "11002"


def form() -> dict[str, str]:
    return {
        "name": "Nguyễn Văn An",
        "phone": "0912345678",
        "ward_code": WARD,
        "residential_group": "Thanh Xá",
        "address": "Số 12 ngõ 3, tổ dân phố Thanh Xá",
        "category": "thuong_binh",
        "procedure": "Cấp bản sao trích lục khai sinh",
        "field": "ho_tich",
        "preferred_date": (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() + timedelta(days=4)).isoformat(),
        "time_window": "morning",
        "result_delivery": "post",
    }


@pytest.fixture
def database_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A throwaway SecantusDB of this test's own, which the test may kill."""
    port = free_port()
    server = shutil.which("secantusd-py", path=str(Path(sys.executable).parent)) or "secantusd-py"
    with (tmp_path / "server.log").open("w") as log:
        process = subprocess.Popen(
            [server, "--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not reachable("127.0.0.1", port):
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        yield process, f"mongodb://127.0.0.1:{port}/"
    finally:
        process.kill()  # also ends a stopped process
        process.wait(10)


@pytest.fixture
async def clients(
    service_settings, database_process, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """intake, notify and audit, running against the test's own database server."""
    monkeypatch.setenv("MONGODB_URL", database_process[1])
    async with AsyncExitStack() as stack:
        yield {
            name: await stack.enter_async_context(serving(*build()))
            for name, build in (("intake", build_intake), ("notify", build_notify), ("audit", build_audit))
        }


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


async def test_with_the_database_killed_every_endpoint_answers_503_with_retry_after(clients, database_process):
    intake, notify, audit = clients["intake"], clients["notify"], clients["audit"]
    # Up: the endpoints work, so what follows is the database's doing.
    assert (await intake.post("/v1/home-requests", json=form(), headers=auth(WARD))).status_code == 202
    assert (await notify.get("/v1/messages", headers=auth(WARD))).status_code == 200

    database_process[0].send_signal(signal.SIGKILL)
    database_process[0].wait(10)

    answers = await asyncio.gather(
        timed(intake.post("/v1/home-requests", json=form(), headers=auth(WARD))),
        timed(intake.get("/v1/home-requests/GD-ZZZZZZZ", headers=auth(WARD))),
        timed(notify.get("/v1/messages", headers=auth(WARD))),
        timed(audit.get("/v1/requests/GD-ZZZZZZZ/trail", headers=auth(WARD))),
    )
    for response, seconds in answers:
        assert_unavailable(response, seconds)


async def test_a_database_that_never_answers_gets_503_at_the_deadline(clients, database_process):
    intake = clients["intake"]
    assert (await intake.post("/v1/home-requests", json=form(), headers=auth(WARD))).status_code == 202

    os.kill(database_process[0].pid, signal.SIGSTOP)
    try:
        answers = await asyncio.gather(
            timed(intake.post("/v1/home-requests", json=form(), headers=auth(WARD))),
            timed(intake.get("/v1/home-requests/GD-ZZZZZZZ", headers=auth(WARD))),
        )
    finally:
        # Killed before the services stop: closing a client waits for a server that answers.
        database_process[0].kill()
    for response, seconds in answers:
        assert_unavailable(response, seconds)
        assert seconds >= RESPONSE_DEADLINE_SECONDS - 1  # the deadline answered, not the driver
