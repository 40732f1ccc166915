"""Credentials: who may do what, each scoped to one ward and one role.

Every HTTP endpoint but health checks requires one: `Authorization: Bearer <credential>`.

Staff and systems (centre officers, the centre's leadership, residential-group leaders, the
one-stop system, operators, auditors) hold an **API key** `gd_<key id>_<secret>`. Each service
keeps the keys it accepts in the `credentials` collection of its own database, stored as the
SHA-256 of the secret with the key's ward, role and label; the secret itself is shown once, when
`gandan-credentials issue` makes it, and kept nowhere. A plain hash is enough: the secret is 256
random bits, so nothing is gained by guessing it against a stolen hash, and a slow hash (bcrypt,
argon2) would only cost every request its time. Each request looks its key up (no cache), so a
revoked key is refused at the next request (`401 credential_revoked`).

A citizen's credential is a token signed with `GANDAN_AUTH_SECRET` (HS256), bound to one citizen
(the pseudonymous `citizen_ref` intake computes from ward and phone: `gandan-citizen-token`) or to
one request (`gandan-token --ward 11002 --request GD-XXXXXXX`). It stays a signed token because it
is handed out per citizen and per request, as many as there are requests, by intake alone (only
intake knows how a phone becomes a citizen_ref): stored keys would need every service to hold a
copy of each. It shows that citizen's requests only, never the ward's, and expires (30 days).
A signed token for any other role is refused: staff and systems have keys, which can be revoked.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pymongo.asynchronous.database import AsyncDatabase

from gandan.shared.clock import utcnow
from gandan.shared.http import ApiError

_ALGORITHM = "HS256"
_AUDIENCE = "gandan"


class Role(StrEnum):
    CITIZEN = "citizen"  # a citizen, or an app acting for one: a signed token bound to them
    OFFICER = "officer"  # a centre officer, field officers included
    LEADERSHIP = "leadership"  # the centre's leadership
    GROUP_LEADER = "group_leader"  # a residential group's leader, registering for residents
    ONE_STOP = "one_stop"  # the centre's one-stop system (hệ thống một cửa)
    OPERATOR = "operator"  # runs the system; reads no citizen's data
    AUDITOR = "auditor"  # compiles the assessment's evidence


KEYED_ROLES = tuple(role for role in Role if role is not Role.CITIZEN)


class UnboundCitizen(ValueError):
    """A citizen credential must name the one citizen or request it is for; other roles name none."""


@dataclass(frozen=True)
class Credential:
    subject: str  # an API key's id, or a citizen token's subject
    ward_code: str
    role: Role
    citizen_ref: str | None = None
    request_code: str | None = None

    def __post_init__(self) -> None:
        bound = bool(self.citizen_ref) + bool(self.request_code)
        if bound != (1 if self.role is Role.CITIZEN else 0):
            raise UnboundCitizen(self.role)

    def require_ward(self, ward_code: str) -> None:
        if ward_code != self.ward_code:
            raise ApiError(403, "wrong_ward", "Thông tin xác thực không dùng được cho phường/xã này.")

    def require_citizen(self, citizen_ref: str) -> None:
        """A citizen registers for their own phone only; other roles register for anyone of their ward."""
        if self.role is Role.CITIZEN and citizen_ref != self.citizen_ref:
            raise ApiError(
                403,
                "not_your_phone",
                "Công dân chỉ đăng ký được cho số điện thoại của chính mình.",
                field="phone",
            )

    def may_see(self, *, ward_code: str, citizen_ref: str, request_code: str) -> bool:
        """Whether a request is visible: the ward's for every role but citizens; a citizen's own
        (by reference, or the one request the credential names) for a citizen."""
        if ward_code != self.ward_code:
            return False
        if self.role is not Role.CITIZEN:
            return True
        return citizen_ref == self.citizen_ref if self.citizen_ref else request_code == self.request_code


def _invalid() -> ApiError:
    return ApiError(401, "invalid_credential", "Thông tin xác thực không hợp lệ hoặc đã hết hạn.")


# --- API keys: staff and systems ------------------------------------------------------

# `gd_` + 16 hex digits of key id + `_` + 43 characters of token_urlsafe(32): anything else is
# refused before the database is asked.
_KEY = re.compile(r"gd_(?P<key_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})")
CREDENTIALS = "credentials"


@dataclass(frozen=True)
class IssuedKey:
    """A key as it is stored and listed: never its secret."""

    key_id: str
    ward_code: str
    role: Role
    label: str
    issued_at: datetime
    revoked_at: datetime | None = None

    def document(self, secret_hash: str) -> dict[str, Any]:
        return {
            "_id": self.key_id,
            "hash": secret_hash,
            "ward": self.ward_code,
            "role": self.role.value,
            "label": self.label,
            "issued_at": self.issued_at,
            "revoked_at": self.revoked_at,
        }

    @classmethod
    def of(cls, document: dict[str, Any]) -> IssuedKey:
        return cls(
            document["_id"],
            document["ward"],
            Role(document["role"]),
            document["label"],
            document["issued_at"],
            document["revoked_at"],
        )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(*, ward_code: str, role: Role, label: str, now: datetime) -> tuple[str, dict[str, Any]]:
    """A new API key, and the document that stores it (its hash, not its secret)."""
    if role is Role.CITIZEN:
        raise UnboundCitizen(role)
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    issued = IssuedKey(key_id, ward_code, role, label, now)
    return f"gd_{key_id}_{secret}", issued.document(_hash(secret))


class CredentialStore:
    """The API keys one service accepts, in its own database."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._keys = database[CREDENTIALS]

    async def issue(self, *, ward_code: str, role: Role, label: str, now: datetime) -> str:
        """Store a new key; return it (the only time its secret is seen)."""
        key, document = new_key(ward_code=ward_code, role=role, label=label, now=now)
        await self._keys.insert_one(document)
        return key

    async def listing(self) -> list[IssuedKey]:
        return [IssuedKey.of(d) async for d in self._keys.find({}, {"hash": 0}).sort("issued_at", 1)]

    async def revoke(self, key_id: str, now: datetime) -> IssuedKey | None:
        """Revoke a key (the first revocation's time is kept); None when there is no such key."""
        await self._keys.update_one({"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": now}})
        document = await self._keys.find_one({"_id": key_id}, {"hash": 0})
        return IssuedKey.of(document) if document else None

    async def verify(self, key: str) -> Credential:
        """The credential of a key; 401 for an unknown, wrong or revoked one. One read, no cache."""
        match = _KEY.fullmatch(key)
        if match is None:
            raise _invalid()
        document = await self._keys.find_one({"_id": match["key_id"]})
        # Compared in constant time, so the answer's timing tells nothing of the stored hash.
        if document is None or not hmac.compare_digest(document["hash"], _hash(match["secret"])):
            raise _invalid()
        if document["revoked_at"] is not None:
            raise ApiError(401, "credential_revoked", "Thông tin xác thực này đã bị thu hồi.")
        return Credential(subject=document["_id"], ward_code=document["ward"], role=Role(document["role"]))


# --- citizens' signed tokens -------------------------------------------------------------


def issue_citizen_token(
    secret: str,
    *,
    ward_code: str,
    subject: str,
    valid_for: timedelta,
    citizen_ref: str | None = None,
    request_code: str | None = None,
) -> str:
    """Raises UnboundCitizen unless bound to exactly one citizen or one request."""
    Credential(subject, ward_code, Role.CITIZEN, citizen_ref, request_code)
    now = utcnow()
    claims = {
        "sub": subject,
        "ward": ward_code,
        "role": Role.CITIZEN.value,
        "aud": _AUDIENCE,
        "iat": now,
        "exp": now + valid_for,
    }
    if citizen_ref:
        claims["citizen_ref"] = citizen_ref
    if request_code:
        claims["request_code"] = request_code
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_citizen_token(secret: str, token: str) -> Credential:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], audience=_AUDIENCE, options={"require": ["exp", "sub"]}
        )
        if claims["role"] != Role.CITIZEN.value:
            raise ValueError("a signed token is a citizen's only")
        credential = Credential(
            subject=claims["sub"],
            ward_code=claims["ward"],
            role=Role.CITIZEN,
            citizen_ref=claims.get("citizen_ref"),
            request_code=claims.get("request_code"),
        )
    except UnboundCitizen as error:
        raise ApiError(
            401,
            "citizen_not_bound",
            "Thông tin xác thực của công dân phải gắn với một công dân hoặc một yêu cầu; vui lòng xin cấp lại.",
        ) from error
    except (jwt.PyJWTError, KeyError, ValueError) as error:
        raise _invalid() from error
    return credential


# --- the dependency every endpoint uses ----------------------------------------------------

_bearer = HTTPBearer(auto_error=False)


def require(*roles: Role) -> Callable[..., Awaitable[Credential]]:
    """A FastAPI dependency: the caller's credential, which must have one of `roles`.

    Keys are checked against `app.state.credentials` (the service's CredentialStore), citizens'
    tokens against `app.state.auth_secret`; both are set by the service runtime.
    """

    async def dependency(
        request: Request, supplied: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Credential:
        if supplied is None:
            raise ApiError(401, "missing_credential", "Cần thông tin xác thực (Authorization: Bearer).")
        presented = supplied.credentials
        if presented.startswith("gd_"):
            store: CredentialStore = request.app.state.credentials
            credential = await store.verify(presented)
        else:
            credential = verify_citizen_token(request.app.state.auth_secret, presented)
        if credential.role not in roles:
            raise ApiError(403, "role_not_allowed", "Vai trò này không được phép thực hiện thao tác này.")
        return credential

    return dependency


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Issue a citizen's credential for one request. Staff and systems: gandan-credentials."
    )
    parser.add_argument("--ward", required=True, help="official ward code, e.g. 11002")
    binding = parser.add_mutually_exclusive_group(required=True)
    binding.add_argument("--request", help="the one request code it may read, e.g. GD-ABCDEFG")
    binding.add_argument("--citizen-ref", help="the citizen reference (gandan-citizen-token computes it)")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    secret = os.environ.get("GANDAN_AUTH_SECRET")
    if not secret:
        parser.error("GANDAN_AUTH_SECRET is not set")
    request_code = args.request and args.request.strip().upper()
    print(
        issue_citizen_token(
            secret,
            ward_code=args.ward,
            subject=args.citizen_ref or request_code,
            valid_for=timedelta(days=args.days),
            citizen_ref=args.citizen_ref,
            request_code=request_code,
        )
    )
