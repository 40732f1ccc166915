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
    UnknownResidentialGroup,
    WorkingCalendar,
    book_visit,
    leader_key,
)
from gandan.shared.events import TimeWindow

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = date(2026, 6, 1)  # an ordinary week: no holiday Mon 1 - Fri 5 June 2026
TUESDAY, WEDNESDAY = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)
LEAD = timedelta(hours=2)
# Unless a test says otherwise, the request is handled the Friday before, well ahead.
BEFORE = datetime(2026, 5, 29, 9, tzinfo=HCM)

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


def book(preferred_date=MONDAY, window=TimeWindow.MORNING, busy=None, field="dat_dai", now=BEFORE, lead=LEAD, **kw):
    return book_visit(
        roster=ROSTER,
        field=field,
        residential_group=kw.pop("residential_group", "Thanh Xá"),
        preferred_date=preferred_date,
        window=window,
        busy=busy or {},
        calendar=CALENDAR,
        now=now,
        min_lead=lead,
        **kw,
    )


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=HCM)


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


# --- the clock: never in the past, never sooner than the lead time, days judged in Vietnam ---


def test_today_at_four_in_the_afternoon_books_the_next_working_morning():
    assert book(preferred_date=MONDAY, now=at(MONDAY, 16)).slot == local(TUESDAY, 8)


def test_today_at_four_without_lead_time_may_still_take_the_16_00_slot_but_not_a_minute_later():
    assert book(preferred_date=MONDAY, now=at(MONDAY, 16), lead=timedelta(0)).slot == local(MONDAY, 16)
    assert book(preferred_date=MONDAY, now=at(MONDAY, 16, 1), lead=timedelta(0)).slot == local(TUESDAY, 8)


def test_at_seven_the_lead_time_moves_the_visit_from_08_00_to_09_00():
    assert book(preferred_date=MONDAY, now=at(MONDAY, 7)).slot == local(MONDAY, 9)
    assert book(preferred_date=MONDAY, now=at(MONDAY, 7), lead=timedelta(minutes=30)).slot == local(MONDAY, 8)


def test_a_slot_exactly_at_the_end_of_the_lead_time_is_bookable():
    assert book(preferred_date=MONDAY, now=at(MONDAY, 12), window=TimeWindow.AFTERNOON).slot == local(MONDAY, 14)


def test_lead_time_past_the_morning_gives_the_afternoon_of_the_same_day():
    assert book(preferred_date=MONDAY, now=at(MONDAY, 9)).slot == local(MONDAY, 14)


def test_23_30_utc_is_already_the_next_day_in_vietnam():
    now = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # Tuesday 06:30 at the ward
    assert now.astimezone(HCM).date() == TUESDAY
    # The server's "today" (Monday, in UTC) is yesterday at the ward.
    assert book(preferred_date=MONDAY, now=now).slot == local(TUESDAY, 9)
    assert book(preferred_date=TUESDAY, now=now).slot == local(TUESDAY, 9)
    assert book(preferred_date=TUESDAY, now=now, lead=timedelta(minutes=90)).slot == local(TUESDAY, 8)


def test_a_late_event_with_a_past_preferred_date_starts_at_the_first_bookable_moment():
    booking = book(preferred_date=MONDAY, now=at(WEDNESDAY, 10))
    assert booking.slot == local(WEDNESDAY, 14)


def test_a_late_event_counts_the_horizon_from_the_first_bookable_day():
    # Two weeks late: the preferred date's own horizon of one day is long gone.
    now = at(MONDAY + timedelta(days=14), 10)
    assert book(preferred_date=MONDAY, now=now, horizon_days=1).slot == local(MONDAY + timedelta(days=14), 14)


def test_no_slot_names_the_first_day_searched():
    with pytest.raises(NoSlotAvailable) as err:
        book(preferred_date=MONDAY, now=at(WEDNESDAY, 10), horizon_days=1, busy={"tk-06": [whole_days(MONDAY, 5)]})
    assert err.value.first_day == WEDNESDAY


def test_busy_hours_still_count_after_the_lead_time():
    busy = {"tk-06": [local(MONDAY, 9)]}
    assert book(preferred_date=MONDAY, now=at(MONDAY, 7), busy=busy).slot == local(MONDAY, 10)


def test_now_without_a_zone_is_refused():
    with pytest.raises(ValueError):
        book(now=datetime(2026, 6, 1, 16))
