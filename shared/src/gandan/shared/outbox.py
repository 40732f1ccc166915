"""The transactional outbox, without multi-document transactions.

A service writes its change and the events it must publish in ONE document:
the events sit in that document's `outbox` array. The relay publishes pending
entries with publisher confirms and only then marks them published. A crash
before the mark re-publishes the same event (same id) later, which consumers
deduplicate; a crash before the write publishes nothing. Nothing is lost and
nothing is invented.

Repositories write through one `Outbox`: it stores the events with the change and
hands them to the relay, which publishes them at once without reading them back,
and marks a batch of them in one command. Only what no write of this process
handed over (left by a crash, or by a write whose answer was lost) is searched
for: at start, after a failure, and by a slow backstop poll.

Replicas: several processes of a service share its collections. A write leases its
document's pending events to the relay of the process that wrote it (`outbox_lease`,
in the same write), so that relay publishes them at once and no other touches them.
A search takes only what no live replica holds: entries whose lease has expired (their
writer died before marking them) or that were never leased, claimed with a lease of its
own before publishing. An entry is thus published by one replica, and again only when a
lease ran out before its mark (at least once, as always; consumers deduplicate by id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from gandan.shared.clock import utcnow
from gandan.shared.events import Envelope, to_wire
from gandan.shared.idempotency import insert_once
from gandan.shared.logs import correlation, log_fields
from gandan.shared.mongo import Document
from gandan.shared.worker import BACKSTOP_POLL_SECONDS, PollingWorker

logger = logging.getLogger(__name__)

OUTBOX = "outbox"
# The ids of the entries not yet published. Indexed instead of the entries themselves: the
# index then holds only what is pending, so a search for it stays small however many
# documents the collection keeps (and it is index-backed on every server we run on).
UNPUBLISHED = "unpublished"
_PENDING = {UNPUBLISHED: {"$gte": ""}}  # any id; a document with none pending has no such field
# Which replica's relay may publish the pending entries (`by`), and until when (`until`, UTC).
LEASE = "outbox_lease"
RELEASE_SECONDS = 2  # at a stop, for giving up the leases still held
LEASE_MARGIN_SECONDS = 0.5  # after a lease ends, before searching for what it held
# Long against a publish (milliseconds) and against clock skew between machines (NTP keeps it under
# a second), short against what a crashed replica's entries may wait before another one sends them.
LEASE_SECONDS = 30.0
# A projection for readers of the change: the outbox is the relay's business.
WITHOUT_OUTBOX = {OUTBOX: 0, UNPUBLISHED: 0, LEASE: 0}


class Publisher(Protocol):
    async def publish(self, envelope: dict[str, Any]) -> None: ...


def pending(*events: Envelope[Any]) -> Document:
    """The fields to store with a change: its outbox of these events, none published yet."""
    return {OUTBOX: _entries(events), UNPUBLISHED: [str(e.id) for e in events]}


def append(*events: Envelope[Any]) -> Document:
    """An update operator that adds events to an existing document's outbox."""
    return {"$push": {OUTBOX: {"$each": _entries(events)}, UNPUBLISHED: {"$each": [str(e.id) for e in events]}}}


def _entries(events: Sequence[Envelope[Any]]) -> list[Document]:
    return [{"event_id": str(e.id), "event": to_wire(e), "published_at": None} for e in events]


@dataclass(frozen=True)
class _Stored:
    """Events a write stored in one document."""

    collection: AsyncCollection[Document]
    document_id: Any
    events: list[dict[str, Any]]


class OutboxRelay(PollingWorker):
    """Publishes what the service's collections hold in their outboxes."""

    def __init__(
        self,
        publisher: Publisher,
        collections: Sequence[AsyncCollection[Document]],
        *,
        poll_seconds: float = BACKSTOP_POLL_SECONDS,
        batch: int = 100,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        super().__init__("outbox relay", self.publish_pending, poll_seconds=poll_seconds)
        self.replica = uuid.uuid4().hex  # this process: a restarted one waits for its old leases like any other
        self._lease_seconds = lease_seconds
        self._publisher = publisher
        self._collections = collections
        self._batch = batch
        self._handed: list[_Stored] = []
        self._search_needed = True  # at start: what an earlier run left
        self._next_search = 0.0
        self._when_leases_end: asyncio.TimerHandle | None = None

    async def ensure_indexes(self) -> None:
        for collection in self._collections:
            await collection.create_index([(UNPUBLISHED, ASCENDING)])

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            # Stopped, not crashed: what this relay still holds is free for the next start at once,
            # not after its lease and a backstop search (up to 90 s); a crash leaves it to the lease.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(RELEASE_SECONDS):
                    await self.release()

    async def release(self) -> None:
        """Give up the leases this relay holds on what it has not published."""
        for collection in self._collections:
            await collection.update_many(_PENDING | {f"{LEASE}.by": self.replica}, {"$unset": {LEASE: ""}})

    def lease(self) -> Document:
        """The field a write stores with its events: this relay publishes them, no other before it expires."""
        return {LEASE: {"by": self.replica, "until": utcnow() + timedelta(seconds=self._lease_seconds)}}

    def stored(self, collection: AsyncCollection[Document], document_id: Any, events: Sequence[Envelope[Any]]) -> None:
        """A write stored these events: publish them now."""
        self._handed.append(_Stored(collection, document_id, [to_wire(e) for e in events]))
        self.wake()

    def search_soon(self) -> None:
        """Something may be pending that no write handed over: look for it now."""
        self._search_needed = True
        self.wake()

    async def publish_pending(self) -> int:
        """Publish what was handed over, or what a search finds; returns how many went out."""
        try:
            if self._search_needed or time.monotonic() >= self._next_search:
                return await self._search()
            handed, self._handed = self._handed, []
            return await self._publish(handed)
        except BaseException:
            # What was taken and not marked is still pending in the database.
            self._search_needed = True
            raise

    async def _search(self) -> int:
        # Whatever was handed over so far is in the database, so the search finds it too.
        self._handed = []
        self._search_needed = False
        self._next_search = time.monotonic() + self._poll_seconds
        published: set[str] = set()
        for collection in self._collections:
            while True:
                seen, found = await self._claim(collection)
                await self._publish(found)
                published.update(event["id"] for item in found for event in item.events)
                if seen < self._batch:
                    break
        await self._search_again_when_leases_end()
        # What was handed over while the search ran and the search published already is done.
        handed = [replace(s, events=[e for e in s.events if e["id"] not in published]) for s in self._handed]
        self._handed = [s for s in handed if s.events]
        return len(published)

    async def _search_again_when_leases_end(self) -> None:
        """What another replica still holds (it may have died: a restarted process is another
        replica) is searched for again as the first such lease ends, not at the next backstop
        poll: a crash delays its events by the lease (30 s), not by the lease and the poll (90 s)."""
        held = _PENDING | {f"{LEASE}.by": {"$ne": self.replica}, f"{LEASE}.until": {"$gt": utcnow()}}
        ends = [
            document[LEASE]["until"]
            for collection in self._collections
            if (document := await collection.find_one(held, {LEASE: 1}, sort=[(f"{LEASE}.until", ASCENDING)]))
        ]
        if ends:
            if self._when_leases_end is not None:
                self._when_leases_end.cancel()
            delay = (min(ends) - utcnow()).total_seconds() + LEASE_MARGIN_SECONDS
            self._when_leases_end = asyncio.get_running_loop().call_later(max(0.0, delay), self.search_soon)

    async def _claim(self, collection: AsyncCollection[Document]) -> tuple[int, list[_Stored]]:
        """Lease a batch of what no other live replica holds: how many were free, and what this one got.

        Only in a search (start, failure, backstop), never on a journey's path: read what is
        pending with its lease (by the index of pending events alone: SecantusDB scans the whole
        collection for a filter with `$or`, 5 s and more at 100,000 past requests), lease the free
        ones where they are still free (each document's update is atomic, so of two replicas
        claiming one, one wins), read back those leased to this replica.
        """
        now = utcnow()
        pending = [d async for d in collection.find(_PENDING, {LEASE: 1})]
        mine = [d["_id"] for d in pending if (d.get(LEASE) or {}).get("by") == self.replica]
        expired = [d["_id"] for d in pending if d["_id"] not in mine and not _held(d, now)]
        free = (mine + expired)[: self._batch]
        if not free:
            return 0, []
        lease = {"$set": self.lease()}
        if taken := [i for i in free if i in mine]:
            await collection.update_many({"_id": {"$in": taken}, f"{LEASE}.by": self.replica}, lease)
        if taken := [i for i in free if i not in mine]:
            await collection.update_many({"_id": {"$in": taken}, f"{LEASE}.until": {"$not": {"$gt": now}}}, lease)
        cursor = collection.find({"_id": {"$in": free}, f"{LEASE}.by": self.replica} | _PENDING, {OUTBOX: 1})
        found = [
            _Stored(collection, d["_id"], [e["event"] for e in d[OUTBOX] if e["published_at"] is None])
            async for d in cursor
        ]
        return len(mine) + len(expired), found

    async def _publish(self, stored: list[_Stored]) -> int:
        published: dict[AsyncCollection[Document], list[_Stored]] = {}
        for item in stored:
            for event in item.events:
                with correlation(event["correlation_id"]):
                    await self._publisher.publish(event)
                    logger.info("published", extra=log_fields(event_type=event["type"], event_id=event["id"]))
            published.setdefault(item.collection, []).append(item)
        for collection, items in published.items():
            await _mark_published(collection, items)
        return sum(len(item.events) for item in stored)


def _held(document: Document, now: datetime) -> bool:
    """Whether a pending document's lease still holds (a document never leased is free)."""
    until = (document.get(LEASE) or {}).get("until")
    return until is not None and until > now


async def _mark_published(collection: AsyncCollection[Document], items: list[_Stored]) -> None:
    """One command marks every event of the batch, in whichever documents they are.

    A document with nothing left to publish loses its `unpublished` field rather than keeping
    an empty list: SecantusDB's index walk over empty lists reads every document that has one
    (1.8 s for 20,000), which made the relay's search at start time out other services' start-up
    once 100,000 past requests were stored. An absent field is not in the index at all.
    """
    event_ids = [event["id"] for item in items for event in item.events]
    published_at = utcnow()
    await collection.update_many(
        {"_id": {"$in": [item.document_id for item in items]}},
        [
            {
                "$set": {
                    OUTBOX: {
                        "$map": {
                            "input": f"${OUTBOX}",
                            "as": "entry",
                            "in": {
                                "$cond": [
                                    {"$in": ["$$entry.event_id", event_ids]},
                                    {"$mergeObjects": ["$$entry", {"published_at": published_at}]},
                                    "$$entry",
                                ]
                            },
                        }
                    },
                    UNPUBLISHED: {
                        "$let": {
                            # Marked twice (an answer lost, the batch sent again): already absent.
                            "vars": {"left": {"$setDifference": [{"$ifNull": [f"${UNPUBLISHED}", []]}, event_ids]}},
                            "in": {"$cond": [{"$eq": [{"$size": "$$left"}, 0]}, "$$REMOVE", "$$left"]},
                        }
                    },
                }
            }
        ],
    )


class Outbox:
    """Where a service's changes store the events they announce; storing some hands them to the relay."""

    def __init__(
        self, publisher: Publisher, database: AsyncDatabase[Document], *, poll_seconds: float = BACKSTOP_POLL_SECONDS
    ) -> None:
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
        stored = await insert_once(collection, document | pending(*events) | (self.relay.lease() if events else {}))
        if stored and events:
            self.relay.stored(collection, document["_id"], events)
        elif events:
            # Perhaps our own earlier try, whose answer was lost: its events may still be pending.
            self.relay.search_soon()
        return stored

    async def update(
        self, collection: AsyncCollection[Document], query: Document, update: Document, *events: Envelope[Any]
    ) -> bool:
        """Change the document `query` finds (by `_id`) and add the events to it, in one write; True if found."""
        return await self.update_each(collection, [(query, update, events)]) == 1

    async def update_each(
        self,
        collection: AsyncCollection[Document],
        changes: Sequence[tuple[Document, Document, Sequence[Envelope[Any]]]],
    ) -> int:
        """Several such changes in one command (each `query` by `_id`); returns how many documents were found."""
        if not changes:
            return 0
        result = await collection.bulk_write(
            [UpdateOne(query, self._with_events(update, events)) for query, update, events in changes],
            ordered=False,
        )
        if result.matched_count == len(changes):
            for query, _, events in changes:
                if events:
                    self.relay.stored(collection, query["_id"], events)
        elif any(events for _, _, events in changes):
            # Which ones were stored the result does not say: the search finds exactly those.
            self.relay.search_soon()
        return result.matched_count

    def _with_events(self, update: Document, events: Sequence[Envelope[Any]]) -> Document:
        if not events:
            return update
        added = append(*events) | {"$set": self.relay.lease()}
        # Operator by operator: a change's own `$set` keeps its fields beside the lease.
        return update | {operator: update.get(operator, {}) | fields for operator, fields in added.items()}
