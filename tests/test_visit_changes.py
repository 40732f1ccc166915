"""An officer declines a visit: dispatch and intake in this process, on the real broker and database.
The reply (as notify announces it) reaches dispatch, which hands the visit to another officer of the
field and publishes `visit.rescheduled`; intake shows the citizen's new officer."""

from __future__ import annotations

import json
from typing import Any

import httpx

from gandan.dispatch.app import DispatchSettings
from gandan.dispatch.app import build as build_dispatch
from gandan.intake.app import build as build_intake
from gandan.shared.auth import Role
from gandan.shared.events import DeliveryChannel, RecipientRole, StaffAnswer, StaffReplied
from gandan.shared.topology import Topology
from gandan.testing import auth, eventually, queued, serving, ward_not_served
from gandan.testing.factories import envelope, home_request_form

WARD = "11002"
HOA = {
    "name": "Trần Thị Hoa",
    "title": "Chuyên viên Văn phòng HĐND-UBND phường",
    "role": "chuyen_vien",
    "fields": ["ho_tich"],
    "phone": "0500 111 222",
}


async def test_a_declined_visit_goes_to_another_officer_and_intake_shows_them(
    service_settings, service_database, publish, namespace, rabbitmq_url
):
    async with (
        serving(*build_dispatch(DispatchSettings())) as dispatch,
        serving(*build_intake()) as intake,
    ):
        # A second officer of civil status, so Giang has someone to hand over to.
        added = await dispatch.put(f"/v1/wards/{WARD}/roster/staff/tk-08", headers=auth(WARD, Role.OPERATOR), json=HOA)
        assert added.status_code == 200, added.text

        async def register() -> httpx.Response:
            return await intake.post("/v1/home-requests", headers=auth(WARD), json=home_request_form())

        answer = await eventually(register, lambda a: not ward_not_served(a), what="intake knows 11002 is served")
        assert answer.status_code == 202, answer.text
        code = answer.json()["request_code"]

        async def view() -> dict[str, Any]:
            return dict((await intake.get(f"/v1/home-requests/{code}", headers=auth(WARD))).json())

        booked = await eventually(view, lambda v: v["status"] == "appointment_proposed", what="the visit booked")
        assert booked["visit"]["officer_name"] == "Lê Văn Giang"
        visit = await service_database("dispatch")["visits"].find_one({"request_code": code})
        assert visit is not None
        reply = StaffReplied(
            request_code=code,
            visit_id=visit["_id"],
            recipient_role=RecipientRole.OFFICER,
            staff_id="tk-03",
            answer=StaffAnswer.DECLINED,
            proposed_at=None,
            channel=DeliveryChannel.SMS,
        )

        await publish(envelope(reply, ward_code=WARD))
        await publish(envelope(reply, ward_code=WARD))  # another reply, the same answer

        changed = await eventually(
            view, lambda v: v["visit"]["officer_name"] == "Trần Thị Hoa", what="intake shows the new officer"
        )

    assert changed["status"] == "appointment_proposed"
    assert changed["visit"]["starts_at"] == booked["visit"]["starts_at"]  # the same half-day
    to_notify = [json.loads(m.body) for m in await queued(rabbitmq_url, Topology(namespace).queue("notify").name)]
    [rescheduled] = [e for e in to_notify if e["type"] == "visit.rescheduled"]
    assert rescheduled["data"]["officer"] == {"staff_id": "tk-08", "name": "Trần Thị Hoa", "phone": "0500111222"}
    assert rescheduled["data"]["reason"] == "officer_declined"
    assert rescheduled["data"]["request_code"] == code
