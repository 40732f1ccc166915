"""A letter of a request's progress, on the real broker and database: written once, however often it comes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gandan.notify.app import build
from gandan.shared.auth import Role
from gandan.shared.events import AppointmentAgreed, ProcedureKind, RequestOverdue
from gandan.shared.topology import Topology
from gandan.testing import auth, eventually, queued, serving
from gandan.testing.factories import WARD, envelope, one_request


async def test_an_agreed_appointment_delivered_twice_is_written_once_with_the_officers_phone(
    service_settings, namespace, rabbitmq_url, publish
):
    _, contact, visit = one_request()
    # 07:30–11:30 on Monday 30/11/2026 in Vietnam.
    start = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
    about = {"request_code": "GD-AB12CD3", "citizen_ref": "cit-7f3a"}
    agreed = envelope(
        AppointmentAgreed(**about, status="appointment_agreed", starts_at=start, ends_at=start + timedelta(hours=4)),
        correlation_id=visit.correlation_id,
    )
    overdue = envelope(
        RequestOverdue(**about, status="overdue", procedure_kind=ProcedureKind.LAND, new_due_date=date(2026, 12, 20)),
        correlation_id=visit.correlation_id,
    )
    service, app = build()

    async def listed() -> list[dict[str, Any]]:
        return (await client.get("/v1/messages", headers=auth(WARD, Role.OFFICER))).json()["messages"]

    def sent(template: str):
        return lambda ms: any(m["template"] == template and m["status"] == "sent" for m in ms)

    async with serving(service, app) as client:
        await publish(contact)
        await publish(visit)
        await eventually(listed, lambda ms: len(ms) == 3 and all(m["status"] == "sent" for m in ms))
        await publish(agreed)
        await eventually(listed, sent("appointment_agreed_citizen.v1"))
        # The same event again (a redelivery), then another change: once its letter is out, the
        # redelivery has been handled too.
        await publish(agreed)
        await publish(overdue)
        messages = await eventually(listed, sent("request_overdue_apology.v1"))

    letters = [
        m for m in messages if m["recipient_role"] == "citizen" and m["template"] != "visit_appointment_citizen.v3"
    ]
    assert sorted(m["template"] for m in letters) == ["appointment_agreed_citizen.v1", "request_overdue_apology.v1"]
    appointment = next(m for m in letters if m["template"] == "appointment_agreed_citizen.v1")
    # The officer's phone, masked in the list as every phone is.
    assert appointment["text"] == (
        "P.Thạch Khôi hẹn sáng 30/11 tại nhà. Xin chuẩn bị: CCCD, giấy báo tử. "
        "Đổi lịch liên hệ 098****222. Mã GD-AB12CD3"
    )
    assert appointment["segments"] == 2
    assert appointment["channel"] == "sandbox"

    # What notify announced, once its relay published it: one notification.sent for the agreed appointment.
    audit_queue = Topology(namespace).queue("audit").name
    seen: list[dict[str, Any]] = []

    async def drained() -> list[dict[str, Any]]:
        seen.extend(json.loads(m.body) for m in await queued(rabbitmq_url, audit_queue))
        return [e for e in seen if e["type"] == "notification.sent"]

    def caused_by(event, announced):
        return [e for e in announced if e["causation_id"] == str(event.id)]

    announced = await eventually(drained, lambda es: caused_by(agreed, es) and caused_by(overdue, es))
    [caused] = caused_by(agreed, announced)
    assert caused["data"]["template"] == "appointment_agreed_citizen.v1"
    assert caused["correlation_id"] == str(visit.correlation_id)
