"""A staff member's answer to an assignment, as typed on a phone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gandan.notify.replies import NOT_UNDERSTOOD, Reply, parse_reply
from gandan.shared.events import StaffAnswer

VISIT_DAY = date(2026, 11, 30)


@pytest.mark.parametrize("text", ["OK", "ok", " Ok. ", "oke", "Đồng ý", "có"])
def test_ok_accepts(text):
    assert parse_reply(text) == Reply(StaffAnswer.ACCEPTED)


@pytest.mark.parametrize("text", ["KHÔNG", "không", "KHONG", "khong!", "k", "K", "ko"])
def test_khong_declines(text):
    assert parse_reply(text) == Reply(StaffAnswer.DECLINED)


@pytest.mark.parametrize(
    ("text", "hour", "minute", "utc_hour"),
    [
        ("DOI 14:00", 14, 0, 7),
        ("ĐỔI 14:00", 14, 0, 7),
        ("đổi 9:30", 9, 30, 2),
        ("DOI 14h", 14, 0, 7),
        ("doi 14h30", 14, 30, 7),
        ("DOI  8", 8, 0, 1),
    ],
)
def test_doi_asks_for_another_time_on_the_visits_day(text, hour, minute, utc_hour):
    reply = parse_reply(text)

    assert reply == Reply(StaffAnswer.OTHER_TIME, hour, minute)
    # In Vietnam's time (UTC+7), on the day of the visit.
    assert reply.proposed_at(VISIT_DAY) == datetime(2026, 11, 30, utc_hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "visit_day", "proposed"),
    [
        ("DOI 14:00 1/12", VISIT_DAY, datetime(2026, 12, 1, 7, 0, tzinfo=UTC)),
        ("ĐỔI 14h 01/12/2026", VISIT_DAY, datetime(2026, 12, 1, 7, 0, tzinfo=UTC)),
        ("doi 8:15 ngay 2/12", VISIT_DAY, datetime(2026, 12, 2, 1, 15, tzinfo=UTC)),
        # Around the new year, the day nearest the visit's: next January, not last.
        ("DOI 9:00 2/1", date(2026, 12, 30), datetime(2027, 1, 2, 2, 0, tzinfo=UTC)),
    ],
)
def test_doi_with_a_day_asks_for_that_day(text, visit_day, proposed):
    assert parse_reply(text).proposed_at(visit_day) == proposed


def test_only_doi_carries_a_time():
    assert parse_reply("OK").proposed_at(VISIT_DAY) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "vâng em sẽ đến",
        "OK nhưng muộn",
        "DOI",
        "DOI 25:00",
        "DOI 14:75",
        "DOI 14:00 31/4",
        "DOI chiều",
        "14:00",
    ],
)
def test_anything_else_is_not_understood(text):
    assert parse_reply(text) == NOT_UNDERSTOOD
    assert parse_reply(text).answer is None
