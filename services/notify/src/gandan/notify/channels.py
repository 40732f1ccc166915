"""Where messages go out. Real SMS and Zalo adapters slot in beside the sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gandan.shared.events import DeliveryChannel


@dataclass(frozen=True)
class Outgoing:
    message_id: str  # also the provider's dedupe key (Zalo tracking_id, eSMS RequestId)
    phone: str
    text: str
    template: str


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


class MessageChannel(Protocol):
    name: DeliveryChannel

    async def send(self, message: Outgoing) -> str:
        """Hand the message to the provider; returns the provider's message id or raises DeliveryFailed."""
        ...


class SandboxChannel:
    """The development channel: accepts every message and delivers none.

    The messages themselves stay in notify's database, listed at GET /v1/messages.
    """

    name = DeliveryChannel.SANDBOX

    async def send(self, message: Outgoing) -> str:
        return f"sandbox-{message.message_id}"
