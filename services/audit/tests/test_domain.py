"""What audit keeps of an event: phone numbers masked, home addresses left out, the rest as published."""

from __future__ import annotations

import json

from gandan.audit.domain import minimised


def test_a_phone_is_masked_to_the_operator_prefix_and_last_three_digits():
    assert minimised({"phone": "0912345678"}) == {"phone": "091****678"}


def test_keys_ending_in_phone_are_masked_too():
    kept = minimised({"leader_phone": "0978333444", "officer_phone": "0983.111.222"})

    assert kept == {"leader_phone": "097****444", "officer_phone": "098****222"}


def test_phones_are_masked_at_any_depth_in_dicts_and_lists():
    data = {
        "request_code": "GD-AB12CD3",
        "officer": {"staff_id": "tk-03", "name": "Lê Văn Giang", "phone": "0983111222"},
        "leader": {"name": "Đông Đức Hợp", "roles": ["to_truong"], "phone": "0978333444"},
        "team": [
            {"name": "A", "phone": "0900000001"},
            [{"contact": {"backup_phone": "0900000002"}}],
        ],
    }

    kept = minimised(data)

    assert kept == {
        "request_code": "GD-AB12CD3",
        "officer": {"staff_id": "tk-03", "name": "Lê Văn Giang", "phone": "098****222"},
        "leader": {"name": "Đông Đức Hợp", "roles": ["to_truong"], "phone": "097****444"},
        "team": [
            {"name": "A", "phone": "090****001"},
            [{"contact": {"backup_phone": "090****002"}}],
        ],
    }


def test_the_home_address_is_not_kept_at_any_depth():
    data = {
        "name": "Nguyễn Thị Lan",
        "address": "Số 12 ngõ 3, Thanh Xá",
        "visits": [{"place": {"address": "Số 40 Trần Phú"}}],
    }

    kept = minimised(data)

    written = json.dumps(kept, ensure_ascii=False)
    assert "Số 12 ngõ 3" not in written
    assert "Số 40 Trần Phú" not in written
    assert kept["name"] == "Nguyễn Thị Lan"


def test_other_values_are_kept_as_published():
    data = {
        "request_code": "GD-AB12CD3",
        "citizen_ref": "cit-7f3a",
        "residential_group": "Thanh Xá",
        "preferred_date": "2026-06-01",
        "attempts": 3,
        "permanent": False,
        "causation": None,
        "roles": ["bi_thu_chi_bo", "to_truong"],
        "nested": {"provider_message_id": "sandbox-1", "count": [1, 2, 3]},
        "telephone_note": "gọi buổi sáng",
    }

    assert minimised(data) == data


def test_the_original_is_not_changed():
    data = {"phone": "0912345678", "address": "Số 12", "officer": {"phone": "0983111222"}}

    minimised(data)

    assert data == {"phone": "0912345678", "address": "Số 12", "officer": {"phone": "0983111222"}}


def test_a_phone_typed_into_any_text_is_masked():
    data = {
        "name": "Nguyễn Thị Lan 0912 345 678",
        "procedure": "Chứng thực, gọi con gái +84 983 123 456 trước",
        "notes": ["nhà (0225) 3123 456"],
        "request_code": "GD-AB12CD3",
        "preferred_date": "2026-06-03",
    }

    kept = minimised(data)

    assert kept == {
        "name": "Nguyễn Thị Lan 091****678",
        "procedure": "Chứng thực, gọi con gái 849*****456 trước",
        "notes": ["nhà (022*****456"],
        "request_code": "GD-AB12CD3",
        "preferred_date": "2026-06-03",
    }


def test_minimising_what_was_minimised_changes_nothing():
    once = minimised({"phone": "0912345678", "name": "Lan 0912345678", "address": "Số 12 ngõ 3"})
    assert minimised(once) == once
