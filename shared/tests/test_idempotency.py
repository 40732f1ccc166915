"""Idempotent inserts on the real database: each caller learns whether its own document was new."""

import asyncio

import pytest
from bson.errors import InvalidDocument

from gandan.shared.idempotency import GroupedInserts


@pytest.fixture
def collection(service_database):
    return service_database("audit")["things"]


async def test_inserts_that_come_together_go_in_one_command_each_told_its_own_outcome(collection, database_commands):
    await collection.insert_one({"_id": "old"})
    inserts = GroupedInserts(collection)

    # "old" was there; "new" comes twice at once: one of the two stores it.
    outcomes = await asyncio.gather(*(inserts.insert_once({"_id": i}) for i in ("a", "old", "new", "b", "new")))

    assert outcomes[:4] == [True, False, True, True] and outcomes[4] is False
    assert sorted(d["_id"] for d in await collection.find().to_list()) == ["a", "b", "new", "old"]
    # The first goes at once; the others, arriving while it is on its way, together.
    assert database_commands.of("audit", "insert") <= 2


async def test_a_failed_insert_fails_every_caller_of_its_group(collection):
    inserts = GroupedInserts(collection)

    outcomes = await asyncio.gather(
        inserts.insert_once({"_id": "a"}),
        inserts.insert_once({"_id": "b", "x": object()}),  # cannot be stored
        return_exceptions=True,
    )

    assert all(isinstance(o, InvalidDocument) for o in outcomes), outcomes
    assert await inserts.insert_once({"_id": "a"}) is True  # tried again, alone
