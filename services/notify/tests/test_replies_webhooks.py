"""notify on the real broker and database: the staff's replies by Zalo's webhook and eSMS's two-way
callback become staff.replied, once per inbound message; a day's route delivered twice tells each
person once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gandan.notify.api import zalo_mac
from gandan.notify.app import build
from gandan.shared.auth import Role
from gandan.shared.topology import Topology
from gandan.testing import auth, eventually, queued, serving
from gandan.testing.factories import LEADER, OFFICER, WARD, envelope, one_request

from .test_planned_day_letters import route

APP_ID, APP_SECRET, CALLBACK_SECRET = "zalo-app-1", "oa-secret-key", "esms-callback-secret"


@pytest.fixture
def configured(service_settings, monkeypatch):
    monkeypatch.setenv("NOTIFY_ZNS_APP_ID", APP_ID)
    monkeypatch.setenv("NOTIFY_ZNS_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("NOTIFY_ESMS_CALLBACK_SECRET", CALLBACK_SECRET)


def zalo_text(sender: str, text: str, msg_id: str, *, secret: str = APP_SECRET) -> dict[str, Any]:
    """Zalo's `user_send_text`, signed as Zalo signs every event of the OA's webhook."""
    body = json.dumps(
        {
            "app_id": APP_ID,
            "event_name": "user_send_text",
            "timestamp": "1764130000000",
            "sender": {"id": sender},
            "recipient": {"id": "oa-1"},
            "message": {"text": text, "msg_id": msg_id},
        }
    ).encode()
    return {
        "content": body,
        "headers": {"X-ZEvent-Signature": f"mac={zalo_mac(APP_ID, body, '1764130000000', secret)}"},
    }


async def listed(client) -> list[dict[str, Any]]:
    answer = await client.get("/v1/messages", headers=auth(WARD, Role.OFFICER))
    messages: list[dict[str, Any]] = answer.json()["messages"]
    return messages


async def published(rabbitmq_url: str, namespace: str, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen.extend(json.loads(m.body) for m in await queued(rabbitmq_url, Topology(namespace).queue("audit").name))
    return seen


async def test_staff_replies_by_zalo_and_sms_become_staff_replied_once_and_the_rest_is_answered(
    configured, publish, namespace, rabbitmq_url
):
    _, contact, visit = one_request()
    service, app = build()

    async with serving(service, app) as client:
        await publish(contact)
        await publish(visit)
        await eventually(lambda: listed(client), lambda ms: len(ms) == 3, what="the visit's messages")

        officer_ok = zalo_text("84" + OFFICER.phone[1:], "OK", "zalo-msg-1")
        answers = [await client.post("/v1/receipts/zalo", **officer_ok) for _ in range(2)]  # Zalo retries
        forged = await client.post("/v1/receipts/zalo", **zalo_text("84983111222", "OK", "zalo-msg-9", secret="x"))
        leader_other_time = await client.get(
            "/v1/replies/esms",
            params={"secret": CALLBACK_SECRET, "Phone": LEADER.phone, "Content": "DOI 14h", "SMSID": "mo-1"},
        )
        not_understood = await client.post(
            "/v1/replies/esms",
            params={"secret": CALLBACK_SECRET},
            json={"Phone": OFFICER.phone, "Content": "em bận", "SMSID": "mo-2"},
        )
        unknown = await client.get(
            "/v1/replies/esms", params={"secret": CALLBACK_SECRET, "Phone": "0909999999", "Content": "OK"}
        )
        zalo_user_id = await client.post("/v1/receipts/zalo", **zalo_text("3662729599332560487", "OK", "zalo-msg-3"))
        wrong_secret = await client.get(
            "/v1/replies/esms", params={"secret": "guess", "Phone": LEADER.phone, "Content": "OK"}
        )

        assert [a.json() for a in answers] == [{"status": "recorded"}] * 2
        assert (forged.status_code, wrong_secret.status_code) == (401, 401)
        assert leader_other_time.json() == {"status": "recorded"}
        assert not_understood.json() == {"status": "help_sent"}
        assert (unknown.status_code, unknown.json(), zalo_user_id.json()) == (
            200,
            {"status": "ignored"},
            {"status": "ignored"},
        )

        messages = await eventually(lambda: listed(client), lambda ms: len(ms) == 4, what="the help message")
        [help_message] = [m for m in messages if m["template"] == "staff_reply_help.v1"]
        assert (help_message["recipient_role"], help_message["phone"]) == ("officer", "098****222")

        seen: list[dict[str, Any]] = []
        await eventually(
            lambda: published(rabbitmq_url, namespace, seen),
            lambda s: sum(e["type"] == "staff.replied" for e in s) >= 2,
        )
        await asyncio.sleep(1)  # time for a duplicate to show up, were there one
        await published(rabbitmq_url, namespace, seen)
    replied = [e for e in seen if e["type"] == "staff.replied"]
    assert sorted((e["data"]["recipient_role"], e["data"]["answer"], e["data"]["channel"]) for e in replied) == [
        ("group_leader", "other_time", "sms"),
        ("officer", "accepted", "zalo"),
    ]
    assert {e["data"]["proposed_at"] for e in replied} == {None, "2026-11-30T07:00:00Z"}
    assert all(e["correlation_id"] == str(visit.correlation_id) for e in replied)


async def test_a_days_route_delivered_twice_tells_each_person_once(configured, publish):
    day = route(1)
    _, contact, _ = one_request(request_code=day.stops[0].request_code)
    event = envelope(day)
    service, app = build()

    async with serving(service, app) as client:
        await publish(contact)
        await eventually(lambda: service.database["contacts"].count_documents({}), what="the contact")
        await publish(event)
        await publish(event)  # as the broker redelivers it
        messages = await eventually(lambda: listed(client), lambda ms: len(ms) == 3, what="the day's messages")
        await asyncio.sleep(1)
        messages = await listed(client)

    assert sorted((m["recipient_role"], m["template"]) for m in messages) == [
        ("citizen", "visit_window_citizen.v1"),
        ("officer", "route_of_day_officer.v1"),
        ("officer", "route_of_day_officer.v1"),
    ]
    assert all(m["status"] == "sent" and m["segments"] <= 2 for m in messages)
