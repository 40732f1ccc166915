"""Contacts and messages in notify's own database. A message document carries its outbox."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateMany
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from gandan.notify.channels import TokenPair
from gandan.notify.domain import ANSWERABLE, BookedVisit, Cause, Contact, Message, MessageStatus, Preferences
from gandan.notify.templates import Encoding
from gandan.shared.events import DeliveryChannel, Envelope, EventData, RecipientRole
from gandan.shared.idempotency import insert_each_new, insert_once
from gandan.shared.mongo import Document, drop_index_if_present
from gandan.shared.outbox import WITHOUT_OUTBOX, Outbox, pending

# What a message's life changes; the rest is fixed when it is prepared.
_PROGRESS = (
    "status",
    "channel",
    "attempts",
    "last_error",
    "next_attempt_at",
    "lease_owner",
    "lease_until",
    "sent_at",
    "provider_message_id",
    "fallback_at",
    "delivered_at",
    "failed_at",
    "failure",
    "due_at",  # derived (`Message.due_at`): stored, so that one index finds every message due
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _dues(now: datetime) -> list[Document]:
    """The ways a message comes due for a sender, all read through the `(status, due_at)` index; first
    those whose sender's claim ran out (their sending began earliest).

    Each range has a lower bound, as a date range means in MongoDB anyway: SecantusDB otherwise
    walks the index from the `null`s up, and every message sent without a receipt to await keeps
    `due_at: null` (20,000 sent: 320-580 ms a search; bounded: 1-4 ms, measured).
    """
    due = {"$gt": _EPOCH, "$lte": now}
    return [
        {"status": MessageStatus.SENDING, "due_at": due},  # the claim ran out
        {"status": MessageStatus.CREATED, "due_at": due},  # the next attempt
        {"status": MessageStatus.SENT, "due_at": due},  # no receipt in time
    ]


# Before `due_at`, each way of coming due had an index of its own, on the field it reads.
_FORMER_DUE_FIELDS = {
    MessageStatus.CREATED: "next_attempt_at",
    MessageStatus.SENDING: "lease_until",
    MessageStatus.SENT: "fallback_at",
}


class MongoMessages:
    def __init__(self, database: AsyncDatabase[Document], outbox: Outbox) -> None:
        self._outbox = outbox
        self.contacts = database["contacts"]
        self.messages = outbox.collection("messages")
        self.rate_counters = database["rate_counters"]
        # The latest revision of each team's day seen, and the staff's replies with what they announce.
        self.routes = database["routes"]
        self.replies = outbox.collection("replies")

    async def ensure_indexes(self) -> None:
        await self.messages.create_index([("status", ASCENDING), ("due_at", ASCENDING)])
        await self._give_waiting_messages_their_due_at()
        # `claimed` reads by ids, through the `_id` index below: an index of its own by `lease_owner`
        # cost every write of a message (each index about 0.1 ms of the database's CPU), so it goes.
        for former in ("lease_owner_1", "lease_owner_1_status_1"):
            await drop_index_if_present(self.messages, former)
        await self.messages.create_index([("ward_code", ASCENDING), ("created_at", DESCENDING)])
        await self.messages.create_index([("request_code", ASCENDING)])
        await self.messages.create_index([("channel", ASCENDING), ("provider_message_id", ASCENDING)])
        # What `save` finds by. SecantusDB serves `_id` with other fields from an index only
        # if one holds them all; without it, each save would read every message.
        await self.messages.create_index([("_id", ASCENDING), ("status", ASCENDING), ("lease_owner", ASCENDING)])
        await self.rate_counters.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
        await self.messages.create_index([("phone", ASCENDING), ("created_at", DESCENDING)])  # a reply's assignment

    async def _give_waiting_messages_their_due_at(self) -> None:
        """Messages stored without `due_at` (by a former version, or by one of its replicas still
        running during an update) get it from the field their way of coming due read. Created and
        sending ones are few, found by `due_at: null`; sent ones, most messages, only while the
        former index is there to find those awaiting a receipt. The three former indexes then go:
        each was rewritten at every write of a message."""
        for status in (MessageStatus.CREATED, MessageStatus.SENDING):
            await self.messages.update_many(
                {"status": status, "due_at": None}, [{"$set": {"due_at": f"${_FORMER_DUE_FIELDS[status]}"}}]
            )
        if "status_1_fallback_at_1" in await self.messages.index_information():
            await self.messages.update_many(
                {"status": MessageStatus.SENT, "fallback_at": {"$gt": _EPOCH}}, [{"$set": {"due_at": "$fallback_at"}}]
            )
        for former in _FORMER_DUE_FIELDS.values():
            await drop_index_if_present(self.messages, f"status_1_{former}_1")

    async def remember_contact(self, ward_code: str, contact: Contact) -> None:
        # $setOnInsert: a redelivered event finds the contact there and changes nothing.
        await self.contacts.update_one(
            {"_id": contact.request_code},
            {"$setOnInsert": asdict(contact) | {"ward_code": ward_code}},
            upsert=True,
        )

    async def contact(self, request_code: str) -> Contact | None:
        document = await self.contacts.find_one({"_id": request_code}, {"_id": 0, "ward_code": 0})
        return _contact(document) if document else None

    async def booked_visit(self, request_code: str) -> BookedVisit | None:
        document = await self.messages.find_one(
            {"request_code": request_code, "recipient_role": RecipientRole.OFFICER},
            {"_id": 0, "phone": 1, "params.procedure": 1},
            sort=[("created_at", DESCENDING)],
        )
        if document is None:
            return None
        return BookedVisit(document["phone"], document.get("params", {}).get("procedure"))

    async def set_preferences(self, ward_code: str, request_code: str, preferences: Preferences) -> bool:
        result = await self.contacts.update_one(
            {"_id": request_code, "ward_code": ward_code}, {"$set": {"preferences": asdict(preferences)}}
        )
        return result.matched_count == 1

    async def add(self, messages: list[Message]) -> list[Message]:
        # Prepared messages announce nothing yet: an empty outbox.
        stored = await insert_each_new(self.messages, [_to_document(m) | pending() for m in messages])
        return [message for message, new in zip(messages, stored, strict=True) if new]

    async def claim(self, now: datetime, owner: str, until: datetime, limit: int) -> list[Message]:
        # Each way of coming due is read through its own index, not as one `$or`: SecantusDB runs a
        # `$or` (a find's, and an update's) as a scan of every message kept, 0.3 s at 20,000 (measured)
        # and past the 5 s bound at the 300,000 messages of 100,000 past requests.
        claims: list[UpdateMany] = []
        claimed: list[str] = []
        left = limit
        for due in _dues(now):
            if left <= 0:
                break
            ids = [d["_id"] async for d in self.messages.find(due, {"_id": 1}).limit(left)]
            if ids:
                # The condition again, per document: of two senders claiming at once, each message goes to one.
                claims.append(
                    UpdateMany(
                        {"_id": {"$in": ids}, **due},
                        {
                            "$set": {
                                "status": MessageStatus.SENDING,
                                "lease_owner": owner,
                                "lease_until": until,
                                "due_at": until,  # `Message.due_at` of a sending message: its claim runs out
                            }
                        },
                    )
                )
                claimed += ids
                left -= len(ids)
        if not claims:
            return []
        await self.messages.bulk_write(claims, ordered=False)
        return await self.claimed(owner, claimed)

    async def claimed(self, owner: str, ids: list[str]) -> list[Message]:
        # By `_id` alone, the claim checked here: SecantusDB explains `_id` with other fields as a scan.
        messages = [
            _from_document(document) async for document in self.messages.find({"_id": {"$in": ids}}, WITHOUT_OUTBOX)
        ]
        return [m for m in messages if m.status is MessageStatus.SENDING and m.lease_owner == owner]

    async def save(self, messages: list[Message]) -> None:
        changes = []
        for message in messages:
            document = _to_document(message)
            changes.append(
                (
                    {"_id": message.id, "status": MessageStatus.SENDING, "lease_owner": message.lease_owner},
                    {"$set": {name: document[name] for name in _PROGRESS}},
                    list(message.events),
                )
            )
        await self._outbox.update_each(self.messages, changes)
        for message in messages:
            message.events.clear()

    async def by_provider_id(self, channel: DeliveryChannel, provider_message_id: str) -> Message | None:
        document = await self.messages.find_one(
            {"channel": channel, "provider_message_id": provider_message_id}, WITHOUT_OUTBOX
        )
        return _from_document(document) if document else None

    async def store_receipt(self, message: Message) -> bool:
        document = _to_document(message)
        return await self._outbox.update(
            self.messages,
            {"_id": message.id, "status": MessageStatus.SENT},
            {"$set": {name: document[name] for name in _PROGRESS}},
            *message.events,
        )

    async def requests_this_minute(self, counter: str, now: datetime) -> int:
        """Counts one request against `counter` in the minute of `now`, for every replica; returns the count."""
        minute = now.replace(second=0, microsecond=0)
        key = f"{counter}:{minute.isoformat()}"
        while True:
            document = await self.rate_counters.find_one_and_update(
                {"_id": key}, {"$inc": {"requests": 1}}, return_document=ReturnDocument.AFTER
            )
            if document is not None:
                return int(document["requests"])
            # The minute's first request makes its counter; not by an upsert, which two replicas
            # racing can make count one request twice.
            await insert_once(
                self.rate_counters, {"_id": key, "requests": 0, "expires_at": minute + timedelta(minutes=2)}
            )

    async def listing(self, ward_code: str, request_code: str | None, limit: int) -> list[Message]:
        query: Document = {"ward_code": ward_code}
        if request_code:
            query["request_code"] = request_code
        cursor = self.messages.find(query, WITHOUT_OUTBOX).sort([("created_at", DESCENDING), ("_id", ASCENDING)])
        return [_from_document(document) async for document in cursor.limit(limit)]

    # --- dispatch's planned day and the staff's replies ---

    async def contacts_of(self, request_codes: list[str]) -> dict[str, Contact]:
        cursor = self.contacts.find({"_id": {"$in": request_codes}}, {"ward_code": 0})
        return {document.pop("_id"): _contact(document) async for document in cursor}

    async def claim_route(self, ward_code: str, day: date, team_id: str, revision: int, event_id: UUID) -> bool:
        # One atomic write: of two revisions racing, the later wins; an earlier one arriving late finds
        # the document and fails its insert.
        ours = {"revision": revision, "event_id": str(event_id)}
        try:
            await self.routes.update_one(
                {"_id": f"{ward_code}:{day.isoformat()}:{team_id}", "$or": [{"revision": {"$lt": revision}}, ours]},
                {"$set": ours},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def windows_told(self, day: date, request_codes: list[str], except_cause: UUID) -> dict[str, str]:
        cursor = self.messages.find(
            {
                "request_code": {"$in": request_codes},
                "template_id": "visit_window_citizen",
                "refs.day": day.isoformat(),
                "cause.event_id": {"$ne": str(except_cause)},
            },
            {"request_code": 1, "params.window": 1},
        ).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return {document["request_code"]: document["params"]["window"] async for document in cursor}

    async def latest_answerable(self, phone: str) -> Message | None:
        document = await self.messages.find_one(
            {"phone": phone, "template_id": {"$in": list(ANSWERABLE)}},
            WITHOUT_OUTBOX,
            sort=[("created_at", DESCENDING), ("_id", DESCENDING)],
        )
        return _from_document(document) if document else None

    async def record_reply(self, reply_id: str, reply: dict[str, Any], event: Envelope[EventData]) -> bool:
        return await self._outbox.insert(self.replies, {"_id": reply_id, **reply}, event)


def _contact(document: Document) -> Contact:
    chosen = document.pop("preferences", None) or {}
    channel = chosen.get("channel")
    preferences = Preferences(DeliveryChannel(channel) if channel else None, chosen.get("non_essential", True))
    return Contact(**document, preferences=preferences)


def _to_document(message: Message) -> Document:
    document = {f.name: getattr(message, f.name) for f in fields(message) if f.name != "events"}
    document["_id"] = document.pop("id")
    document["due_at"] = message.due_at
    document["cause"] = {name: str(value) for name, value in asdict(message.cause).items()}
    return document


def _from_document(document: Document) -> Message:
    values = dict(document)
    values["id"] = values.pop("_id")
    values.pop("due_at", None)  # derived from the rest
    values["recipient_role"] = RecipientRole(values["recipient_role"])
    values["channel"] = DeliveryChannel(values["channel"])
    values["status"] = MessageStatus(values["status"])
    values["encoding"] = Encoding(values["encoding"])
    values["cause"] = Cause(**{name: UUID(value) for name, value in values["cause"].items()})
    return Message(**values)


class MinuteRateLimit:
    """At most `per_minute` requests to a provider in a minute, counted in notify's database, so the
    replicas share it (SpeedSMS allows 60 a minute per account)."""

    def __init__(self, repository: MongoMessages, counter: str, per_minute: int) -> None:
        self._repository, self._counter, self._per_minute = repository, counter, per_minute

    async def acquire(self, now: datetime) -> float | None:
        if await self._repository.requests_this_minute(self._counter, now) <= self._per_minute:
            return None
        return 60 - now.second - now.microsecond / 1e6


class MongoZaloTokens:
    """The OA's token pair in one document, with the lock of the replica refreshing it."""

    _ID = "zalo_oa"

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.tokens = database["tokens"]

    async def seed(self, pair: TokenPair) -> None:
        """The pair from the settings, the first time only: afterwards the stored one is newer."""
        await insert_once(self.tokens, {"_id": self._ID, **asdict(pair), "locked_until": None, "locked_by": None})

    async def pair(self) -> TokenPair | None:
        document = await self.tokens.find_one({"_id": self._ID})
        return _pair(document) if document else None

    async def lock(self, owner: str, now: datetime, until: datetime) -> TokenPair | None:
        document = await self.tokens.find_one_and_update(
            {"_id": self._ID, "$or": [{"locked_until": None}, {"locked_until": {"$lte": now}}]},
            {"$set": {"locked_until": until, "locked_by": owner}},
            return_document=ReturnDocument.AFTER,
        )
        return _pair(document) if document else None

    async def replace(self, owner: str, pair: TokenPair) -> bool:
        result = await self.tokens.update_one(
            {"_id": self._ID, "locked_by": owner},
            {"$set": {**asdict(pair), "locked_until": None, "locked_by": None}},
        )
        return result.matched_count == 1


def _pair(document: Document) -> TokenPair:
    return TokenPair(document["access_token"], document["refresh_token"], document["expires_at"])
