"""A crash of the database loses nothing and invents nothing.

The four services run as separate processes, on the real broker, against a
database server process of this test's own with its data on disk. A burst of
registrations is sent; part-way through, the database process is killed with
SIGKILL and started again on the same data and port. The client retries each
failed POST with the same Idempotency-Key until it is accepted, as a citizen's
app would. Then every registration must have become exactly one request, with
one visit (and its three messages) or one recorded refusal, and evidence of
every event once.
"""

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from gandan.dispatch.roster import load_roster
from gandan.shared.events import ProcedureField
from gandan.shared.mongo import OPERATION_TIMEOUT_MS
from gandan.shared.topology import Topology
from gandan.system.services import names
from gandan.testing import DatabaseServer, auth, eventually, free_port, ward_not_served
from gandan.testing.factories import home_request_form, in_days

REGISTRATIONS = 300
CONCURRENT = 20
KILL_AFTER = 100  # accepted registrations before the crash: part-way through the burst
POST_ATTEMPTS = 30  # a client gives up after this many tries; none should need half of them
WARD = "11002"


@pytest.fixture
def system(service_env: dict[str, str], database_server: DatabaseServer, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The four services as separate processes, on this test's own database server."""
    ports = {name: free_port() for name in names()}
    env = os.environ | service_env | {"MONGODB_URL": database_server.url, "GANDAN_LOG_LEVEL": "WARNING"}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for name, port in ports.items():
        with (tmp_path / f"{name}.log").open("w") as log:
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", f"gandan.{name}.app"],
                env=env | {f"{name.upper()}_HTTP_PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    try:
        yield {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for name, process in processes.items():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail(f"{name} did not stop on SIGTERM")


def registrations() -> list[dict[str, Any]]:
    """Spread over the ward's residential groups, fields, dates and windows, so most can be booked."""
    groups = [group.name for group in load_roster(WARD).groups]
    fields = itertools.cycle(ProcedureField)
    return [
        home_request_form(
            phone=f"091{number:07d}",
            residential_group=groups[number % len(groups)],
            address=f"Số {number + 1}, tổ dân phố {groups[number % len(groups)]}",
            category="nguoi_gia_yeu_co_don",
            procedure="Chứng thực bản sao từ bản chính",
            field=next(fields).value,
            preferred_date=in_days(2 + number % 45).isoformat(),
            time_window=("morning", "afternoon")[number % 2],
        )
        for number in range(REGISTRATIONS)
    ]


@dataclass
class Burst:
    codes: dict[str, str] = field(default_factory=dict)  # idempotency key -> request code
    retries: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # what the retried tries answered


async def send_burst(intake: str, database_server: DatabaseServer, down_seconds: float) -> Burst:
    burst = Burst()
    slots = asyncio.Semaphore(CONCURRENT)
    heard_by = time.monotonic() + 120  # intake hears dispatch's first start: seeding, then announcing
    enough_accepted = asyncio.Event()

    async def register(client: httpx.AsyncClient, number: int, body: dict[str, Any]) -> None:
        key = f"burst-{number}"
        async with slots:
            for attempt in range(POST_ATTEMPTS):
                if attempt:
                    burst.retries += 1
                    await asyncio.sleep(min(0.25 * attempt, 2.0))
                try:
                    answer = await client.post(
                        f"{intake}/v1/home-requests", json=body, headers=auth(WARD) | {"Idempotency-Key": key}
                    )
                    # Intake has not yet heard dispatch's announcement: waiting for it is not a try.
                    while ward_not_served(answer) and time.monotonic() < heard_by:
                        await asyncio.sleep(0.5)
                        answer = await client.post(
                            f"{intake}/v1/home-requests", json=body, headers=auth(WARD) | {"Idempotency-Key": key}
                        )
                except httpx.TransportError as error:
                    burst.failures[type(error).__name__] += 1
                    continue
                if answer.status_code == 202:
                    burst.codes[key] = answer.json()["request_code"]
                    if len(burst.codes) >= KILL_AFTER:
                        enough_accepted.set()
                    return
                burst.failures[str(answer.status_code)] += 1
                # While the database is away: 503 in the documented shape, with when to try again.
                assert answer.status_code == 503, f"{key}: {answer.status_code} {answer.text}"
                assert answer.headers["Retry-After"].isdigit()
                assert answer.json()["errors"][0]["code"] == "temporarily_unavailable"
            pytest.fail(f"{key} was not accepted after {POST_ATTEMPTS} tries: {burst.failures}")

    async def crash() -> None:
        await enough_accepted.wait()
        database_server.kill()
        await asyncio.sleep(down_seconds)
        await asyncio.to_thread(database_server.start)

    async with httpx.AsyncClient(timeout=15) as client:
        crashing = asyncio.create_task(crash())
        await asyncio.gather(*(register(client, n, body) for n, body in enumerate(registrations())))
        await crashing
    return burst


async def all_ready(urls: dict[str, str]) -> bool:
    async with httpx.AsyncClient(timeout=5) as client:
        try:
            answers = [await client.get(f"{url}/health/ready") for url in urls.values()]
        except httpx.TransportError:  # not listening yet
            return False
    return all(a.status_code == 200 for a in answers)


async def dead_letters(rabbitmq_url: str, topology: Topology) -> dict[str, int | None]:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        counts = {}
        for service in names():
            queue = await channel.declare_queue(topology.dead_letter_queue(service).name, passive=True)
            counts[service] = queue.declaration_result.message_count
    return counts


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "down_seconds",
    [
        pytest.param(1.5, id="down-1.5s"),  # the driver's retries bridge it: callers only wait
        # Longer than an operation may take: answers fail (the client retries), handlers fail (the consumer retries).
        pytest.param(OPERATION_TIMEOUT_MS / 1000 + 1, id="down-longer-than-an-operation"),
    ],
)
async def test_a_database_crash_during_a_burst_loses_nothing_and_invents_nothing(
    system, database_server: DatabaseServer, namespace: str, rabbitmq_url: str, down_seconds: float
):
    await eventually(lambda: all_ready(system), timeout=90, what="all four services ready")

    started = time.monotonic()
    burst = await send_burst(system["intake"], database_server, down_seconds)
    sent_in = time.monotonic() - started
    print(
        f"\n{len(burst.codes)} accepted (202) in {sent_in:.1f} s; {burst.retries} retried tries; "
        f"what they had answered: {dict(burst.failures)}"
    )

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(database_server.url, tz_aware=True)
    db = {name: client[f"{namespace}_{name}"] for name in names()}
    try:
        # Every registration was accepted, under a code of its own.
        assert len(burst.codes) == REGISTRATIONS
        assert len(set(burst.codes.values())) == REGISTRATIONS

        # Each stored once: no request twice (by client key or by phone), none lost.
        requests = await db["intake"]["home_requests"].find({}, {"outbox": 0}).to_list()
        stored = {r["_id"] for r in requests}
        accepted = set(burst.codes.values())
        assert not accepted - stored, f"{len(accepted - stored)} accepted requests were not stored"
        assert not stored - accepted, f"{len(stored - accepted)} requests stored that no answer named"
        assert Counter(r["idempotency"]["key"] for r in requests) == Counter(dict.fromkeys(burst.codes, 1))
        assert len({r["phone"] for r in requests}) == REGISTRATIONS

        async def settled() -> dict[str, Any] | None:
            visits = await db["dispatch"]["visits"].find({}, {"request_code": 1, "outbox": 1}).to_list()
            refused = await db["dispatch"]["unassigned_requests"].find({}, {"request_code": 1}).to_list()
            handled = Counter(d["request_code"] for d in visits + refused)
            if len(handled) < REGISTRATIONS:
                return None
            booked = {v["request_code"] for v in visits}
            messages = await db["notify"]["messages"].find({}, {"request_code": 1, "status": 1}).to_list()
            if len(messages) < 3 * len(booked) or any(m["status"] in ("created", "sending") for m in messages):
                return None
            evidence = await db["audit"]["events"].find({}, {"type": 1, "request_code": 1, "data": 1}).to_list()
            # The journeys' own evidence (dispatch's start leaves some too, without a request code).
            told = len(refused)  # each refusal's `visit.unassignable` to the ward's leadership
            if len([e for e in evidence if e.get("request_code")]) < 2 * REGISTRATIONS + 4 * len(booked) + told:
                return None
            scheduled = await db["intake"]["home_requests"].count_documents({"status": "appointment_proposed"})
            if scheduled < len(booked):
                return None
            return {"visits": visits, "refused": refused, "messages": messages, "evidence": evidence}

        state = await eventually(settled, timeout=120, what="every request handled, messaged and recorded")
        print(
            f"settled {time.monotonic() - started:.1f} s after the first POST: "
            f"{len(state['visits'])} visits, {len(state['refused'])} refusals"
        )

        # One visit or one refusal per request, never both, never two.
        handled = Counter(d["request_code"] for d in state["visits"] + state["refused"])
        assert set(handled) == set(burst.codes.values())
        assert set(handled.values()) == {1}, [code for code, n in handled.items() if n > 1]
        booked = {v["request_code"] for v in state["visits"]}

        # Three messages per visit, each sent.
        messages = Counter(m["request_code"] for m in state["messages"])
        assert messages == Counter(dict.fromkeys(booked, 3))
        assert {m["status"] for m in state["messages"]} == {"sent"}

        # Evidence of every event once: two per request, one per visit, one per refusal, one per message.
        evidence = state["evidence"]
        per_request = Counter((e["type"], e["request_code"]) for e in evidence if e["type"].endswith(".registered"))
        assert per_request == Counter(
            {(kind, code): 1 for code in burst.codes.values() for kind in ("contact.registered", "request.registered")}
        )
        assert Counter(e["request_code"] for e in evidence if e["type"] == "visit.scheduled") == Counter(
            dict.fromkeys(booked, 1)
        )
        outcomes = Counter(e["data"]["message_id"] for e in evidence if e["type"].startswith("notification."))
        assert outcomes == Counter({m["_id"]: 1 for m in state["messages"]})
        # And of dispatch's first start: each shipped roster stored (with its announcement of the
        # wards served), then the announcement of them all; each kept once.
        starting = Counter(e["type"] for e in evidence if not e.get("request_code"))
        assert starting == {"roster.changed": 3, "wards.served": 4}
        served = [e["data"]["ward_codes"] for e in evidence if e["type"] == "wards.served"]
        assert ["10672", "11002", "11359"] in served
        refused = {r["request_code"] for r in state["refused"]}
        assert Counter(e["request_code"] for e in evidence if e["type"] == "visit.unassignable") == Counter(
            dict.fromkeys(refused, 1)
        )
        assert len(evidence) == 2 * REGISTRATIONS + 4 * len(booked) + len(refused) + starting.total()

        # Intake knows of every visit; every outbox went out; nothing was dead-lettered.
        assert await db["intake"]["home_requests"].count_documents({"status": "appointment_proposed"}) == len(booked)

        async def unpublished() -> int:
            return sum(
                [
                    await db[name][collection].count_documents({"outbox": {"$elemMatch": {"published_at": None}}})
                    for name, collection in (
                        ("intake", "home_requests"),
                        ("dispatch", "visits"),
                        ("dispatch", "unassigned_requests"),
                        ("notify", "messages"),
                    )
                ]
            )

        await eventually(unpublished, lambda n: n == 0, timeout=30, what="every outbox entry published")
        assert await dead_letters(rabbitmq_url, Topology(namespace)) == dict.fromkeys(names(), 0)
    finally:
        await client.close()
