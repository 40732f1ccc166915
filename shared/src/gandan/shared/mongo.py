"""MongoDB through PyMongo's asyncio API (Motor is deprecated in its favour).

Every service's client is made here, so the write concern and the time bounds
hold for every write and read without a call site having to remember them.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections import Counter
from typing import Any

from bson import json_util
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

Document = dict[str, Any]

# Bounded time: no operation, the driver's own retries included, takes longer.
# While the database restarts (a second or two) an operation waits for it within
# this bound, so a short outage is bridged instead of failing (a write cut off
# mid-way fails, and its handler does it again); a server that is away or
# frozen gives an error after this instead of holding an HTTP call or a handler.
# A busy but alive server answers in milliseconds (journaled inserts: ~1,000/s here).
OPERATION_TIMEOUT_MS = 5_000
# An unreachable host is known sooner; the rest of the budget is left to retries.
CONNECT_TIMEOUT_MS = 2_000


_counting: dict[str, CommandCounts] = {}


def connect(url: str) -> AsyncMongoClient[Document]:
    listeners: list[monitoring.CommandListener] = []
    if path := os.environ.get("GANDAN_COMMAND_COUNTS"):
        # One counter per file, however many clients a process makes; nothing is added when unset.
        if path not in _counting:
            _counting[path] = CommandCounts(path)
        listeners = [_counting[path]]
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
        # No retryable writes. Every write is already safe to do again, and the kill tests
        # prove it: unique ids and event ids, revision-guarded updates, consumers that redo a
        # handler after a nack. SecantusDB keeps a record of every retryable write for 30 minutes
        # (up to 10,000), and scans and sorts them all at every write. Measured here, 8
        # writers: a journaled insert cost the server 1.25 ms with fewer than 2,000 records,
        # 4.4 ms with 4,000-6,000, and 0.65 ms without retryable writes. Across a crash of
        # SecantusDB that record is gone anyway, since it is kept only in memory.
        retryWrites=False,
        timeoutMS=OPERATION_TIMEOUT_MS,
        connectTimeoutMS=CONNECT_TIMEOUT_MS,
        event_listeners=listeners,
    )


def database(client: AsyncMongoClient[Document], name: str) -> AsyncDatabase[Document]:
    return client.get_database(name)


_INDEX_NOT_FOUND = 27
_NAMESPACE_NOT_FOUND = 26


async def drop_index_if_present(collection: AsyncCollection[Document], name: str) -> None:
    """Drop an index a former version made, if this database still has it: an index no query
    needs still costs every write."""
    try:
        await collection.drop_index(name)
    except OperationFailure as error:
        if error.code not in (_INDEX_NOT_FOUND, _NAMESPACE_NOT_FOUND):
            raise


# Filter and sort of each command that reads or selects documents, by command name.
_SELECTORS = {
    "find": ("filter", "sort"),
    "findAndModify": ("query", "sort"),
    "count": ("query", None),
    "distinct": ("query", None),
}


def _shape(value: Any) -> Any:
    """A filter with its values stripped: which fields and operators a query uses, not what it looks for."""
    if isinstance(value, dict):
        return {key: _shape(inner) for key, inner in value.items()}
    if isinstance(value, list) and value and all(isinstance(inner, dict) for inner in value):
        return [_shape(inner) for inner in value]  # $or, $and: each branch's shape
    return "?"


class CommandCounts(monitoring.CommandListener):
    """Counts the commands a process sends, by name, and keeps one example of each query shape.

    Opt-in (`GANDAN_COMMAND_COUNTS=<file>`, see `connect`), for the benchmark: it reads the file,
    rewritten every second while commands come and at exit, for the commands per journey and to
    `explain` every query the services ran.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.commands: Counter[str] = Counter()
        self.shapes: dict[str, Document] = {}
        self._lock = threading.Lock()
        self._changed = threading.Event()
        threading.Thread(target=self._write_every_second, name="command-counts", daemon=True).start()
        atexit.register(self.write)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command, name = event.command, event.command_name
        queries: list[tuple[Any, Any]] = []
        if name in _SELECTORS:
            filter_field, sort_field = _SELECTORS[name]
            queries.append((command.get(filter_field) or {}, command.get(sort_field) if sort_field else None))
        elif name in ("update", "delete"):
            queries += [(statement.get("q", {}), None) for statement in command.get(f"{name}s", [])]
        elif name == "aggregate" and (pipeline := command.get("pipeline")) and "$match" in pipeline[0]:
            queries.append((pipeline[0]["$match"], pipeline[1].get("$sort") if len(pipeline) > 1 else None))
        collection = command.get(name)
        with self._lock:
            self.commands[name] += 1
            for query, sort in queries:
                example = {"database": event.database_name, "collection": collection, "filter": query, "sort": sort}
                key = json.dumps([event.database_name, collection, _shape(query), list(sort or {})])
                self.shapes.setdefault(key, example)
        self._changed.set()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def write(self) -> None:
        with self._lock:
            text = json_util.dumps({"commands": self.commands, "shapes": list(self.shapes.values())})
        with open(f"{self.path}.tmp", "w") as out:
            out.write(text)
        os.replace(f"{self.path}.tmp", self.path)  # a reader never sees half a file

    def _write_every_second(self) -> None:
        while self._changed.wait():
            self._changed.clear()
            self.write()
            time.sleep(1.0)  # at most one write a second, however busy
