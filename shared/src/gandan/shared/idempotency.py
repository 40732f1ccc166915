"""Idempotent consumers: the effect of an event is stored under an id derived from the event's id.

A redelivered event produces the same id, the insert fails on the unique `_id`,
and nothing changes. The effect, the event id and any events it must publish
(its outbox) are one document, so one write records all three.
"""

from __future__ import annotations

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
    if not documents:
        return 0
    try:
        result = await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        others = [e for e in error.details.get("writeErrors", []) if e.get("code") != _DUPLICATE_KEY]
        if others:
            raise
        return int(error.details.get("nInserted", 0))
    return len(result.inserted_ids)
