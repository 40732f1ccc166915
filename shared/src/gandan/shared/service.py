"""What every service is made of, composed once: settings, logs, broker, database,
event publisher, outbox relay, consumers, HTTP app with health checks.

A service's `app.py` builds one `Service`, adds its repositories, handlers and
routes, and calls `run`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from faststream.specification import AsyncAPI
from pydantic import BaseModel, Field
from pymongo.asynchronous.collection import AsyncCollection

from gandan.shared.events import EventData
from gandan.shared.http import install_error_handlers
from gandan.shared.logs import configure_logging, log_fields
from gandan.shared.messaging import EventHandler, EventPublisher, create_broker, subscribe
from gandan.shared.mongo import Document, connect, database
from gandan.shared.outbox import OutboxRelay
from gandan.shared.settings import ServiceSettings
from gandan.shared.topology import Topology, declare_topology

logger = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]
STOP_WORKERS_SECONDS = 10.0


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, bool] = Field(description="database, broker, workers: each true when it works")


class Service:
    def __init__(self, name: str, settings: ServiceSettings, *, produces: Iterable[type[EventData]] = ()) -> None:
        self.name = name
        self.settings = settings
        self.topology = Topology(settings.namespace)
        self.broker = create_broker(settings, name)
        self.mongo = connect(settings.mongodb_url)
        self.database = database(self.mongo, settings.database_name(name))
        self.publisher = EventPublisher(self.broker, self.topology, produces)
        self._startup: list[Hook] = []
        self._workers: list[Hook] = []
        self._tasks: list[asyncio.Task[None]] = []

    def on_startup(self, hook: Hook) -> None:
        """Run once before the service takes work (e.g. create indexes)."""
        self._startup.append(hook)

    def worker(self, loop: Hook) -> None:
        """A loop that runs in the background while the service is up."""
        self._workers.append(loop)

    def outbox(self, collections: Sequence[AsyncCollection[Document]]) -> OutboxRelay:
        relay = OutboxRelay(self.publisher, collections)
        self.on_startup(relay.ensure_indexes)
        self.worker(relay.run)
        return relay

    def consume(self, handlers: Mapping[str, EventHandler]) -> None:
        subscribe(
            self.broker,
            self.topology,
            self.name,
            handlers,
            max_attempts=self.settings.max_delivery_attempts,
        )

    def asyncapi(self) -> str:
        return AsyncAPI(self.broker, title=f"Gần Dân {self.name}", version="1").to_specification().to_json()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Connect, declare, start consumers and workers; stop them all on exit."""
        await self.mongo.admin.command("ping")
        for hook in self._startup:
            await hook()
        await self.broker.connect()
        only = self.name if self.settings.own_broker_credentials else None
        await declare_topology(self.broker, self.topology, only=only)
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
        return checks

    def http_app(self, *routers: APIRouter) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            async with self.running():
                yield

        app = FastAPI(title=f"Gần Dân {self.name}", lifespan=lifespan)
        app.state.auth_secret = self.settings.auth_secret.get_secret_value()
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
