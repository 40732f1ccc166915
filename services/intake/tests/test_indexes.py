"""The indexes of intake's requests: each one is rewritten with every write of a request, so
none is kept that no query needs, and what the requests are found by stays index-backed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from gandan.intake.cccd import CccdCipher
from gandan.intake.repository import MongoHomeRequests
from gandan.shared.outbox import Outbox
from gandan.testing import CCCD_KEY


class _NoPublishing:
    async def publish(self, envelope: dict[str, Any]) -> None:
        raise AssertionError("making indexes publishes nothing")


async def test_a_database_of_a_former_version_loses_the_redundant_index_and_finds_by_id_and_ward_through_one(
    service_database: Callable[[str], AsyncDatabase[dict[str, Any]]],
) -> None:
    database = service_database("intake")
    requests = MongoHomeRequests(Outbox(_NoPublishing(), database), CccdCipher(CCCD_KEY.encode()))
    await requests.collection.create_index([("_id", 1), ("ward_code", 1)])  # as a former version made it

    await requests.ensure_indexes()
    await requests.ensure_indexes()  # at every start: what is gone already is no error

    names = [index["name"] async for index in await requests.collection.list_indexes()]
    assert "_id_1_ward_code_1" not in names
    explained = await database.command(
        "explain", {"find": "home_requests", "filter": {"_id": "GD-1", "ward_code": "1"}}
    )
    assert "COLLSCAN" not in str(explained["queryPlanner"]["winningPlan"])
