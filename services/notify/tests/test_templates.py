"""Fit the medium: SMS segments for every template, accent-folding, Zalo's limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gandan.notify.domain import (
    ANY_DOCUMENTS,
    Contact,
    centre_of,
    visit_messages,
    ward_short,
    when_between,
    when_between_short,
    when_short,
)
from gandan.notify.templates import TEMPLATES, ZNS_MAX_CHARS, Encoding, Template, fold_accents, sms_size
from gandan.shared.events import LeaderContact, StaffContact
from gandan.testing.factories import contact_registered, visit_scheduled

from .test_planned_day_letters import typical_drafts as planned_day_drafts

# The typical value of every parameter a template may have: realistic ones, as the forms and the
# rosters give them (the form's own example of an address and a procedure), and the longer of the two
# ways a time is told in an SMS. A template with a parameter not here fails the tests below: add it.
MORNING = (datetime(2026, 11, 30, 0, 30, tzinfo=UTC), datetime(2026, 11, 30, 4, 30, tzinfo=UTC))
TYPICAL_VALUES = {
    "ward": ward_short("Phường Thạch Khôi"),
    "centre": centre_of("Phường Thạch Khôi"),
    "citizen_name": "Nguyễn Thị Lan",
    "citizen_phone": "0912345678",
    "address": "Số 12 ngõ 3, tổ dân phố Thanh Xá",
    "procedure": "Cấp bản sao trích lục khai sinh",
    "when": when_between(*MORNING),
    "when_short": max(when_between_short(*MORNING), when_short(MORNING[0]), key=len),
    "officer_name": "Lê Văn Giang",
    "officer_phone": "0983111222",
    "leader_name": "Đông Đức Hợp",
    "leader_phone": "0978333444",
    "request_code": "GD-AB12CD3",
    "documents": ANY_DOCUMENTS,
    "hotline": "0983111222",
    "tracking_number": "EB123456789VN",
    "new_due_date": "20/12/2026",
    "survey_url": "https://dichvucong.thachkhoi.gov.vn/khao-sat",
    # dispatch's planned day: a day of five stops, a digest of a usual morning
    "day": "30/11",
    "day_long": "thứ Hai, 30/11/2026",
    "window": "10:40-11:20",
    "changed": " (đã đổi)",
    "stops": "5 nhà: 1) 8:10-8:50 GD-AB12C00 (Thanh Xá); 2) 9:00-9:40 GD-AB12C01 (Quán Bồ); "
    "3) 9:50-10:30 GD-AB12C02 (Vĩnh Lộc); 4) 10:40-11:20 GD-AB12C03 (An Trì); 5) 11:30-12:10 GD-AB12C04 (Đông Thái)",
    "stops_short": "5 nhà: 8:10 GD-AB12C00 Thanh Xá; 9:00 GD-AB12C01 Quán Bồ; +3 nhà",
    "detail": "Không có cán bộ lĩnh vực đất đai trong tuần",
    "detail_short": "Không có cán bộ lĩnh vực đất đai trong tuần",
    "rule": "gọi hẹn trong 1 ngày làm việc",
    "due": when_between(*MORNING),
    "due_short": when_short(MORNING[0]),
    "routes": "4",
    "visits": "17",
    "unassigned_count": "2",
    "unassigned": "GD-AB12C01, GD-AB12C02",
    "late_count": "1",
    "late": "GD-AB12C03",
    "codes_short": "Chưa xếp: GD-AB12C01, GD-AB12C02; Trễ: GD-AB12C03",
}
ALL_TEMPLATES = [pytest.param(t, id=t.key) for t in TEMPLATES.values()]


def parameters(template: Template) -> set[str]:
    pattern = template.sms.pattern
    used = {m.group("named") or m.group("braced") for m in pattern.finditer(template.sms.template)}
    return used | {m.group("named") or m.group("braced") for m in pattern.finditer(template.zns.template)}


@pytest.mark.parametrize("template", ALL_TEMPLATES)
def test_every_parameter_of_every_template_has_a_typical_value(template):
    assert parameters(template) - set(TYPICAL_VALUES) == set()


@pytest.mark.parametrize("unaccented", [False, True])
@pytest.mark.parametrize("template", ALL_TEMPLATES)
def test_with_typical_values_every_templates_sms_fits_in_two_segments(template, unaccented):
    size = sms_size(template.sms_text(TYPICAL_VALUES, unaccented=unaccented))

    assert size.encoding is (Encoding.GSM7 if unaccented else Encoding.UCS2)
    assert size.segments <= 2, size


@pytest.mark.parametrize("template", ALL_TEMPLATES)
def test_with_the_longest_values_every_templates_zns_stays_within_zalos_limits(template):
    # Longer than any limit: each is cut to its parameter's limit, as Zalo's would be refused.
    longest = {name: "Ễ" * 1000 for name in parameters(template)}

    data = template.zns_data(longest)

    assert all(len(data[name]) == limit for name, limit in template.zns_limits.items())
    assert len(template.zns_text(longest)) <= ZNS_MAX_CHARS
    # Every parameter of the ZNS form has a limit, so none can make it longer.
    zns = template.zns.pattern
    assert {m.group("named") or m.group("braced") for m in zns.finditer(template.zns.template)} <= set(
        template.zns_limits
    )


TYPICAL = (
    Contact("GD-AB12CD3", "Nguyễn Thị Lan", "0912345678", "Số 12 ngõ 3, Thanh Xá", "Thanh Xá"),
    visit_scheduled(),
    "Phường Thạch Khôi",
)
# The longest values the forms and rosters allow: a name of 100, an address and a procedure of 200;
# a Sunday, the longest weekday; the longest ward name of Hải Phòng's list is shorter than this one.
LONG_NAME = "Nguyễn Thị Phương Thảo Hoàng Ngọc Bảo Châu Trần Lê Minh Khuê " * 2
LONGEST = (
    Contact(
        "GD-ZZZZZZZ", LONG_NAME[:100], "0912345678", "Số 1234 ngách 56/78 ngõ 910 đường Nguyễn Bỉnh Khiêm " * 4, "x"
    ),
    visit_scheduled(
        starts_at=datetime(2026, 11, 29, 10, 0, tzinfo=UTC),
        procedure="Đăng ký kết hôn có yếu tố nước ngoài và ghi chú ly hôn đã được giải quyết ở nước ngoài " * 3,
        officer=StaffContact(staff_id="x", name=LONG_NAME[:100], phone="0983111222"),
        leader=LeaderContact(name=LONG_NAME[:100], roles=("to_truong",), phone="0978333444"),
    ),
    "Phường Nguyễn Bỉnh Khiêm Dương Kinh Kiến Thụy",
)


def drafts(values):
    contact, visit, ward = values
    return visit_messages(visit, contact, ward)


def test_the_visits_messages_fill_their_templates_with_values_of_the_typical_kind():
    for draft in drafts(TYPICAL):
        assert set(draft.values) <= set(TYPICAL_VALUES), draft.template.key


def test_the_planned_days_messages_fill_their_templates_with_values_of_the_typical_kind():
    for draft in planned_day_drafts():
        assert set(draft.values) <= set(TYPICAL_VALUES), draft.template.key


def test_with_the_longest_values_a_visits_sms_is_cut_to_a_known_size():
    for draft in drafts(LONGEST):
        accented = sms_size(draft.template.sms_text(draft.values, unaccented=False))
        unaccented = sms_size(draft.template.sms_text(draft.values, unaccented=True))
        assert accented.segments <= 4, (draft.template.key, accented)
        assert unaccented.segments <= 2, (draft.template.key, unaccented)


@pytest.mark.parametrize(
    ("text", "encoding", "length", "segments"),
    [
        ("a" * 160, Encoding.GSM7, 160, 1),
        ("a" * 161, Encoding.GSM7, 161, 2),
        ("a" * 306, Encoding.GSM7, 306, 2),
        ("a" * 307, Encoding.GSM7, 307, 3),
        ("[" * 80, Encoding.GSM7, 160, 1),  # an extension character takes two places
        ("[" * 81, Encoding.GSM7, 162, 2),
        ("ă" * 70, Encoding.UCS2, 70, 1),
        ("ă" * 71, Encoding.UCS2, 71, 2),
        ("a" * 133 + "ơ", Encoding.UCS2, 134, 2),
        ("a" * 134 + "ơ", Encoding.UCS2, 135, 3),
        ("Hẹn 8:00", Encoding.UCS2, 8, 1),
    ],
)
def test_segments_are_counted_as_the_networks_do(text, encoding, length, segments):
    size = sms_size(text)
    assert (size.encoding, size.length, size.segments) == (encoding, length, segments)


@pytest.mark.parametrize(
    ("accented", "folded"),
    [
        ("Đông Đức Hợp", "Dong Duc Hop"),
        ("đường Nguyễn Bỉnh Khiêm", "duong Nguyen Binh Khiem"),
        ("Phường Thạch Khôi, thứ Hai", "Phuong Thach Khoi, thu Hai"),
        ("ĂÂÊÔƠƯ ăâêôơư àảãáạ ỳỷỹýỵ", "AAEOOU aaeoou aaaaa yyyyy"),
    ],
)
def test_accents_fold_to_plain_letters_and_d_bar_to_d(accented, folded):
    assert fold_accents(accented) == folded
    assert sms_size(folded).encoding is Encoding.GSM7


def test_a_contact_factory_still_gives_the_typical_values():
    # The typical values above are the ones every other test uses.
    c = contact_registered()
    assert (c.name, c.address) == (TYPICAL[0].name, TYPICAL[0].address)
