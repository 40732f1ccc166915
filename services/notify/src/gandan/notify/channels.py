"""Where messages go out: Zalo ZNS, SMS through eSMS.vn or SpeedSMS, and the development channel.

Each adapter speaks its provider's documented API (../shared/PROVIDERS.md) and turns its answer
into a provider message id or a `DeliveryFailed` saying what to do next. `Channels` is the route a
message takes: ZNS first where it is configured, SMS when ZNS cannot reach the person.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import httpx

from gandan.shared.events import DeliveryChannel
from gandan.shared.logs import log_fields
from gandan.shared.phone import international

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    message_id: str  # also the provider's dedupe key (Zalo tracking_id, eSMS RequestId)
    phone: str
    template: str  # id.vN
    sms_text: str
    unicode: bool  # the SMS form needs UCS-2
    zns_data: Mapping[str, str] = field(default_factory=dict)


class Failure(StrEnum):
    """What a failed send means for the message."""

    TEMPORARY = "temporary"  # the person cannot be reached now: try later
    TECHNICAL = "technical"  # the provider or the way to it is in trouble: try later
    PERMANENT = "permanent"  # this number will never get it
    UNREACHABLE = "unreachable"  # this channel cannot reach the person: the next channel may


class DeliveryFailed(Exception):
    def __init__(self, reason: str, failure: Failure, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.failure, self.retry_after = reason, failure, retry_after

    @property
    def permanent(self) -> bool:
        return self.failure in (Failure.PERMANENT, Failure.UNREACHABLE)


class MessageChannel(Protocol):
    name: DeliveryChannel

    async def send(self, message: Outgoing) -> str:
        """Hand the message to the provider; returns the provider's message id or raises DeliveryFailed."""
        ...


class Closable(Protocol):
    async def aclose(self) -> None: ...


# --- development ------------------------------------------------------------------

# Simulator numbers, as GOV.UK Notify's test key has: a message to them fails, every time.
PERMANENT_FAILURE_NUMBER = "0900000002"
TEMPORARY_FAILURE_NUMBER = "0900000003"


class DevelopmentChannel:
    """Accepts every message and delivers none; the messages stay in notify's database (GET /v1/messages).

    The simulator numbers force a permanent or a temporary failure, to see how they are handled.
    """

    name = DeliveryChannel.SANDBOX

    async def send(self, message: Outgoing) -> str:
        if message.phone == PERMANENT_FAILURE_NUMBER:
            raise DeliveryFailed("simulator: number does not exist", Failure.PERMANENT)
        if message.phone == TEMPORARY_FAILURE_NUMBER:
            raise DeliveryFailed("simulator: phone switched off", Failure.TEMPORARY)
        return f"sandbox-{message.message_id}"


# --- Zalo ZNS -----------------------------------------------------------------------

# -100 is Zalo's "unknown error"; -108 an invalid phone. Every other refusal (no Zalo account -118,
# template or data problems -109/-111/-112, the OA's configuration -101..-105, out of quota, the
# person rejected messages) means ZNS cannot carry this message: SMS can.
_ZNS_RETRY, _ZNS_INVALID_PHONE = -100, -108


class ZnsChannel:
    name = DeliveryChannel.ZALO

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        access_token: Callable[[], Awaitable[str]],
        templates: Mapping[str, str],
        development: bool = False,
    ) -> None:
        self._client, self._access_token, self._templates = client, access_token, templates
        self._development = development

    async def send(self, message: Outgoing) -> str:
        template_id = self._templates.get(message.template)
        if template_id is None:
            raise DeliveryFailed(f"no ZNS template registered for {message.template}", Failure.UNREACHABLE)
        body: dict[str, Any] = {
            "phone": international(message.phone),
            "template_id": template_id,
            "template_data": dict(message.zns_data),
            "tracking_id": message.message_id,
        }
        if self._development:
            body["mode"] = "development"
        headers = {"access_token": await self._access_token()}
        answer = await _post(self._client, "/message/template", json=body, headers=headers)
        code = _int(answer.get("error"))
        if code == 0:
            return str(answer["data"]["msg_id"])
        reason = f"zns {code}: {answer.get('message', '')}"[:200]
        if code == _ZNS_RETRY:
            raise DeliveryFailed(reason, Failure.TECHNICAL)
        if code == _ZNS_INVALID_PHONE:
            raise DeliveryFailed(reason, Failure.PERMANENT)
        raise DeliveryFailed(reason, Failure.UNREACHABLE)


# --- eSMS.vn ------------------------------------------------------------------------

_ESMS_ACCEPTED, _ESMS_DUPLICATE = "100", "124"
_ESMS_PERMANENT = {"99": "blocked number", "108": "phone format"}


class EsmsChannel:
    name = DeliveryChannel.SMS

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        secret_key: str,
        brandname: str,
        callback_url: str | None = None,
        sandbox: bool = False,
    ) -> None:
        self._client = client
        self._fixed = {
            "ApiKey": api_key,
            "SecretKey": secret_key,
            "Brandname": brandname,
            "SmsType": "2",
            "Sandbox": "1" if sandbox else "0",
        }
        if callback_url:
            self._fixed["CallbackUrl"] = callback_url

    async def send(self, message: Outgoing) -> str:
        body = self._fixed | {
            "Phone": message.phone,
            "Content": message.sms_text,
            "IsUnicode": "1" if message.unicode else "0",
            # eSMS refuses a repeat of a RequestId (124): a message sent again after a crash is not sent twice.
            "RequestId": message.message_id,
        }
        answer = await _post(self._client, "/MainService.svc/json/SendMultipleMessage_V4_post_json/", json=body)
        code = str(answer.get("CodeResult", ""))
        if code == _ESMS_ACCEPTED:
            return str(answer["SMSID"])
        if code == _ESMS_DUPLICATE:
            # Our own earlier try reached eSMS and its answer was lost: the message is on its way.
            return f"esms-request-{message.message_id}"
        reason = f"esms {code}: {answer.get('ErrorMessage') or _ESMS_PERMANENT.get(code, '')}"[:200]
        # Keys, balance, brandname, IP, template (101/103/104/140/146): the operator must act; retried meanwhile.
        raise DeliveryFailed(reason, Failure.PERMANENT if code in _ESMS_PERMANENT else Failure.TECHNICAL)


# --- SpeedSMS -----------------------------------------------------------------------


class RateLimit(Protocol):
    async def acquire(self, now: datetime) -> float | None:
        """None if a request may go now, else the seconds to wait."""
        ...


class SpeedSmsChannel:
    name = DeliveryChannel.SMS

    def __init__(
        self, client: httpx.AsyncClient, *, sender: str, limit: RateLimit, clock: Callable[[], datetime]
    ) -> None:
        self._client, self._sender, self._limit, self._clock = client, sender, limit, clock

    async def send(self, message: Outgoing) -> str:
        wait = await self._limit.acquire(self._clock())
        if wait is not None:
            raise DeliveryFailed("speedsms: 60 requests a minute used", Failure.TECHNICAL, retry_after=wait)
        phone = international(message.phone)
        body = {"to": [phone], "content": message.sms_text, "sms_type": 3, "sender": self._sender}
        try:
            response = await self._client.post("/index.php/sms/send", json=body)
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"speedsms: {error!r}"[:200], Failure.TECHNICAL) from error
        if response.status_code == 429:
            reset = _float(response.headers.get("X-Rate-Limit-Reset"))
            raise DeliveryFailed("speedsms: rate limited", Failure.TECHNICAL, retry_after=reset)
        answer = _json(response)
        code = str(answer.get("code", ""))
        if answer.get("status") == "success" and code == "00":
            if phone in answer["data"].get("invalidPhone", []):
                raise DeliveryFailed("speedsms: invalid phone", Failure.PERMANENT)
            return str(answer["data"]["tranId"])
        reason = f"speedsms {code}: {answer.get('message', '')}"[:200]
        # 113: the content is too long, and will stay so. The rest (IP, keys, sender, balance) the operator fixes.
        raise DeliveryFailed(reason, Failure.PERMANENT if code == "113" else Failure.TECHNICAL)


# --- the route ----------------------------------------------------------------------


class Channels:
    """The channels a message tries, in order, and the HTTP clients to close at stop."""

    def __init__(self, route: Sequence[MessageChannel], clients: Sequence[Closable] = ()) -> None:
        if not route:
            raise ValueError("at least one channel")
        self._route = list(route)
        self._by_name = {c.name: c for c in route}
        self._clients = list(clients)

    @property
    def first(self) -> DeliveryChannel:
        return self._route[0].name

    def start(self, preferred: DeliveryChannel | None) -> DeliveryChannel:
        """Where a message starts: the recipient's preferred channel if it is on the route, else the first."""
        return preferred if preferred in self._by_name else self.first

    def __getitem__(self, name: DeliveryChannel) -> MessageChannel:
        return self._by_name[name]

    def after(self, name: DeliveryChannel) -> DeliveryChannel | None:
        names = [c.name for c in self._route]
        index = names.index(name) + 1 if name in names else len(names)
        return names[index] if index < len(names) else None

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


async def _post(client: httpx.AsyncClient, path: str, **request: Any) -> dict[str, Any]:
    try:
        response = await client.post(path, **request)
    except httpx.HTTPError as error:
        raise DeliveryFailed(f"{error!r}"[:200], Failure.TECHNICAL) from error
    if response.status_code >= 400:
        raise DeliveryFailed(f"HTTP {response.status_code}", Failure.TECHNICAL)
    return _json(response)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError as error:
        raise DeliveryFailed(f"not JSON (HTTP {response.status_code})", Failure.TECHNICAL) from error
    if not isinstance(answer, dict):
        raise DeliveryFailed("not a JSON object", Failure.TECHNICAL)
    return answer


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


# --- Zalo's access token --------------------------------------------------------------


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_at: datetime


class TokenStore(Protocol):
    """The OA's token pair, shared by the replicas."""

    async def seed(self, pair: TokenPair) -> None:
        """Store the pair unless one is stored."""
        ...

    async def pair(self) -> TokenPair | None: ...

    async def lock(self, owner: str, now: datetime, until: datetime) -> TokenPair | None:
        """Take the right to refresh until `until` unless another replica holds it; the pair if taken."""
        ...

    async def replace(self, owner: str, pair: TokenPair) -> bool:
        """Store the new pair and release the lock, if `owner` still holds it."""
        ...


class ZaloAccessToken:
    """The OA's access token, refreshed before it expires by one replica at a time: Zalo's refresh
    token is single-use, so a second refresh with the same one would fail and lose the pair."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        store: TokenStore,
        *,
        app_id: str,
        secret_key: str,
        clock: Callable[[], datetime],
        owner: str,
        first: TokenPair | None = None,
        refresh_before: timedelta = timedelta(hours=1),
        lock_for: timedelta = timedelta(seconds=30),
    ) -> None:
        self._client, self._store, self._app_id, self._secret_key = client, store, app_id, secret_key
        self._clock, self._owner, self._refresh_before, self._lock_for = clock, owner, refresh_before, lock_for
        self._known: TokenPair | None = None  # read from the store only when it nears its end
        self._first = first  # the configured pair, stored unless a newer one is

    async def __call__(self) -> str:
        if self._first is not None:
            await self._store.seed(self._first)
            self._first = None
        return await self._current()

    async def _current(self) -> str:
        now = self._clock()
        if self._known is None or self._known.expires_at - self._refresh_before <= now:
            self._known = await self._store.pair()
        if self._known is None:
            raise DeliveryFailed("zns: no access token stored", Failure.UNREACHABLE)
        if self._known.expires_at - self._refresh_before <= now:
            locked = await self._store.lock(self._owner, now, now + self._lock_for)
            if locked is not None:
                try:
                    self._known = await self._refresh(locked)
                except DeliveryFailed as failed:
                    # Tried again once the lock runs out; until its end, the old token serves.
                    logger.warning("zalo token refresh failed", extra=log_fields(reason=failed.reason))
            # Or another replica is refreshing: the old token serves until it really expires.
        if self._known.expires_at <= now:
            raise DeliveryFailed("zns: access token expired, refresh under way", Failure.TECHNICAL)
        return self._known.access_token

    async def _refresh(self, pair: TokenPair) -> TokenPair:
        form = {"refresh_token": pair.refresh_token, "app_id": self._app_id, "grant_type": "refresh_token"}
        try:
            response = await self._client.post(
                "/v4/oa/access_token", data=form, headers={"secret_key": self._secret_key}
            )
            answer = _json(response)
            fresh = TokenPair(
                str(answer["access_token"]),
                str(answer["refresh_token"]),
                self._clock() + timedelta(seconds=int(answer["expires_in"])),
            )
        except (httpx.HTTPError, DeliveryFailed, KeyError, ValueError) as error:
            # The lock runs out by itself; the old pair stays stored for the next try.
            raise DeliveryFailed(f"zns: token refresh failed: {error!r}"[:200], Failure.TECHNICAL) from error
        await self._store.replace(self._owner, fresh)
        return fresh
