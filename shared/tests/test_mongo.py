"""The database client every service uses: acknowledged writes survive a crash of the
database process, and no call waits on a database that does not answer."""

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from bson import json_util
from pymongo import InsertOne, monitoring
from pymongo.errors import PyMongoError

from gandan.shared.mongo import OPERATION_TIMEOUT_MS, connect
from gandan.testing import DatabaseServer, eventually

WRITERS = 8


async def test_every_acknowledged_write_survives_a_sigkill_of_the_database(database_server: DatabaseServer):
    client = connect(database_server.url)
    collection = client["durability"]["writes"]
    await collection.insert_one({"_id": "first"})  # the database and collection exist
    acknowledged: list[str] = []

    async def writer(number: int) -> None:
        sequence = 0
        while True:
            document_id = f"{number}-{sequence}"
            try:
                await collection.insert_one({"_id": document_id})
            except PyMongoError:
                return  # the server died under this write: it was not acknowledged
            acknowledged.append(document_id)
            sequence += 1

    writers = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    while len(acknowledged) < 300:
        await asyncio.sleep(0.01)
    database_server.kill()
    await asyncio.gather(*writers)
    await client.close()

    database_server.start()
    client = connect(database_server.url)
    try:
        stored = {d["_id"] async for d in client["durability"]["writes"].find({}, {"_id": 1})}
    finally:
        await client.close()
    lost = set(acknowledged) - stored
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged writes lost"


async def test_a_frozen_database_gives_an_error_in_bounded_time_then_serves_again(database_server: DatabaseServer):
    client = connect(database_server.url)
    collection = client["durability"]["writes"]
    await collection.insert_one({"_id": "before"})
    database_server.freeze()
    try:
        started = time.monotonic()
        with pytest.raises(PyMongoError):
            # The guard only keeps the test from hanging on a client without a bound.
            async with asyncio.timeout(30):
                await collection.insert_one({"_id": "while frozen"})
        waited = time.monotonic() - started
    finally:
        database_server.thaw()
    assert waited < OPERATION_TIMEOUT_MS / 1000 + 2
    await collection.insert_one({"_id": "after"})
    assert await collection.count_documents({"_id": "after"}) == 1
    await client.close()


async def test_commands_are_counted_by_name_with_each_query_shape_once_when_asked(
    mongodb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    counts = tmp_path / "service.json"
    monkeypatch.setenv("GANDAN_COMMAND_COUNTS", str(counts))
    client = connect(mongodb_url)
    monkeypatch.delenv("GANDAN_COMMAND_COUNTS")
    uncounted = connect(mongodb_url)
    collection = client[f"counts{time.monotonic_ns()}"]["requests"]
    try:
        await collection.insert_many([{"_id": "GD-1", "ward_code": "11002"}, {"_id": "GD-2", "ward_code": "11002"}])
        for code in ("GD-1", "GD-2"):  # one shape, two values
            await collection.find_one({"ward_code": "11002", "_id": code})
        await collection.update_one({"_id": "GD-1"}, {"$set": {"status": "visit_scheduled"}})
        await collection.count_documents({"status": "visit_scheduled"})
        await uncounted[collection.database.name]["requests"].find_one({"_id": "GD-2"})
    finally:
        await client.drop_database(collection.database.name)
        await client.close()
        await uncounted.close()

    async def written() -> dict[str, Any] | None:
        if not counts.exists():
            return None
        stored: dict[str, Any] = json_util.loads(counts.read_text())
        return stored if stored["commands"].get("endSessions") else None  # sent by close(), last

    stored = await eventually(written, what="the counts written to the file")
    assert stored["commands"] == {
        "insert": 1,
        "find": 2,
        "update": 1,
        "aggregate": 1,
        "dropDatabase": 1,
        "endSessions": 1,
    }
    shapes = [(shape["collection"], shape["filter"], shape["sort"]) for shape in stored["shapes"]]
    assert shapes == [
        ("requests", {"ward_code": "11002", "_id": "GD-1"}, None),  # the first example of its shape
        ("requests", {"_id": "GD-1"}, None),
        ("requests", {"status": "visit_scheduled"}, None),
    ]


class _Sent(monitoring.CommandListener):
    """The commands sent to one database, whole."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name == self.database:
            self.commands.append({"name": event.command_name, **event.command})

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_writes_are_sent_as_plain_writes_not_retryable_ones(mongodb_url: str):
    """A retryable write carries a txnNumber, and SecantusDB then keeps a record of it that it scans
    at every later write; the services' writes are made safe to repeat by their own ids instead."""
    sent = _Sent(f"plain{time.monotonic_ns()}")
    # Before connect: a client takes the listeners registered at its creation. For good, as
    # `gandan.testing.database_commands` does: it records only its own database.
    monitoring.register(sent)
    client = connect(mongodb_url)
    collection = client[sent.database]["requests"]
    try:
        await collection.insert_one({"_id": "GD-1"})
        await collection.update_one({"_id": "GD-1"}, {"$set": {"status": "received"}})
        await collection.find_one_and_update({"_id": "GD-1"}, {"$set": {"status": "visit_scheduled"}})
        await collection.bulk_write([InsertOne({"_id": "GD-2"}), InsertOne({"_id": "GD-3"})])
    finally:
        await client.drop_database(collection.database.name)
        await client.close()
    writes = [c for c in sent.commands if c["name"] in {"insert", "update", "findAndModify"}]
    assert [c["name"] for c in writes] == ["insert", "update", "findAndModify", "insert"]
    assert [c for c in writes if "txnNumber" in c] == []
