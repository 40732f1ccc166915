"""Timers in dispatch's database: fired once at their time, after a restart if they fell due while dispatch
was down, by one of two replicas, and by another replica when the one holding it died. On the real database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from gandan.dispatch.planning.domain import digest
from gandan.dispatch.planning.timers import Fired, MongoTimers, Timer
from gandan.dispatch.roster import load_roster
from gandan.shared.clock import utcnow
from gandan.shared.outbox import Outbox
from gandan.testing import eventually

from .conftest import RelayNotRunning

KIND = "test"


class Firings:
    """Counts each timer's firings; each stores one event with the timer's mark."""

    def __init__(self, pause: float = 0.0) -> None:
        self.keys: list[str] = []
        self._pause = pause

    async def __call__(self, timer: Timer) -> Fired:
        self.keys.append(timer.key)
        await asyncio.sleep(self._pause)
        return Fired(events=(digest(load_roster("11002"), date(2026, 12, 7), [], [], []),))


def replica(db: AsyncDatabase[dict[str, Any]], firings: Firings, poll_seconds: float = 60) -> MongoTimers:
    timers = MongoTimers(Outbox(RelayNotRunning(), db), poll_seconds=poll_seconds)
    timers.on(KIND, firings)
    return timers


@contextlib.asynccontextmanager
async def running(timers: MongoTimers) -> AsyncIterator[None]:
    await timers.ensure_indexes()
    task = asyncio.create_task(timers.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def fired(db: AsyncDatabase[dict[str, Any]], *keys: str) -> None:
    """Wait until each timer's firing is marked (its events stored with it)."""
    query = {"_id": {"$in": list(keys)}, "fired_at": {"$exists": True}}
    await eventually(lambda: db["timers"].count_documents(query), lambda n: n == len(keys), timeout=10)


async def stored_events(db: AsyncDatabase[dict[str, Any]], key: str) -> int:
    document = await db["timers"].find_one({"_id": key})
    assert document is not None
    return len(document.get("outbox", []))


async def test_a_timer_fires_at_its_time_without_polling_for_it(dispatch_db):
    firings = Firings()
    timers = replica(dispatch_db, firings, poll_seconds=300)  # the backstop would be far too late
    async with running(timers):
        due = utcnow() + timedelta(seconds=1.5)
        await timers.arm(Timer("t/soon", KIND, due))
        await fired(dispatch_db, "t/soon")
        assert firings.keys == ["t/soon"]
        assert utcnow() >= due
    document = await dispatch_db["timers"].find_one({"_id": "t/soon"})
    assert document is not None and "due_at" not in document and document["fired_at"] >= due
    assert await stored_events(dispatch_db, "t/soon") == 1


async def test_a_timer_due_while_dispatch_was_down_fires_once_at_the_next_start_and_not_again(dispatch_db):
    firings = Firings()
    before = replica(dispatch_db, firings)
    await before.ensure_indexes()
    await before.arm(Timer("t/down", KIND, utcnow() + timedelta(seconds=0.5)))
    await asyncio.sleep(1)  # dispatch is down: no worker runs as it falls due

    async with running(replica(dispatch_db, firings)):
        await fired(dispatch_db, "t/down")
    async with running(replica(dispatch_db, firings)):  # and a start after that
        await asyncio.sleep(1)

    assert firings.keys == ["t/down"]
    assert await stored_events(dispatch_db, "t/down") == 1


async def test_two_replicas_fire_each_timer_once(dispatch_db):
    firings = Firings(pause=0.2)
    first, second = replica(dispatch_db, firings), replica(dispatch_db, firings)
    await first.ensure_indexes()
    keys = [f"t/{n}" for n in range(6)]
    for key in keys:
        await first.arm(Timer(key, KIND, utcnow()))
    async with running(first), running(second):
        await fired(dispatch_db, *keys)
    assert sorted(firings.keys) == keys
    assert [await stored_events(dispatch_db, key) for key in keys] == [1] * len(keys)


async def test_a_recurring_timer_moves_to_its_next_time_in_the_same_write(dispatch_db):
    later = utcnow() + timedelta(hours=1)

    async def recurring(timer: Timer) -> Fired:
        return Fired(next_due=later, next_data={"n": int(timer.data["n"]) + 1})

    timers = MongoTimers(Outbox(RelayNotRunning(), dispatch_db))
    timers.on(KIND, recurring)
    await timers.ensure_indexes()
    await timers.arm(Timer("t/daily", KIND, utcnow(), {"n": 1}))
    assert await timers.fire_due() == 1
    assert await timers.fire_due() == 0
    document = await dispatch_db["timers"].find_one({"_id": "t/daily"})
    assert document is not None
    assert (document["due_at"], document["data"]) == (later, {"n": 2})


async def test_a_timer_held_by_a_replica_that_died_is_fired_by_another_once_its_lease_ends(dispatch_db):
    firings = Firings()
    hung = asyncio.Event()

    async def dies(timer: Timer) -> Fired:
        hung.set()
        await asyncio.Event().wait()  # never returns: the replica dies while firing
        raise AssertionError

    dying = MongoTimers(Outbox(RelayNotRunning(), dispatch_db), lease_seconds=1)
    dying.on(KIND, dies)
    other = replica(dispatch_db, firings, poll_seconds=300)
    await dying.arm(Timer("t/held", KIND, utcnow()))
    async with running(dying):
        await asyncio.wait_for(hung.wait(), 5)
        async with running(other):
            await asyncio.sleep(0.3)
            assert firings.keys == []  # held by the dying replica
            await fired(dispatch_db, "t/held")
            assert firings.keys == ["t/held"]
    assert await stored_events(dispatch_db, "t/held") == 1


async def test_a_firing_that_fails_is_tried_again_soon_not_after_its_lease(dispatch_db):
    attempts: list[int] = []

    async def flaky(timer: Timer) -> Fired:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database away")
        return Fired()

    timers = MongoTimers(Outbox(RelayNotRunning(), dispatch_db), lease_seconds=600)
    timers.on(KIND, flaky)
    await timers.arm(Timer("t/flaky", KIND, utcnow()))
    async with running(timers):
        await fired(dispatch_db, "t/flaky")  # at the worker's retry (1 s); the lease is 10 minutes
    assert len(attempts) == 2
