"""The letters of a request's progress, to its citizen: which letter each change calls for, and what it says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from gandan.notify.domain import (
    ANY_DOCUMENTS,
    DOCUMENTS_TO_BRING,
    THE_CENTRE,
    BookedVisit,
    Contact,
    Policy,
    Preferences,
    progress_letters,
    visit_messages,
    when_between,
    when_between_short,
)
from gandan.notify.templates import sms_size
from gandan.shared.events import (
    AppointmentAgreed,
    ProcedureKind,
    RecipientRole,
    RequestClosed,
    RequestOverdue,
    ResultDelivered,
    ResultHandover,
    ResultReady,
)
from gandan.testing.factories import CITIZEN_PHONE, OFFICER, WARD, contact_registered, visit_scheduled

THACH_KHOI = (WARD, "Phường Thạch Khôi")
# 07:30–11:30 and 13:30–17:00 on Monday 30/11/2026 in Vietnam: the half-days dispatch proposes.
MORNING = (datetime(2026, 11, 30, 0, 30, tzinfo=UTC), datetime(2026, 11, 30, 4, 30, tzinfo=UTC))
AFTERNOON = (datetime(2026, 11, 30, 6, 30, tzinfo=UTC), datetime(2026, 11, 30, 10, 0, tzinfo=UTC))
AN_HOUR = (datetime(2026, 11, 30, 1, 0, tzinfo=UTC), datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
ABOUT = {"request_code": "GD-AB12CD3", "citizen_ref": "cit-7f3a"}


@pytest.fixture
def contact() -> Contact:
    c = contact_registered()
    return Contact(c.request_code, c.name, c.phone, c.address, c.residential_group)


def sms_of(draft, *, unaccented=False):
    return draft.template.sms_text(draft.values, unaccented=unaccented)


def zns_of(draft):
    return draft.template.zns_text(draft.values)


def the_letter(event, contact, *, visit=None, policy=None):
    [letter] = progress_letters(event, contact, THACH_KHOI, visit, policy or Policy())
    assert (letter.recipient_role, letter.recipient_name, letter.phone) == (
        RecipientRole.CITIZEN,
        "Nguyễn Thị Lan",
        CITIZEN_PHONE,
    )
    assert "$" not in sms_of(letter) + zns_of(letter)
    assert "GD-AB12CD3" in sms_of(letter) + zns_of(letter)
    return letter


# --- a half-day, or an hour -------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "long", "short"),
    [
        (MORNING, "sáng thứ Hai, 30/11/2026 (7:30–11:30)", "sáng 30/11"),
        (AFTERNOON, "chiều thứ Hai, 30/11/2026 (13:30–17:00)", "chiều 30/11"),
        (AN_HOUR, "08:00 thứ Hai, 30/11/2026", "08:00 T2 30/11"),
        ((MORNING[0], AFTERNOON[1]), "thứ Hai, 30/11/2026 (7:30–17:00)", "30/11"),
    ],
)
def test_a_half_day_is_told_as_a_window_and_an_hour_as_its_hour(span, long, short):
    assert (when_between(*span), when_between_short(*span)) == (long, short)


def test_a_visit_proposed_for_a_morning_tells_everyone_the_morning(contact):
    visit = visit_scheduled(starts_at=MORNING[0], ends_at=MORNING[1])

    citizen, officer, leader = visit_messages(visit, contact, "Phường Thạch Khôi")

    assert sms_of(citizen).startswith("P.Thạch Khôi hẹn đến nhà ông/bà Nguyễn Thị Lan vào sáng 30/11 hỗ trợ")
    assert "vào sáng thứ Hai, 30/11/2026 (7:30–11:30) để hỗ trợ" in zns_of(citizen)
    assert sms_of(officer).startswith("Lịch sáng 30/11: ")
    assert sms_of(leader).startswith("Lịch sáng 30/11: ")
    assert "vào sáng thứ Hai, 30/11/2026 (7:30–11:30)" in zns_of(officer)


# --- appointment.agreed -------------------------------------------------------------------


def agreed(span=AN_HOUR):
    return AppointmentAgreed(**ABOUT, status="appointment_agreed", starts_at=span[0], ends_at=span[1])


def test_an_agreed_appointment_says_when_what_to_bring_and_the_officers_phone_to_move_it(contact):
    visit = BookedVisit(OFFICER.phone, "Đăng ký khai tử")

    letter = the_letter(agreed(MORNING), contact, visit=visit, policy=Policy(centre_phones={WARD: "0906174681"}))

    assert letter.template.key == "appointment_agreed_citizen.v1"
    assert sms_of(letter) == (
        "P.Thạch Khôi hẹn sáng 30/11 tại nhà. Xin chuẩn bị: CCCD, giấy báo tử. "
        "Đổi lịch liên hệ 0983111222. Mã GD-AB12CD3"
    )
    assert zns_of(letter) == (
        "Kính gửi ông/bà Nguyễn Thị Lan: Trung tâm Phục vụ hành chính công phường Thạch Khôi xác nhận lịch hẹn "
        "đến nhà ông/bà vào sáng thứ Hai, 30/11/2026 (7:30–11:30) (mã yêu cầu GD-AB12CD3). Xin ông/bà chuẩn bị "
        "sẵn: CCCD, giấy báo tử. Nếu cần đổi lịch, xin ông/bà liên hệ 0983111222."
    )
    # What it carried, and nothing more: no address, no phone of the citizen.
    assert letter.values == {
        "citizen_name": "Nguyễn Thị Lan",
        "centre": "Trung tâm Phục vụ hành chính công phường Thạch Khôi",
        "ward": "P.Thạch Khôi",
        "request_code": "GD-AB12CD3",
        "when": "sáng thứ Hai, 30/11/2026 (7:30–11:30)",
        "when_short": "sáng 30/11",
        "documents": "CCCD, giấy báo tử",
        "hotline": "0983111222",
    }


def test_before_any_visit_was_booked_the_centres_number_and_the_generic_documents_are_given(contact):
    with_number = the_letter(agreed(), contact, policy=Policy(centre_phones={WARD: "0906174681"}))
    without = the_letter(agreed(), contact)

    assert (with_number.values["hotline"], with_number.values["documents"]) == ("0906174681", ANY_DOCUMENTS)
    assert without.values["hotline"] == THE_CENTRE
    assert "Đổi lịch liên hệ Trung tâm PVHCC." in sms_of(without)


@pytest.mark.parametrize(
    ("procedure", "documents"),
    [
        ("Đăng ký khai sinh", "CCCD, giấy chứng sinh"),
        ("đăng ký khai tử ", "CCCD, giấy báo tử"),
        ("Chứng thực bản sao từ bản chính", "CCCD, bản chính cần chứng thực"),
        ("Cấp bản sao trích lục khai sinh", ANY_DOCUMENTS),
        (None, ANY_DOCUMENTS),
    ],
)
def test_what_to_bring_is_the_procedures_own_list_or_the_generic_one(contact, procedure, documents):
    letter = the_letter(agreed(), contact, visit=BookedVisit(OFFICER.phone, procedure))

    assert letter.values["documents"] == documents


# --- result.ready, result.delivered, request.overdue, request.closed ---------------------


@pytest.mark.parametrize(
    ("handover", "template", "says"),
    [
        (ResultHandover.PORTAL, "result_ready_portal", "trên Cổng Dịch vụ công"),
        (ResultHandover.POST, "result_ready_post", "qua bưu điện đến ông/bà, mã bưu gửi EB123456789VN"),
        (ResultHandover.AT_CENTRE, "result_ready_centre", "tại Trung tâm. Người đến nhận xin mang theo CCCD"),
        (ResultHandover.AT_HOME, "result_ready_home", "cán bộ sẽ mang đến nhà ông/bà"),
    ],
)
def test_a_ready_result_is_announced_in_the_words_of_its_handover(contact, handover, template, says):
    tracking = "EB123456789VN" if handover is ResultHandover.POST else None
    event = ResultReady(
        **ABOUT,
        status="result_ready",
        procedure_kind=ProcedureKind.LAND,
        handover=handover,
        tracking_number=tracking,
    )

    letter = the_letter(event, contact)

    assert letter.template.key == f"{template}.v1"
    assert says in sms_of(letter)
    assert ("EB123456789VN" in zns_of(letter)) is (handover is ResultHandover.POST)


@pytest.mark.parametrize(
    ("kind", "template", "says"),
    [
        (ProcedureKind.BIRTH_REGISTRATION, "result_delivered_birth", "chúc mừng gia đình ông/bà Nguyễn Thị Lan"),
        (ProcedureKind.MARRIAGE_REGISTRATION, "result_delivered_marriage", "chúc mừng ông/bà Nguyễn Thị Lan"),
        (ProcedureKind.DEATH_REGISTRATION, "result_delivered_death", "thành kính chia buồn cùng ông/bà"),
    ],
)
def test_a_birth_or_a_marriage_is_congratulated_and_a_death_condoled(contact, kind, template, says):
    event = ResultDelivered(**ABOUT, status="delivered", procedure_kind=kind)

    letter = the_letter(event, contact)

    assert letter.template.key == f"{template}.v1"
    assert says in sms_of(letter)
    # A greeting is not essential: a citizen who opted out of the rest does not get it.
    opted_out = replace(contact, preferences=Preferences(non_essential=False))
    assert progress_letters(event, opted_out, THACH_KHOI, None, Policy()) == ()


@pytest.mark.parametrize("kind", [ProcedureKind.CERTIFICATION, ProcedureKind.LAND, ProcedureKind.OTHER])
def test_other_delivered_results_call_for_no_letter(contact, kind):
    event = ResultDelivered(**ABOUT, status="delivered", procedure_kind=kind)

    assert progress_letters(event, contact, THACH_KHOI, None, Policy()) == ()


def test_an_overdue_dossier_gets_an_apology_with_its_new_date_even_for_who_opted_out(contact):
    event = RequestOverdue(
        **ABOUT, status="overdue", procedure_kind=ProcedureKind.LAND, new_due_date=date(2026, 12, 20)
    )
    opted_out = replace(contact, preferences=Preferences(non_essential=False))

    letter = the_letter(event, opted_out)

    assert letter.template.key == "request_overdue_apology.v1"
    assert sms_of(letter) == (
        "P.Thạch Khôi xin lỗi ông/bà: hồ sơ GD-AB12CD3 chưa giải quyết kịp hạn, hẹn trả kết quả ngày 20/12/2026. "
        "Mong ông/bà thông cảm."
    )
    assert "chân thành xin lỗi" in zns_of(letter)
    assert "hẹn trả kết quả vào ngày 20/12/2026" in zns_of(letter)


def test_a_closed_request_invites_the_citizen_to_the_survey_with_its_code_and_their_phone(contact):
    event = RequestClosed(**ABOUT, status="closed", procedure_kind=ProcedureKind.OTHER)
    policy = Policy(survey_url="https://thachkhoi.gov.vn/khao-sat")
    opted_out = replace(contact, preferences=Preferences(non_essential=False))

    letter = the_letter(event, contact, policy=policy)

    assert letter.template.key == "request_closed_survey.v1"
    assert sms_of(letter) == (
        "P.Thạch Khôi mời ông/bà đánh giá sự hài lòng tại https://thachkhoi.gov.vn/khao-sat "
        "với mã GD-AB12CD3 và số điện thoại này."
    )
    assert progress_letters(event, opted_out, THACH_KHOI, None, policy) == ()
    # With nowhere to answer, nobody is asked.
    assert progress_letters(event, contact, THACH_KHOI, None, Policy()) == ()


def test_every_letters_sms_fits_in_two_parts_with_every_list_of_documents(contact):
    for procedure in (*DOCUMENTS_TO_BRING, None):
        letter = the_letter(agreed(), contact, visit=BookedVisit(OFFICER.phone, procedure))
        for unaccented in (False, True):
            assert sms_size(sms_of(letter, unaccented=unaccented)).segments <= 2, sms_of(letter)
