"""Fit the medium: SMS segments for every template, accent-folding, Zalo's limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gandan.notify.domain import Contact, visit_messages
from gandan.notify.templates import TEMPLATES, ZNS_MAX_CHARS, Encoding, fold_accents, sms_size
from gandan.shared.events import LeaderContact, StaffContact
from gandan.testing.factories import contact_registered, visit_scheduled

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


def test_every_template_is_sent_by_some_message():
    assert {d.template.key for d in drafts(TYPICAL)} == {t.key for t in TEMPLATES.values()}


@pytest.mark.parametrize("unaccented", [False, True])
def test_with_typical_values_every_sms_fits_in_two_segments(unaccented):
    for draft in drafts(TYPICAL):
        size = sms_size(draft.template.sms_text(draft.values, unaccented=unaccented))
        assert size.encoding is (Encoding.GSM7 if unaccented else Encoding.UCS2)
        assert size.segments <= 2, (draft.template.key, size)


def test_with_the_longest_values_sms_is_cut_to_a_known_size_and_zns_stays_within_zalos_limits():
    for draft in drafts(LONGEST):
        accented = sms_size(draft.template.sms_text(draft.values, unaccented=False))
        unaccented = sms_size(draft.template.sms_text(draft.values, unaccented=True))
        assert accented.segments <= 4, (draft.template.key, accented)
        assert unaccented.segments <= 2, (draft.template.key, unaccented)
        data = draft.template.zns_data(draft.values)
        assert all(len(data[name]) <= limit for name, limit in draft.template.zns_limits.items())
        assert len(draft.template.zns_text(draft.values)) < ZNS_MAX_CHARS, draft.template.key


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


def test_the_unaccented_form_of_every_template_is_pure_gsm7_with_typical_values():
    for draft in drafts(TYPICAL):
        assert sms_size(draft.template.sms_text(draft.values, unaccented=True)).encoding is Encoding.GSM7


def test_a_contact_factory_still_gives_the_typical_values():
    # The typical values above are the ones every other test uses.
    c = contact_registered()
    assert (c.name, c.address) == (TYPICAL[0].name, TYPICAL[0].address)
