"""Credentials: a signed token scoped to one ward and one role.

Every HTTP endpoint but health checks and provider webhooks requires one:
`Authorization: Bearer <token>`. Tokens are HS256 JWTs signed with
`GANDAN_AUTH_SECRET`; `gandan-token --ward 11002 --role staff` issues one.

A citizen's credential is bound to one citizen (the pseudonymous `citizen_ref`
intake computes from ward and phone: `gandan-citizen-token` in intake issues it)
or to one request (`gandan-token --role citizen --request GD-XXXXXXX`): it shows
that citizen's requests only, never the ward's. One bound to neither is refused.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gandan.shared.clock import utcnow
from gandan.shared.http import ApiError

_ALGORITHM = "HS256"
_AUDIENCE = "gandan"


class Role(StrEnum):
    CITIZEN = "citizen"  # a citizen, or an app acting for one
    GROUP_LEADER = "group_leader"  # residential group leader registering for a resident
    STAFF = "staff"  # centre staff and field officers
    AUDITOR = "auditor"  # compiles the assessment's evidence


class UnboundCitizen(ValueError):
    """A citizen credential must name the one citizen or request it is for; other roles name none."""


@dataclass(frozen=True)
class Credential:
    subject: str
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
        """Whether a request is visible: the ward's for staff, auditors and group leaders; a
        citizen's own (by reference, or the one request the credential names) for a citizen."""
        if ward_code != self.ward_code:
            return False
        if self.role is not Role.CITIZEN:
            return True
        return citizen_ref == self.citizen_ref if self.citizen_ref else request_code == self.request_code


def issue_token(
    secret: str,
    *,
    ward_code: str,
    role: Role,
    subject: str,
    valid_for: timedelta,
    citizen_ref: str | None = None,
    request_code: str | None = None,
) -> str:
    """Raises UnboundCitizen for a citizen's credential bound to nothing, or another role's bound to someone."""
    Credential(subject, ward_code, role, citizen_ref, request_code)
    now = utcnow()
    claims = {
        "sub": subject,
        "ward": ward_code,
        "role": role.value,
        "aud": _AUDIENCE,
        "iat": now,
        "exp": now + valid_for,
    }
    if citizen_ref:
        claims["citizen_ref"] = citizen_ref
    if request_code:
        claims["request_code"] = request_code
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_token(secret: str, token: str) -> Credential:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], audience=_AUDIENCE, options={"require": ["exp", "sub"]}
        )
        credential = Credential(
            subject=claims["sub"],
            ward_code=claims["ward"],
            role=Role(claims["role"]),
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
        raise ApiError(401, "invalid_credential", "Thông tin xác thực không hợp lệ hoặc đã hết hạn.") from error
    return credential


_bearer = HTTPBearer(auto_error=False)


def require(*roles: Role) -> Callable[..., Credential]:
    """A FastAPI dependency: the caller's credential, which must have one of `roles`.

    The secret is read from `app.state.auth_secret`, set by the service runtime.
    """

    def dependency(
        request: Request, supplied: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Credential:
        if supplied is None:
            raise ApiError(401, "missing_credential", "Cần thông tin xác thực (Authorization: Bearer).")
        credential = verify_token(request.app.state.auth_secret, supplied.credentials)
        if credential.role not in roles:
            raise ApiError(403, "role_not_allowed", "Vai trò này không được phép thực hiện thao tác này.")
        return credential

    return dependency


def main() -> None:
    parser = argparse.ArgumentParser(description="Issue a Gần Dân credential for one ward and one role.")
    parser.add_argument("--ward", required=True, help="official ward code, e.g. 11002")
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    binding = parser.add_mutually_exclusive_group()
    binding.add_argument("--request", help="citizen only: the one request code it may read, e.g. GD-ABCDEFG")
    binding.add_argument("--citizen-ref", help="citizen only: the citizen reference (gandan-citizen-token computes it)")
    parser.add_argument("--subject", default="operator")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    secret = os.environ.get("GANDAN_AUTH_SECRET")
    if not secret:
        parser.error("GANDAN_AUTH_SECRET is not set")
    try:
        token = issue_token(
            secret,
            ward_code=args.ward,
            role=Role(args.role),
            subject=args.subject,
            valid_for=timedelta(days=args.days),
            citizen_ref=args.citizen_ref,
            request_code=args.request and args.request.strip().upper(),
        )
    except UnboundCitizen:
        parser.error("a citizen credential needs --request or --citizen-ref; other roles take neither")
    print(token)
