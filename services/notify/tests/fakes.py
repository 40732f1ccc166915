"""notify's storage in memory, keeping the promises of `Messages`, for fast handler tests."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from gandan.notify.domain import ANSWERABLE, BookedVisit, Contact, Message, MessageStatus, Preferences
from gandan.shared.events import DeliveryChannel, Envelope, EventData, RecipientRole


class FakeMessages:
    def __init__(self) -> None:
        self.contacts: dict[str, Contact] = {}
        self.wards: dict[str, str] = {}  # request code → ward code
        self.messages: dict[str, Message] = {}
        self.outbox: dict[str, list[Envelope[EventData]]] = {}
        self.routes: dict[str, tuple[int, str]] = {}  # ward:day:team → revision, event id
        self.replies: dict[str, tuple[dict[str, Any], Envelope[EventData]]] = {}

    async def remember_contact(self, ward_code: str, contact: Contact) -> None:
        self.contacts.setdefault(contact.request_code, contact)
        self.wards.setdefault(contact.request_code, ward_code)

    async def contact(self, request_code: str) -> Contact | None:
        return self.contacts.get(request_code)

    async def booked_visit(self, request_code: str) -> BookedVisit | None:
        officers = [
            m
            for m in self.messages.values()
            if m.request_code == request_code and m.recipient_role is RecipientRole.OFFICER
        ]
        if not officers:
            return None
        latest = max(officers, key=lambda m: m.created_at)
        return BookedVisit(latest.phone, latest.params.get("procedure"))

    async def set_preferences(self, ward_code: str, request_code: str, preferences: Preferences) -> bool:
        contact = self.contacts.get(request_code)
        if contact is None or self.wards.get(request_code) != ward_code:
            return False
        self.contacts[request_code] = replace(contact, preferences=preferences)
        return True

    async def add(self, messages: list[Message]) -> list[Message]:
        new = [m for m in messages if m.id not in self.messages]
        for message in new:
            self.messages[message.id] = deepcopy(message)
            self.outbox[message.id] = []
        return new

    async def claimed(self, owner: str, ids: list[str]) -> list[Message]:
        mine = [self.messages[i] for i in ids if i in self.messages]
        return deepcopy([m for m in mine if m.status is MessageStatus.SENDING and m.lease_owner == owner])

    async def claim(self, now: datetime, owner: str, until: datetime, limit: int) -> list[Message]:
        claimed: list[Message] = []
        for message in self.messages.values():
            due = (
                message.due(now)
                or (
                    message.status is MessageStatus.SENDING
                    and message.lease_until is not None
                    and message.lease_until <= now
                )
                or (
                    message.status is MessageStatus.SENT
                    and message.fallback_at is not None
                    and message.fallback_at <= now
                )
            )
            if due and len(claimed) < limit:
                message.status, message.lease_owner, message.lease_until = MessageStatus.SENDING, owner, until
                claimed.append(message)
        # Copies, as a database gives: a change counts once it is saved.
        return deepcopy(claimed)

    async def save(self, messages: list[Message]) -> None:
        for message in messages:
            stored = self.messages[message.id]
            if stored.status is MessageStatus.SENDING and stored.lease_owner == message.lease_owner:
                self.outbox[message.id].extend(message.events)
                self.messages[message.id] = deepcopy(message)
                self.messages[message.id].events.clear()
            message.events.clear()

    async def by_provider_id(self, channel: DeliveryChannel, provider_message_id: str) -> Message | None:
        found = [
            m for m in self.messages.values() if m.channel == channel and m.provider_message_id == provider_message_id
        ]
        return deepcopy(found[0]) if found else None

    async def store_receipt(self, message: Message) -> bool:
        if self.messages[message.id].status is not MessageStatus.SENT:
            return False
        self.outbox[message.id].extend(message.events)
        self.messages[message.id] = deepcopy(message)
        self.messages[message.id].events.clear()
        message.events.clear()
        return True

    async def listing(self, ward_code: str, request_code: str | None, limit: int) -> list[Message]:
        listed = [
            m for m in self.messages.values() if m.ward_code == ward_code and request_code in (None, m.request_code)
        ]
        listed.sort(key=lambda m: m.id)
        listed.sort(key=lambda m: m.created_at, reverse=True)
        return deepcopy(listed[:limit])

    async def contacts_of(self, request_codes: list[str]) -> dict[str, Contact]:
        return {code: self.contacts[code] for code in request_codes if code in self.contacts}

    async def claim_route(self, ward_code: str, day: date, team_id: str, revision: int, event_id: UUID) -> bool:
        key, seen = f"{ward_code}:{day}:{team_id}", self.routes.get(f"{ward_code}:{day}:{team_id}")
        if seen is not None and seen[0] >= revision and seen != (revision, str(event_id)):
            return False
        self.routes[key] = (revision, str(event_id))
        return True

    async def windows_told(self, day: date, request_codes: list[str], except_cause: UUID) -> dict[str, str]:
        return {
            m.request_code: m.params["window"]
            for m in sorted(self.messages.values(), key=lambda m: (m.created_at, m.id))
            if m.template_id == "visit_window_citizen"
            and m.request_code in request_codes
            and m.refs.get("day") == day.isoformat()
            and m.cause.event_id != except_cause
        }

    async def latest_answerable(self, phone: str) -> Message | None:
        found = [m for m in self.messages.values() if m.phone == phone and m.template_id in ANSWERABLE]
        return deepcopy(max(found, key=lambda m: (m.created_at, m.id))) if found else None

    async def record_reply(self, reply_id: str, reply: dict[str, Any], event: Envelope[EventData]) -> bool:
        if reply_id in self.replies:
            return False
        self.replies[reply_id] = (reply, event)
        return True

    def by_role(self) -> dict[str, Message]:
        return {m.recipient_role.value: m for m in self.messages.values()}
