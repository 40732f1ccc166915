"""The intake service as a caller sees it, running on the real broker and database."""

import base64
import json
import os
import re
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import aio_pika
import jwt
import pytest

from gandan.intake.app import IntakeSettings
from gandan.intake.domain import citizen_ref
from gandan.shared.auth import Role, issue_citizen_token
from gandan.shared.events import Envelope, EventData, RescheduleReason, VisitRescheduled
from gandan.shared.http import ErrorBody
from gandan.shared.topology import Topology
from gandan.testing import AUTH_SECRET, PSEUDONYM_KEY, auth, eventually, queued, token
from gandan.testing.factories import LEADER, OFFICER, envelope, visit_scheduled
from gandan.testing.factories import home_request_form as form

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
WARD = "11002"  # Phường Thạch Khôi
OTHER_WARD = "11359"  # Phường Gia Viên
PATH = "/v1/home-requests"
CODE = re.compile(r"^GD-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{7}$")
VIETNAMESE = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.IGNORECASE)


def today() -> date:
    return datetime.now(HCM).date()


def bodies(messages: list[aio_pika.abc.AbstractIncomingMessage]) -> list[dict[str, Any]]:
    return [json.loads(m.body) for m in messages]


# --- fixtures ------------------------------------------------------------------


@pytest.fixture
def topology(namespace: str) -> Topology:
    return Topology(namespace)


async def drain(rabbitmq_url: str, topology: Topology, service: str) -> list[dict[str, Any]]:
    return bodies(await queued(rabbitmq_url, topology.queue(service).name))


async def published(home_requests, code: str) -> list[dict[str, Any]]:
    """Wait until every event in the request's outbox went out; return the outbox."""

    async def done() -> list[dict[str, Any]] | None:
        document = await home_requests.find_one({"_id": code})
        outbox = (document or {}).get("outbox") or []
        return outbox if outbox and all(e["published_at"] is not None for e in outbox) else None

    return await eventually(done, what=f"the outbox of {code} is published")


async def register(client, body: dict[str, Any] | None = None, ward: str = WARD, **headers: str) -> str:
    response = await client.post(PATH, json=body or form(), headers=auth(ward) | headers)
    assert response.status_code == 202, response.text
    return response.json()["request_code"]


async def assert_only_these_published(rabbitmq_url, topology, home_requests, client) -> None:
    """Register one valid request and wait until the relay has published it: by then anything an
    earlier, rejected request had left behind would be on the queues too. Only the valid one may be."""
    code = await register(client)
    await published(home_requests, code)
    for service in ("dispatch", "notify", "audit"):
        codes = {b["data"]["request_code"] for b in await drain(rabbitmq_url, topology, service)}
        assert codes == {code}, f"{service} received events of a rejected request: {codes}"
    assert await home_requests.count_documents({}) == 1


def visit_for(code: str, starts_at: datetime, officer: str = OFFICER.name) -> Envelope[EventData]:
    data = visit_scheduled(
        starts_at, request_code=code, visit_id=f"visit-{code}", officer=OFFICER.model_copy(update={"name": officer})
    )
    return envelope(data, causation_id=uuid4())


# --- registering ---------------------------------------------------------------


async def test_a_registered_request_is_stored_readable_and_published(client, home_requests, rabbitmq_url, topology):
    preferred = today() + timedelta(days=4)
    correlation_id = str(uuid4())

    response = await client.post(
        PATH, json=form(preferred_date=preferred.isoformat()), headers=auth(WARD) | {"X-Correlation-Id": correlation_id}
    )

    assert response.status_code == 202, response.text
    code = response.json()["request_code"]
    assert CODE.fullmatch(code)
    assert response.json()["status"] == "registered"

    status = await client.get(f"{PATH}/{code}", headers=auth(WARD))
    assert status.status_code == 200, status.text
    view = status.json()
    assert view["request_code"] == code
    assert view["ward_code"] == WARD
    assert view["status"] == "registered"
    assert view["preferred_date"] == preferred.isoformat()
    assert view["time_window"] == "morning"
    assert view["visit"] is None
    registered_at = datetime.fromisoformat(view["registered_at"])
    assert abs(datetime.now(HCM) - registered_at) < timedelta(minutes=1)
    # What the citizen said is not echoed back to whoever holds the code.
    assert "0912345678" not in status.text and "Nguyễn" not in status.text

    outbox = await published(home_requests, code)
    assert [entry["event"]["type"] for entry in outbox] == ["contact.registered", "request.registered"]

    dispatch = await drain(rabbitmq_url, topology, "dispatch")
    assert [b["type"] for b in dispatch] == ["request.registered"]
    request_registered = dispatch[0]
    assert request_registered["data"]["request_code"] == code
    assert request_registered["data"]["preferred_date"] == preferred.isoformat()
    assert request_registered["data"]["field"] == "ho_tich"
    assert request_registered["ward_code"] == WARD
    assert request_registered["correlation_id"] == correlation_id
    wire = json.dumps(request_registered, ensure_ascii=False)
    for personal in ("0912345678", "912345678", "Nguyễn Văn An", "Số 12 ngõ 3", "thuong_binh"):
        assert personal not in wire, personal

    notify = await drain(rabbitmq_url, topology, "notify")
    assert [b["type"] for b in notify] == ["contact.registered"]
    contact = notify[0]
    assert contact["data"]["request_code"] == code
    assert contact["data"]["phone"] == "0912345678"
    assert contact["data"]["name"] == "Nguyễn Văn An"
    assert contact["data"]["citizen_ref"] == request_registered["data"]["citizen_ref"]
    assert contact["correlation_id"] == correlation_id
    assert "thuong_binh" not in json.dumps(contact, ensure_ascii=False)

    audit = await drain(rabbitmq_url, topology, "audit")
    assert [b["id"] for b in audit] == [contact["id"], request_registered["id"]]


async def test_the_same_citizen_gets_the_same_reference_however_the_phone_is_written(
    client, home_requests, rabbitmq_url, topology
):
    first = await register(client, form(phone="0912.345.678"))
    second = await register(client, form(phone="+84 912 345 678", procedure="Chứng thực bản sao từ bản chính"))
    other_person = await register(client, form(phone="0987 654 321"))
    for code in (first, second, other_person):
        await published(home_requests, code)

    refs = {
        b["data"]["request_code"]: b["data"]["citizen_ref"] for b in await drain(rabbitmq_url, topology, "dispatch")
    }
    assert refs[first] == refs[second]
    assert refs[other_person] != refs[first]
    assert "912345678" not in refs[first]


async def test_each_request_gets_its_own_code(client):
    codes = [await register(client, form(procedure=f"Chứng thực bản sao số {n}")) for n in range(5)]
    assert len(set(codes)) == 5
    for code in codes:
        assert (await client.get(f"{PATH}/{code}", headers=auth(WARD))).status_code == 200


async def test_preferred_date_may_be_today_or_the_last_day_of_the_horizon(client):
    for day in (today(), today() + timedelta(days=90)):
        code = await register(client, form(preferred_date=day.isoformat(), procedure=f"Chứng thực ({day})"))
        view = (await client.get(f"{PATH}/{code}", headers=auth(WARD))).json()
        assert view["preferred_date"] == day.isoformat()


async def test_the_day_that_counts_is_vietnam_s(client, monkeypatch):
    # 18:30 UTC on 1 June is 01:30 on 2 June in Hà Nội: 1 June is already past there.
    now = datetime(2026, 6, 1, 18, 30, tzinfo=ZoneInfo("UTC"))
    monkeypatch.setattr("gandan.intake.api.utcnow", lambda: now)

    async def post(day: str):
        return await client.post(
            PATH, json=form(preferred_date=day, procedure=f"Chứng thực ({day})"), headers=auth(WARD)
        )

    past = await post("2026-06-01")
    assert past.status_code == 422
    assert [e["code"] for e in past.json()["errors"]] == ["date_in_past"]
    assert (await post("2026-09-01")).status_code == 422  # 91 days after 2 June
    assert (await post("2026-08-31")).status_code == 202  # 90 days after 2 June
    accepted = await post("2026-06-02")
    assert accepted.status_code == 202, accepted.text

    view = (await client.get(f"{PATH}/{accepted.json()['request_code']}", headers=auth(WARD))).json()
    assert datetime.fromisoformat(view["registered_at"]) == now


async def test_a_drawn_code_already_in_use_is_never_overwritten(client, monkeypatch):
    first = await register(client, form(residential_group="Thanh Xá"))
    draws = iter([first, first, "GD-BCDEFGH"])
    monkeypatch.setattr("gandan.intake.handlers.new_request_code", lambda: next(draws))

    second = await register(client, form(residential_group="Qua Bộ", time_window="afternoon", phone="0987654321"))

    assert second == "GD-BCDEFGH"
    assert (await client.get(f"{PATH}/{first}", headers=auth(WARD))).json()["time_window"] == "morning"
    assert (await client.get(f"{PATH}/{second}", headers=auth(WARD))).json()["time_window"] == "afternoon"


# --- bad input -----------------------------------------------------------------


def without(key: str) -> Callable[[], dict[str, Any]]:
    def body() -> dict[str, Any]:
        values = form()
        del values[key]
        return values

    return body


def changed(**changes: Any) -> Callable[[], dict[str, Any]]:
    # Built when the test runs, so "today" is the test's today.
    return lambda: form(**{k: v() if callable(v) else v for k, v in changes.items()})


BAD_INPUT = [
    pytest.param(changed(ward_code="99999"), "ward_code", "unknown_ward", id="unknown-ward"),
    pytest.param(changed(phone="12345"), "phone", "invalid_phone", id="short-phone"),
    pytest.param(changed(phone="0212345678"), "phone", "invalid_phone", id="landline-prefix"),
    pytest.param(changed(phone="0301234567"), "phone", "invalid_phone", id="unassigned-prefix-030"),
    pytest.param(changed(phone="+84 95 123 4567"), "phone", "invalid_phone", id="unassigned-prefix-095"),
    pytest.param(changed(cccd="003090012345"), "cccd", "invalid_cccd", id="cccd-no-such-province"),
    pytest.param(changed(cccd="03109001234"), "cccd", "invalid_cccd", id="cccd-11-digits"),
    pytest.param(changed(cccd="031490012345"), "cccd", "invalid_cccd", id="cccd-born-in-2190"),
    pytest.param(without("registered_by"), "registered_by", "missing", id="missing-registrar"),
    pytest.param(changed(channel="fax"), "channel", "enum", id="unknown-channel"),
    pytest.param(changed(category="khong_co"), "category", "enum", id="unknown-category"),
    pytest.param(
        changed(preferred_date=lambda: (today() - timedelta(days=1)).isoformat()),
        "preferred_date",
        "date_in_past",
        id="yesterday",
    ),
    pytest.param(
        changed(preferred_date=lambda: (today() + timedelta(days=200)).isoformat()),
        "preferred_date",
        "date_too_far",
        id="200-days-ahead",
    ),
    pytest.param(
        changed(preferred_date=lambda: (today() + timedelta(days=91)).isoformat()),
        "preferred_date",
        "date_too_far",
        id="one-day-past-horizon",
    ),
    pytest.param(without("name"), "name", "missing", id="missing-name"),
    pytest.param(changed(nickname="Ông An"), "nickname", "extra_forbidden", id="extra-field"),
    pytest.param(changed(name="Nguyễn\x00 Văn An"), "name", "control_character", id="nul-in-name"),
    pytest.param(changed(name="Nguyễn \u202eAn"), "name", "control_character", id="bidi-override-in-name"),
    pytest.param(changed(address="Số 12\u2066 ngõ 3\u2069"), "address", "control_character", id="isolate-in-address"),
    pytest.param(changed(procedure="Chứng thực\x85bản sao"), "procedure", "control_character", id="c1-in-procedure"),
    pytest.param(
        changed(residential_group="Thanh\u200bXá"), "residential_group", "control_character", id="zero-width-in-group"
    ),
]
CUSTOM_CODES = {"unknown_ward", "invalid_phone", "invalid_cccd", "date_in_past", "date_too_far", "control_character"}


@pytest.mark.parametrize(("body", "field", "code"), BAD_INPUT)
async def test_bad_input_is_rejected_naming_the_field_and_nothing_is_kept(
    client, home_requests, rabbitmq_url, topology, body, field, code
):
    response = await client.post(PATH, json=body(), headers=auth(WARD))

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert errors, response.text
    for error in errors:
        assert set(error) == {"field", "code", "message"}
    mine = [e for e in errors if e["field"] == field]
    assert len(mine) == 1, errors
    assert mine[0]["code"] == code
    assert mine[0]["message"].strip()
    assert VIETNAMESE.search(mine[0]["message"]), mine[0]["message"]
    if code in CUSTOM_CODES:
        assert code not in mine[0]["message"]  # a sentence for people, not the code again
    if code == "date_too_far":
        assert "90" in mine[0]["message"] and "{" not in mine[0]["message"]
    # Only the bad field is reported.
    assert [e["field"] for e in errors] == [field]

    assert await home_requests.count_documents({}) == 0
    await assert_only_these_published(rabbitmq_url, topology, home_requests, client)


async def test_several_bad_fields_are_all_reported(client, home_requests):
    response = await client.post(PATH, json=form(phone="12345", category="khong_co"), headers=auth(WARD))
    assert response.status_code == 422
    assert {(e["field"], e["code"]) for e in response.json()["errors"]} == {
        ("phone", "invalid_phone"),
        ("category", "enum"),
    }
    assert await home_requests.count_documents({}) == 0


async def test_a_body_that_is_not_json_is_rejected(client, home_requests):
    response = await client.post(PATH, content=b"{not json", headers=auth(WARD) | {"Content-Type": "application/json"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["code"] == "json_invalid"
    assert VIETNAMESE.search(error["message"])
    assert await home_requests.count_documents({}) == 0


async def test_a_body_that_is_not_json_is_blamed_on_the_body(client):
    response = await client.post(PATH, content=b"{not json", headers=auth(WARD) | {"Content-Type": "application/json"})
    assert [e["field"] for e in response.json()["errors"]] == ["body"]


async def test_a_body_that_is_not_an_object_is_rejected(client, home_requests):
    response = await client.post(PATH, json=[form()], headers=auth(WARD))
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("body", "model_attributes_type")]
    assert await home_requests.count_documents({}) == 0


# --- credentials ---------------------------------------------------------------


async def test_no_credential_is_401_and_nothing_is_kept(client, home_requests, rabbitmq_url, topology):
    response = await client.post(PATH, json=form())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    [error] = response.json()["errors"]
    assert error["code"] == "missing_credential"
    assert VIETNAMESE.search(error["message"])
    assert await home_requests.count_documents({}) == 0
    await assert_only_these_published(rabbitmq_url, topology, home_requests, client)


async def test_a_token_of_another_ward_cannot_register_here(client, home_requests, rabbitmq_url, topology):
    response = await client.post(PATH, json=form(ward_code=WARD), headers=auth(OTHER_WARD))
    assert response.status_code == 403
    [error] = response.json()["errors"]
    assert error["code"] == "wrong_ward"
    assert VIETNAMESE.search(error["message"])
    assert await home_requests.count_documents({}) == 0
    await assert_only_these_published(rabbitmq_url, topology, home_requests, client)


async def test_a_key_with_a_wrong_secret_or_a_token_with_a_bad_signature_is_401(client, home_requests):
    key = token(WARD, Role.OFFICER)
    wrong_secret = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    forged = token(WARD, Role.CITIZEN, secret="not-the-secret-" + "x" * 40, request_code="GD-AAAAAAA")
    for credential in (wrong_secret, forged):
        response = await client.post(PATH, json=form(), headers={"Authorization": f"Bearer {credential}"})
        assert response.status_code == 401
        assert [e["code"] for e in response.json()["errors"]] == ["invalid_credential"]
    assert await home_requests.count_documents({}) == 0


async def test_a_tampered_token_is_401(client, home_requests):
    # Same signature, ward claim changed from 11359 to 11002.
    header, claims, signature = token(OTHER_WARD, Role.CITIZEN, request_code="GD-AAAAAAA").split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    decoded["ward"] = WARD
    forged_claims = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    response = await client.post(
        PATH, json=form(), headers={"Authorization": f"Bearer {header}.{forged_claims}.{signature}"}
    )
    assert response.status_code == 401
    assert await home_requests.count_documents({}) == 0


async def test_an_expired_token_is_401(client, home_requests):
    expired = issue_citizen_token(
        AUTH_SECRET, ward_code=WARD, subject="test", valid_for=timedelta(seconds=-5), citizen_ref="ref"
    )
    response = await client.post(PATH, json=form(), headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert [e["code"] for e in response.json()["errors"]] == ["invalid_credential"]
    assert await home_requests.count_documents({}) == 0


def citizen(phone: str = "0912345678", ward: str = WARD) -> dict[str, str]:
    """A citizen's credential, bound to the reference intake computes for this ward and phone."""
    return auth(ward, Role.CITIZEN, citizen_ref=citizen_ref(PSEUDONYM_KEY.encode(), ward, phone))


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.GROUP_LEADER, Role.OFFICER])
async def test_citizens_group_leaders_and_officers_may_register(client, role):
    headers = citizen() if role is Role.CITIZEN else auth(WARD, role)
    response = await client.post(PATH, json=form(), headers=headers)
    assert response.status_code == 202, response.text


async def test_an_auditor_may_read_but_not_register(client, home_requests):
    refused = await client.post(PATH, json=form(), headers=auth(WARD, Role.AUDITOR))
    assert refused.status_code == 403
    assert [e["code"] for e in refused.json()["errors"]] == ["role_not_allowed"]
    assert await home_requests.count_documents({}) == 0

    code = await register(client)
    read = await client.get(f"{PATH}/{code}", headers=auth(WARD, Role.AUDITOR))
    assert read.status_code == 200
    assert read.json()["request_code"] == code


# --- reading -------------------------------------------------------------------


async def test_reading_needs_a_credential(client):
    code = await register(client)
    response = await client.get(f"{PATH}/{code}")
    assert response.status_code == 401


async def test_an_unknown_code_is_404(client):
    response = await client.get(f"{PATH}/GD-ZZZZZZZ", headers=auth(WARD))
    assert response.status_code == 404
    [error] = response.json()["errors"]
    assert error["code"] == "request_not_found"
    assert VIETNAMESE.search(error["message"])


async def test_a_request_of_another_ward_reads_as_absent(client):
    code = await register(client)

    across = await client.get(f"{PATH}/{code}", headers=auth(OTHER_WARD))
    unknown = await client.get(f"{PATH}/GD-ZZZZZZZ", headers=auth(OTHER_WARD))

    assert across.status_code == 404
    assert across.json() == unknown.json()  # nothing tells an existing code from a made-up one
    assert code not in across.text
    # The own ward still sees it.
    assert (await client.get(f"{PATH}/{code}", headers=auth(WARD))).status_code == 200


# --- visits --------------------------------------------------------------------


async def scheduled(client, code: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        view = (await client.get(f"{PATH}/{code}", headers=auth(WARD))).json()
        return view if view["status"] == "appointment_proposed" else None

    return await eventually(check, what=f"{code} shows its visit")


async def test_a_scheduled_visit_shows_in_the_request_status(client, rabbitmq_url, topology, publish):
    code = await register(client)
    starts_at = datetime.combine(today() + timedelta(days=4), datetime.min.time(), HCM).replace(hour=8, minute=30)
    visit = visit_for(code, starts_at)

    await publish(visit)
    view = await scheduled(client, code)

    assert view["request_code"] == code
    assert view["visit"]["officer_name"] == "Lê Văn Giang"
    assert view["visit"]["leader_name"] == "Đông Đức Hợp"
    assert datetime.fromisoformat(view["visit"]["starts_at"]) == starts_at
    assert datetime.fromisoformat(view["visit"]["ends_at"]) == starts_at + timedelta(hours=1)
    # Phones of the officer and leader are not exposed on the citizen's status page.
    assert OFFICER.phone not in json.dumps(view) and LEADER.phone not in json.dumps(view)

    # The same event delivered again changes nothing. Another request's visit, published after
    # it on the same queue, tells when the duplicate has been handled.
    later = await register(client, form(procedure="Đăng ký khai tử"))
    await publish(visit)
    await publish(visit_for(later, starts_at + timedelta(hours=2), "Trần Thị Hoa"))
    assert (await scheduled(client, later))["visit"]["officer_name"] == "Trần Thị Hoa"

    again = (await client.get(f"{PATH}/{code}", headers=auth(WARD))).json()
    assert again == view
    assert await queued(rabbitmq_url, topology.dead_letter_queue("intake").name) == []


def rescheduled_for(code: str, starts_at: datetime, officer: str, occurred_at: datetime) -> Envelope[EventData]:
    data = VisitRescheduled(
        request_code=code,
        visit_id=f"visit-{code}",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=3),
        officer=OFFICER.model_copy(update={"name": officer, "staff_id": "tk-08"}),
        leader=LEADER,
        reason=RescheduleReason.OFFICER_DECLINED,
    )
    return envelope(data, causation_id=uuid4(), occurred_at=occurred_at)


async def test_a_rescheduled_visit_shows_its_new_officer_and_time_and_keeps_the_status(
    client, rabbitmq_url, topology, publish
):
    code = await register(client)
    starts_at = datetime.combine(today() + timedelta(days=4), datetime.min.time(), HCM).replace(hour=8, minute=30)
    await publish(visit_for(code, starts_at))
    await scheduled(client, code)
    now = datetime.now(HCM)
    earlier = rescheduled_for(code, starts_at + timedelta(days=1), "Người Cũ Hơn", now - timedelta(minutes=5))
    latest = rescheduled_for(code, starts_at + timedelta(hours=5), "Trần Thị Hoa", now)

    await publish(latest)

    async def shown() -> dict[str, Any] | None:
        view = (await client.get(f"{PATH}/{code}", headers=auth(WARD))).json()
        return view if view["visit"]["officer_name"] == "Trần Thị Hoa" else None

    view = await eventually(shown, what=f"{code} shows its new officer")
    assert view["status"] == "appointment_proposed"
    assert datetime.fromisoformat(view["visit"]["starts_at"]) == starts_at + timedelta(hours=5)
    assert view["visit"]["leader_name"] == LEADER.name

    # Redelivered, an older change arriving late, and the booking handled again: none hides it.
    # Another request's visit, published after them on the same queue, tells when they were handled.
    later = await register(client, form(procedure="Đăng ký khai tử"))
    for event in (latest, earlier, visit_for(code, starts_at)):
        await publish(event)
    await publish(visit_for(later, starts_at, "Lê Văn Giang"))
    await scheduled(client, later)

    assert (await client.get(f"{PATH}/{code}", headers=auth(WARD))).json() == view
    assert await queued(rabbitmq_url, topology.dead_letter_queue("intake").name) == []


async def test_a_visit_for_an_unknown_request_is_dead_lettered(client, rabbitmq_url, topology, home_requests, publish):
    visit = visit_for("GD-ZZZZZZZ", datetime.now(HCM) + timedelta(days=2))

    await publish(visit)

    async def dead_lettered() -> list[dict[str, Any]]:
        return bodies(await queued(rabbitmq_url, topology.dead_letter_queue("intake").name))

    dead = await eventually(dead_lettered, what="the visit reaches intake's dead-letter queue")
    assert [b["id"] for b in dead] == [str(visit.id)]
    assert await home_requests.count_documents({}) == 0
    assert (await client.get(f"{PATH}/GD-ZZZZZZZ", headers=auth(WARD))).status_code == 404


def test_settings_need_a_long_pseudonym_key(service_settings, monkeypatch):
    monkeypatch.setenv("INTAKE_PSEUDONYM_KEY", "too-short")
    with pytest.raises(ValueError):
        IntakeSettings()


async def test_the_status_and_the_events_tell_the_same_registration_time(
    client, home_requests, rabbitmq_url, topology, monkeypatch
):
    # The clock keeps milliseconds, as a stored date does (see gandan.shared.clock.utcnow).
    now = datetime(2026, 6, 1, 2, 3, 4, 567000, tzinfo=ZoneInfo("UTC"))
    monkeypatch.setattr("gandan.intake.api.utcnow", lambda: now)
    code = await register(client, form(preferred_date="2026-06-05"))
    await published(home_requests, code)

    view = (await client.get(f"{PATH}/{code}", headers=auth(WARD))).json()
    [event] = await drain(rabbitmq_url, topology, "dispatch")
    assert datetime.fromisoformat(event["occurred_at"]) == now
    assert datetime.fromisoformat(view["registered_at"]) == datetime.fromisoformat(event["occurred_at"])


# --- citizens see only their own requests ---------------------------------------


async def test_a_citizen_registers_for_their_own_phone_however_it_is_written(client):
    response = await client.post(PATH, json=form(phone="+84 912.345.678"), headers=citizen("0912345678"))
    assert response.status_code == 202, response.text


async def test_a_citizen_cannot_register_for_another_phone_and_nothing_is_kept(
    client, home_requests, rabbitmq_url, topology
):
    response = await client.post(PATH, json=form(phone="0987654321"), headers=citizen("0912345678"))

    assert response.status_code == 403
    [error] = ErrorBody.model_validate(response.json()).errors
    assert (error.field, error.code) == ("phone", "not_your_phone")
    assert VIETNAMESE.search(error.message)
    assert await home_requests.count_documents({}) == 0
    await assert_only_these_published(rabbitmq_url, topology, home_requests, client)


async def test_a_citizen_reads_their_own_requests_and_no_one_else_s(client):
    mine = [await register(client, form(phone="0912345678", procedure=p)) for p in ("Đăng ký khai tử", "Chứng thực")]
    neighbour = await register(client, form(phone="0987654321", name="Trần Thị Bình"))

    for code in mine:
        response = await client.get(f"{PATH}/{code}", headers=citizen("0912345678"))
        assert response.status_code == 200, response.text
        assert response.json()["request_code"] == code

    theirs = await client.get(f"{PATH}/{neighbour}", headers=citizen("0912345678"))
    unknown = await client.get(f"{PATH}/GD-ZZZZZZZ", headers=citizen("0912345678"))
    assert theirs.status_code == 404
    assert theirs.json() == unknown.json()  # nothing tells another's request from no request
    assert neighbour not in theirs.text and "Bình" not in theirs.text
    # Staff of the ward see both.
    assert (await client.get(f"{PATH}/{neighbour}", headers=auth(WARD))).status_code == 200


async def test_the_same_phone_in_another_ward_is_another_citizen(client):
    code = await register(client, form(phone="0912345678"))
    response = await client.get(f"{PATH}/{code}", headers=citizen("0912345678", ward=OTHER_WARD))
    assert response.status_code == 404


async def test_a_credential_for_one_request_reads_that_request_only_and_registers_nothing(client, home_requests):
    code, other = await register(client), await register(client, form(phone="0987654321"))
    one = auth(WARD, Role.CITIZEN, request_code=code)

    assert (await client.get(f"{PATH}/{code.lower()}", headers=one)).status_code == 200
    assert (await client.get(f"{PATH}/{other}", headers=one)).status_code == 404
    refused = await client.post(PATH, json=form(), headers=one)
    assert refused.status_code == 403
    assert [e["code"] for e in refused.json()["errors"]] == ["not_your_phone"]
    assert await home_requests.count_documents({}) == 2


async def test_a_citizen_credential_bound_to_no_one_is_refused(client, home_requests):
    code = await register(client)
    # Signed with the right secret, as credentials were issued before citizens were bound.
    unbound = jwt.encode(
        {"sub": "c", "ward": WARD, "role": "citizen", "aud": "gandan", "exp": datetime.now(HCM) + timedelta(hours=1)},
        AUTH_SECRET,
        algorithm="HS256",
    )
    headers = {"Authorization": f"Bearer {unbound}"}

    for response in (
        await client.get(f"{PATH}/{code}", headers=headers),
        await client.post(PATH, json=form(), headers=headers),
    ):
        assert response.status_code == 401
        assert [e["code"] for e in response.json()["errors"]] == ["citizen_not_bound"]
    assert await home_requests.count_documents({}) == 1


async def test_the_citizen_token_command_issues_a_credential_for_that_ward_and_phone(client, service_settings):
    code = await register(client, form(phone="0912345678"))
    neighbour = await register(client, form(phone="0987654321"))

    command = ("from gandan.intake.citizen_token import main; main()", "--ward", WARD, "--phone", "0912.345.678")
    issued = subprocess.run(
        [sys.executable, "-c", *command],
        env=os.environ | service_settings,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert issued.returncode == 0, issued.stderr
    headers = {"Authorization": f"Bearer {issued.stdout.strip()}"}

    assert (await client.get(f"{PATH}/{code}", headers=headers)).status_code == 200
    assert (await client.get(f"{PATH}/{neighbour}", headers=headers)).status_code == 404
    assert (await client.post(PATH, json=form(phone="0987654321"), headers=headers)).status_code == 403


# --- free text -------------------------------------------------------------------


async def test_vietnamese_with_combining_accents_is_accepted(client):
    name = unicodedata.normalize("NFD", "Đặng Thị Hường")
    assert (await client.post(PATH, json=form(name=name), headers=auth(WARD))).status_code == 202


async def test_a_phone_in_an_officer_s_name_is_not_shown_on_the_status(client, publish):
    code = await register(client)
    starts_at = datetime.combine(today() + timedelta(days=4), datetime.min.time(), HCM).replace(hour=9)
    await publish(visit_for(code, starts_at, officer="Lê Văn Giang (0983 111 222)"))

    view = await scheduled(client, code)

    assert view["visit"]["officer_name"] == "Lê Văn Giang (098****222)"


# --- bodies: size, depth, encoding; unknown paths -----------------------------------


def assert_error(response, status: int, code: str, field: str = "body") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    [error] = ErrorBody.model_validate(response.json()).errors
    assert (error.code, error.field) == (code, field)
    assert VIETNAMESE.search(error.message)


async def test_a_body_over_16_kib_is_413_and_nothing_is_kept(client, home_requests):
    too_long = form(address="Số 12 ngõ 3 " + "x" * 17_000)
    response = await client.post(PATH, json=too_long, headers=auth(WARD))
    assert_error(response, 413, "body_too_large", field="")
    assert await home_requests.count_documents({}) == 0


async def test_a_streamed_body_without_a_length_is_counted_as_it_arrives(client, home_requests):
    async def chunks():
        yield b'{"name": "'
        for _ in range(40):
            yield b"a" * 1024

    response = await client.post(PATH, content=chunks(), headers=auth(WARD) | {"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "body_too_large", field="")
    assert await home_requests.count_documents({}) == 0


async def test_a_body_just_under_the_limit_is_read(client):
    padded = json.dumps(form()) + " " * (16 * 1024 - len(json.dumps(form())) - 1)
    response = await client.post(PATH, content=padded, headers=auth(WARD) | {"Content-Type": "application/json"})
    assert response.status_code == 202, response.text


async def test_a_hundred_thousand_nested_brackets_are_refused_in_the_documented_shape(client):
    response = await client.post(
        PATH, content=b"[" * 100_000, headers=auth(WARD) | {"Content-Type": "application/json"}
    )
    assert_error(response, 413, "body_too_large", field="")


@pytest.mark.parametrize(
    "body",
    [b"[" * 8000 + b"]" * 8000, b'{"a":' * 2000 + b"1" + b"}" * 2000, b'{"name": "\xff\xfe"}'],
    ids=["nested-arrays-within-the-limit", "nested-objects", "not-utf8"],
)
async def test_a_body_too_deep_or_not_utf8_is_not_json(client, home_requests, body):
    response = await client.post(PATH, content=body, headers=auth(WARD) | {"Content-Type": "application/json"})
    assert_error(response, 422, "json_invalid")
    assert await home_requests.count_documents({}) == 0


async def test_an_unknown_path_or_method_answers_in_the_documented_shape(client):
    assert_error(await client.get("/v1/nothing-here", headers=auth(WARD)), 404, "not_found", field="")
    assert_error(await client.delete(f"{PATH}/GD-ZZZZZZZ", headers=auth(WARD)), 405, "method_not_allowed", field="")


async def test_a_code_longer_than_any_request_code_is_422_naming_the_code(client):
    response = await client.get(f"{PATH}/GD-{'A' * 40}", headers=auth(WARD))
    assert_error(response, 422, "string_too_long", field="code")
