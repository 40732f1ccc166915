"""notify running against the real broker and database: events in, messages out, evidence published."""

from __future__ import annotations

import json
from typing import Any

from gandan.notify.app import build
from gandan.shared.auth import Role
from gandan.shared.topology import Topology
from gandan.testing import auth, eventually, queued, serving
from gandan.testing.factories import OTHER_WARD, WARD, one_request, with_data


def listing(client):
    """The ward's messages, as its staff see them."""

    async def listed() -> list[dict[str, Any]]:
        return (await client.get("/v1/messages", headers=auth(WARD, Role.OFFICER))).json()["messages"]

    return listed


async def announced(client, publish, *events) -> list[dict[str, Any]]:
    """Publish the events in this order; the three messages of the visit once they are sent."""
    for event in events:
        await publish(event)
    return await eventually(listing(client), lambda ms: len(ms) == 3 and all(m["status"] == "sent" for m in ms))


async def test_a_scheduled_visit_is_announced_to_citizen_officer_and_leader(
    service_settings, namespace, rabbitmq_url, publish
):
    _, contact, visit = one_request()
    service, app = build()

    async with serving(service, app) as client:
        messages = await announced(client, publish, contact, visit)

        # The audit queue gets what was published: our two events and notify's three notification.sent.
        audit_queue = Topology(namespace).queue("audit").name
        seen: list[dict[str, Any]] = []

        async def drained():
            seen.extend(json.loads(m.body) for m in await queued(rabbitmq_url, audit_queue))
            return seen

        await eventually(drained, lambda s: sum(e["type"] == "notification.sent" for e in s) >= 3)

        other_ward = await client.get("/v1/messages", headers=auth(OTHER_WARD, Role.OFFICER))
        anonymous = await client.get("/v1/messages")
        citizen = await client.get("/v1/messages", headers=auth(WARD, Role.CITIZEN, request_code="GD-AB12CD3"))
        auditor = await client.get("/v1/messages", headers=auth(WARD, Role.AUDITOR))
        by_code = await client.get(
            "/v1/messages", params={"request_code": "GD-OTHER00"}, headers=auth(WARD, Role.OFFICER)
        )

    roles = {m["recipient_role"]: m for m in messages}
    assert set(roles) == {"citizen", "officer", "group_leader"}
    assert {r: m["phone"] for r, m in roles.items()} == {
        "citizen": "091****678",
        "officer": "098****222",
        "group_leader": "097****444",
    }
    for m in messages:
        assert m["status"] == "sent"
        assert m["channel"] == "sandbox"
        assert m["request_code"] == "GD-AB12CD3"
        assert m["sent_at"] is not None
        assert "GD-AB12CD3" in m["text"]
        assert "08:00 T2 30/11" in m["text"]
        assert m["segments"] == 2
    assert roles["citizen"]["recipient_name"] == "Nguyễn Thị Lan"
    assert roles["citizen"]["text"].startswith("P.Thạch Khôi hẹn đến nhà ông/bà Nguyễn Thị Lan vào 08:00")
    assert roles["officer"]["text"].startswith("Lịch 08:00 T2 30/11: Nguyễn Thị Lan 091****678")
    assert roles["group_leader"]["text"].startswith("Lịch 08:00 T2 30/11: cùng cán bộ Lê Văn Giang 098****222")

    types = sorted(e["type"] for e in seen)
    assert types == ["contact.registered", *["notification.sent"] * 3, "visit.scheduled"]
    sent = [e for e in seen if e["type"] == "notification.sent"]
    assert {e["data"]["message_id"] for e in sent} == {m["message_id"] for m in messages}
    assert {e["data"]["recipient_role"] for e in sent} == {"citizen", "officer", "group_leader"}
    for e in sent:
        assert e["producer"] == "notify"
        assert e["ward_code"] == WARD
        assert e["causation_id"] == str(visit.id)
        assert e["correlation_id"] == str(visit.correlation_id)
        assert e["data"]["channel"] == "sandbox"

    assert other_ward.status_code == 200
    assert other_ward.json() == {"messages": []}
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == "missing_credential"
    assert citizen.status_code == 403
    assert auditor.status_code == 200
    assert len(auditor.json()["messages"]) == 3
    assert by_code.json() == {"messages": []}


async def test_a_visit_that_arrives_before_its_contact_is_announced_once_the_contact_is_known(
    service_settings, namespace, rabbitmq_url, publish
):
    _, contact, visit = one_request()
    service, app = build()

    async with serving(service, app) as client:
        messages = await announced(client, publish, visit, contact)

    # The contact that came second is the one the messages were written with.
    citizen = next(m for m in messages if m["recipient_role"] == "citizen")
    assert (citizen["recipient_name"], citizen["phone"]) == ("Nguyễn Thị Lan", "091****678")
    assert await queued(rabbitmq_url, Topology(namespace).dead_letter_queue("notify").name) == []


async def test_a_phone_typed_into_a_name_is_masked_in_the_message_list(service_settings, publish):
    _, contact, visit = one_request()
    contact = with_data(contact, name="Nguyễn Thị Lan (con trai 0987 654 321)")
    service, app = build()

    async with serving(service, app) as client:
        messages = await announced(client, publish, contact, visit)

    citizen = next(m for m in messages if m["recipient_role"] == "citizen")
    assert citizen["recipient_name"] == "Nguyễn Thị Lan (con trai 098****321)"
    listed = json.dumps(messages, ensure_ascii=False)
    assert "0987 654 321" not in listed and "654 321" not in listed


async def test_an_unknown_query_parameter_is_refused_not_ignored(service_settings):
    service, app = build()

    async with serving(service, app) as client:
        # A misspelt filter must not read as "every message of the ward".
        response = await client.get("/v1/messages", params={"requestcode": "GD-AB12CD3"}, headers=auth(WARD))
        # Nor a code no request can have: it would read as "no messages".
        malformed = await client.get("/v1/messages", params={"request_code": "gd-ab12cd3\r"}, headers=auth(WARD))

    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("requestcode", "extra_forbidden")]
    assert malformed.status_code == 422


async def test_the_citizen_or_the_wards_staff_choose_how_the_citizen_is_written_to(service_settings, publish):
    _, contact, _ = one_request()
    service, app = build()
    url = "/v1/contacts/GD-AB12CD3/preferences"
    citizen = auth(WARD, Role.CITIZEN, request_code="GD-AB12CD3")

    async with serving(service, app) as client:
        unknown_yet = await client.put(url, json={"preferred_channel": "sms"}, headers=citizen)
        await publish(contact)
        chosen = await eventually(
            lambda: client.put(url, json={"preferred_channel": "sms", "non_essential": False}, headers=citizen),
            lambda r: r.status_code == 200,
        )
        by_staff = await client.put(url, json={"preferred_channel": "zalo"}, headers=auth(WARD, Role.OFFICER))
        other_request = await client.put(url, json={}, headers=auth(WARD, Role.CITIZEN, request_code="GD-OTHER00"))
        other_ward = await client.put(url, json={}, headers=auth(OTHER_WARD, Role.OFFICER))
        anonymous = await client.put(url, json={})
        invalid = await client.put(url, json={"preferred_channel": "fax"}, headers=citizen)

    assert unknown_yet.status_code == 404
    assert chosen.json() == {"preferred_channel": "sms", "non_essential": False}
    assert by_staff.json() == {"preferred_channel": "zalo", "non_essential": True}
    assert (other_request.status_code, other_request.json()["errors"][0]["code"]) == (403, "not_your_request")
    assert other_ward.status_code == 404
    assert anonymous.status_code == 401
    assert invalid.status_code == 422
