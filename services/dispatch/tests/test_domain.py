from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from gandan.dispatch.domain import (
    GroupLeader,
    NoLeaderForGroup,
    NoOfficerForField,
    NoSlotAvailable,
    Officer,
    ResidentialGroup,
    Roster,
    Slot,
    TimeWindow,
    UnknownResidentialGroup,
    WorkingCalendar,
    book_visit,
    leader_key,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = date(2026, 6, 1)  # an ordinary week: no holiday Mon 1 - Fri 5 June 2026

GIANG = Officer("tk-03", "Lê Văn Giang", "Chuyên viên", frozenset({"ho_tich"}), "0900000001")
HOA = Officer("tk-08", "Trần Thị Hoa", "Chuyên viên", frozenset({"ho_tich"}), "0900000002")
THAO = Officer("tk-06", "Đàm Văn Thao", "Chuyên viên", frozenset({"dat_dai"}), "0900000003")
HOP = GroupLeader("Đông Đức Hợp", ("bi_thu_chi_bo", "to_truong"), "0900000004")
MUA = GroupLeader("Đông Đức Mua", ("to_pho",), "0900000005")
THANH_XA = ResidentialGroup(1, "Thanh Xá", (HOP, MUA))
EMPTY = ResidentialGroup(2, "Qua Bộ", ())
ROSTER = Roster("11002", "Phường Thạch Khôi", (GIANG, HOA, THAO), (THANH_XA, EMPTY))
CALENDAR = WorkingCalendar()


def local(day: date, hour: int, minute: int = 0, hours: float = 1) -> Slot:
    start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=HCM)
    return Slot(start, start + timedelta(hours=hours))


def book(preferred_date=MONDAY, window=TimeWindow.MORNING, busy=None, field="dat_dai", **kw):
    return book_visit(
        roster=ROSTER,
        field=field,
        residential_group=kw.pop("residential_group", "Thanh Xá"),
        preferred_date=preferred_date,
        window=window,
        busy=busy or {},
        calendar=CALENDAR,
        **kw,
    )


def whole_days(first: date, days: int) -> Slot:
    start = datetime(first.year, first.month, first.day, tzinfo=HCM)
    return Slot(start, start + timedelta(days=days))


def test_first_slot_of_the_preferred_window_on_a_free_working_day():
    booking = book()
    assert booking.slot == local(MONDAY, 8)
    assert (booking.officer, booking.leader) == (THAO, HOP)


def test_afternoon_preferred_gives_14_00():
    assert book(window=TimeWindow.AFTERNOON).slot == local(MONDAY, 14)


def test_slot_is_utc_and_is_08_00_in_vietnam():
    slot = book().slot
    assert slot.starts_at.utcoffset() == timedelta(0)
    assert slot.starts_at == datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
    assert slot.starts_at.astimezone(HCM).hour == 8
    assert slot.ends_at - slot.starts_at == timedelta(minutes=60)


def test_full_morning_moves_to_the_afternoon_same_day():
    busy = {"tk-06": [local(MONDAY, 8, hours=3)]}
    assert book(busy=busy).slot == local(MONDAY, 14)


def test_full_afternoon_moves_to_the_morning_same_day():
    busy = {"tk-06": [local(MONDAY, 14, hours=3)]}
    assert book(window=TimeWindow.AFTERNOON, busy=busy).slot == local(MONDAY, 8)


def test_full_day_moves_to_the_next_working_day_preferred_window_first():
    busy = {"tk-06": [local(MONDAY, 8, hours=3), local(MONDAY, 14, hours=3)]}
    booking = book(window=TimeWindow.AFTERNOON, busy=busy)
    assert booking.slot == local(MONDAY + timedelta(days=1), 14)


@pytest.mark.parametrize("weekend_day", [date(2026, 6, 6), date(2026, 6, 7)])
def test_weekend_preferred_gives_monday(weekend_day):
    assert book(preferred_date=weekend_day).slot == local(date(2026, 6, 8), 8)


def test_national_day_and_the_substitute_day_off_are_skipped():
    vn = holidays.country_holidays("VN", years=2026)
    days_off = [date(2026, 8, 31), date(2026, 9, 1), date(2026, 9, 2)]
    assert all(d in vn and d.weekday() < 5 for d in days_off)
    assert not any(CALENDAR.is_working_day(d) for d in days_off)

    assert book(preferred_date=date(2026, 8, 31)).slot == local(date(2026, 9, 3), 8)


def test_tet_2027_is_skipped():
    vn = holidays.country_holidays("VN", years=2027)
    day = date(2027, 2, 4)
    while day in vn or day.weekday() >= 5:
        day += timedelta(days=1)
    assert day > date(2027, 2, 8)  # the library does list a multi-day Tết break
    assert book(preferred_date=date(2027, 2, 4)).slot == local(day, 8)


def test_busy_officer_is_replaced_by_a_second_officer_of_the_same_field():
    busy = {"tk-03": [local(MONDAY, 8)]}
    booking = book(field="ho_tich", busy=busy)
    assert booking.officer == HOA
    assert booking.slot == local(MONDAY, 8)


def test_when_both_officers_are_free_roster_order_wins():
    assert book(field="ho_tich").officer == GIANG


def test_busy_leader_is_replaced_by_another_leader_of_the_group():
    busy = {leader_key(THANH_XA, HOP): [local(MONDAY, 8)]}
    booking = book(busy=busy)
    assert booking.leader == MUA
    assert booking.slot == local(MONDAY, 8)


def test_all_leaders_busy_moves_the_visit_even_if_officer_is_free():
    busy = {leader_key(THANH_XA, le): [local(MONDAY, 8)] for le in THANH_XA.leaders}
    assert book(busy=busy).slot == local(MONDAY, 9)


def test_a_busy_slot_at_08_30_blocks_08_00_and_09_00():
    busy = {"tk-06": [local(MONDAY, 8, 30)]}
    assert book(busy=busy).slot == local(MONDAY, 10)


def test_a_busy_slot_ending_at_09_00_does_not_block_09_00():
    busy = {"tk-06": [local(MONDAY, 8)]}
    assert book(busy=busy).slot == local(MONDAY, 9)


def test_busy_slots_of_other_people_are_ignored():
    busy = {"tk-03": [local(MONDAY, 8)], "2:Đông Đức Hợp": [local(MONDAY, 8)]}
    assert book(busy=busy).slot == local(MONDAY, 8)


def test_group_name_lookup_folds_case_spaces_and_unicode_form_but_not_tone_marks():
    assert book(residential_group="  thanh   XÁ ").leader == HOP
    assert ROSTER.group("Thanh Xa\u0301") == THANH_XA  # decomposed accent, same text
    assert ROSTER.group("Thanh Xa") is None


def test_unknown_field():
    with pytest.raises(NoOfficerForField) as err:
        book(field="y_te")
    assert err.value.field == "y_te"


def test_unknown_group():
    with pytest.raises(UnknownResidentialGroup) as err:
        book(residential_group="Thanh Xa")
    assert err.value.residential_group == "Thanh Xa"


def test_group_without_leaders():
    with pytest.raises(NoLeaderForGroup) as err:
        book(residential_group="Qua Bộ")
    assert err.value.group == EMPTY


def test_horizon_exhausted():
    busy = {"tk-06": [whole_days(MONDAY, 60)]}
    with pytest.raises(NoSlotAvailable) as err:
        book(busy=busy)
    assert (err.value.field, err.value.horizon_days) == ("dat_dai", 30)


def test_horizon_counts_calendar_days_from_the_preferred_date():
    busy = {"tk-06": [whole_days(MONDAY, 1)]}
    with pytest.raises(NoSlotAvailable):
        book(busy=busy, horizon_days=1)
    assert book(busy=busy, horizon_days=2).slot == local(MONDAY + timedelta(days=1), 8)
    with pytest.raises(NoSlotAvailable):
        book(preferred_date=date(2026, 6, 6), horizon_days=2)  # Saturday and Sunday only


def test_slot_rejects_naive_datetimes():
    with pytest.raises(ValueError):
        Slot(datetime(2026, 6, 1, 8), datetime(2026, 6, 1, 9))


def test_slot_is_stored_in_utc():
    slot = local(MONDAY, 8)
    assert slot.starts_at.tzinfo == UTC
    assert slot == Slot(datetime(2026, 6, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, 2, tzinfo=UTC))
