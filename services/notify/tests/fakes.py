"""notify's storage in memory, keeping the promises of `Messages`, for fast handler tests."""

from __future__ import annotations

from copy import deepcopy
from datetime import datetime

from gandan.notify.domain import Contact, Message, MessageStatus
from gandan.shared.events import Envelope, EventData


class FakeMessages:
    def __init__(self) -> None:
        self.contacts: dict[str, Contact] = {}
        self.messages: dict[str, Message] = {}
        self.outbox: dict[str, list[Envelope[EventData]]] = {}

    async def remember_contact(self, ward_code: str, contact: Contact) -> None:
        self.contacts.setdefault(contact.request_code, contact)

    async def contact(self, request_code: str) -> Contact | None:
        return self.contacts.get(request_code)

    async def add(self, messages: list[Message]) -> int:
        new = [m for m in messages if m.id not in self.messages]
        for message in new:
            self.messages[message.id] = deepcopy(message)
            self.outbox[message.id] = []
        return len(new)

    async def due(self, now: datetime, limit: int) -> list[Message]:
        due = [m for m in self.messages.values() if m.status is MessageStatus.PENDING and m.next_attempt_at <= now]
        # Copies, as a database gives: a change counts once it is saved.
        return deepcopy(due[:limit])

    async def save(self, messages: list[Message]) -> None:
        for message in messages:
            if self.messages[message.id].status is MessageStatus.PENDING:
                self.outbox[message.id].extend(message.events)
                self.messages[message.id] = deepcopy(message)
                self.messages[message.id].events.clear()
            message.events.clear()

    async def listing(self, ward_code: str, request_code: str | None, limit: int) -> list[Message]:
        listed = [
            m for m in self.messages.values() if m.ward_code == ward_code and request_code in (None, m.request_code)
        ]
        listed.sort(key=lambda m: m.id)
        listed.sort(key=lambda m: m.created_at, reverse=True)
        return deepcopy(listed[:limit])

    def by_role(self) -> dict[str, Message]:
        return {m.recipient_role.value: m for m in self.messages.values()}
