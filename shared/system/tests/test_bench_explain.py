"""The bench's judgement of a query shape (`unindexed`): a scan is reported, a pick by `_id` is not."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from gandan.system.bench import unindexed


async def test_a_filter_picking_documents_by_their_ids_is_not_reported_as_a_scan_and_a_scan_is(
    mongodb_url: str, namespace: str
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    database = f"{namespace}_bench"
    try:
        await client[database]["things"].insert_many([{"_id": f"t{n}", "by": "r"} for n in range(3)])

        def shape(query: dict[str, Any]) -> dict[str, Any]:
            return {"database": database, "collection": "things", "filter": query, "sort": None}

        by_ids = [shape({"_id": "t1", "by": "r"}), shape({"_id": {"$in": ["t1", "t2"]}, "by": "r"})]
        scan = shape({"by": "r"})
        assert await unindexed(client, [*by_ids, scan]) == [scan]
    finally:
        await client.drop_database(database)
        await client.close()
