"""A request's lifecycle as callers see it, on the real broker and database: staff reports,
result updates, citizens' look-up and survey, and what each publishes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from gandan.intake.app import build
from gandan.intake.cccd import CccdCipher
from gandan.intake.domain import Visit
from gandan.intake.lifecycle.domain import TRANSITIONS, Step
from gandan.intake.repository import MongoHomeRequests
from gandan.shared.auth import Role
from gandan.shared.outbox import WITHOUT_OUTBOX, Outbox
from gandan.testing import CCCD_KEY, auth, eventually, serving
from gandan.testing.factories import envelope, visit_scheduled
from gandan.testing.factories import home_request_form as form

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
WARD, OTHER_WARD = "11002", "11359"
PHONE = "0912345678"
PATH = "/v1/home-requests"
PER_CODE, PER_CLIENT = 4, 6


@pytest.fixture
async def client(served_wards: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("INTAKE_CITIZEN_ATTEMPTS_PER_CODE_PER_HOUR", str(PER_CODE))
    monkeypatch.setenv("INTAKE_CITIZEN_ATTEMPTS_PER_CLIENT_PER_MINUTE", str(PER_CLIENT))
    service, app = build()
    async with serving(service, app) as client:
        yield client


async def register(client: httpx.AsyncClient, phone: str = PHONE) -> str:
    response = await client.post(PATH, json=form(phone=phone), headers=auth(WARD))
    assert response.status_code == 202, response.text
    return str(response.json()["request_code"])


def tomorrow_at(hour: int) -> datetime:
    return (datetime.now(HCM) + timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)


APPOINTMENT = {"starts_at": tomorrow_at(9).isoformat(), "ends_at": tomorrow_at(10).isoformat()}
ON_PAPER = {"pages_digitised": 8, "submission": "paper", "fee_paid_online": False, "certified_on_the_spot": False}


async def post(client: httpx.AsyncClient, code: str, path: str, body: dict[str, Any]) -> httpx.Response:
    # Results come from the centre's one-stop system; the rest from its officers.
    role = Role.ONE_STOP if path.startswith("results/") else Role.OFFICER
    return await client.post(f"{PATH}/{code}/{path}", json=body, headers=auth(WARD, role))


async def outbox_types(home_requests, code: str) -> list[str]:
    document = await home_requests.find_one({"_id": code})
    return [e["event"]["type"] for e in document["outbox"]]


async def test_a_request_goes_from_registration_to_closed_each_step_with_its_event(client, home_requests):
    code = await register(client)
    steps: list[tuple[str, dict[str, Any], str]] = [
        ("appointment", APPOINTMENT, "appointment_agreed"),
        ("reports/dossier-received", ON_PAPER, "visited"),
        ("results/dossier-submitted", {"dossier_code": "H31.11-261201-0002"}, "dossier_submitted"),
        ("results/overdue", {"procedure_kind": "land", "new_due_date": tomorrow_at(9).date().isoformat()}, "overdue"),
        (
            "results/ready",
            {"procedure_kind": "land", "handover": "post", "tracking_number": "EB1234VN"},
            "result_ready",
        ),
        ("results/delivered", {"procedure_kind": "land"}, "delivered"),
        ("results/finished", {"procedure_kind": "land"}, "closed"),
    ]
    for path, body, status in steps:
        answer = await post(client, code, path, body)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json() == {"request_code": code, "status": status, "changed": True}
        assert (await client.get(f"{PATH}/{code}", headers=auth(WARD))).json()["status"] == status

    assert await outbox_types(home_requests, code) == [
        "contact.registered",
        "request.registered",
        "appointment.agreed",
        "dossier.received",
        "dossier.submitted",
        "request.overdue",
        "result.ready",
        "result.delivered",
        "request.closed",
    ]

    async def all_published() -> bool:
        document = await home_requests.find_one({"_id": code})
        return all(e["published_at"] for e in document["outbox"])

    await eventually(all_published, what="every event published")


async def test_an_update_that_does_not_fit_answers_409_naming_the_state_and_changes_nothing(client, home_requests):
    code = await register(client)

    answer = await post(client, code, "results/delivered", {"procedure_kind": "other"})

    assert answer.status_code == 409
    assert answer.json() == {
        "errors": [
            {
                "field": "status",
                "code": "transition_not_allowed",
                "message": "Không thể ghi nhận đã trả kết quả: yêu cầu đang ở trạng thái “đã đăng ký, chờ xếp lịch”.",
            }
        ]
    }
    assert await outbox_types(home_requests, code) == ["contact.registered", "request.registered"]


async def test_a_report_sent_twice_is_stored_once(client, home_requests):
    code = await register(client)
    await post(client, code, "appointment", APPOINTMENT)

    first = await post(client, code, "reports/citizen-absent", {"note": "Gọi không nghe máy"})
    again = await post(client, code, "reports/citizen-absent", {"note": "Gọi không nghe máy"})

    assert first.json()["changed"] is True and again.json() == first.json() | {"changed": False}
    assert (await outbox_types(home_requests, code)).count("revisit.needed") == 1


async def test_another_wards_staff_can_neither_change_nor_learn_of_a_request(client, home_requests):
    code = await register(client)

    answer = await client.post(f"{PATH}/{code}/appointment", json=APPOINTMENT, headers=auth(OTHER_WARD))
    unknown = await client.post(f"{PATH}/GD-ZZZZZZZ/appointment", json=APPOINTMENT, headers=auth(OTHER_WARD))

    assert answer.status_code == 404 and answer.json() == unknown.json()
    assert await outbox_types(home_requests, code) == ["contact.registered", "request.registered"]


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("reports/dossier-received", ON_PAPER | {"submission": "online"}, "dossier_code_required"),
        ("reports/dossier-received", ON_PAPER | {"dossier_code": "x\u202e1"}, "invalid_dossier_code"),
        ("reports/documents-missing", {}, "missing"),
        ("reports/cancelled", {"cancelled_by": "centre", "reason": "a\x00bc"}, "control_character"),
        ("results/ready", {"procedure_kind": "land", "handover": "post"}, "tracking_number_mismatch"),
        ("results/ready", {"procedure_kind": "marriage", "handover": "portal"}, "enum"),
        (
            "appointment",
            {"starts_at": "2020-01-01T08:00:00+07:00", "ends_at": "2020-01-01T09:00:00+07:00"},
            "appointment_in_past",
        ),
        ("appointment", {"starts_at": APPOINTMENT["ends_at"], "ends_at": APPOINTMENT["starts_at"]}, "invalid_duration"),
    ],
)
async def test_invalid_reports_are_refused_with_a_code_and_a_vietnamese_message(
    client, home_requests, path, body, code
):
    request = await register(client)

    answer = await post(client, request, path, body)

    assert answer.status_code == 422, answer.text
    assert code in [e["code"] for e in answer.json()["errors"]]
    assert await outbox_types(home_requests, request) == ["contact.registered", "request.registered"]


async def test_a_booked_visit_is_a_proposed_appointment(client, publish):
    code = await register(client)

    await publish(envelope(visit_scheduled(tomorrow_at(8), request_code=code, visit_id=f"v-{code}")))

    async def shown() -> dict[str, Any] | None:
        view = (await client.get(f"{PATH}/{code}", headers=auth(WARD))).json()
        return view if view["status"] == "appointment_proposed" else None

    assert (await eventually(shown, what="the visit recorded"))["visit"] is not None


class _NoPublishing:
    async def publish(self, envelope: dict[str, Any]) -> None:
        raise AssertionError("recording a visit publishes nothing")


async def test_a_visit_booked_late_does_not_undo_a_cancellation_or_an_agreed_appointment(
    client, service_database, home_requests
):
    cancelled, agreed = await register(client), await register(client, phone="0987654321")
    await post(client, cancelled, "reports/cancelled", {"cancelled_by": "citizen", "reason": "Đã tự đến Trung tâm"})
    await post(client, agreed, "appointment", APPOINTMENT)
    requests = MongoHomeRequests(Outbox(_NoPublishing(), service_database("intake")), CccdCipher(CCCD_KEY.encode()))
    visit = Visit(tomorrow_at(8), tomorrow_at(9), "Lê Văn Giang", "Đông Đức Hợp")
    from_states = TRANSITIONS[Step.PROPOSE_APPOINTMENT][0]

    for code, status in ((cancelled, "cancelled"), (agreed, "appointment_agreed")):
        before = await home_requests.find_one({"_id": code}, WITHOUT_OUTBOX)  # the relay marks it meanwhile
        assert await requests.schedule_visit(WARD, code, visit, from_states=from_states) == status
        assert await home_requests.find_one({"_id": code}, WITHOUT_OUTBOX) == before


# --- citizens ---------------------------------------------------------------------------


async def test_a_citizen_sees_status_and_appointment_with_code_and_phone_and_nothing_else(client):
    code = await register(client)
    await post(client, code, "appointment", APPOINTMENT)

    answer = await client.post("/v1/lookup", json={"code": code.lower(), "phone": "0912 345 678"})

    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert view == {
        "request_code": code,
        "status": "appointment_agreed",
        "status_text": "đã hẹn ngày, giờ cán bộ đến",
        "appointment": view["appointment"] | {"agreed": True},
    }
    assert datetime.fromisoformat(view["appointment"]["starts_at"]) == tomorrow_at(9)


async def test_a_wrong_phone_and_an_unknown_code_answer_the_same(client):
    code = await register(client)

    wrong_phone = await client.post("/v1/lookup", json={"code": code, "phone": "0912345679"})
    unknown = await client.post("/v1/lookup", json={"code": "GD-ZZZZZZZ", "phone": PHONE})

    assert wrong_phone.status_code == unknown.status_code == 404
    assert wrong_phone.json() == unknown.json()


async def test_look_ups_are_limited_per_code(client):
    code = await register(client)
    for _ in range(PER_CODE):
        assert (await client.post("/v1/lookup", json={"code": code, "phone": "0900000000"})).status_code == 404

    limited = await client.post("/v1/lookup", json={"code": code, "phone": PHONE})  # even with the right phone

    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 3600
    assert limited.json()["errors"][0]["code"] == "too_many_attempts"
    assert "thử lại sau" in limited.json()["errors"][0]["message"]


async def test_look_ups_and_survey_answers_are_limited_per_client(client):
    for number in range(PER_CLIENT):  # a different made-up code each time: guessing
        answer = await client.post("/v1/lookup", json={"code": f"GD-AAAAA{number}A", "phone": PHONE})
        assert answer.status_code == 404

    limited = await client.post("/v1/survey", json={"code": "GD-BBBBBBB", "phone": PHONE, "rating": "hai_long"})

    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) <= 60


async def test_a_served_citizen_answers_the_survey_and_a_second_answer_replaces_the_first(client, home_requests):
    code = await register(client)
    survey = {"code": code, "phone": PHONE, "rating": "hai_long"}

    early = await client.post("/v1/survey", json=survey)
    assert early.status_code == 409 and early.json()["errors"][0]["code"] == "not_served_yet"

    await post(client, code, "appointment", APPOINTMENT)
    await post(client, code, "reports/dossier-received", ON_PAPER)
    first = await client.post("/v1/survey", json=survey | {"comment": "Cán bộ đến đúng giờ"})
    second = await client.post("/v1/survey", json=survey | {"rating": "rat_hai_long"})

    assert first.status_code == second.status_code == 200
    assert first.json() == {"request_code": code, "rating": "hai_long", "replaced": False}
    assert second.json() == {"request_code": code, "rating": "rat_hai_long", "replaced": True}
    document = await home_requests.find_one({"_id": code})
    answered = [e["event"]["data"] for e in document["outbox"] if e["event"]["type"] == "survey.answered"]
    assert [(a["rating"], a["replaces"]) for a in answered] == [("hai_long", False), ("rat_hai_long", True)]
    assert all(PHONE not in str(a) for a in answered)


async def test_a_cancelled_request_lets_the_citizen_ask_for_the_same_procedure_again(client):
    first = await register(client)
    again = await client.post(PATH, json=form(phone=PHONE), headers=auth(WARD))
    assert again.status_code == 409, again.text  # still open: the same citizen and procedure

    await post(client, first, "reports/cancelled", {"cancelled_by": "citizen", "reason": "Chọn ngày khác"})
    after = await client.post(PATH, json=form(phone=PHONE), headers=auth(WARD))

    assert after.status_code == 202, after.text
    assert after.json()["request_code"] != first
