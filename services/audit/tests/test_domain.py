"""What audit keeps of an event: personal data as its contract marks it, the rest as published."""

from __future__ import annotations

import json
from typing import Any

from gandan.audit.domain import minimised
from gandan.shared.events import (
    ContactRegistered,
    Contract,
    HomeAddress,
    NotificationFailed,
    PhoneNumber,
    ProcedureKind,
    ResultHandover,
    ResultReady,
    SurveyAnswered,
    SurveyRating,
    VisitScheduled,
)
from gandan.testing.factories import ADDRESS, contact_registered, notification_failed, visit_scheduled

LEFT_OUT = "[không lưu]"


def wire(data: Contract) -> dict[str, Any]:
    return json.loads(data.model_dump_json())


def test_a_contact_keeps_the_name_masks_the_phone_and_leaves_the_address_out():
    kept = minimised(ContactRegistered, wire(contact_registered()))

    assert kept == {
        "request_code": "GD-AB12CD3",
        "citizen_ref": "cit-7f3a",
        "name": "Nguyễn Thị Lan",
        "phone": "091****678",
        "address": LEFT_OUT,
        "residential_group": "Thanh Xá",
    }


def test_the_phones_of_the_officer_and_the_leader_are_masked_inside_the_visit():
    data = wire(visit_scheduled())

    kept = minimised(VisitScheduled, data)

    assert kept["officer"] == {"staff_id": "tk-03", "name": "Lê Văn Giang", "phone": "098****222"}
    assert kept["leader"] == {"name": "Đông Đức Hợp", "roles": ["to_truong"], "phone": "097****444"}
    assert {k: v for k, v in kept.items() if k not in ("officer", "leader")} == {
        k: v for k, v in data.items() if k not in ("officer", "leader")
    }


class Pickup(Contract):
    """Not an event: a shape whose field names say nothing of what the marks say."""

    courier: PhoneNumber
    drop_point: HomeAddress
    address: str  # the public address of the centre: no mark


def test_the_mark_decides_not_the_field_name():
    data = {"courier": "0912/345/678", "drop_point": ADDRESS, "address": "Số 1 Trần Phú, Thạch Khôi"}

    assert minimised(Pickup, data) == {
        # Written in a way the rule for free text does not recognise: the mark masks it anyway.
        "courier": "091****678",
        "drop_point": LEFT_OUT,
        "address": "Số 1 Trần Phú, Thạch Khôi",
    }


def test_a_phone_typed_into_any_text_is_masked():
    contact = contact_registered().model_copy(update={"name": "Nguyễn Thị Lan 0912 345 678"})
    visit = visit_scheduled().model_copy(update={"procedure": "Chứng thực, gọi con gái +84 983 123 456 trước"})

    assert minimised(ContactRegistered, wire(contact))["name"] == "Nguyễn Thị Lan 091****678"
    assert minimised(VisitScheduled, wire(visit))["procedure"] == "Chứng thực, gọi con gái 849*****456 trước"
    assert (
        minimised(NotificationFailed, wire(notification_failed(reason="nhà (0225) 3123 456")))["reason"]
        == "nhà (022*****456"
    )


def test_what_no_contract_describes_is_left_out():
    data = wire(contact_registered()) | {"cccd": "001234567890"}

    assert minimised(ContactRegistered, data)["cccd"] == LEFT_OUT
    assert minimised(None, {"request_code": "GD-AB12CD3", "phone": "0912345678"}) == {
        "request_code": LEFT_OUT,
        "phone": LEFT_OUT,
    }


def test_an_event_without_personal_data_is_kept_as_published():
    data = wire(notification_failed())

    assert minimised(NotificationFailed, data) == data


def test_the_original_is_not_changed():
    data = wire(visit_scheduled())
    before = json.loads(json.dumps(data))

    minimised(VisitScheduled, data)

    assert data == before


def test_minimising_what_was_minimised_changes_nothing():
    contact = contact_registered().model_copy(update={"name": "Lan 0912345678"})
    for contract, data in ((ContactRegistered, wire(contact)), (VisitScheduled, wire(visit_scheduled()))):
        once = minimised(contract, data)
        assert minimised(contract, once) == once


def test_a_survey_answer_is_kept_with_any_phone_typed_into_its_comment_masked():
    answer = SurveyAnswered(
        request_code="GD-AB12CD3",
        citizen_ref="cit-7f3a",
        rating=SurveyRating.KHONG_HAI_LONG,
        comment="Gọi lại cho tôi số 0912 345 678",
        replaces=True,
    )

    kept = minimised(SurveyAnswered, wire(answer))

    assert kept == wire(answer) | {"comment": "Gọi lại cho tôi số 091****678"}


def test_a_result_update_is_kept_as_published():
    ready = ResultReady(
        request_code="GD-AB12CD3",
        citizen_ref="cit-7f3a",
        status="result_ready",
        procedure_kind=ProcedureKind.DEATH_REGISTRATION,
        handover=ResultHandover.AT_HOME,
        tracking_number=None,
    )

    assert minimised(ResultReady, wire(ready)) == wire(ready)
