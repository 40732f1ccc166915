"""A crash of intake between storing a change and publishing its event loses nothing and invents
nothing (issue 8, item 8).

intake runs as a process of its own on the real broker and database. A burst of registrations, then
a burst of lifecycle updates (appointments agreed, on the phone) from 20 clients at once; part-way
through the updates intake is killed with SIGKILL, while its relay still holds events it has not
published, and started again. Clients retry what got no answer, with the same body, as an app
would. Then every stored change has its event published (at least once, under its one id), nothing
is published that was not stored, and no update is stored twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from gandan.shared.clock import utcnow
from gandan.shared.events import SEVERAL_WARDS, WardsServed
from gandan.shared.topology import Topology
from gandan.system.services import declare
from gandan.testing import auth, eventually, free_port, ward_not_served
from gandan.testing.factories import envelope, home_request_form

REQUESTS = 120
CONCURRENT = 20
KILL_AFTER = 40  # updates answered before the crash
WARD = "11002"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")


class Intake:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = os.environ | env | {"INTAKE_HTTP_PORT": str(self.port), "GANDAN_LOG_LEVEL": "WARNING"}
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gandan.intake.app"], env=self._env, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    async def ready(self) -> bool:
        async with httpx.AsyncClient(timeout=5) as client:
            try:
                return (await client.get(f"{self.url}/health/ready")).status_code == 200
            except httpx.TransportError:
                return False


@pytest.fixture
def intake(service_env: dict[str, str], tmp_path: Path) -> Iterator[Intake]:
    process = Intake(service_env, tmp_path / "intake.log")
    try:
        yield process
    finally:
        if process.process and process.process.poll() is None:
            process.process.send_signal(signal.SIGTERM)
            process.process.wait(30)


async def counting_queue(rabbitmq_url: str, topology: Topology) -> str:
    """A queue of the test's own that gets a copy of every event published."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{topology.namespace}.test-count", durable=True)
        await queue.bind(topology.events.name, routing_key="#")
        return queue.name


async def published_ids(rabbitmq_url: str, queue_name: str) -> Counter[str]:
    connection = await aio_pika.connect(rabbitmq_url)
    ids: Counter[str] = Counter()
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True, passive=True)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            ids[json.loads(message.body)["id"]] += 1
    return ids


async def send(client: httpx.AsyncClient, method: str, url: str, body: dict[str, Any]) -> httpx.Response:
    """Until answered, as an app retries: the same body again after no answer or a 503."""
    for _ in range(200):
        try:
            answer = await client.request(method, url, json=body, headers=auth(WARD))
        except httpx.TransportError:
            await asyncio.sleep(0.1)
            continue
        # Unavailable, or not yet told by dispatch's announcement that the ward is served.
        if answer.status_code != 503 and not ward_not_served(answer):
            return answer
        await asyncio.sleep(0.1)
    pytest.fail(f"no answer from {url}")


@pytest.mark.timeout(240)
async def test_a_crash_of_intake_between_write_and_publish_loses_no_event_and_invents_none(
    intake: Intake, namespace: str, rabbitmq_url: str, mongodb_url: str, publish: Callable[..., Awaitable[None]]
):
    topology = Topology(namespace)
    await declare(rabbitmq_url, namespace)  # every service's queue, as the launcher does
    # What dispatch announces at its start; sent before the count starts, so not counted.
    await publish(envelope(WardsServed(ward_codes=(WARD,), as_of=utcnow()), ward_code=SEVERAL_WARDS))
    queue_name = await counting_queue(rabbitmq_url, topology)
    intake.start()
    await eventually(intake.ready, timeout=60, what="intake ready")
    slots = asyncio.Semaphore(CONCURRENT)

    async with httpx.AsyncClient(timeout=15) as client:

        async def register(number: int) -> str:
            async with slots:
                body = home_request_form(phone=f"091{number:07d}")
                answer = await send(client, "POST", f"{intake.url}/v1/home-requests", body)
                assert answer.status_code == 202, answer.text
                return str(answer.json()["request_code"])

        codes = await asyncio.gather(*(register(n) for n in range(REQUESTS)))

        starts = (datetime.now(HCM) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
        appointment = {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=1)).isoformat()}
        answered = 0
        crashed = asyncio.Event()
        pending_at_crash: list[int] = []

        async def agree(code: str) -> httpx.Response:
            nonlocal answered
            async with slots:
                answer = await send(client, "POST", f"{intake.url}/v1/home-requests/{code}/appointment", appointment)
                answered += 1
                if answered == KILL_AFTER and not crashed.is_set():
                    crashed.set()
                    intake.kill()
                    pending_at_crash.append(await unpublished(mongodb_url, namespace))
                    intake.start()
                return answer

        answers = await asyncio.gather(*(agree(code) for code in codes))

    print(f"\n{pending_at_crash[0]} requests held events stored and not yet published when intake was killed")
    assert pending_at_crash[0] > 0, "the relay had drained before the crash: this run proves nothing"
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["status"] for a in answers} == {"appointment_agreed"}

    await eventually(intake.ready, timeout=60, what="intake ready again")
    # The killed process's leases (30 s) end first: only then may the new one publish what it held.
    await eventually(lambda: unpublished(mongodb_url, namespace), lambda n: n == 0, timeout=90, what="all published")

    client_db: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    try:
        documents = await client_db[f"{namespace}_intake"]["home_requests"].find({}, {"outbox": 1}).to_list()
    finally:
        await client_db.close()
    stored = {e["event_id"]: e["event"]["type"] for d in documents for e in d["outbox"]}
    # Each update stored once: one appointment.agreed per request, whatever was retried.
    per_request = Counter(
        d["_id"] for d in documents for e in d["outbox"] if e["event"]["type"] == "appointment.agreed"
    )
    assert per_request == Counter(dict.fromkeys(codes, 1))
    assert Counter(stored.values()) == {
        "contact.registered": REQUESTS,
        "request.registered": REQUESTS,
        "appointment.agreed": REQUESTS,
    }

    ids: Counter[str] = Counter()

    async def every_stored_event_arrived() -> bool:
        ids.update(await published_ids(rabbitmq_url, queue_name))
        return set(ids) >= set(stored)

    await eventually(every_stored_event_arrived, timeout=30, what="every stored event on the bus")
    assert set(ids) == set(stored), "an event was published that intake never stored"
    print(f"{sum(ids.values()) - len(ids)} published twice (same id) after the crash")


async def unpublished(mongodb_url: str, namespace: str) -> int:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    try:
        requests = client[f"{namespace}_intake"]["home_requests"]
        return await requests.count_documents({"outbox": {"$elemMatch": {"published_at": None}}})
    finally:
        await client.close()
