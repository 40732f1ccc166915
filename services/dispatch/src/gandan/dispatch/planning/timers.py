"""Timers that survive restarts: dispatch's `timers` collection, and the worker that fires them.

A timer is one document: its unique key (`_id`), its kind, its data, and `due_at` (UTC) while it is
pending. A replica fires a due timer after claiming it with a lease (`lease_by`, `lease_until`), so two
replicas never both fire it; a replica that dies holding one leaves it to another once the lease ends.
The firing's events and the timer's "fired" mark (or its next occurrence, for a timer that recurs) are
stored in ONE write of the timer document through the outbox, conditional on the claim: a crash before
that write fires it again, a crash after it has stored both. A firing's other writes must be
idempotent (the day plan is: it records the firing it was made by).

Nothing polls each second: after each turn the worker sleeps until the next due time (one indexed
read), woken earlier when this process sets a timer; a slow backstop poll finds timers set by another
process. A timer that fell due while dispatch was down is due at the next start, so it fires then.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from gandan.shared.clock import utcnow
from gandan.shared.events import Envelope
from gandan.shared.logs import log_fields
from gandan.shared.mongo import Document
from gandan.shared.outbox import Outbox
from gandan.shared.worker import PollingWorker

logger = logging.getLogger(__name__)

# Long against a firing (a day's plan solves for DISPATCH_PLANNING_SECONDS), short against a timer's
# delay when its replica died holding it.
LEASE_SECONDS = 120.0
# Timers are set by this process (which wakes the worker) or, rarely, by another one: the backstop.
BACKSTOP_POLL_SECONDS = 300.0


@dataclass(frozen=True)
class Timer:
    key: str
    kind: str
    due_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fired:
    """What a firing stores with the timer's mark: its events, and its next occurrence if it recurs."""

    events: Sequence[Envelope[Any]] = ()
    next_due: datetime | None = None
    next_data: Mapping[str, Any] | None = None


Firing = Callable[[Timer], Awaitable[Fired]]


class MongoTimers(PollingWorker):
    """The `timers` collection and the worker that fires what falls due in it, by kind."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        clock: Callable[[], datetime] = utcnow,
        lease_seconds: float = LEASE_SECONDS,
        poll_seconds: float = BACKSTOP_POLL_SECONDS,
    ) -> None:
        super().__init__("timers", self.fire_due, poll_seconds=poll_seconds)
        self._outbox = outbox
        self.timers = outbox.collection("timers")
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self._firings: dict[str, Firing] = {}
        self._wake_at: asyncio.TimerHandle | None = None
        self.replica = uuid.uuid4().hex

    def on(self, kind: str, firing: Firing) -> None:
        self._firings[kind] = firing

    async def ensure_indexes(self) -> None:
        # Only pending timers have `due_at`: the next due one is the first entry of this index.
        await self.timers.create_index([("due_at", ASCENDING)], sparse=True)

    async def arm(self, timer: Timer) -> None:
        """Set a timer unless it exists: one already there keeps its own due time (it may be overdue,
        from before a restart) and a recurring one its next occurrence."""
        await self.timers.update_one(
            {"_id": timer.key},
            {"$setOnInsert": {"kind": timer.kind, "due_at": timer.due_at, "data": dict(timer.data)}},
            upsert=True,
        )
        self.wake()

    async def fire_due(self) -> int:
        """Fire every due timer this replica can claim; then sleep until the next one is due."""
        fired = 0
        while (timer := await self._claim()) is not None:
            try:
                await self._fire(timer)
            except Exception:
                # Tried again at the worker's retry, not after the lease.
                await self.timers.update_one(
                    {"_id": timer.key, "lease_by": self.replica}, {"$unset": {"lease_by": "", "lease_until": ""}}
                )
                raise
            fired += 1
        await self._wake_when_next_due()
        return fired

    async def _claim(self) -> Timer | None:
        now = self._clock()
        document = await self.timers.find_one_and_update(
            {"due_at": {"$lte": now}, "lease_until": {"$not": {"$gt": now}}},
            {"$set": {"lease_by": self.replica, "lease_until": now + self._lease}},
            sort=[("due_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            return None
        return Timer(str(document["_id"]), document["kind"], document["due_at"], document.get("data") or {})

    async def _fire(self, timer: Timer) -> None:
        firing = self._firings.get(timer.kind)
        if firing is None:
            raise LookupError(f"no firing for timer kind {timer.kind!r} ({timer.key})")
        fired = await firing(timer)
        done: Document = {"$set": {"fired_at": self._clock()}, "$unset": {"lease_by": "", "lease_until": ""}}
        if fired.next_due is None:
            done["$unset"]["due_at"] = ""
        else:
            done["$set"] |= {"due_at": fired.next_due, "data": dict(fired.next_data or timer.data)}
        # Only while this replica's claim on this occurrence holds: a late one (its lease ran out and
        # another replica fired it) stores nothing.
        claim = {"_id": timer.key, "due_at": timer.due_at, "lease_by": self.replica}
        if await self._outbox.update(self.timers, claim, done, *fired.events):
            logger.info("timer fired", extra=log_fields(timer=timer.key, events=len(fired.events)))
        else:
            logger.warning("timer fired by another replica meanwhile", extra=log_fields(timer=timer.key))

    async def _wake_when_next_due(self) -> None:
        document = await self.timers.find_one(
            {"due_at": {"$exists": True}}, {"due_at": 1, "lease_until": 1}, sort=[("due_at", ASCENDING)]
        )
        if self._wake_at is not None:
            self._wake_at.cancel()
            self._wake_at = None
        if document is None:
            return
        # One held by another replica is looked at again when its lease ends.
        at = max(document["due_at"], document.get("lease_until") or document["due_at"])
        delay = (at - self._clock()).total_seconds()
        if delay < self._poll_seconds:
            self._wake_at = asyncio.get_running_loop().call_later(max(0.0, delay), self.wake)
