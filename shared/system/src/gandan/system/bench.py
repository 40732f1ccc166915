"""`make bench`: what a journey costs on the real stack, in figures a newcomer can reproduce.

A journey: `POST /v1/home-requests` answered 202 → visit booked → three messages sent →
six evidence records (two registrations, the visit, three outcomes), the last one ending it.

Everything runs here, in a namespace of its own: RabbitMQ (RABBITMQ_URL), a SecantusDB
started as `gandan-up` starts it (`--sync-on-commit`, data on disk in a temporary folder),
the four services as processes, each counting its database commands
(`GANDAN_COMMAND_COUNTS`, `gandan.shared.mongo`). From one run it prints, for an empty
database and again with `--past` past requests and their evidence already stored:
journeys a second at saturation, latency at a light load, database commands and broker
publishes per journey, CPU seconds per thousand journeys and peak memory per process;
and once: the database's and the broker's own limits, the cost of doing nothing, and
whether every query the services ran is backed by an index (`explain`).

`--smoke` does it all in small (about half a minute), so CI keeps it working.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import aio_pika
import httpx
from bson import json_util
from pymongo import AsyncMongoClient, InsertOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection

from gandan.dispatch.roster import load_roster
from gandan.shared.auth import CredentialStore, Role
from gandan.shared.clock import LOCAL_TZ, utcnow
from gandan.shared.events import ProcedureField
from gandan.shared.settings import ServiceSettings
from gandan.shared.topology import Topology
from gandan.system import services as system
from gandan.system.launcher import reachable

Document = dict[str, Any]
WARD = "11002"
EVIDENCE_PER_VISIT = 6  # contact and request registered, visit scheduled, three notification outcomes
EVIDENCE_PER_REFUSAL = 3  # contact and request registered, visit unassignable (to the leadership)
POST_ATTEMPTS = 10  # a registration answered 503 this often is given up (and reported)
# Each service's collections (the outbox's among them) that a past request leaves documents in.
PAST_COLLECTIONS = {
    "intake": ("home_requests",),
    "dispatch": ("visits",),
    "notify": ("contacts", "messages"),
    "audit": ("events",),
}


@dataclass(frozen=True)
class Sizes:
    saturation: int  # registrations sent at once, `concurrent` at a time
    concurrent: int
    light: int  # registrations at `light_rate` a second
    light_rate: float
    past: int  # past requests stored before the second round
    idle_seconds: float
    limit_seconds: float  # each of the database's own limits is measured this long
    broker_messages: int
    settle_seconds: float  # a round's journeys not finished by then are reported as such


FULL = Sizes(
    saturation=400,
    concurrent=20,
    light=100,
    light_rate=5.0,
    past=100_000,
    idle_seconds=45,
    limit_seconds=4,
    broker_messages=5000,
    settle_seconds=120,
)
SMOKE = Sizes(
    saturation=30,
    concurrent=10,
    light=10,
    light_rate=5.0,
    past=500,
    idle_seconds=3,
    limit_seconds=0.5,
    broker_messages=300,
    settle_seconds=120,
)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- what a process costs (Linux /proc) -------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- the stack under test ------------------------------------------------------------------------------


@dataclass
class Stack:
    folder: Path
    rabbitmq_url: str
    namespace: str = field(default_factory=lambda: "bench" + uuid.uuid4().hex[:8])
    database_port: int = field(default_factory=_free_port)
    ports: dict[str, int] = field(default_factory=lambda: {name: _free_port() for name in system.names()})
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    secret: str = "bench-only-secret-" + "0123456789" * 4

    @property
    def mongodb_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.database_port}/"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def counts_file(self, service: str) -> Path:
        return self.folder / f"{service}.commands.json"

    def database_name(self, service: str) -> str:
        return f"{self.namespace}_{service}"

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    async def start(self) -> None:
        secantus = shutil.which("secantusd-py", path=str(Path(sys.executable).parent)) or "secantusd-py"
        storage = self.folder / "mongo"
        storage.mkdir()
        # As `gandan-up` starts it: data on disk, an fsync per commit.
        argv = [secantus, "--host", "127.0.0.1", "--port", str(self.database_port), "--storage-path", str(storage)]
        self._spawn("database", [*argv, "--sync-on-commit", "--log-level", "WARNING"], dict(os.environ))
        await _until(lambda: reachable("127.0.0.1", self.database_port), 30, "the database takes connections")
        await system.declare(self.rabbitmq_url, self.namespace)
        await self.start_services()

    async def start_services(self) -> None:
        env = dict(os.environ) | {
            "RABBITMQ_URL": self.rabbitmq_url,
            "MONGODB_URL": self.mongodb_url,
            "GANDAN_NAMESPACE": self.namespace,
            "GANDAN_AUTH_SECRET": self.secret,
            "INTAKE_PSEUDONYM_KEY": "bench-only-pseudonym-key-" + "9876543210" * 4,
            "INTAKE_CCCD_KEY": "bench-only-cccd-key-" + "0123456789" * 4,
            "GANDAN_LOG_LEVEL": "WARNING",
            # A journey ends with its messages sent: at night (21:00-07:00 in Vietnam) notify would
            # hold the citizen's until morning, and the bench would measure the clock.
            "NOTIFY_QUIET_HOURS": "",
        }
        for spec in system.SERVICES:
            self._spawn(
                spec.name,
                [sys.executable, "-m", f"gandan.{spec.name}.app"],
                env
                | {
                    spec.http_port_variable: str(self.ports[spec.name]),
                    "GANDAN_COMMAND_COUNTS": str(self.counts_file(spec.name)),
                },
            )

        async def all_ready() -> bool:
            async with httpx.AsyncClient(timeout=5) as client:
                try:
                    answers = [await client.get(f"{self.url(name)}/health/ready") for name in system.names()]
                except httpx.TransportError:
                    return False
            return all(answer.status_code == 200 for answer in answers)

        await _until(all_ready, 90, "the four services ready")

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        with (self.folder / f"{name}.log").open("w") as log:
            self.processes[name] = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def stop_services(self) -> None:
        """Each service stopped as `gandan-up` stops it (SIGTERM); it writes its counts at exit."""
        services = {name: process for name, process in self.processes.items() if name != "database"}
        for process in services.values():
            process.terminate()
        for name, process in services.items():
            _wait_or_kill(process)
            del self.processes[name]

    def stop(self) -> None:
        self.stop_services()
        if database := self.processes.pop("database", None):
            database.terminate()
            _wait_or_kill(database)

    async def remove_namespace(self) -> None:
        topology = Topology(self.namespace)
        connection = await aio_pika.connect(self.rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            for queue in [*topology.queue_names(system.names()), self.tap_queue]:
                await channel.queue_delete(queue)
            for exchange in topology.exchange_names():
                await channel.exchange_delete(exchange)

    @property
    def tap_queue(self) -> str:
        return f"{self.namespace}.bench-tap"

    def command_counts(self) -> dict[str, Counter[str]]:
        counts = {}
        for service in system.names():
            path = self.counts_file(service)
            counts[service] = Counter(json.loads(path.read_text())["commands"]) if path.exists() else Counter()
        return counts

    def query_shapes(self) -> list[Document]:
        shapes: list[Document] = []
        for service in system.names():
            path = self.counts_file(service)
            if path.exists():
                shapes += [shape | {"service": service} for shape in json_util.loads(path.read_text())["shapes"]]
        return shapes


def _wait_or_kill(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def _until(check: Callable[[], Any], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: not reached in {seconds:g} s: {what}")
        await asyncio.sleep(0.25)


class BrokerTap:
    """A queue of the bench's own bound to everything published on the namespace's events and
    retry exchanges: its length is the number of publishes, counted by the broker itself."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    async def __aenter__(self) -> BrokerTap:
        self.connection = await aio_pika.connect(self.stack.rabbitmq_url)
        channel = await self.connection.channel()
        self.queue = await channel.declare_queue(self.stack.tap_queue, durable=False, auto_delete=False)
        topology = Topology(self.stack.namespace)
        for exchange in (topology.events.name, topology.retry.name):
            await self.queue.bind(exchange, routing_key="#")
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.connection.close()

    async def published(self) -> int:
        """Publishes since the last call."""
        count = await self._count()
        await self.queue.purge()
        return count

    async def _count(self) -> int:
        declared = await self.queue.channel.declare_queue(self.stack.tap_queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


# --- load ----------------------------------------------------------------------------------------------


def registration_forms(first: int, count: int) -> Iterator[dict[str, Any]]:
    """Spread over the ward's groups, fields, dates and windows, so most can be booked; a phone each."""
    groups = [group.name for group in load_roster(WARD).groups]
    fields = itertools.cycle(ProcedureField)
    today = datetime.now(LOCAL_TZ).date()
    for number in range(first, first + count):
        group = groups[number % len(groups)]
        yield {
            "name": "Nguyễn Văn An",
            # 091…: clear of notify's simulator numbers (090 0000002 and 003), whose messages fail on
            # purpose; one of them held the empty round's light load for its whole settle time.
            "phone": f"091{number:07d}",
            "ward_code": WARD,
            "residential_group": group,
            "address": f"Số {number % 200 + 1}, tổ dân phố {group}",
            "category": "nguoi_gia_yeu_co_don",
            "procedure": "Chứng thực bản sao từ bản chính",
            "field": next(fields).value,
            "preferred_date": (today + timedelta(days=2 + number % 60)).isoformat(),
            "time_window": ("morning", "afternoon")[number % 2],
            "result_delivery": "post",
            "registered_by": "citizen",
            "channel": "web",
        }


class Totals(NamedTuple):
    handled: int  # requests dispatch booked or refused
    visits: int
    evidence: int


@dataclass
class Sent:
    accepted_at: dict[str, datetime] = field(default_factory=dict)  # request code -> when the 202 came
    started: float = 0.0  # monotonic, first POST
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))  # the same, on the clock
    unavailable: int = 0  # 503 answers (the database too slow or away), each tried again


# How often the bench asks whether a round has settled. A round's end is read afterwards from its
# last evidence record's `recorded_at`, so a slow poll costs no precision, and the database spends
# little of the round answering the bench.
_SETTLED_POLL_SECONDS = 2.0
# Request codes per count: SecantusDB checks each document found against the whole `$in` list, so a
# count by 400 codes costs 400 comparisons a document (py-spy: three quarters of the server's time
# in a round, README "Performance"); by 25 at a time, 25.
_CODES_PER_COUNT = 25


class Load:
    def __init__(self, stack: Stack, client: AsyncMongoClient[Document], key: str) -> None:
        self.stack = stack
        self.db = {name: client[stack.database_name(name)] for name in system.names()}
        self.next_phone = 0
        self.headers = {"Authorization": f"Bearer {key}"}

    async def send(self, count: int, *, concurrent: int | None = None, rate: float | None = None) -> Sent:
        """`count` registrations, `concurrent` at a time or one every 1/`rate` seconds."""
        forms = list(registration_forms(self.next_phone, count))
        sent = Sent(started=time.monotonic(), started_at=datetime.now(UTC))
        slots = asyncio.Semaphore(concurrent or count)
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as client:

            async def register(number: int, form: dict[str, Any]) -> None:
                if rate:
                    await asyncio.sleep(sent.started + number / rate - time.monotonic())
                # As a citizen's app does: a 503 is tried again, with the same key, after a pause.
                headers = self.headers | {"Idempotency-Key": f"bench-{self.next_phone}-{number}"}
                for _ in range(POST_ATTEMPTS):
                    async with slots:
                        answer = await client.post(
                            f"{self.stack.url('intake')}/v1/home-requests", json=form, headers=headers
                        )
                    if answer.status_code == 202:
                        sent.accepted_at[answer.json()["request_code"]] = datetime.now(UTC)
                        return
                    if answer.status_code == 422 and "ward_not_served" in answer.text:
                        # Right after the start: intake has not yet heard dispatch's announcement.
                        await asyncio.sleep(0.5)
                        continue
                    if answer.status_code != 503:
                        raise SystemExit(f"bench: a registration was answered {answer.status_code}: {answer.text}")
                    sent.unavailable += 1
                    await asyncio.sleep(1)

            await asyncio.gather(*(register(n, form) for n, form in enumerate(forms)))
        self.next_phone += count
        return sent

    async def totals(self, sent: Sent) -> Totals:
        """How far the requests sent got, counted by their codes through indexes: a count of a whole
        collection makes SecantusDB read every document, which with the past requests was most of the
        database's work while the bench polled it (py-spy, README "Performance")."""
        visits = refused = evidence = 0
        for codes in _chunks(list(sent.accepted_at), _CODES_PER_COUNT):
            by_code = {"request_code": {"$in": codes}}
            visits += await self.db["dispatch"]["visits"].count_documents(by_code)
            refused += await self.db["dispatch"]["unassigned_requests"].count_documents(by_code)
            evidence += await self.db["audit"]["events"].count_documents({"ward_code": WARD} | by_code)
        return Totals(visits + refused, visits, evidence)

    async def settled(self, sent: Sent, timeout: float) -> tuple[float, int] | None:
        """Wait for the last evidence record of every request sent: the seconds from the first POST
        to that record, and how many were booked; None if that took longer than `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            now = await self.totals(sent)
            if now.handled >= len(sent.accepted_at):
                refusals = len(sent.accepted_at) - now.visits
                if now.evidence >= EVIDENCE_PER_VISIT * now.visits + EVIDENCE_PER_REFUSAL * refusals:
                    return (await self.last_recorded(sent) - sent.started_at).total_seconds(), now.visits
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(_SETTLED_POLL_SECONDS)

    async def last_recorded(self, sent: Sent) -> datetime:
        last = sent.started_at
        for codes in _chunks(list(sent.accepted_at), _CODES_PER_COUNT):
            latest = await self.db["audit"]["events"].find_one(
                {"ward_code": WARD, "request_code": {"$in": codes}}, {"recorded_at": 1}, sort=[("recorded_at", -1)]
            )
            if latest:
                last = max(last, latest["recorded_at"])
        return last

    async def latencies(self, sent: Sent) -> tuple[list[float], list[float]]:
        """Milliseconds from each 202 to its visit.scheduled event and to its last evidence record."""
        to_visit, to_last = [], []
        by_request: dict[str, list[Document]] = {}
        for codes in _chunks(list(sent.accepted_at), _CODES_PER_COUNT):
            evidence = self.db["audit"]["events"].find(
                {"ward_code": WARD, "request_code": {"$in": codes}},
                {"request_code": 1, "type": 1, "occurred_at": 1, "recorded_at": 1},
            )
            async for record in evidence:
                by_request.setdefault(record["request_code"], []).append(record)
        for code, accepted in sent.accepted_at.items():
            records = by_request.get(code, [])
            visit = [r["occurred_at"] for r in records if r["type"] == "visit.scheduled"]
            if visit:  # a refused request has no visit: its journey is not the one measured
                to_visit.append(max(0.0, (visit[0] - accepted).total_seconds() * 1000))
                to_last.append(max(0.0, (max(r["recorded_at"] for r in records) - accepted).total_seconds() * 1000))
        return to_visit, to_last


def _chunks(codes: list[str], size: int) -> Iterator[list[str]]:
    for first in range(0, len(codes), size):
        yield codes[first : first + size]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


# --- a round: light load, then saturation ---------------------------------------------------------------


@dataclass
class Round:
    journeys: int = 0
    seconds: float = 0.0
    booked: int = 0
    to_visit_ms: list[float] = field(default_factory=list)
    to_last_ms: list[float] = field(default_factory=list)
    commands: dict[str, Counter[str]] = field(default_factory=dict)  # per service, over the saturation
    publishes: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU-s over the saturation, per process
    finished: bool = True
    light_rate: float = 0.0
    peaks: dict[str, float] = field(default_factory=dict)  # MiB, per process, by the end of the round
    unavailable: int = 0  # 503 answers, light load and saturation
    given_up: int = 0  # registrations never accepted

    @property
    def rate(self) -> float:
        return self.journeys / self.seconds if self.seconds else 0.0


async def run_round(stack: Stack, load: Load, tap: BrokerTap, sizes: Sizes) -> Round:
    result = Round(light_rate=sizes.light_rate)
    light = await load.send(sizes.light, rate=sizes.light_rate)
    await load.settled(light, timeout=sizes.settle_seconds)  # unfinished ones are left out
    result.to_visit_ms, result.to_last_ms = await load.latencies(light)
    result.unavailable, result.given_up = light.unavailable, sizes.light - len(light.accepted_at)

    await asyncio.sleep(1.5)  # the counts files are rewritten every second
    commands_before, cpu_before = stack.command_counts(), _cpu(stack)
    await tap.published()
    burst = await load.send(sizes.saturation, concurrent=sizes.concurrent)
    result.journeys = len(burst.accepted_at)
    result.unavailable += burst.unavailable
    result.given_up += sizes.saturation - result.journeys
    if finished := await load.settled(burst, timeout=sizes.settle_seconds):
        result.seconds, result.booked = finished
    else:  # reported as such, with what it cost until then
        result.seconds, result.finished = sizes.settle_seconds, False
    cpu_after = _cpu(stack)
    await asyncio.sleep(1.5)
    commands_after = stack.command_counts()
    result.publishes = await tap.published()
    result.commands = {name: commands_after[name] - commands_before[name] for name in commands_after}
    result.cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
    result.peaks = {name: peak_memory_mib(pid) for name, pid in stack.pids().items()}
    return result


def _cpu(stack: Stack) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in stack.pids().items()}


# --- the limits of the parts ----------------------------------------------------------------------------


async def database_limits(url: str, database: str, seconds: float) -> tuple[float, float]:
    """Journaled single inserts a second (20 writers), and documents a second in insert_many of 500,
    written as the services write (`gandan.shared.mongo.connect`) but without its 5 s bound: dropping
    the documents afterwards takes longer."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(url, w="majority", journal=True, retryWrites=False)
    try:
        collection = client[database]["limits"]
        stop = time.monotonic() + seconds
        singles = 0

        async def writer() -> None:
            nonlocal singles
            while time.monotonic() < stop:
                await collection.insert_one({"at": datetime.now(UTC), "payload": "x" * 200})
                singles += 1

        started = time.monotonic()
        await asyncio.gather(*(writer() for _ in range(20)))
        single_rate = singles / (time.monotonic() - started)

        batched, started, stop = 0, time.monotonic(), time.monotonic() + seconds
        while time.monotonic() < stop:
            await collection.insert_many([{"at": datetime.now(UTC), "payload": "x" * 200} for _ in range(500)])
            batched += 500
        return single_rate, batched / (time.monotonic() - started)
    finally:
        await client.drop_database(database)
        await client.close()


async def broker_round_trip(url: str, queue_name: str, messages: int) -> float:
    """Persistent, confirmed publishes → consume → ack, messages a second, 100 in flight."""
    connection = await aio_pika.connect(url)
    async with connection:
        publishing = await connection.channel(publisher_confirms=True)
        consuming = await connection.channel()
        await consuming.set_qos(prefetch_count=100)
        queue = await consuming.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
        done = asyncio.Event()
        acked = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal acked
            await message.ack()
            acked += 1
            if acked == messages:
                done.set()

        consumer = await queue.consume(on_message)
        slots = asyncio.Semaphore(100)
        started = time.monotonic()

        async def publish(number: int) -> None:
            async with slots:
                body = aio_pika.Message(b"x" * 1000, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
                await publishing.default_exchange.publish(body, routing_key=queue_name)

        await asyncio.gather(*(publish(n) for n in range(messages)))
        await asyncio.wait_for(done.wait(), 120)
        rate = messages / (time.monotonic() - started)
        await queue.cancel(consumer)
        await consuming.queue_delete(queue_name)
    return rate


# --- past requests --------------------------------------------------------------------------------------


async def store_past(load: Load, count: int, template_code: str, batch: int = 2000) -> None:
    """`count` past requests and all they left behind, copied from what one real journey stored:
    the same fields and sizes, new ids, a year earlier, every outbox entry published."""
    templates = {
        (service, collection): await load.db[service][collection]
        .find({"$or": [{"request_code": template_code}, {"_id": template_code}]})
        .to_list()
        for service, collections in PAST_COLLECTIONS.items()
        for collection in collections
    }
    for (service, collection), documents in templates.items():
        if not documents:
            raise SystemExit(f"bench: nothing of {template_code} in {service}.{collection} to copy")

    async def copy(collection: AsyncCollection[Document], documents: list[Document]) -> None:
        pending: list[InsertOne[Document]] = []
        for number in range(count):
            pending += [InsertOne(_past(document, template_code, number, k)) for k, document in enumerate(documents)]
            if len(pending) >= batch:
                await collection.bulk_write(pending, ordered=False)
                pending = []
        if pending:
            await collection.bulk_write(pending, ordered=False)

    # Every collection at once: 2,450 documents a second here against 1,950 one after another.
    await asyncio.gather(
        *(copy(load.db[service][collection], documents) for (service, collection), documents in templates.items())
    )


def _past(document: Document, template_code: str, number: int, part: int) -> Document:
    code = f"GD-P{number:06d}"
    copied: Document = _a_year_earlier(document, number % 100_000, f"#past{number}", {template_code: code})
    copied["_id"] = code if document["_id"] == template_code else f"past-{number}-{part}"
    return copied


async def move_visits_a_year_back(visits: AsyncCollection[Document]) -> None:
    """The first round's visits join the past: a year earlier, their slots' claims renamed. Its
    journeys booked the ward's next weeks, and a proposal reads the days it weighs (a `--past 0`
    run's second round was 13 % slower for that alone); the second round books into weeks as
    empty as the first's, so what it measures is the past data, not a fuller calendar."""
    moved = [
        ReplaceOne({"_id": visit["_id"]}, _a_year_earlier(visit, 0, "#moved", {}))
        async for visit in visits.find({"ward_code": WARD, "ends_at": {"$gte": datetime.now(UTC) - timedelta(days=1)}})
    ]
    if moved:
        await visits.bulk_write(moved, ordered=False)


def _a_year_earlier(value: Any, minutes: int, mark: str, codes: dict[str, str], key: str = "") -> Any:
    """`value` a year and `minutes` earlier, new dicts and lists all through; what a unique index
    holds marked with `mark`, and request codes renamed by `codes`."""
    if isinstance(value, dict):
        return {k: _a_year_earlier(v, minutes, mark, codes, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_a_year_earlier(v, minutes, mark, codes, key) for v in value]
    if isinstance(value, datetime):
        return value - timedelta(days=365, minutes=minutes)
    if key == "day" and isinstance(value, str):
        # A visit's local day (ISO): a year back with its times, so no plan of today reads it.
        return (date.fromisoformat(value) - timedelta(days=365, minutes=minutes)).isoformat()
    if isinstance(value, str) and value in codes:
        return codes[value]
    if key in {"claims", "key", "event_id", "phone", "citizen_ref", "open_key"} and isinstance(value, str):
        return f"{value}{mark}"  # unique in their indexes, as every request's are
    return value


# --- every query the services ran, by `explain` ---------------------------------------------------------


async def unindexed(client: AsyncMongoClient[Document], shapes: list[Document]) -> list[Document]:
    """The query shapes whose winning plan scans the collection."""
    scans = []
    for shape in shapes:
        query = shape["filter"]
        if "_id" in query and _by_id(query["_id"]):
            # SecantusDB runs a filter with an `_id` equality or `$in` by the `_id` index (as mongod
            # does), but its explain of such a filter with more fields says COLLSCAN: explain what
            # runs. Measured at 20,000 documents: 1-4 ms for a find or an update_many of two `_id`s
            # with another field, against ~300 ms for a real scan.
            query = {"_id": query["_id"]}
        command: Document = {"find": shape["collection"], "filter": query}
        if shape["sort"]:
            command["sort"] = shape["sort"]
        plan = await client[shape["database"]].command("explain", command)
        if "COLLSCAN" in json.dumps(plan.get("queryPlanner", plan), default=str):
            scans.append(shape)
    return scans


def _by_id(value: Any) -> bool:
    """Whether an `_id` condition picks documents by their `_id`s: a value, `$eq` or `$in`."""
    if not isinstance(value, dict):
        return True
    return len(value) == 1 and ("$eq" in value or "$in" in value)


def _stripped(shape: Document) -> str:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()}
        return "?"

    sort = f" sort {list(shape['sort'])}" if shape["sort"] else ""
    return f"{shape['service']}: {shape['collection']} {json.dumps(strip(shape['filter']))}{sort}"


# --- the report -----------------------------------------------------------------------------------------


def _commands_table(result: Round) -> list[str]:
    names = sorted({name for counts in result.commands.values() for name in counts})
    per = result.journeys or 1
    lines = [f"    {'service':<9}{'total':>8}  " + "  ".join(f"{n:>10}" for n in names)]
    total: Counter[str] = Counter()
    for service, counts in result.commands.items():
        total += counts
        row = "  ".join(f"{counts[n] / per:>10.2f}" for n in names)
        lines.append(f"    {service:<9}{sum(counts.values()) / per:>8.2f}  {row}")
    row = "  ".join(f"{total[n] / per:>10.2f}" for n in names)
    lines.append(f"    {'all':<9}{sum(total.values()) / per:>8.2f}  {row}")
    return lines


def report_round(title: str, result: Round, limits: tuple[float, float, float]) -> list[str]:
    single, batched, broker = limits
    per = result.journeys or 1
    total_commands = sum(sum(c.values()) for c in result.commands.values())
    lines = [
        f"== {title}",
        f"  saturation: {result.journeys} journeys ({result.booked} booked) in {result.seconds:.1f} s = "
        f"{result.rate:.1f} journeys/s" + ("" if result.finished else " (NOT FINISHED: at most this)"),
        f"    = {100 * result.rate / single:.1f} % of journaled single inserts/s, "
        f"{100 * result.rate / batched:.2f} % of batched insert docs/s, {100 * result.rate / broker:.2f} % of broker round trips/s",
        f"  registrations answered 503 (tried again): {result.unavailable}; never accepted: {result.given_up}",
        f"  latency of {len(result.to_visit_ms)} journeys at {result.light_rate:g} registrations/s, ms (p50 / p95 / p99):",
        f"    202 -> visit.scheduled      {_ps(result.to_visit_ms)}",
        f"    202 -> last evidence record {_ps(result.to_last_ms)}",
        f"  database commands per journey: {total_commands / per:.2f}",
        *_commands_table(result),
        f"  broker publishes per journey: {result.publishes / per:.2f}",
        "  CPU seconds per 1000 journeys, peak memory (MiB):",
    ]
    for name, seconds in result.cpu.items():
        lines.append(f"    {name:<9}{1000 * seconds / per:>8.1f} CPU-s  {result.peaks.get(name, 0):>8.0f} MiB")
    return lines


def _ps(values: list[float]) -> str:
    return " / ".join(f"{percentile(values, p):.0f}" for p in (50, 95, 99))


@contextmanager
def phase(times: dict[str, float], name: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"[bench] {name} …", flush=True)
    yield
    times[name] = time.monotonic() - started


async def bench(sizes: Sizes, folder: Path, rabbitmq_url: str) -> list[str]:
    times: dict[str, float] = {}
    stack = Stack(folder, rabbitmq_url)
    client: AsyncMongoClient[Document] = AsyncMongoClient(stack.mongodb_url, tz_aware=True)
    try:
        with phase(times, "start"):
            await stack.start()
        with phase(times, "database and broker limits"):
            single, batched = await database_limits(stack.mongodb_url, f"{stack.namespace}_limits", sizes.limit_seconds)
            broker = await broker_round_trip(rabbitmq_url, f"{stack.namespace}.bench-round-trip", sizes.broker_messages)
        limits = (single, batched, broker)
        print(_limits(limits), flush=True)
        # An officer's API key, as `gandan-credentials issue --service intake` stores it.
        officer = CredentialStore(client[stack.database_name("intake")])
        load = Load(stack, client, await officer.issue(ward_code=WARD, role=Role.OFFICER, label="bench", now=utcnow()))
        async with BrokerTap(stack) as tap:
            with phase(times, "empty database"):
                empty = await run_round(stack, load, tap, sizes)
                print("\n".join(report_round("empty database", empty, limits)), flush=True)
            with phase(times, f"idle {sizes.idle_seconds:g} s"):
                idle_commands, idle_cpu = await idle(stack, sizes.idle_seconds)
            with phase(times, f"storing {sizes.past:,} past requests (services stopped)"):
                # Stopped, as for a migration: their polls would compete with the bulk load.
                stack.stop_services()
                shapes = stack.query_shapes()  # the new processes start their counts afresh
                template = await load.db["audit"]["events"].find_one({"type": "notification.sent"})
                assert template is not None
                await store_past(load, sizes.past, template["request_code"])
                await move_visits_a_year_back(load.db["dispatch"]["visits"])
                await stack.start_services()
            with phase(times, f"with {sizes.past:,} past requests"):
                full = await run_round(stack, load, tap, sizes)
                print("\n".join(report_round(f"with {sizes.past:,} past requests", full, limits)), flush=True)
        with phase(times, "explain every query shape"):
            seen = {_stripped(shape) for shape in shapes}
            shapes += [shape for shape in stack.query_shapes() if _stripped(shape) not in seen]
            scans = await unindexed(client, shapes)
    finally:
        await client.close()
        stack.stop()
        await stack.remove_namespace()

    lines = [
        f"Machine: {os.cpu_count()} CPUs, {_cpu_model()}; Python {sys.version.split()[0]}",
        f"Database: SecantusDB --sync-on-commit, writes {{w: majority, j: true}}; broker {rabbitmq_url.split('@')[-1]}",
        _limits(limits),
        *report_round("empty database", empty, limits),
        *report_round(f"with {sizes.past:,} past requests and their evidence", full, limits),
        f"  change against empty: journeys/s {_change(full.rate, empty.rate)}, "
        f"p99 to visit.scheduled {_change(percentile(full.to_visit_ms, 99), percentile(empty.to_visit_ms, 99))}, "
        f"p99 to last evidence {_change(percentile(full.to_last_ms, 99), percentile(empty.to_last_ms, 99))}",
        f"== idle {sizes.idle_seconds:g} s: database commands per minute, CPU % per process",
    ]
    for name in system.names():
        per_minute = sum(idle_commands[name].values()) * 60 / sizes.idle_seconds
        split = ", ".join(f"{command} {n * 60 / sizes.idle_seconds:.0f}" for command, n in idle_commands[name].items())
        lines.append(
            f"    {name:<9}{per_minute:>8.0f}/min  ({split})  CPU {100 * idle_cpu[name] / sizes.idle_seconds:.1f} %"
        )
    lines.append(f"    {'database':<9}{'':>8}       CPU {100 * idle_cpu['database'] / sizes.idle_seconds:.1f} %")
    lines.append(f"== query shapes the services ran: {len(shapes)}, not backed by an index: {len(scans)}")
    lines += [f"    COLLSCAN {_stripped(shape)}" for shape in scans]
    lines.append("== phase times: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in times.items()))
    return lines


async def idle(stack: Stack, seconds: float) -> tuple[dict[str, Counter[str]], dict[str, float]]:
    await asyncio.sleep(1.5)
    commands, cpu = stack.command_counts(), _cpu(stack)
    await asyncio.sleep(seconds)
    cpu_after = _cpu(stack)
    await asyncio.sleep(1.5)
    after = stack.command_counts()
    return {n: after[n] - commands[n] for n in after}, {n: cpu_after[n] - cpu[n] for n in cpu_after}


def _limits(limits: tuple[float, float, float]) -> str:
    single, batched, broker = limits
    return (
        f"Limits: journaled single inserts {single:.0f}/s (20 writers); insert_many {batched:.0f} docs/s; "
        f"broker persistent confirmed publish->consume->ack {broker:.0f} msgs/s"
    )


def _change(now: float, then: float) -> str:
    return f"{100 * (now - then) / then:+.0f} %" if then else "n/a"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="What a Gần Dân journey costs, on the real stack.")
    parser.add_argument("--smoke", action="store_true", help="everything in small (about half a minute), for CI")
    parser.add_argument("--past", type=int, help="past requests stored before the second round")
    parser.add_argument("--keep", type=Path, help="keep the logs and data in this folder")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    if args.past is not None:
        sizes = Sizes(**{**sizes.__dict__, "past": args.past})
    rabbitmq_url = os.environ.get("RABBITMQ_URL", ServiceSettings.model_fields["rabbitmq_url"].default)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stopped: the stack and namespace go too
    started = time.monotonic()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        lines = asyncio.run(bench(sizes, args.keep, rabbitmq_url))
    else:
        with tempfile.TemporaryDirectory(prefix="gandan-bench-") as folder:
            lines = asyncio.run(bench(sizes, Path(folder), rabbitmq_url))
    print("\n".join([*lines, f"Whole run: {time.monotonic() - started:.0f} s"]), flush=True)


if __name__ == "__main__":
    main()
