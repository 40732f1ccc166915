"""MongoDB through PyMongo's asyncio API (Motor is deprecated in its favour).

Every service's client is made here, so the write concern and the time bounds
hold for every write and read without a call site having to remember them.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]

# Bounded time: no operation, the driver's own retries included, takes longer.
# While the database restarts (a second or two) the driver keeps retrying within
# it, so a short outage is bridged instead of failing; a server that is away or
# frozen gives an error after this instead of holding an HTTP call or a handler.
# A busy but alive server answers in milliseconds (journaled inserts: ~1,000/s here).
OPERATION_TIMEOUT_MS = 5_000
# An unreachable host is known sooner; the rest of the budget is left to retries.
CONNECT_TIMEOUT_MS = 2_000


def connect(url: str) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        url,
        tz_aware=True,  # datetimes come back as UTC-aware, as they were stored
        # Durable before acknowledged: a write is acknowledged once it is in the
        # journal (j) and, on a replica set, on a majority of members, so a crash of
        # the database process loses nothing a 202, an ack or a publish followed.
        # The default (w:1, j:false) lost acknowledged writes on a SIGKILL. Keywords
        # win over MONGODB_URL's options, so a URL cannot weaken it.
        w="majority",
        journal=True,
        timeoutMS=OPERATION_TIMEOUT_MS,
        connectTimeoutMS=CONNECT_TIMEOUT_MS,
    )


def database(client: AsyncMongoClient[Document], name: str) -> AsyncDatabase[Document]:
    return client.get_database(name)
