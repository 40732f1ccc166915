"""Credentials: a signed token scoped to one ward and one role.

Every HTTP endpoint but health checks and provider webhooks requires one:
`Authorization: Bearer <token>`. Tokens are HS256 JWTs signed with
`GANDAN_AUTH_SECRET`; `gandan-token --ward 11002 --role staff` issues one.
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


@dataclass(frozen=True)
class Credential:
    subject: str
    ward_code: str
    role: Role

    def require_ward(self, ward_code: str) -> None:
        if ward_code != self.ward_code:
            raise ApiError(403, "wrong_ward", "Thông tin xác thực không dùng được cho phường/xã này.")


def issue_token(secret: str, *, ward_code: str, role: Role, subject: str, valid_for: timedelta) -> str:
    now = utcnow()
    claims = {
        "sub": subject,
        "ward": ward_code,
        "role": role.value,
        "aud": _AUDIENCE,
        "iat": now,
        "exp": now + valid_for,
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_token(secret: str, token: str) -> Credential:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], audience=_AUDIENCE, options={"require": ["exp", "sub"]}
        )
        return Credential(subject=claims["sub"], ward_code=claims["ward"], role=Role(claims["role"]))
    except (jwt.PyJWTError, KeyError, ValueError) as error:
        raise ApiError(401, "invalid_credential", "Thông tin xác thực không hợp lệ hoặc đã hết hạn.") from error


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
    parser.add_argument("--subject", default="operator")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    secret = os.environ.get("GANDAN_AUTH_SECRET")
    if not secret:
        parser.error("GANDAN_AUTH_SECRET is not set")
    print(
        issue_token(
            secret, ward_code=args.ward, role=Role(args.role), subject=args.subject, valid_for=timedelta(days=args.days)
        )
    )
