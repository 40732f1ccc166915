"""Idempotent consumers: the effect of an event is stored under an id derived from the event's id.

A redelivered event produces the same id, the insert fails on the unique `_id`,
and nothing changes. The effect, the event id and any events it must publish
(its outbox) are one document, so one write records all three.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from gandan.shared.mongo import Document

_DUPLICATE_KEY = 11000


def effect_id(event_id: UUID | str, part: str = "") -> str:
    """The id of what event `event_id` caused; `part` tells apart several effects of one event."""
    return f"{event_id}/{part}" if part else str(event_id)


async def insert_once(collection: AsyncCollection[Document], document: Document) -> bool:
    """Insert unless a document with this `_id` exists; True if this call stored it."""
    try:
        await collection.insert_one(document)
    except DuplicateKeyError:
        return False
    return True


async def insert_each_once(collection: AsyncCollection[Document], documents: list[Document]) -> int:
    """Insert every document whose `_id` is new; returns how many this call stored.

    Unordered, so a retry after a crash half-way stores just the missing ones.
    """
    return sum(await insert_each_new(collection, documents))


async def insert_each_new(collection: AsyncCollection[Document], documents: list[Document]) -> list[bool]:
    """Insert, in one command, every document whose `_id` is new; for each, whether this call stored it."""
    if not documents:
        return []
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(e.get("code") != _DUPLICATE_KEY for e in errors):
            raise
        taken = {e["index"] for e in errors}
        return [i not in taken for i in range(len(documents))]
    return [True] * len(documents)


class GroupedInserts:
    """`insert_once` for callers that come at once: what arrives while one insert is on its
    way goes together in the next, one command for many (a group commit). Each caller
    still returns only once its own document is stored, so it acks only what is stored.
    """

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection
        self._waiting: list[tuple[Document, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def insert_once(self, document: Document) -> bool:
        """Insert unless a document with this `_id` exists; True if this call stored it."""
        stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((document, stored))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await stored

    async def _write(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                outcomes = await insert_each_new(self._collection, [document for document, _ in group])
            except Exception as error:
                # Each caller fails as its own insert would have, and tries again.
                for _, stored in group:
                    if not stored.done():
                        stored.set_exception(error)
                continue
            for (_, stored), outcome in zip(group, outcomes, strict=True):
                if not stored.done():
                    stored.set_result(outcome)
