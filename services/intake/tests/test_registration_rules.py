"""Who may be registered, from which ward, how often, and what is kept of the citizen ID:
intake as a caller sees it, on the real broker and database."""

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from gandan.intake.app import build
from gandan.shared.clock import utcnow
from gandan.shared.events import ProcedureField, Registrar, RegistrationChannel, WardsServed
from gandan.shared.topology import Topology
from gandan.testing import auth, eventually, queued, serving
from gandan.testing.factories import envelope
from gandan.testing.factories import home_request_form as form

PATH = "/v1/home-requests"
WARD = "11002"  # Thạch Khôi: served (see conftest)
NAM_DONG = "10672"  # an official ward no roster serves
CCCD = "031090012345"
NEW_CATEGORIES = ["nguoi_co_cong", "khong_co_kha_nang_di_lai", "bat_kha_khang", "doi_tuong_kho_khan_khac"]


async def drained(rabbitmq_url: str, namespace: str, service: str) -> list[dict[str, Any]]:
    return [json.loads(m.body) for m in await queued(rabbitmq_url, Topology(namespace).queue(service).name)]


async def outbox_published(home_requests, code: str) -> dict[str, Any]:
    async def done():
        document = await home_requests.find_one({"_id": code})
        return document if document and all(e["published_at"] for e in document["outbox"]) else None

    return await eventually(done, what=f"the outbox of {code} published")


# --- who, what, how ---------------------------------------------------------------


@pytest.mark.parametrize("category", NEW_CATEGORIES)
async def test_the_groups_the_seeds_add_are_accepted(client, category):
    answer = await client.post(PATH, json=form(category=category), headers=auth(WARD))
    assert answer.status_code == 202, answer.text


async def test_health_education_and_insurance_cards_are_fields_and_registrar_and_channel_are_kept_and_announced(
    client, home_requests, rabbitmq_url, namespace
):
    fields = [ProcedureField.Y_TE, ProcedureField.GIAO_DUC, ProcedureField.THE_BAO_HIEM_Y_TE]
    sent = {}
    for n, (field, registrar, channel) in enumerate(zip(fields, Registrar, RegistrationChannel, strict=False)):
        body = form(field=field, registered_by=registrar, channel=channel, procedure=f"Thủ tục {n}")
        answer = await client.post(PATH, json=body, headers=auth(WARD))
        assert answer.status_code == 202, answer.text
        sent[answer.json()["request_code"]] = (field.value, registrar.value, channel.value)

    for code, values in sent.items():
        stored = await outbox_published(home_requests, code)
        assert (stored["field"], stored["registered_by"], stored["channel"]) == values
    announced = {
        b["data"]["request_code"]: (b["data"]["field"], b["data"]["registered_by"], b["data"]["channel"])
        for b in await drained(rabbitmq_url, namespace, "dispatch")
    }
    assert announced == sent


# --- served wards -------------------------------------------------------------------


async def test_a_ward_no_roster_serves_is_refused_in_vietnamese_and_nothing_is_kept(
    client, home_requests, rabbitmq_url, namespace
):
    answer = await client.post(PATH, json=form(ward_code=NAM_DONG), headers=auth(NAM_DONG))

    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [
        {
            "field": "ward_code",
            "code": "ward_not_served",
            "message": "Phường/xã này chưa có dịch vụ tiếp nhận hồ sơ và trả kết quả tại nhà; "
            "vui lòng liên hệ Trung tâm Phục vụ hành chính công.",
        }
    ]
    assert await home_requests.count_documents({}) == 0
    # A served ward's request, published after: by then a refused one would be on the queue too.
    code = (await client.post(PATH, json=form(), headers=auth(WARD))).json()["request_code"]
    await outbox_published(home_requests, code)
    assert {b["data"]["request_code"] for b in await drained(rabbitmq_url, namespace, "dispatch")} == {code}


async def test_intake_learns_the_served_wards_from_dispatch_and_remembers_them_across_a_restart(
    service_settings, publish, home_requests
):
    async def post(ward: str, n: int) -> int:
        body = form(ward_code=ward, procedure=f"Chứng thực bản sao {n}")
        return (await client.post(PATH, json=body, headers=auth(ward))).status_code

    async with serving(*build()) as client:
        assert await post(WARD, 0) == 422  # nothing announced yet: no ward is known to be served
        await publish(envelope(WardsServed(ward_codes=(WARD, NAM_DONG), as_of=utcnow())))
        await eventually(lambda: post(NAM_DONG, 1), lambda status: status == 202, what="Nam Đồng served")
        # A later announcement without Nam Đồng (its roster withdrawn) takes it away again. (Asked
        # again for the same procedure: until then a 409, which stores nothing.)
        await publish(envelope(WardsServed(ward_codes=(WARD,), as_of=utcnow() + timedelta(seconds=1))))
        await eventually(lambda: post(NAM_DONG, 1), lambda status: status == 422, what="Nam Đồng no longer served")

    async with serving(*build()) as client:
        assert await post(WARD, 3) == 202
        assert await post(NAM_DONG, 4) == 422
    assert await home_requests.count_documents({}) == 2


# --- one open request per citizen and procedure ---------------------------------------


async def test_a_second_open_request_for_the_same_procedure_is_409_naming_the_first(client, home_requests):
    first = (await client.post(PATH, json=form(), headers=auth(WARD))).json()["request_code"]

    again = await client.post(
        PATH, json=form(phone="+84 912 345 678", procedure="cấp bản sao  trích lục KHAI SINH"), headers=auth(WARD)
    )

    assert again.status_code == 409, again.text
    [error] = again.json()["errors"]
    assert (error["code"], error["field"]) == ("open_request_exists", "procedure")
    assert first in error["message"] and "đang được xử lý" in error["message"]
    assert await home_requests.count_documents({}) == 1
    other = await client.post(PATH, json=form(procedure="Đăng ký khai tử"), headers=auth(WARD))
    assert other.status_code == 202, other.text


async def test_two_identical_posts_at_once_keep_one_request(client, home_requests):
    answers = await asyncio.gather(*(client.post(PATH, json=form(), headers=auth(WARD)) for _ in range(4)))

    assert sorted(a.status_code for a in answers) == [202, 409, 409, 409], [a.text for a in answers]
    [kept] = [a.json()["request_code"] for a in answers if a.status_code == 202]
    assert all(kept in a.text for a in answers if a.status_code == 409)
    assert await home_requests.count_documents({}) == 1


async def test_a_retry_with_its_idempotency_key_gets_the_first_answer_not_409(client, home_requests):
    headers = auth(WARD) | {"Idempotency-Key": "cccd-retry-1"}
    first = await client.post(PATH, json=form(cccd=CCCD), headers=headers)
    again = await client.post(PATH, json=form(cccd=CCCD), headers=headers)

    assert (first.status_code, again.status_code) == (202, 202), again.text
    assert again.json() == first.json()
    assert await home_requests.count_documents({}) == 1


# --- the citizen ID number ----------------------------------------------------------


async def test_the_cccd_is_stored_sealed_and_never_published_or_shown(client, home_requests, rabbitmq_url, namespace):
    answer = await client.post(PATH, json=form(cccd=CCCD), headers=auth(WARD))
    assert answer.status_code == 202, answer.text
    code = answer.json()["request_code"]

    stored = await outbox_published(home_requests, code)
    assert stored["cccd"] and CCCD not in json.dumps(stored, default=str)  # the outbox included
    status = await client.get(f"{PATH}/{code}", headers=auth(WARD))
    assert status.status_code == 200 and CCCD not in status.text
    events = [e for service in ("dispatch", "notify", "audit") for e in await drained(rabbitmq_url, namespace, service)]
    assert {e["type"] for e in events} == {"request.registered", "contact.registered"}
    assert CCCD not in json.dumps(events)


async def test_without_a_cccd_nothing_is_stored_for_it(client, home_requests):
    code = (await client.post(PATH, json=form(), headers=auth(WARD))).json()["request_code"]
    assert (await home_requests.find_one({"_id": code}))["cccd"] is None
