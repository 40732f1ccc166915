"""The database client every service uses: acknowledged writes survive a crash of the
database process, and no call waits on a database that does not answer."""

import asyncio
import time

import pytest
from pymongo.errors import PyMongoError

from gandan.shared.mongo import OPERATION_TIMEOUT_MS, connect
from gandan.testing import DatabaseServer

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
