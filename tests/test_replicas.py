"""Two replicas of every service do not double anything.

Two processes of each of the four services run against one broker and one database
server, as a city installation runs them. A burst of registrations is spread over both
intake replicas. Then every registration must have become one request, one visit or
refusal, three messages each sent once, evidence of each event once; every event went
out on the bus once (the outbox leases: no two relays publish one entry); nothing was
dead-lettered.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from gandan.dispatch.roster import load_roster
from gandan.shared.events import ProcedureField
from gandan.shared.topology import Topology
from gandan.system import services as system
from gandan.testing import DatabaseServer, auth, eventually, free_port
from gandan.testing.factories import home_request_form, in_days

REPLICAS = 2
REGISTRATIONS = 120
CONCURRENT = 16
WARD = "11002"


@pytest.fixture
def replicas(
    service_env: dict[str, str], database_server: DatabaseServer, tmp_path: Path
) -> Iterator[dict[str, list[str]]]:
    """Two processes of each service, on this test's own database server: each one's base URL."""
    env = os.environ | service_env | {"MONGODB_URL": database_server.url, "GANDAN_LOG_LEVEL": "WARNING"}
    processes: list[subprocess.Popen[bytes]] = []
    urls: dict[str, list[str]] = {}
    try:
        for name in system.names():
            for replica in range(REPLICAS):
                port = free_port()
                with (tmp_path / f"{name}-{replica}.log").open("w") as log:
                    processes.append(
                        subprocess.Popen(
                            [sys.executable, "-m", f"gandan.{name}.app"],
                            env=env | {f"{name.upper()}_HTTP_PORT": str(port)},
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    )
                urls.setdefault(name, []).append(f"http://127.0.0.1:{port}")
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
async def on_the_bus(rabbitmq_url: str, namespace: str) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A queue of the test's own bound to every event: what the relays published, each time they did."""
    await system.declare(rabbitmq_url, namespace)
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{namespace}.spy", durable=False)
        await queue.bind(Topology(namespace).events.name, "#")
        yield queue
        await queue.delete(if_unused=False, if_empty=False)


async def all_ready(urls: dict[str, list[str]]) -> bool:
    async with httpx.AsyncClient(timeout=5) as client:
        try:
            answers = [await client.get(f"{url}/health/ready") for each in urls.values() for url in each]
        except httpx.TransportError:  # not listening yet
            return False
    return all(a.status_code == 200 for a in answers)


async def send_burst(intakes: list[str]) -> list[str]:
    slots = asyncio.Semaphore(CONCURRENT)
    groups = [group.name for group in load_roster(WARD).groups]
    fields = list(ProcedureField)

    async def register(client: httpx.AsyncClient, number: int) -> str:
        group = groups[number % len(groups)]
        body = home_request_form(
            phone=f"092{number:07d}",
            residential_group=group,
            address=f"Số {number + 1}, tổ dân phố {group}",
            field=fields[number % len(fields)].value,
            procedure="Chứng thực bản sao từ bản chính",
            preferred_date=in_days(2 + number % 40).isoformat(),
            time_window=("morning", "afternoon")[number % 2],
        )
        async with slots:
            answer = await client.post(
                f"{intakes[number % len(intakes)]}/v1/home-requests", json=body, headers=auth(WARD)
            )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["request_code"])

    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(*(register(client, n) for n in range(REGISTRATIONS)))


async def published_ids(queue: aio_pika.abc.AbstractQueue) -> Counter[str]:
    ids: Counter[str] = Counter()
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        ids[json.loads(message.body)["id"]] += 1
    return ids


@pytest.mark.timeout(300)
async def test_two_replicas_of_each_service_do_every_effect_once(
    replicas, on_the_bus, database_server: DatabaseServer, namespace: str, rabbitmq_url: str
):
    await eventually(lambda: all_ready(replicas), timeout=120, what="both replicas of every service ready")
    codes = await send_burst(replicas["intake"])
    assert len(set(codes)) == REGISTRATIONS

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(database_server.url, tz_aware=True)
    db = {name: client[f"{namespace}_{name}"] for name in system.names()}
    try:

        async def settled() -> dict[str, Any] | None:
            visits = await db["dispatch"]["visits"].find({}, {"request_code": 1}).to_list()
            refused = await db["dispatch"]["unassigned_requests"].find({}, {"request_code": 1}).to_list()
            if len({d["request_code"] for d in visits + refused}) < REGISTRATIONS:
                return None
            messages = await db["notify"]["messages"].find({}, {"request_code": 1, "status": 1}).to_list()
            if len(messages) < 3 * len(visits) or any(m["status"] == "pending" for m in messages):
                return None
            evidence = await db["audit"]["events"].find({}, {"type": 1, "request_code": 1, "data": 1}).to_list()
            # A journey's evidence: what names its request (each dispatch also announces its wards).
            told = len(refused)  # each refusal's `visit.unassignable` to the ward's leadership
            if len([e for e in evidence if e.get("request_code")]) < 2 * REGISTRATIONS + 4 * len(visits) + told:
                return None
            return {"visits": visits, "refused": refused, "messages": messages, "evidence": evidence}

        state = await eventually(settled, timeout=180, what="every request handled, messaged and recorded")

        handled = Counter(d["request_code"] for d in state["visits"] + state["refused"])
        assert set(handled) == set(codes) and set(handled.values()) == {1}
        booked = {v["request_code"] for v in state["visits"]}
        assert booked, "nothing could be booked: the test proves nothing"
        assert Counter(m["request_code"] for m in state["messages"]) == Counter(dict.fromkeys(booked, 3))
        assert {m["status"] for m in state["messages"]} == {"sent"}

        evidence = state["evidence"]
        told = len(state["refused"])
        assert len([e for e in evidence if e.get("request_code")]) == 2 * REGISTRATIONS + 4 * len(booked) + told
        outcomes = Counter(e["data"]["message_id"] for e in evidence if e["type"].startswith("notification."))
        assert outcomes == Counter({m["_id"]: 1 for m in state["messages"]}), "a message was sent twice"

        async def unpublished() -> int:
            pending = {"outbox": {"$elemMatch": {"published_at": None}}}
            return sum(
                [
                    await db[name][collection].count_documents(pending)
                    for name, collection in (
                        ("intake", "home_requests"),
                        ("dispatch", "visits"),
                        ("dispatch", "unassigned_requests"),
                        ("notify", "messages"),
                    )
                ]
            )

        await eventually(unpublished, lambda n: n == 0, timeout=30, what="every outbox entry published")
        # Each event went out once: no two replicas' relays published one entry.
        on_bus = await published_ids(on_the_bus)
        assert len(on_bus) == len(evidence)
        assert {n for n in on_bus.values()} == {1}, [i for i, n in on_bus.items() if n > 1][:5]

        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            for name in system.names():
                dead = await channel.declare_queue(Topology(namespace).dead_letter_queue(name).name, passive=True)
                assert dead.declaration_result.message_count == 0, f"{name} dead-lettered something"
    finally:
        await client.close()
