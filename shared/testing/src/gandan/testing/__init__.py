"""Test fixtures for every service: real RabbitMQ and MongoDB, isolated per test.

Where the servers come from, in order:
1. `RABBITMQ_URL` / `MONGODB_URL` from the environment;
2. testcontainers, where a Docker engine answers;
3. the local RabbitMQ (127.0.0.1:5672), and a throwaway SecantusDB started here.

Each test gets its own namespace: its own exchanges, queues and databases,
deleted afterwards. `auth(ward, role)` gives the headers of a credential of this test: an API
key stored in every service's database of the namespace (as `gandan-credentials issue` does),
or a citizen's signed token. Within it, a test can act as another service would (`publish`),
look into a service's database (`service_database`), read a queue (`queued`),
wait for what happens asynchronously (`eventually`), run a service (`serving`), and
count what the services ask their databases (`database_commands`).
`database_server` is a database process of the test's own, with its data on disk,
for tests that crash it (SIGKILL), freeze it and start it again.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, overload

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient, MongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from gandan.shared.auth import CREDENTIALS, Role, issue_citizen_token, new_key
from gandan.shared.clock import utcnow
from gandan.shared.events import Envelope, to_wire
from gandan.shared.service import Service
from gandan.shared.topology import Topology
from gandan.system import services as system
from gandan.system.launcher import reachable

AUTH_SECRET = "test-only-secret-" + "0123456789" * 4
PSEUDONYM_KEY = "test-only-pseudonym-key-" + "9876543210" * 4
CCCD_KEY = "test-only-cccd-key-" + "0123456789" * 4

T = TypeVar("T")


class _Keys:
    """The API keys of the running test: stored in every service's database of its namespace, in the
    database the test's services use (the session's, or the test's own `database_server`)."""

    def __init__(self) -> None:
        self.namespace: str | None = None
        self.session_url: str | None = None
        self.own_url: str | None = None  # set while a test runs its own database server
        self._clients: dict[str, MongoClient[dict[str, Any]]] = {}
        self._issued: dict[tuple[str, str, Role], str] = {}

    def issue(self, ward_code: str, role: Role) -> str:
        url = self.own_url or self.session_url
        if self.namespace is None or url is None:
            raise RuntimeError("an API key is stored in the test's databases: use the `namespace` fixture")
        key, document = new_key(ward_code=ward_code, role=role, label="test", now=utcnow())
        client = self._clients.setdefault(url, MongoClient(url))
        for spec in system.SERVICES:
            client[spec.database(self.namespace)][CREDENTIALS].insert_one(document)
        return key

    def key(self, ward_code: str, role: Role) -> str:
        """One key per ward and role in a test: issued at its first use (so a test whose database is
        away later still has it)."""
        url = self.own_url or self.session_url or ""
        if (url, ward_code, role) not in self._issued:
            self._issued[url, ward_code, role] = self.issue(ward_code, role)
        return self._issued[url, ward_code, role]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        self._issued.clear()
        self.namespace = self.session_url = None


_keys = _Keys()


def token(
    ward_code: str = "11002",
    role: Role = Role.OFFICER,
    secret: str = AUTH_SECRET,
    *,
    citizen_ref: str | None = None,
    request_code: str | None = None,
) -> str:
    """A credential of this test: a citizen's signed token (naming its citizen_ref or request_code),
    else the test's API key for that ward and role."""
    if role is not Role.CITIZEN:
        return _keys.key(ward_code, role)
    return issue_citizen_token(
        secret,
        ward_code=ward_code,
        subject="test",
        valid_for=timedelta(hours=1),
        citizen_ref=citizen_ref,
        request_code=request_code,
    )


def new_api_key(ward_code: str = "11002", role: Role = Role.OFFICER) -> str:
    """Another API key for that ward and role (`token` gives the same one each time)."""
    return _keys.issue(ward_code, role)


def auth(ward_code: str = "11002", role: Role = Role.OFFICER, **binding: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(ward_code, role, **binding)}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(
    env: dict[str, str], folder: Path, *, embedded_database: bool = False
) -> tuple[dict[str, int], subprocess.Popen[bytes]]:
    """Start `gandan-up` as `make run` does, each service on a free port: the ports, and the launcher.

    Its output goes to `folder/system.log`, its data to `folder/data`. With `embedded_database`,
    it starts its own database instead of using MONGODB_URL.
    """
    ports = {spec.name: free_port() for spec in system.SERVICES}
    env = os.environ | env | {spec.http_port_variable: str(ports[spec.name]) for spec in system.SERVICES}
    if embedded_database:
        env = {k: v for k, v in env.items() if k != "MONGODB_URL"} | {"GANDAN_EMBEDDED_MONGO_PORT": str(free_port())}
    with (folder / "system.log").open("w") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "gandan.system.launcher", "--data-dir", str(folder / "data")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return ports, launcher


def _docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    if url := os.environ.get("RABBITMQ_URL"):
        yield url
    elif _docker_engine():
        from testcontainers.community.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13-management") as rabbit:
            yield f"amqp://guest:guest@{rabbit.get_container_host_ip()}:{rabbit.get_exposed_port(5672)}/"
    else:
        if not reachable("127.0.0.1", 5672):
            pytest.fail(
                "no RabbitMQ: set RABBITMQ_URL, run Docker, or start the local server (rabbitmq-server -detached)"
            )
        yield "amqp://guest:guest@127.0.0.1:5672/"


class DatabaseServer:
    """A SecantusDB server process of the test's own, which the test can kill and restart.

    Started without `--sync-on-commit`, like a `mongod` with its defaults: a write
    survives a crash of the process only if the client asked for the journal, which
    is what a test of the services' durability must see.
    """

    def __init__(self, storage: Path | str, log: Path) -> None:
        self.storage = storage  # a folder, or ":memory:" for a throwaway server
        self.log = log
        self.port = free_port()  # kept across restarts, as a real server's would be
        self.url = f"mongodb://127.0.0.1:{self.port}/"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start on the same port and data as before; return once it takes connections."""
        server = shutil.which("secantusd-py", path=str(Path(sys.executable).parent)) or "secantusd-py"
        argv = [server, "--host", "127.0.0.1", "--port", str(self.port), "--storage-path", str(self.storage)]
        with self.log.open("a") as out:
            self._process = subprocess.Popen([*argv, "--log-level", "WARNING"], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not reachable("127.0.0.1", self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._process.kill()
                pytest.fail(f"SecantusDB did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as in a crash, with no chance to flush anything."""
        assert self._process is not None
        self._process.kill()
        self._process.wait()

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its connections but answers nothing, like a hung machine."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


@pytest.fixture(scope="session")
def mongodb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("MONGODB_URL"):
        yield url
    elif _docker_engine():
        from testcontainers.community.mongodb import MongoDbContainer

        with MongoDbContainer("mongo:8") as mongo:
            yield mongo.get_connection_url()
    else:
        server = DatabaseServer(":memory:", tmp_path_factory.mktemp("secantus") / "server.log")
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


@pytest.fixture
def database_server(tmp_path: Path) -> Iterator[DatabaseServer]:
    """A database server process of this test's own, with its data on disk: to crash and restart."""
    server = DatabaseServer(tmp_path / "database", tmp_path / "database.log")
    server.start()
    _keys.own_url = server.url  # the test's services use it: their keys belong there
    try:
        yield server
    finally:
        _keys.own_url = None
        server.stop()


@pytest.fixture
async def namespace(rabbitmq_url: str, mongodb_url: str) -> AsyncIterator[str]:
    """A prefix of this test's own: exchanges, queues and databases are deleted afterwards."""
    name = "t" + uuid.uuid4().hex[:12]
    _keys.namespace, _keys.session_url = name, mongodb_url
    yield name
    _keys.close()
    topology = Topology(name)
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        for queue in topology.queue_names(system.names()):
            await channel.queue_delete(queue)
        for exchange in topology.exchange_names():
            await channel.exchange_delete(exchange)
    with MongoClient[dict[str, Any]](mongodb_url) as client:
        for spec in system.SERVICES:
            client.drop_database(spec.database(name))


@pytest.fixture
def service_env(namespace: str, rabbitmq_url: str, mongodb_url: str) -> dict[str, str]:
    """The environment a service of this test's namespace runs with."""
    return {
        "RABBITMQ_URL": rabbitmq_url,
        "MONGODB_URL": mongodb_url,
        "GANDAN_NAMESPACE": namespace,
        "GANDAN_AUTH_SECRET": AUTH_SECRET,
        "INTAKE_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "INTAKE_CCCD_KEY": CCCD_KEY,
        "GANDAN_MAX_DELIVERY_ATTEMPTS": "3",
        # Tests run at any hour: none waits for the morning (notify's own tests cover quiet hours).
        "NOTIFY_QUIET_HOURS": "",
    }


@pytest.fixture
def service_settings(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Sets the service environment, so `XxxSettings()` reads this test's servers and names."""
    for key, value in service_env.items():
        monkeypatch.setenv(key, value)
    return service_env


@asynccontextmanager
async def serving(service: Service, app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run a service in this process against the real servers; talk to its HTTP API.

    Every service's queues are declared first, as the launcher does (with its own broker
    credential, `gandan-broker-access` did that), so what it publishes reaches them.
    """
    if not service.settings.own_broker_credentials:
        await system.declare(service.settings.rabbitmq_url, service.settings.namespace)
    async with service.running():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def queued(rabbitmq_url: str, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take every message waiting in a queue (acking them), to see what was published."""
    messages = []
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.get_queue(queue, ensure=True)
        while (message := await declared.get(fail=False, timeout=5)) is not None:
            await message.ack()
            messages.append(message)
    return messages


@pytest.fixture
async def publish(namespace: str, rabbitmq_url: str) -> AsyncIterator[Callable[..., Awaitable[None]]]:
    """`await publish(body, routing_key=None)`: to this test's events exchange, as another service would.

    An Envelope goes as the JSON of its wire form, a dict as JSON, bytes as they are (then `routing_key`
    is needed); routed by the body's type unless `routing_key` is given. Persistent, and confirmed by
    the broker; a message no queue takes raises.
    """
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)

    async def send(body: Envelope[Any] | dict[str, Any] | bytes, routing_key: str | None = None) -> None:
        message_id = correlation_id = None
        if isinstance(body, Envelope):
            message_id, correlation_id = str(body.id), str(body.correlation_id)
            body = to_wire(body)
        if isinstance(body, dict):
            routing_key = routing_key or body["type"]
            body = json.dumps(body).encode()
        if routing_key is None:
            raise ValueError("bytes have no type to be routed by: give a routing_key")
        # Looked up when sending: the exchange is declared by the service the test starts.
        exchange = await channel.get_exchange(Topology(namespace).events.name, ensure=True)
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            correlation_id=correlation_id,
        )
        await exchange.publish(message, routing_key=routing_key, mandatory=True)

    try:
        yield send
    finally:
        await connection.close()


@pytest.fixture
async def service_database(
    namespace: str, mongodb_url: str
) -> AsyncIterator[Callable[[str], AsyncDatabase[dict[str, Any]]]]:
    """`service_database("audit")`: that service's database of this test (dropped by `namespace`)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    try:
        yield lambda service: client[f"{namespace}_{service}"]
    finally:
        await client.close()


class DatabaseCommands(monitoring.CommandListener):
    """Counts, by service and command, what the services of one namespace ask their databases."""

    def __init__(self, namespace: str) -> None:
        self._services = {spec.database(namespace): spec.name for spec in system.SERVICES}
        self.counts: Counter[tuple[str, str]] = Counter()
        # Each filter a find, an update or a delete used: (database, collection, filter).
        self.queries: list[tuple[str, str, dict[str, Any]]] = []
        self.counting = True

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        service = self._services.get(event.database_name)
        if not (self.counting and service):
            return
        self.counts[service, event.command_name] += 1
        command, name = event.command, event.command_name
        if name in ("find", "count"):
            self.queries.append((event.database_name, command[name], dict(command.get("filter") or {})))
        elif name in ("update", "delete"):
            for statement in command.get("updates", command.get("deletes", [])):
                self.queries.append((event.database_name, command[name], dict(statement["q"])))
        elif name == "aggregate" and command["pipeline"] and "$match" in command["pipeline"][0]:
            self.queries.append((event.database_name, command[name], dict(command["pipeline"][0]["$match"])))

    async def unindexed(self, client: AsyncMongoClient[dict[str, Any]]) -> list[str]:
        """Each query shape seen whose plan (`explain`) reads the whole collection."""
        found: dict[str, str] = {}
        for database, collection, query in self.queries:
            shape = f"{database}.{collection} {_shape(query)}"
            if shape not in found:
                explained = await client[database].command("explain", {"find": collection, "filter": query})
                found[shape] = "COLLSCAN" if "COLLSCAN" in str(explained["queryPlanner"]["winningPlan"]) else ""
        return [shape for shape, plan in found.items() if plan]

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def of(self, service: str, command: str | None = None) -> int:
        """How many commands (of this name) the service sent."""
        return sum(n for (s, c), n in self.counts.items() if s == service and command in (None, c))


def _shape(query: Any) -> Any:
    """The query with its values left out: what an index serves or not."""
    if isinstance(query, dict):
        return {key: _shape(value) for key, value in sorted(query.items())}
    if isinstance(query, list):
        return [_shape(value) for value in query[:1]]
    return "?"


@pytest.fixture
def database_commands(namespace: str, service_database: Any) -> DatabaseCommands:
    """Counts the commands of clients made from now on (PyMongo's command monitoring): a service
    built in the test is counted; `service_database`, made before, is not."""
    counter = DatabaseCommands(namespace)
    monitoring.register(counter)  # for good: a listener cannot be taken back; the next test's has its own namespace
    return counter


# Without `done`, the result returned is true: a probe that answers None until it is ready gives no None.
@overload
async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = ..., what: str = ...) -> T: ...
@overload
async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], object], timeout: float = ..., what: str = ...
) -> T: ...
async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], object] = bool,
    timeout: float = 10.0,
    what: str = "",
) -> T:
    """Call `probe()` until `done(result)` holds and return that result; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done(result := await probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout} s: {what}")
        await asyncio.sleep(0.05)
    return result


def ward_not_served(answer: httpx.Response) -> bool:
    """intake's refusal of a ward it does not know to be served. Right after the services start it
    may not have heard dispatch's announcement yet: a registration sent then is sent again."""
    return answer.status_code == 422 and any(e["code"] == "ward_not_served" for e in answer.json()["errors"])
