"""notify configured with ZNS and eSMS (a local server speaking both), on the real broker and database:
ZNS first, SMS where Zalo cannot reach the person, and the providers' delivery receipts, checked by
signature or secret, becoming notification.delivered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gandan.notify.api import zalo_mac
from gandan.notify.app import build
from gandan.shared.auth import Role
from gandan.shared.topology import Topology
from gandan.testing import auth, eventually, queued, serving
from gandan.testing.factories import WARD, one_request

from .providers import ESMS_KEYS, ZNS_TOKEN, Providers, running

APP_ID, APP_SECRET, CALLBACK_SECRET = "zalo-app-1", "oa-secret-key", "esms-callback-secret"


@pytest.fixture
def providers() -> Providers:
    providers = Providers()
    providers.zns_codes["84912345678"] = -118  # the citizen has no Zalo account
    return providers


@pytest.fixture
async def configured(service_settings, monkeypatch, providers):
    async with running(providers) as url:
        for name, value in {
            "NOTIFY_ZNS_URL": url,
            "NOTIFY_ZNS_ACCESS_TOKEN": ZNS_TOKEN,
            "NOTIFY_ZNS_TEMPLATES": json.dumps(
                {
                    "visit_assignment_officer.v3": "301",
                    "visit_assignment_leader.v3": "302",
                    "visit_appointment_citizen.v3": "300",
                }
            ),
            "NOTIFY_ZNS_APP_ID": APP_ID,
            "NOTIFY_ZNS_APP_SECRET": APP_SECRET,
            "NOTIFY_SMS_PROVIDER": "esms",
            "NOTIFY_ESMS_URL": url,
            "NOTIFY_ESMS_API_KEY": ESMS_KEYS[0],
            "NOTIFY_ESMS_SECRET_KEY": ESMS_KEYS[1],
            "NOTIFY_ESMS_CALLBACK_SECRET": CALLBACK_SECRET,
        }.items():
            monkeypatch.setenv(name, value)
        yield


def zalo_receipt(msg_id: str, *, secret: str = APP_SECRET, event: str = "user_received_message") -> dict[str, Any]:
    body = json.dumps(
        {"app_id": APP_ID, "event_name": event, "timestamp": "1764130000000", "message": {"msg_id": msg_id}}
    ).encode()
    return {
        "content": body,
        "headers": {"X-ZEvent-Signature": f"mac={zalo_mac(APP_ID, body, '1764130000000', secret)}"},
    }


async def test_zns_first_sms_when_zalo_cannot_reach_and_receipts_become_notification_delivered(
    configured, providers, publish, namespace, rabbitmq_url
):
    _, contact, visit = one_request()
    service, app = build()

    async with serving(service, app) as client:

        async def listed() -> dict[str, dict[str, Any]]:
            answer = await client.get("/v1/messages", headers=auth(WARD, Role.OFFICER))
            return {m["recipient_role"]: m for m in answer.json()["messages"]}

        await publish(contact)
        await publish(visit)
        messages = await eventually(listed, lambda ms: len(ms) == 3 and all(m["status"] == "sent" for m in ms.values()))
        assert {role: m["channel"] for role, m in messages.items()} == {
            "citizen": "sms",
            "officer": "zalo",
            "group_leader": "zalo",
        }
        assert sorted(p for provider, p, _ in providers.accepted) == ["0912345678", "84978333444", "84983111222"]

        # Zalo says the officer's message reached the phone; eSMS says the citizen's did.
        officer_msg_id = providers.zns_msg_ids["84983111222"]
        forged = await client.post("/v1/receipts/zalo", **zalo_receipt(officer_msg_id, secret="guess"))
        wrong_secret = await client.get(
            "/v1/receipts/esms", params={"secret": "guess", "SMSID": "esms-1", "SendStatus": "5"}
        )
        assert (forged.status_code, wrong_secret.status_code) == (401, 401)
        assert (await listed())["officer"]["status"] == "sent"

        unknown = await client.post("/v1/receipts/zalo", **zalo_receipt("zns-999"))
        seen = await client.post("/v1/receipts/zalo", **zalo_receipt(officer_msg_id, event="user_seen_message"))
        assert (unknown.status_code, unknown.json(), seen.json()) == (200, {"status": "ignored"}, {"status": "ignored"})

        received = await client.post("/v1/receipts/zalo", **zalo_receipt(officer_msg_id))
        sms = await client.get(
            "/v1/receipts/esms",
            params={"secret": CALLBACK_SECRET, "SMSID": "esms-1", "SendStatus": "5", "TypeId": "2", "telcoid": "1"},
        )
        assert (received.json(), sms.json()) == ({"status": "recorded"}, {"status": "recorded"})
        again = await client.post("/v1/receipts/zalo", **zalo_receipt(officer_msg_id))
        assert again.json() == {"status": "ignored"}

        messages = await listed()
        assert {role: m["status"] for role, m in messages.items()} == {
            "citizen": "delivered",
            "officer": "delivered",
            "group_leader": "sent",
        }
        assert messages["officer"]["delivered_at"] is not None

        audit_queue = Topology(namespace).queue("audit").name
        seen_events: list[dict[str, Any]] = []

        async def drained() -> list[dict[str, Any]]:
            seen_events.extend(json.loads(m.body) for m in await queued(rabbitmq_url, audit_queue))
            return seen_events

        await eventually(drained, lambda s: sum(e["type"] == "notification.delivered" for e in s) == 2)
    delivered = [e["data"] for e in seen_events if e["type"] == "notification.delivered"]
    assert sorted((d["recipient_role"], d["channel"]) for d in delivered) == [("citizen", "sms"), ("officer", "zalo")]


async def test_receipts_that_cannot_be_read_or_checked_are_refused(service_settings):
    service, app = build()  # no provider configured: no secret to check a receipt against

    async with serving(service, app) as client:
        not_json = await client.post("/v1/receipts/zalo", content=b"{not json")
        no_id = await client.get("/v1/receipts/esms", params={"secret": CALLBACK_SECRET, "SendStatus": "5"})
        unchecked = await client.post("/v1/receipts/zalo", **zalo_receipt("zns-1"))
        unchecked_sms = await client.get(
            "/v1/receipts/esms", params={"secret": CALLBACK_SECRET, "SMSID": "esms-1", "SendStatus": "5"}
        )

    assert (not_json.status_code, not_json.json()["errors"][0]["code"]) == (422, "invalid_receipt")
    assert no_id.status_code == 422
    assert (unchecked.status_code, unchecked_sms.status_code) == (401, 401)
