"""The transactional outbox, without multi-document transactions.

A service writes its change and the events it must publish in ONE document:
the events sit in that document's `outbox` array. The relay publishes pending
entries with publisher confirms and only then marks them published. A crash
before the mark re-publishes the same event (same id) later, which consumers
deduplicate; a crash before the write publishes nothing. Nothing is lost and
nothing is invented.

Repositories write through one `Outbox`: it stores the events with the change and
wakes the relay, so they go out now rather than at the next poll, and no handler
has to remember to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from gandan.shared.clock import utcnow
from gandan.shared.events import Envelope, to_wire
from gandan.shared.idempotency import insert_once
from gandan.shared.logs import correlation, log_fields
from gandan.shared.mongo import Document
from gandan.shared.worker import PollingWorker

logger = logging.getLogger(__name__)

OUTBOX = "outbox"
_PENDING = {OUTBOX: {"$elemMatch": {"published_at": None}}}


class Publisher(Protocol):
    async def publish(self, envelope: dict[str, Any]) -> None: ...


def pending(*events: Envelope[Any]) -> list[Document]:
    """The `outbox` value to store with a change: these events, not yet published."""
    return [{"event_id": str(e.id), "event": to_wire(e), "published_at": None} for e in events]


def append(*events: Envelope[Any]) -> Document:
    """An update operator that adds events to an existing document's outbox."""
    return {"$push": {OUTBOX: {"$each": pending(*events)}}}


class OutboxRelay(PollingWorker):
    """Publishes what the service's collections hold in their outboxes."""

    def __init__(
        self,
        publisher: Publisher,
        collections: Sequence[AsyncCollection[Document]],
        *,
        poll_seconds: float = 1.0,
        batch: int = 100,
    ) -> None:
        super().__init__("outbox relay", self.publish_pending, poll_seconds=poll_seconds)
        self._publisher = publisher
        self._collections = collections
        self._batch = batch

    async def ensure_indexes(self) -> None:
        for collection in self._collections:
            await collection.create_index([(f"{OUTBOX}.published_at", ASCENDING)])

    async def publish_pending(self) -> int:
        """Publish one batch of pending events from every collection; returns how many went out."""
        count = 0
        for collection in self._collections:
            cursor = collection.find(_PENDING, {OUTBOX: 1}).limit(self._batch)
            async for document in cursor:
                for entry in document[OUTBOX]:
                    if entry["published_at"] is not None:
                        continue
                    event = entry["event"]
                    with correlation(event["correlation_id"]):
                        await self._publisher.publish(event)
                        await collection.update_one(
                            {"_id": document["_id"], f"{OUTBOX}.event_id": entry["event_id"]},
                            {"$set": {f"{OUTBOX}.$.published_at": utcnow()}},
                        )
                        logger.info("published", extra=log_fields(event_type=event["type"], event_id=entry["event_id"]))
                    count += 1
        return count


class Outbox:
    """Where a service's changes store the events they announce; storing some wakes the relay."""

    def __init__(self, publisher: Publisher, database: AsyncDatabase[Document], *, poll_seconds: float = 1.0) -> None:
        self._database = database
        self._collections: list[AsyncCollection[Document]] = []
        self.relay = OutboxRelay(publisher, self._collections, poll_seconds=poll_seconds)

    def collection(self, name: str) -> AsyncCollection[Document]:
        """A collection whose documents carry events: the relay publishes from it."""
        collection = self._database[name]
        self._collections.append(collection)
        return collection

    async def insert(self, collection: AsyncCollection[Document], document: Document, *events: Envelope[Any]) -> bool:
        """Store the document with its events unless its `_id` is taken; True if this call stored it."""
        stored = await insert_once(collection, document | {OUTBOX: pending(*events)})
        if stored and events:
            self.relay.wake()
        return stored

    async def update(
        self, collection: AsyncCollection[Document], query: Document, update: Document, *events: Envelope[Any]
    ) -> bool:
        """Change the document `query` finds and add the events to it, in one write; True if one was found."""
        result = await collection.update_one(query, update | append(*events) if events else update)
        if result.matched_count and events:
            self.relay.wake()
        return result.matched_count == 1
