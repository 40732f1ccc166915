"""Who may do what (issue 8, item 7): API keys for one ward and one role, issued, listed and
revoked by `gandan-credentials`, stored hashed; a revoked key refused at its next request; a key
of one ward neither reads nor changes another ward's data; each role only what it may."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gandan.audit.app import build as build_audit
from gandan.dispatch.app import build as build_dispatch
from gandan.intake.app import build as build_intake
from gandan.notify.app import build as build_notify
from gandan.shared.auth import CREDENTIALS, KEYED_ROLES, Role
from gandan.system.services import SERVICES
from gandan.testing import auth, eventually, serving, ward_not_served
from gandan.testing.factories import home_request_form, one_request

WARD = "11002"  # Thạch Khôi: the caller's
WARD_B = "11359"  # Gia Viên: the ward whose data must not leak
B_NAME, B_PHONE = "Trần Thị Bình", "0987654321"
B_NOTIFY_CODE = "GD-BBBBBB2"


@pytest.fixture
async def services(service_settings) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """intake, dispatch, notify and audit in this process: the services with endpoints of their own;
    ready once intake has heard from dispatch that both wards are served."""
    async with AsyncExitStack() as stack:
        running = {
            name: await stack.enter_async_context(serving(*build()))
            for name, build in (
                ("intake", build_intake),
                ("dispatch", build_dispatch),
                ("notify", build_notify),
                ("audit", build_audit),
            )
        }

        async def served() -> bool:
            # Refused for its ward only while intake has not heard; then one request of ward B more.
            form = home_request_form(ward_code=WARD_B, phone="0977000111", procedure="Xác nhận tình trạng")
            answer = await running["intake"].post("/v1/home-requests", json=form, headers=auth(WARD_B))
            return not ward_not_served(answer)

        await eventually(served, what="intake knows both wards are served")
        yield running


def credentials_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from gandan.system.credentials import main; main()", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- the operator's command ----------------------------------------------------------------


async def test_the_command_issues_lists_and_revokes_and_a_revoked_key_is_refused_at_once(
    services, service_settings, service_database
):
    intake = services["intake"]
    issued = credentials_command(
        service_settings, "issue", "--service", "intake", "--ward", WARD, "--role", "officer", "--label", "Lê Văn Giang"
    )
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip()
    _, key_id, secret = key.split("_", 2)
    headers = {"Authorization": f"Bearer {key}"}

    accepted = await intake.post("/v1/home-requests", json=home_request_form(), headers=headers)
    assert accepted.status_code == 202, accepted.text
    # Issued for intake only: another service does not know it.
    assert (await services["audit"].get("/v1/requests/GD-ZZZZZZZ/trail", headers=headers)).status_code == 401

    # Beside it, the keys the test's own calls use (`auth`).
    stored = await service_database("intake")[CREDENTIALS].find_one({"_id": key_id})
    assert stored is not None
    assert stored["hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert (stored["_id"], stored["ward"], stored["role"], stored["label"]) == (key_id, WARD, "officer", "Lê Văn Giang")
    assert secret not in json.dumps(stored, default=str)

    listed = credentials_command(service_settings, "list", "--service", "intake")
    assert listed.returncode == 0, listed.stderr
    [line] = [line for line in listed.stdout.splitlines() if "Lê Văn Giang" in line]
    assert key_id in line and WARD in line and "officer" in line and "active" in line and "Lê Văn Giang" in line
    assert secret not in listed.stdout

    revoked = credentials_command(service_settings, "revoke", "--service", "intake", key_id)
    assert revoked.returncode == 0, revoked.stderr

    refused = await intake.post("/v1/home-requests", json=home_request_form(), headers=headers)
    assert refused.status_code == 401
    assert [e["code"] for e in refused.json()["errors"]] == ["credential_revoked"]
    assert (
        await intake.get(f"/v1/home-requests/{accepted.json()['request_code']}", headers=headers)
    ).status_code == 401
    # Only the request the key sent before it was revoked (and the fixture's own in ward B).
    assert await service_database("intake")["home_requests"].count_documents({"ward_code": WARD}) == 1
    assert "revoked" in credentials_command(service_settings, "list", "--service", "intake").stdout
    unknown = credentials_command(service_settings, "revoke", "--service", "intake", "0" * 16)
    assert unknown.returncode == 1


@pytest.mark.parametrize(
    "args",
    [
        ("issue", "--service", "intake", "--ward", WARD, "--role", "citizen", "--label", "x"),
        ("issue", "--service", "intake", "--ward", "99999", "--role", "officer", "--label", "x"),
        ("issue", "--service", "intake", "--ward", WARD, "--role", "officer", "--label", " "),
        ("issue", "--service", "nowhere", "--ward", WARD, "--role", "officer", "--label", "x"),
    ],
    ids=["citizen", "unknown-ward", "empty-label", "unknown-service"],
)
def test_the_command_refuses_what_it_cannot_issue(service_settings, args):
    refused = credentials_command(service_settings, *args)
    assert refused.returncode == 2
    assert refused.stdout == ""


# --- one ward's key and another ward's data ---------------------------------------------------

# Every endpoint that reads or changes a ward's data: (service, method, path) → how a key of
# WARD asks for WARD_B's data there. A new endpoint without its line fails the test below.
Attempt = Callable[[httpx.AsyncClient, str, dict[str, str]], Awaitable[httpx.Response]]
ACROSS: dict[tuple[str, str, str], Attempt] = {
    ("intake", "post", "/v1/home-requests"): lambda c, code, h: c.post(
        "/v1/home-requests", json=home_request_form(ward_code=WARD_B), headers=h
    ),
    ("intake", "get", "/v1/home-requests/{code}"): lambda c, code, h: c.get(f"/v1/home-requests/{code}", headers=h),
    ("notify", "get", "/v1/messages"): lambda c, code, h: c.get(
        "/v1/messages", params={"request_code": B_NOTIFY_CODE}, headers=h
    ),
    ("audit", "get", "/v1/requests/{code}/trail"): lambda c, code, h: c.get(f"/v1/requests/{code}/trail", headers=h),
}


def _update(path: str, body: dict[str, Any]) -> Attempt:
    return lambda c, code, h: c.post(path.replace("{code}", code), json=body, headers=h)


_TOMORROW = datetime.now(UTC) + timedelta(days=1)
# A valid body for each of a request's updates: the answer then depends on the credential alone.
UPDATES: dict[str, dict[str, Any]] = {
    "/v1/home-requests/{code}/appointment": {
        "starts_at": _TOMORROW.isoformat(),
        "ends_at": (_TOMORROW + timedelta(hours=1)).isoformat(),
    },
    "/v1/home-requests/{code}/reports/dossier-received": {
        "pages_digitised": 8,
        "submission": "paper",
        "fee_paid_online": False,
        "certified_on_the_spot": False,
    },
    "/v1/home-requests/{code}/reports/citizen-absent": {"note": "Gọi không nghe máy"},
    "/v1/home-requests/{code}/reports/documents-missing": {"note": "Thiếu giấy khai sinh"},
    "/v1/home-requests/{code}/reports/cancelled": {"cancelled_by": "centre", "reason": "Trùng yêu cầu"},
    "/v1/home-requests/{code}/results/dossier-submitted": {"dossier_code": "H31.11-261201-0002"},
    "/v1/home-requests/{code}/results/ready": {"procedure_kind": "land", "handover": "at_centre"},
    "/v1/home-requests/{code}/results/delivered": {"procedure_kind": "land"},
    "/v1/home-requests/{code}/results/overdue": {
        "procedure_kind": "land",
        "new_due_date": (_TOMORROW + timedelta(days=7)).date().isoformat(),
    },
    "/v1/home-requests/{code}/results/finished": {"procedure_kind": "land"},
}
ACROSS |= {("intake", "post", path): _update(path, body) for path, body in UPDATES.items()}

# dispatch's roster endpoints: a valid body each, and the item each names in ward B's roster.
ROSTER = "/v1/wards/{ward_code}/roster"
ROSTER_CHANGES: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {
    ("get", ROSTER): ("", None),
    ("put", ROSTER + "/staff/{staff_id}"): (
        "/staff/{id}",
        {"name": "Trần Thị Hoa", "title": "Chuyên viên", "role": "chuyen_vien", "phone": "0500111222"},
    ),
    ("delete", ROSTER + "/staff/{staff_id}"): ("/staff/{id}", None),
    ("post", ROSTER + "/staff/{staff_id}/leave"): (
        "/staff/{id}/leave",
        {"first_day": "2026-12-01", "last_day": "2026-12-02"},
    ),
    ("put", ROSTER + "/vehicles/{vehicle_id}"): ("/vehicles/{id}", {"kind": "xe_may", "seats": 2}),
}


def roster_call(method: str, path: str, ward_code: str, item: str) -> Attempt:
    suffix, body = ROSTER_CHANGES[(method, path)]
    url = f"/v1/wards/{ward_code}/roster" + suffix.replace("{id}", item)
    return lambda c, code, h: c.request(method.upper(), url, json=body, headers=h)


ACROSS |= {("dispatch", m, p): roster_call(m, p, WARD_B, "gv-03") for m, p in ROSTER_CHANGES}
ACROSS[("notify", "put", "/v1/contacts/{code}/preferences")] = lambda c, code, h: c.put(
    f"/v1/contacts/{B_NOTIFY_CODE}/preferences", json={"preferred_channel": "sms", "non_essential": False}, headers=h
)
# No credential of ours: reached with a request's code and phone (intake's own tests), or the
# providers' webhooks (delivery receipts; staff's replies, which Zalo posts to the receipts' webhook
# too), checked by their signature or secret (notify's own tests).
CITIZEN_PROOF = {"/v1/lookup", "/v1/survey", "/v1/receipts/zalo", "/v1/receipts/esms", "/v1/replies/esms"}


def test_every_endpoint_of_every_service_has_its_cross_ward_attempt(service_settings):
    endpoints = {
        (spec.name, method, path)
        for spec in SERVICES
        for path, item in importlib.import_module(f"gandan.{spec.name}.app").build()[1].openapi()["paths"].items()
        for method in item
        if not path.startswith("/health/") and path not in CITIZEN_PROOF
    }
    assert endpoints == set(ACROSS) == set(ALLOWED)


async def ward_b_data(services, publish) -> str:
    """Ward B's request registered (so intake and audit hold it) and announced (so notify does)."""
    registered = await services["intake"].post(
        "/v1/home-requests",
        json=home_request_form(ward_code=WARD_B, name=B_NAME, phone=B_PHONE),
        headers=auth(WARD_B),
    )
    assert registered.status_code == 202, registered.text
    code: str = registered.json()["request_code"]
    _, contact, visit = one_request(ward_code=WARD_B, request_code=B_NOTIFY_CODE)
    await publish(contact)
    await publish(visit)

    async def visible_to_b() -> bool:
        trail = await services["audit"].get(f"/v1/requests/{code}/trail", headers=auth(WARD_B))
        messages = await services["notify"].get("/v1/messages", headers=auth(WARD_B))
        # The visit's three; the registration's own request may add the letters of a visit it could not get.
        visit_messages = [m for m in messages.json()["messages"] if m["request_code"] == B_NOTIFY_CODE]
        return trail.status_code == 200 and len(visit_messages) == 3

    await eventually(visible_to_b, what="ward B's trail and messages")
    return code


@pytest.mark.parametrize("role", [Role.OFFICER, Role.LEADERSHIP, Role.GROUP_LEADER, Role.AUDITOR])
async def test_a_key_of_one_ward_neither_reads_nor_changes_another_ward_s_data(
    services, publish, service_database, role
):
    code = await ward_b_data(services, publish)
    b_requests = await service_database("intake")["home_requests"].count_documents({"ward_code": WARD_B})
    # Everything of ward B an answer could give away: codes, names, phones (whole or masked).
    of_b = [code, B_NOTIFY_CODE, B_NAME, B_PHONE, "098****321", "Nguyễn Thị Lan", "091****678", "Lê Văn Giang", WARD_B]

    for (service, method, path), attempt in ACROSS.items():
        answer = await attempt(services[service], code, auth(WARD, role))
        assert answer.status_code in (200, 403, 404), (service, method, path, role, answer.text)
        for secret in of_b:
            assert secret not in answer.text, (service, method, path, role, secret)
        if answer.status_code == 200:  # a list: of the caller's own ward only
            assert answer.json() == {"messages": []}, (service, path)
    # Nothing was changed in ward B.
    assert await service_database("intake")["home_requests"].count_documents({"ward_code": WARD_B}) == b_requests
    assert (await service_database("dispatch")["rosters"].find_one({"_id": WARD_B}))["version"] == 1


# --- each role only what it may ---------------------------------------------------------------

# Who may call each endpoint (a citizen's token is tested in intake's own tests); every other
# role is refused with 403 role_not_allowed.
ALLOWED: dict[tuple[str, str, str], set[Role]] = {
    ("intake", "post", "/v1/home-requests"): {Role.OFFICER, Role.GROUP_LEADER},
    ("intake", "get", "/v1/home-requests/{code}"): {Role.OFFICER, Role.LEADERSHIP, Role.GROUP_LEADER, Role.AUDITOR},
    ("notify", "get", "/v1/messages"): {Role.OFFICER, Role.LEADERSHIP, Role.AUDITOR},
    ("audit", "get", "/v1/requests/{code}/trail"): {Role.OFFICER, Role.LEADERSHIP, Role.AUDITOR},
}
ALLOWED |= {
    ("intake", "post", path): {Role.ONE_STOP} if "/results/" in path else {Role.OFFICER, Role.LEADERSHIP}
    for path in UPDATES
}
ALLOWED |= {("dispatch", method, path): {Role.LEADERSHIP, Role.OPERATOR} for method, path in ROSTER_CHANGES}
ALLOWED[("notify", "put", "/v1/contacts/{code}/preferences")] = {Role.OFFICER, Role.LEADERSHIP}


@pytest.mark.parametrize("endpoint", list(ALLOWED), ids=lambda e: f"{e[0]}-{e[1]}-{e[2]}")
async def test_each_role_does_only_what_it_may(services, endpoint):
    service, method, path = endpoint
    if service == "dispatch":
        item = "tk-xe-01" if "vehicle" in path else "tk-03"
        for role in KEYED_ROLES:
            answer = await roster_call(method, path, WARD, item)(services[service], "", auth(WARD, role))
            if role in ALLOWED[endpoint]:
                assert answer.status_code in (200, 404), (role, answer.text)
            else:
                assert answer.status_code == 403, (role, answer.text)
                assert [e["code"] for e in answer.json()["errors"]] == ["role_not_allowed"]
        return
    calls: dict[str, Callable[[dict[str, str]], Awaitable[httpx.Response]]] = {
        "post": lambda h: services[service].post(
            path.replace("{code}", "GD-ZZZZZZZ"), json=UPDATES.get(path) or home_request_form(), headers=h
        ),
        "get": lambda h: services[service].get(path.replace("{code}", "GD-ZZZZZZZ"), headers=h),
        "put": lambda h: services[service].put(
            path.replace("{code}", "GD-ZZZZZZZ"), json={"preferred_channel": "sms"}, headers=h
        ),
    }
    for role in KEYED_ROLES:
        answer = await calls[method](auth(WARD, role))
        body: Any = answer.json()
        if role in ALLOWED[endpoint]:
            # Past the gate: what follows is the endpoint's own answer (a 409 for the same form twice).
            assert answer.status_code not in (401, 403), (role, answer.text)
        else:
            assert answer.status_code == 403, (role, answer.text)
            assert [e["code"] for e in body["errors"]] == ["role_not_allowed"]
