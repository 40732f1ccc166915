"""A local HTTP server speaking the providers' documented APIs (../shared/PROVIDERS.md), error codes
included, for the adapters to be tested against: Zalo ZNS, eSMS.vn and SpeedSMS in one app.

It keeps what each provider accepted, so a test counts the messages that would reach phones.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gandan.testing import free_port

ZNS_TOKEN = "oa-access-token"
ZALO_APP_SECRET = "zalo-app-secret"
ESMS_KEYS = ("esms-api-key", "esms-secret-key")
SPEEDSMS_TOKEN = "speedsms-token"


@dataclass
class Providers:
    """What the providers were asked and what they accepted; what they answer for given numbers."""

    zns_codes: dict[str, int] = field(default_factory=dict)  # phone (84…) → ZNS error code
    esms_codes: dict[str, str] = field(default_factory=dict)  # phone (0…) → eSMS CodeResult
    speedsms_codes: dict[str, str] = field(default_factory=dict)  # phone (84…) → SpeedSMS error code
    speedsms_invalid: set[str] = field(default_factory=set)
    speedsms_per_minute: int = 60
    speedsms_requests: int = 0
    fail_http: int | None = None  # every request answered with this HTTP status
    requests: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    accepted: list[tuple[str, str, str]] = field(default_factory=list)  # provider, phone, dedupe id or text
    # Zalo's refresh tokens are single-use: each refresh gives a new pair and spends the old token.
    refresh_tokens: set[str] = field(default_factory=lambda: {"refresh-0"})
    refreshes: int = 0
    zns_msg_ids: dict[str, str] = field(default_factory=dict)  # phone → the msg_id ZNS gave its message
    _zns_tracking: dict[str, str] = field(default_factory=dict)
    _esms_requests: set[str] = field(default_factory=set)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/message/template", self._zns, methods=["POST"]),
                Route("/v4/oa/access_token", self._refresh, methods=["POST"]),
                Route("/MainService.svc/json/SendMultipleMessage_V4_post_json/", self._esms, methods=["POST"]),
                Route("/index.php/sms/send", self._speedsms, methods=["POST"]),
            ]
        )

    async def _received(self, name: str, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = await request.json()
        self.requests.append((name, body, dict(request.headers)))
        # Answers come back in another order than the requests went: as from a real network.
        await asyncio.sleep(0.001 * (len(self.requests) % 3))
        return body

    async def _zns(self, request: Request) -> JSONResponse:
        body = await self._received("zns", request)
        if self.fail_http:
            return JSONResponse({"error": "server"}, self.fail_http)
        if request.headers.get("access_token") != ZNS_TOKEN:
            return JSONResponse({"error": -124, "message": "Access token is invalid"})
        code = self.zns_codes.get(body["phone"], 0)
        if code:
            return JSONResponse({"error": code, "message": "error"})  # HTTP 200 even on errors
        # The same tracking_id again is the same message: Zalo does not send it twice.
        msg_id = self._zns_tracking.get(body["tracking_id"])
        if msg_id is None:
            msg_id = self._zns_tracking[body["tracking_id"]] = f"zns-{len(self._zns_tracking) + 1}"
            self.accepted.append(("zns", body["phone"], body["tracking_id"]))
            self.zns_msg_ids[body["phone"]] = msg_id
        data = {"msg_id": msg_id, "sent_time": "1764130000000", "quota": {"dailyQuota": "500", "remainingQuota": "499"}}
        return JSONResponse({"error": 0, "message": "Success", "data": data})

    async def _refresh(self, request: Request) -> JSONResponse:
        form = {name: value for name, [value] in parse_qs((await request.body()).decode()).items()}
        self.requests.append(("oauth", form, dict(request.headers)))
        await asyncio.sleep(0.05)  # slow enough for two replicas to overlap
        if request.headers.get("secret_key") != ZALO_APP_SECRET or form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": -14002, "error_name": "Invalid secret key"})
        if form.get("refresh_token") not in self.refresh_tokens:
            return JSONResponse({"error": -14014, "error_name": "Invalid refresh token"})
        self.refresh_tokens.discard(str(form["refresh_token"]))
        self.refreshes += 1
        self.refresh_tokens.add(f"refresh-{self.refreshes}")
        return JSONResponse(
            {
                "access_token": f"access-{self.refreshes}",
                "refresh_token": f"refresh-{self.refreshes}",
                "expires_in": "90000",
            }
        )

    async def _esms(self, request: Request) -> JSONResponse:
        body = await self._received("esms", request)
        if self.fail_http:
            return JSONResponse({"error": "server"}, self.fail_http)
        if (body.get("ApiKey"), body.get("SecretKey")) != ESMS_KEYS:
            return JSONResponse({"CodeResult": "101", "ErrorMessage": "Sai ApiKey hoac SecretKey"})
        if body["RequestId"] in self._esms_requests:
            return JSONResponse({"CodeResult": "124", "ErrorMessage": "Trung RequestId"})
        code = self.esms_codes.get(body["Phone"], "100")
        if code != "100":
            return JSONResponse({"CodeResult": code, "ErrorMessage": "loi"})
        self._esms_requests.add(body["RequestId"])
        self.accepted.append(("esms", body["Phone"], body["RequestId"]))
        return JSONResponse({"CodeResult": "100", "SMSID": f"esms-{len(self._esms_requests)}"})

    async def _speedsms(self, request: Request) -> JSONResponse:
        body = await self._received("speedsms", request)
        self.speedsms_requests += 1
        if self.speedsms_requests > self.speedsms_per_minute:
            return JSONResponse({"status": "error", "code": "429"}, 429, headers={"X-Rate-Limit-Reset": "42"})
        user = base64.b64decode(request.headers.get("authorization", "Basic ").split(" ")[1] or b"").split(b":")[0]
        if user.decode() != SPEEDSMS_TOKEN:
            return JSONResponse({"status": "error", "code": "101", "message": "invalid token"})
        [phone] = body["to"]
        code = self.speedsms_codes.get(phone)
        if code:
            return JSONResponse({"status": "error", "code": code, "message": "error"})
        invalid = [p for p in body["to"] if p in self.speedsms_invalid]
        if not invalid:
            self.accepted.append(("speedsms", phone, body["content"]))
        data = {"tranId": 1000 + len(self.accepted), "totalSMS": 1, "totalPrice": 600, "invalidPhone": invalid}
        return JSONResponse({"status": "success", "code": "00", "data": data})


@asynccontextmanager
async def running(providers: Providers) -> AsyncIterator[str]:
    """The providers' server on a free local port, for this test; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(providers.app(), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
