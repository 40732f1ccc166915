"""audit running against the real broker and database: every event kept once, as minimised evidence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from gandan.audit.app import build
from gandan.shared.auth import Role
from gandan.shared.topology import Topology
from gandan.system import services as system
from gandan.testing import auth, eventually, queued, serving
from gandan.testing.factories import (
    ADDRESS,
    OTHER_WARD,
    REQUEST_CODE,
    WARD,
    a_request_code,
    envelope,
    notification_sent,
    one_request,
    request_registered,
    with_data,
)

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def trail_of(client, code: str = REQUEST_CODE, ward_code: str = WARD, role: Role = Role.AUDITOR):
    # A citizen's credential is bound to one request: this one.
    binding = {"request_code": code} if role is Role.CITIZEN else {}
    return client.get(f"/v1/requests/{code}/trail", headers=auth(ward_code, role, **binding))


async def test_the_trail_of_a_request_lists_its_events_in_the_order_they_happened_minimised(service_settings, publish):
    request, contact, visit = one_request(at=T0)
    elsewhere = envelope(request_registered(request_code="GD-ZZ99YY8"), occurred_at=T0)
    service, app = build()

    async with serving(service, app) as client:
        # Out of order: the latest first.
        for event in (visit, contact, elsewhere, request):
            await publish(event)

        async def trail():
            response = await trail_of(client)
            return response.json()["events"] if response.status_code == 200 else []

        events = await eventually(trail, lambda es: len(es) == 3)
        staff = await trail_of(client, role=Role.OFFICER)
        citizen = await trail_of(client, role=Role.CITIZEN)

    assert [e["type"] for e in events] == ["request.registered", "contact.registered", "visit.scheduled"]
    assert [e["event_id"] for e in events] == [str(request.id), str(contact.id), str(visit.id)]
    assert [datetime.fromisoformat(e["occurred_at"]) for e in events] == [
        T0,
        T0 + timedelta(seconds=1),
        T0 + timedelta(minutes=5),
    ]
    first, second, third = events
    assert first["producer"] == "intake"
    assert first["version"] == 1
    assert first["correlation_id"] == str(request.correlation_id)
    assert first["causation_id"] is None
    assert third["causation_id"] == str(request.id)
    assert first["data"] == json.loads(request.data.model_dump_json())  # nothing personal: kept as published

    contact_data = second["data"]
    assert contact_data["phone"] == "091****678"
    assert contact_data["name"] == "Nguyễn Thị Lan"
    assert contact_data["request_code"] == REQUEST_CODE
    assert ADDRESS not in json.dumps(contact_data, ensure_ascii=False)

    assert third["data"]["officer"] == {"staff_id": "tk-03", "name": "Lê Văn Giang", "phone": "098****222"}
    assert third["data"]["leader"]["phone"] == "097****444"
    assert third["data"]["procedure"] == "Đăng ký khai tử"

    everything = json.dumps(events, ensure_ascii=False)
    for phone in ("0912345678", "0983111222", "0978333444"):
        assert phone not in everything

    assert staff.status_code == 200
    assert [e["event_id"] for e in staff.json()["events"]] == [e["event_id"] for e in events]
    assert staff.json()["request_code"] == REQUEST_CODE
    assert staff.json()["ward_code"] == WARD
    assert citizen.status_code == 403


async def test_an_event_delivered_twice_is_kept_once(service_settings, namespace, rabbitmq_url, publish, audit_db):
    request, contact, visit = one_request(at=T0)
    # The next event of the request: audit's queue is handled in order, so once it is on the
    # trail, the redelivery published before it has been handled too.
    sent = envelope(
        notification_sent(),
        correlation_id=visit.correlation_id,
        causation_id=visit.id,
        occurred_at=T0 + timedelta(minutes=6),
    )
    service, app = build()

    async with serving(service, app) as client:
        for event in (request, contact, visit):
            await publish(event)

        async def trail():
            response = await trail_of(client)
            return response.json()["events"] if response.status_code == 200 else []

        before = await eventually(trail, lambda es: len(es) == 3)
        kept = await audit_db["events"].find_one({"_id": str(contact.id)})

        await publish(contact)  # a redelivery: the very same envelope
        await publish(sent)
        after = await eventually(trail, lambda es: len(es) > 3)

    assert [e["event_id"] for e in after] == [*(e["event_id"] for e in before), str(sent.id)]
    assert after[:3] == before
    assert await audit_db["events"].find_one({"_id": str(contact.id)}) == kept  # not written again
    assert await audit_db["events"].count_documents({}) == 4
    assert await queued(rabbitmq_url, Topology(namespace).dead_letter_queue("audit").name) == []


async def test_a_trail_is_only_shown_to_the_ward_it_belongs_to_and_only_when_it_exists(service_settings, publish):
    request, _, _ = one_request()
    service, app = build()

    async with serving(service, app) as client:
        await publish(request)
        mine = await eventually(lambda: trail_of(client), lambda r: r.status_code == 200)
        other_ward = await trail_of(client, ward_code=OTHER_WARD)
        unknown = await trail_of(client, code="GD-NONE000")
        anonymous = await client.get(f"/v1/requests/{REQUEST_CODE}/trail")

    assert [e["event_id"] for e in mine.json()["events"]] == [str(request.id)]
    assert other_ward.status_code == 404
    assert other_ward.json()["errors"][0]["code"] == "request_not_found"
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["code"] == "request_not_found"
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"hello": 1},
        # Almost an envelope, but for a ward code that is no ward code.
        {
            "id": str(uuid4()),
            "type": "request.registered",
            "version": 1,
            "occurred_at": "2026-06-01T02:00:00Z",
            "ward_code": "HP-1",
            "correlation_id": str(uuid4()),
            "causation_id": None,
            "producer": "intake",
            "data": {"request_code": REQUEST_CODE},
        },
    ],
    ids=["not-an-envelope", "bad-ward-code"],
)
async def test_a_message_that_is_not_an_event_is_dead_lettered_and_not_kept(
    body, service_settings, namespace, rabbitmq_url, publish, audit_db
):
    request, _, _ = one_request()
    dead_letter_queue = Topology(namespace).dead_letter_queue("audit").name
    service, app = build()

    async with serving(service, app) as client:
        await publish(body, "request.registered")
        dead = await eventually(lambda: queued(rabbitmq_url, dead_letter_queue), lambda ms: len(ms) > 0)
        # The consumer goes on with the next event.
        await publish(request)
        trail = await eventually(lambda: trail_of(client), lambda r: r.status_code == 200)

    assert [json.loads(m.body) for m in dead] == [body]
    assert [e["event_id"] for e in trail.json()["events"]] == [str(request.id)]
    assert await audit_db["events"].count_documents({}) == 1


async def test_a_phone_typed_into_a_name_or_procedure_is_masked_in_storage_and_on_the_trail(
    service_settings, publish, audit_db
):
    request, contact, _ = one_request()
    contact = with_data(contact, name="Nguyễn Thị Lan, con gái 0987 654 321")
    request = with_data(request, procedure="Đăng ký khai tử (gọi 0912.345.678)")
    service, app = build()

    async with serving(service, app) as client:
        await publish(request)
        await publish(contact)
        response = await eventually(lambda: trail_of(client), lambda r: len(r.json().get("events", [])) == 2)

    names = {e["type"]: e["data"] for e in response.json()["events"]}
    assert names["contact.registered"]["name"] == "Nguyễn Thị Lan, con gái 098****321"
    assert names["request.registered"]["procedure"] == "Đăng ký khai tử (gọi 091****678)"
    stored = json.dumps([d async for d in audit_db["events"].find({}, {"data": 1})], ensure_ascii=False)
    for digits in ("0987 654 321", "0912.345.678", "654 321", "345.678"):
        assert digits not in stored
        assert digits not in response.text


async def test_evidence_stored_unmasked_by_an_older_rule_is_masked_when_shown(service_settings, audit_db):
    # As a record kept before numbers inside free text were masked.
    await audit_db["events"].insert_one(
        {
            "_id": str(uuid4()),
            "type": "contact.registered",
            "version": 1,
            "occurred_at": T0,
            "ward_code": WARD,
            "correlation_id": str(uuid4()),
            "causation_id": None,
            "producer": "intake",
            "request_code": REQUEST_CODE,
            "data": {"request_code": REQUEST_CODE, "name": "Lan 0912345678", "phone": "091****678"},
            "recorded_at": T0,
        }
    )
    service, app = build()

    async with serving(service, app) as client:
        response = await trail_of(client)

    assert response.status_code == 200
    [event] = response.json()["events"]
    assert event["data"] == {"request_code": REQUEST_CODE, "name": "Lan 091****678", "phone": "091****678"}


async def test_a_code_longer_than_any_request_code_is_422_in_the_error_shape(service_settings):
    service, app = build()

    async with serving(service, app) as client:
        response = await trail_of(client, code="GD-" + "A" * 40)

    assert response.status_code == 422
    assert response.json() == {
        "errors": [{"field": "code", "code": "string_too_long", "message": "Quá dài."}],
    }


async def test_events_that_arrive_together_are_kept_in_few_inserts_and_each_acked_once_kept(
    service_settings, namespace, publish, audit_db, database_commands, waiting
):
    events = [envelope(request_registered(request_code=a_request_code())) for _ in range(48)]
    # Queued before audit starts, so they reach it together (16 at a time, its prefetch).
    await system.declare(service_settings["RABBITMQ_URL"], namespace)
    for event in events:
        await publish(event)
    service, app = build()

    async with serving(service, app):
        await eventually(lambda: audit_db["events"].count_documents({}), lambda n: n == 48, what="48 kept")

    # Each event was acked (nothing waits to be delivered again), and one insert kept many.
    assert await waiting(Topology(namespace).queue("audit").name) == 0
    assert sorted(d["_id"] for d in await audit_db["events"].find({}, {"_id": 1}).to_list()) == sorted(
        str(e.id) for e in events
    )
    assert database_commands.of("audit", "insert") <= 12
