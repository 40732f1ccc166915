"""What every service is made of, composed once: settings, logs, broker, database,
event publisher, outbox relay, consumers, HTTP app with health checks.

A service's `app.py` says what the service is in one `ServiceSpec` (spec.py),
builds one `Service` from it, gives it what its handlers need, adds its routes,
and calls `run`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Literal
from urllib.parse import quote

import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from faststream.specification import AsyncAPI
from pydantic import BaseModel, Field

from gandan.shared.auth import CredentialStore
from gandan.shared.events import envelope_of
from gandan.shared.http import install_error_handlers
from gandan.shared.logs import configure_logging, log_fields
from gandan.shared.messaging import EventHandler, EventPublisher, consumers_attached, create_broker, subscribe
from gandan.shared.mongo import connect, database
from gandan.shared.outbox import Outbox
from gandan.shared.settings import ServiceSettings
from gandan.shared.spec import Handler, ServiceSpec
from gandan.shared.topology import Topology, declare_topology

logger = logging.getLogger(__name__)

# A coroutine function: a worker's runs as a task.
Hook = Callable[[], Coroutine[Any, Any, None]]
STOP_WORKERS_SECONDS = 10.0


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, bool] = Field(
        description="database, broker, consumers (each attached to its queue), workers: each true when it works"
    )


class Service:
    def __init__(self, spec: ServiceSpec, settings: ServiceSettings) -> None:
        self.spec = spec
        self.name = spec.name
        self.settings = settings
        self.topology = Topology(settings.namespace)
        self.broker = create_broker(settings, spec.name)
        self.mongo = connect(settings.mongodb_url)
        self.database = database(self.mongo, settings.database_name(spec.name))
        self.publisher = EventPublisher(self.broker, self.topology, spec.produces)
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._workers: list[Hook] = []
        self._tasks: list[asyncio.Task[None]] = []

    def on_startup(self, hook: Hook) -> None:
        """Run once before the service takes work (e.g. create indexes)."""
        self._startup.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        """Run once after the workers and consumers stopped (e.g. close HTTP clients)."""
        self._shutdown.append(hook)

    def worker(self, loop: Hook) -> None:
        """A loop that runs in the background while the service is up."""
        self._workers.append(loop)

    def outbox(self) -> Outbox:
        """The service's outbox; its relay runs while the service is up. Call once."""
        outbox = Outbox(self.publisher, self.database)
        self.on_startup(outbox.relay.ensure_indexes)
        self.worker(outbox.relay.run)
        return outbox

    def consume(self, **dependencies: Any) -> None:
        """Consume with the spec's handlers, each given the `dependencies` it names."""
        unused = set(dependencies)
        handlers: dict[str, EventHandler] = {}
        for event_type, handler in self.spec.handlers.items():
            needed = _dependencies(handler)
            missing = sorted(needed - set(dependencies))
            if missing:
                raise TypeError(f"{self.name}: the handler of {event_type} needs {', '.join(missing)}")
            unused -= needed
            handlers[event_type] = partial(handler, **{name: dependencies[name] for name in needed})
        if unused:
            raise TypeError(f"{self.name}: no handler needs {', '.join(sorted(unused))}")
        subscribe(
            self.broker,
            self.topology,
            self.name,
            handlers,
            max_attempts=self.settings.max_delivery_attempts,
            max_wait_seconds=self.settings.max_wait_seconds,
        )

    def asyncapi(self) -> dict[str, Any]:
        """The AsyncAPI document: what it publishes, and each type its queue takes with that type's envelope."""
        document: dict[str, Any] = json.loads(
            AsyncAPI(self.broker, title=f"Gần Dân {self.name}", version="1").to_specification().to_json()
        )
        if self.spec.handlers:
            _document_consumed(document, f"{self.topology.queue(self.name).name}:consume", self.spec)
        return document

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Connect, declare, start consumers and workers; stop them all on exit."""
        await self.mongo.admin.command("ping")
        for hook in self._startup:
            await hook()
        await self.broker.connect()
        # Its own queues only: the other services' were declared by what started it (the
        # launcher, `gandan-broker-access`), and its own credential may declare no others.
        await declare_topology(
            self.broker, self.topology, {self.name: self.spec.bindings} if self.spec.handlers else {}
        )
        await self.broker.start()
        self._tasks = [asyncio.create_task(loop(), name=loop.__qualname__) for loop in self._workers]
        logger.info("started")
        try:
            yield
        finally:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                _, still_running = await asyncio.wait(self._tasks, timeout=STOP_WORKERS_SECONDS)
                for task in still_running:
                    logger.error("worker did not stop in time", extra=log_fields(worker=task.get_name()))
            await self.broker.stop()
            for hook in self._shutdown:
                await hook()
            await self.mongo.close()
            logger.info("stopped")

    async def ready(self) -> dict[str, bool]:
        checks = {"workers": all(not t.done() for t in self._tasks)}
        try:
            async with asyncio.timeout(2):
                await self.mongo.admin.command("ping")
            checks["database"] = True
        except Exception:
            checks["database"] = False
        checks["broker"] = await self.broker.ping(timeout=2)
        # Up is not enough: a replica whose consumer is detached takes no work (see consumers_attached).
        checks["consumers"] = consumers_attached(self.broker)
        return checks

    def http_app(self, *routers: APIRouter) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            async with self.running():
                yield

        app = FastAPI(title=f"Gần Dân {self.name}", lifespan=lifespan)
        app.state.auth_secret = self.settings.auth_secret.get_secret_value()  # citizens' tokens
        app.state.credentials = CredentialStore(self.database)  # staff's and systems' keys
        install_error_handlers(app)

        @app.get("/health/live", tags=["health"])
        async def live() -> dict[str, str]:
            return {"status": "ok"}

        @app.get(
            "/health/ready",
            tags=["health"],
            response_model=Readiness,
            responses={503: {"model": Readiness, "description": "A check failed: do not send work here"}},
        )
        async def ready() -> Any:
            checks = await self.ready()
            status = 200 if all(checks.values()) else 503
            return JSONResponse({"status": "ok" if status == 200 else "unavailable", "checks": checks}, status)

        for router in routers:
            app.include_router(router)
        return app


def _dependencies(handler: Handler) -> set[str]:
    """The keyword-only parameters a handler needs besides the event."""
    parameters = inspect.signature(handler).parameters.values()
    return {p.name for p in parameters if p.kind is p.KEYWORD_ONLY and p.default is p.empty}


def _document_consumed(document: dict[str, Any], channel: str, spec: ServiceSpec) -> None:
    """List in the consumer's channel every type it takes, each with its envelope.

    The consumer reads raw bytes (it judges them itself), so FastStream can only
    document its payload as binary; the handler map says what it really takes.
    """
    schemas, messages = document["components"]["schemas"], document["components"]["messages"]
    for old in document["channels"][channel]["messages"].values():
        stale = messages.pop(old["$ref"].rsplit("/", 1)[1])
        schemas.pop(stale["payload"]["$ref"].rsplit("/", 1)[1], None)
    listed: dict[str, Any] = {}
    for event in spec.consumes:
        envelope = envelope_of(event).model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(envelope.pop("$defs", {}))
        schemas[envelope["title"]] = envelope
        key = f"{channel}:{event.event_type}"
        messages[key] = {
            "title": key,
            "summary": (event.__doc__ or "").strip().split("\n")[0],
            "correlationId": {"location": "$message.header#/correlation_id"},
            "payload": _ref("components", "schemas", envelope["title"]),
        }
        listed[event.event_type] = _ref("components", "messages", key)
    document["channels"][channel]["messages"] = listed
    # A queue bound by several keys has no one address: the operation's `cc` lists them.
    document["channels"][channel].pop("address", None)
    operation = document["operations"][channel]
    operation["bindings"]["amqp"]["cc"] = list(spec.bindings)
    operation["messages"] = [_ref("channels", channel, "messages", t) for t in listed]


def _ref(*path: str) -> dict[str, str]:
    # As FastStream writes them: brackets escaped, colons kept.
    return {"$ref": "#/" + "/".join(quote(part, safe=":") for part in path)}


def run(service: Service, app: FastAPI) -> None:
    """Serve until SIGINT/SIGTERM, then stop cleanly."""
    configure_logging(service.name, service.settings.log_level)
    config = uvicorn.Config(
        app,
        host=service.settings.http_host,
        port=service.settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    uvicorn.Server(config).run()
