"""What notify says, to whom: the rendered Vietnamese messages of a home visit."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gandan.notify.domain import Contact, Preferences, centre_of, for_citizen, visit_messages, when
from gandan.shared.events import DeliveryChannel, RecipientRole
from gandan.testing.factories import ADDRESS, CITIZEN_PHONE, LEADER, OFFICER, contact_registered, visit_scheduled

OFFICER_PHONE, LEADER_PHONE = OFFICER.phone, LEADER.phone
PHONE_LIKE = re.compile(r"\d{9,}")


@pytest.fixture
def contact() -> Contact:
    c = contact_registered()
    return Contact(c.request_code, c.name, c.phone, c.address, c.residential_group)


def by_role(messages):
    return {m.recipient_role: m for m in messages}


def test_three_messages_one_for_each_person_of_the_visit(contact):
    messages = visit_messages(visit_scheduled(), contact, "Phường Thạch Khôi")

    assert [(m.recipient_role, m.recipient_name, m.phone, m.template.key) for m in messages] == [
        (RecipientRole.CITIZEN, "Nguyễn Thị Lan", CITIZEN_PHONE, "visit_appointment_citizen.v3"),
        (RecipientRole.OFFICER, "Lê Văn Giang", OFFICER_PHONE, "visit_assignment_officer.v3"),
        (RecipientRole.GROUP_LEADER, "Đông Đức Hợp", LEADER_PHONE, "visit_assignment_leader.v3"),
    ]
    for message in messages:
        sms = sms_of(message)
        assert "$" not in sms  # every placeholder filled
        assert "GD-AB12CD3" in sms
        assert "08:00 T2 30/11" in sms  # 01:00 UTC is 08:00 in Vietnam
        zns = message.template.zns_text(message.values)
        assert "$" not in zns
        assert "Đăng ký khai tử" in zns  # and in the SMS of the citizen and the officer
        assert "08:00 thứ Hai, 30/11/2026" in zns
        assert "Mã yêu cầu: GD-AB12CD3." in zns


def sms_of(draft, *, unaccented=False):
    return draft.template.sms_text(draft.values, unaccented=unaccented)


def test_the_citizen_is_told_when_who_comes_and_for_what(contact):
    citizen = by_role(visit_messages(visit_scheduled(), contact, "Phường Thạch Khôi"))[RecipientRole.CITIZEN]

    assert sms_of(citizen) == (
        "P.Thạch Khôi hẹn đến nhà ông/bà Nguyễn Thị Lan vào 08:00 T2 30/11 hỗ trợ thủ tục Đăng ký khai tử. "
        "Mã GD-AB12CD3"
    )
    assert citizen.template.zns_text(citizen.values) == (
        "Kính gửi ông/bà Nguyễn Thị Lan: Trung tâm Phục vụ hành chính công phường Thạch Khôi hẹn đến nhà "
        'ông/bà vào 08:00 thứ Hai, 30/11/2026 để hỗ trợ thủ tục "Đăng ký khai tử". Cán bộ Lê Văn Giang '
        "cùng ông/bà Đông Đức Hợp sẽ đến. Mã yêu cầu: GD-AB12CD3."
    )
    # Names only: no phone number, and the citizen's own address is not repeated to them, nor recorded.
    assert not PHONE_LIKE.search(sms_of(citizen) + citizen.template.zns_text(citizen.values))
    assert ADDRESS not in str(citizen.values)
    assert CITIZEN_PHONE not in str(citizen.values)


def test_the_officer_gets_the_address_and_the_phones_of_the_citizen_and_the_leader(contact):
    officer = by_role(visit_messages(visit_scheduled(), contact, "Phường Thạch Khôi"))[RecipientRole.OFFICER]

    assert (
        sms_of(officer)
        == f"Lịch 08:00 T2 30/11: Nguyễn Thị Lan {CITIZEN_PHONE}, {ADDRESS}; Đăng ký khai tử. GD-AB12CD3"
    )
    # Who goes with them, and the leader's phone, are in the ZNS form: the SMS keeps to two parts.
    assert f"cùng ông/bà Đông Đức Hợp ({LEADER_PHONE})" in officer.template.zns_text(officer.values)
    assert OFFICER_PHONE not in sms_of(officer)


def test_the_group_leader_gets_the_address_and_the_officers_phone(contact):
    leader = by_role(visit_messages(visit_scheduled(), contact, "Phường Thạch Khôi"))[RecipientRole.GROUP_LEADER]

    assert sms_of(leader).startswith(f"Lịch 08:00 T2 30/11: cùng cán bộ Lê Văn Giang {OFFICER_PHONE} đến nhà ")
    assert f"Nguyễn Thị Lan, {ADDRESS}" in sms_of(leader)
    assert LEADER_PHONE not in sms_of(leader)
    assert CITIZEN_PHONE not in sms_of(leader)


def test_without_a_known_ward_name_the_centre_is_named_generically(contact):
    citizen = by_role(visit_messages(visit_scheduled(), contact, None))[RecipientRole.CITIZEN]

    assert "Kính gửi ông/bà Nguyễn Thị Lan: Trung tâm Phục vụ hành chính công hẹn đến nhà" in citizen.template.zns_text(
        citizen.values
    )
    assert sms_of(citizen).startswith("TT Phục vụ HCC hẹn đến nhà")


@pytest.mark.parametrize(
    ("ward_name", "centre"),
    [
        ("Phường Thạch Khôi", "Trung tâm Phục vụ hành chính công phường Thạch Khôi"),
        ("Xã Hồng Châu", "Trung tâm Phục vụ hành chính công xã Hồng Châu"),
        (None, "Trung tâm Phục vụ hành chính công"),
        ("", "Trung tâm Phục vụ hành chính công"),
    ],
)
def test_centre_of_lowercases_the_kind_of_ward_inside_a_sentence(ward_name, centre):
    assert centre_of(ward_name) == centre


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (datetime(2026, 11, 30, 1, 0, tzinfo=UTC), "08:00 thứ Hai, 30/11/2026"),
        # Late evening in UTC is already the next day, and the next weekday, in Vietnam.
        (datetime(2026, 11, 30, 17, 30, tzinfo=UTC), "00:30 thứ Ba, 01/12/2026"),
        (datetime(2026, 6, 13, 1, 0, tzinfo=UTC), "08:00 thứ Bảy, 13/06/2026"),
        (datetime(2026, 6, 14, 7, 15, tzinfo=UTC), "14:15 Chủ nhật, 14/06/2026"),
        # Whatever offset the time comes with, it is shown in Vietnam's time.
        (datetime(2026, 12, 2, 9, 0, tzinfo=timezone(timedelta(hours=9))), "07:00 thứ Tư, 02/12/2026"),
    ],
)
def test_when_is_in_vietnams_time_with_a_vietnamese_weekday(moment, shown):
    assert when(moment) == shown


def test_a_visit_late_in_the_utc_day_is_announced_for_the_local_day(contact):
    visit = visit_scheduled(starts_at=datetime(2026, 11, 30, 17, 30, tzinfo=UTC))

    for message in visit_messages(visit, contact, "Phường Thạch Khôi"):
        assert "00:30 T3 01/12" in sms_of(message)
        assert "00:30 thứ Ba, 01/12/2026" in message.template.zns_text(message.values)


def test_a_citizen_who_opted_out_gets_only_the_essential_messages_and_staff_all(contact):
    citizen, officer, _ = visit_messages(visit_scheduled(), contact, "Phường Thạch Khôi")
    survey = replace(citizen, template=replace(citizen.template, id="survey_invitation", essential=False))
    opted_out = Preferences(non_essential=False)

    assert for_citizen(survey, opted_out) is None
    assert for_citizen(survey, Preferences()) is not None
    assert for_citizen(citizen, opted_out) == citizen
    assert for_citizen(replace(officer, template=survey.template), opted_out) is not None
    # Every template of a visit is essential: an opted-out citizen still gets the appointment.
    assert len(visit_messages(visit_scheduled(), replace(contact, preferences=opted_out), None)) == 3


def test_the_citizens_preferred_channel_rides_on_their_draft_only(contact):
    chosen = replace(contact, preferences=Preferences(DeliveryChannel.SMS))

    drafts = by_role(visit_messages(visit_scheduled(), chosen, None))

    assert drafts[RecipientRole.CITIZEN].preferred is DeliveryChannel.SMS
    assert drafts[RecipientRole.OFFICER].preferred is None
