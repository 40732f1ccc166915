"""What a ward's roster does for booking, and how a roster's CSV files are read."""

import unicodedata
from datetime import date, datetime, timedelta

import pytest

from gandan.dispatch.domain import (
    Location,
    Period,
    StaffRole,
    UnknownWard,
    Vehicle,
    WorkingCalendar,
    leader_key,
)
from gandan.dispatch.proposal import Plans, propose_visit
from gandan.dispatch.roster import RosterInvalid, load_roster, parse_roster, shipped_wards
from gandan.dispatch.routing.travel import GreatCircleTravel
from gandan.shared.clock import LOCAL_TZ
from gandan.shared.events import ProcedureField, TimeWindow, VehicleKind
from gandan.shared.phone import normalise_mobile

STAFF = """STT,Mã cán bộ,Họ và tên,Chức vụ,Vai trò,Lĩnh vực phụ trách,Tổ dân phố phụ trách,Số điện thoại,Nghỉ phép
1,a,Người A,Chuyên viên,chuyen_vien,ho_tich; chung_thuc,,0912.345.678,2026-12-01..2026-12-03
2,b,Người C,Thành viên Tổ công nghệ số cộng đồng,to_cong_nghe_so,,1; 2,0501234567,
"""
GROUPS = """STT,Tổ dân phố,Họ tên,Chức danh,Số điện thoại,Vĩ độ,Kinh độ,Tọa độ
01,Số 1,Người B,"BTCB, Tổ trưởng",0387654321,20.91,106.36,gần đúng
,,Người D,Tổ phó,0387654322,,,

02,Số 2,Người E,Tổ trưởng,0387654323,,,
"""
VEHICLES = """Mã,Loại,Số chỗ,Chở theo,Sẵn sàng
xe-1,xe_o_to_phuong,7,máy quét; máy tính,có
"""


def parse(staff: str = STAFF, groups: str = GROUPS, vehicles: str = VEHICLES):
    return parse_roster("11002", staff, groups, vehicles)


THACH_KHOI = load_roster("11002")
OFFLINE = GreatCircleTravel().between(VehicleKind.MOTORBIKE)
MONDAY_BEFORE = datetime(2026, 6, 1, 7, tzinfo=LOCAL_TZ)  # an ordinary week, no public holiday


def book(*, field: str = "ho_tich", residential_group: str = "Thanh Xá"):
    """A visit proposed from Thạch Khôi's roster, with no one's plan filled yet."""
    return propose_visit(
        plans=Plans(THACH_KHOI, ()),
        field=field,
        residential_group=residential_group,
        preferred_date=MONDAY_BEFORE.date(),
        window=TimeWindow.MORNING,
        procedure="Đăng ký khai tử",
        travel=OFFLINE,
        calendar=WorkingCalendar(),
        now=MONDAY_BEFORE,
        min_lead=timedelta(hours=0),
    )


@pytest.mark.parametrize("group", THACH_KHOI.groups, ids=lambda g: g.name)
def test_every_residential_group_has_a_leader_who_can_be_booked(group):
    booking = book(residential_group=group.name)

    assert booking.group == group
    assert booking.leader in group.leaders


@pytest.mark.parametrize("field", list(ProcedureField))
def test_every_field_citizens_can_ask_for_has_an_officer_who_can_be_booked(field):
    booking = book(field=field)

    assert field in booking.officer.fields


def test_group_names_match_however_they_are_typed_but_not_without_their_tone_marks():
    for group in THACH_KHOI.groups:
        for typed in (
            unicodedata.normalize("NFD", group.name),
            group.name.upper(),
            f"  {group.name.lower().replace(' ', '   ')} ",
        ):
            assert THACH_KHOI.group(typed) == group, typed
    assert THACH_KHOI.group("Thanh Xa") is None  # "Xa" is not "Xá"


def test_no_two_leaders_share_a_plan_key():
    # A key shared by two people would make one's visits fill the other's half-day.
    keys = [leader_key(g, le) for g in THACH_KHOI.groups for le in g.leaders]
    assert len(set(keys)) == len(keys)


def test_a_name_written_decomposed_in_the_file_is_the_same_person_as_its_composed_form():
    roster = parse(groups=GROUPS.replace("Người B", unicodedata.normalize("NFD", "Đông Đức Hợp")))

    group = roster.groups[0]
    assert leader_key(group, group.leaders[0]) == "1:Đông Đức Hợp"


def test_a_roster_is_read_from_the_plan_s_two_tables_and_its_vehicles():
    roster = parse()

    assert roster.ward_name == "Phường Thạch Khôi"
    a, b = roster.officers
    assert (a.fields, a.role, a.phone) == ({"ho_tich", "chung_thuc"}, StaffRole.CENTRE_OFFICER, "0912345678")
    assert a.leave == (Period(date(2026, 12, 1), date(2026, 12, 3)),)
    assert (b.role, b.groups) == (StaffRole.DIGITAL_TEAM, {1, 2})
    first, second = roster.groups
    assert [le.roles for le in first.leaders] == [("bi_thu_chi_bo", "to_truong"), ("to_pho",)]
    assert first.location == Location(20.91, 106.36, approximate=True)
    assert (second.number, second.location) == (2, None)
    assert roster.vehicles == (Vehicle("xe-1", VehicleKind.WARD_CAR, 7, ("máy quét", "máy tính"), True),)


def test_every_phone_reaches_a_mobile_and_none_is_a_real_one():
    phones = [o.phone for o in THACH_KHOI.officers] + [le.phone for g in THACH_KHOI.groups for le in g.leaders]
    assert [normalise_mobile(p) for p in phones] == phones  # what notify can send an SMS to
    assert "0327568168" not in phones  # Lê Văn Giang's real number in the plan


@pytest.mark.parametrize("ward", ["11359", "10672"])
def test_the_made_up_rosters_use_only_the_unassigned_050_range(ward):
    roster = load_roster(ward)
    phones = [o.phone for o in roster.officers] + [le.phone for g in roster.groups for le in g.leaders]

    assert phones and all(p.startswith("050") and len(p) == 10 for p in phones)
    assert {o.role for o in roster.officers} == set(StaffRole)
    assert all(g.location is not None and g.location.approximate for g in roster.groups)


@pytest.mark.parametrize("code", ["00000", "../11002", "11002.toml", ""])
def test_unknown_ward(code):
    with pytest.raises(UnknownWard) as err:
        load_roster(code)
    assert err.value.ward_code == code


@pytest.mark.parametrize(
    ("table", "old", "new", "error"),
    [
        ("staff", "ho_tich; chung_thuc", "thue_vu", "can_bo.csv:2: lĩnh vực không biết: thue_vu"),
        ("staff", "0912.345.678", "912345678", "can_bo.csv:2: số điện thoại"),
        ("staff", "0501234567", "0201234567", "can_bo.csv:3: số điện thoại"),
        ("staff", "to_cong_nghe_so", "thu_ky", "can_bo.csv:3: vai trò 'thu_ky'"),
        ("staff", "1; 2,", "1; 7,", "can_bo.csv:3: tổ dân phố '7'"),
        ("staff", "2026-12-01..2026-12-03", "2026-12-03..2026-12-01", "can_bo.csv:2: nghỉ"),
        ("staff", "Mã cán bộ", "Mã", "can_bo.csv:1: thiếu cột Mã cán bộ"),
        ("groups", '"BTCB, Tổ trưởng"', "Chủ tịch", "to_dan_pho.csv:2: chức danh 'chủ tịch'"),
        ("groups", "20.91,106.36,gần đúng", "20.91,106.36,", "to_dan_pho.csv:2: tọa độ"),
        ("groups", "20.91,", "91.5,", "to_dan_pho.csv:2: vĩ độ"),
        ("groups", "02,Số 2", "01,Số 2", "to_dan_pho.csv:5: STT 1 trùng"),
        ("groups", "02,Số 2", "02,SỐ 1", "to_dan_pho.csv:5: tổ dân phố 'SỐ 1' trùng"),
        ("vehicles", "xe_o_to_phuong,7", "xe_tai,7", "phuong_tien.csv:2: loại 'xe_tai'"),
        ("vehicles", ",có", ",chưa rõ", "phuong_tien.csv:2: sẵn sàng"),
    ],
)
def test_an_invalid_cell_is_refused_with_its_file_and_line(table, old, new, error):
    tables = {"staff": STAFF, "groups": GROUPS, "vehicles": VEHICLES}
    tables[table] = tables[table].replace(old, new, 1)

    with pytest.raises(RosterInvalid) as refused:
        parse(**tables)
    assert any(e.startswith(error) for e in refused.value.errors), refused.value.errors


def test_every_error_of_a_file_is_reported_at_once_and_duplicates_are_refused():
    staff = STAFF.replace("0912.345.678", "12") + STAFF.splitlines()[2] + "\n"

    with pytest.raises(RosterInvalid) as refused:
        parse(staff=staff)
    assert [e.split(":")[1] for e in refused.value.errors] == ["2", "4"]
    assert "mã cán bộ 'b' trùng" in refused.value.errors[1]


def test_a_roster_of_a_ward_not_in_the_official_list_is_refused():
    with pytest.raises(RosterInvalid, match="99999"):
        parse_roster("99999", STAFF, GROUPS)


@pytest.mark.parametrize("ward_code", shipped_wards())
def test_each_shipped_ward_has_a_depot_among_its_residential_groups(ward_code):
    roster = load_roster(ward_code)
    depot = roster.depot()
    assert depot is not None
    latitudes = [g.location.latitude for g in roster.groups if g.location is not None]
    longitudes = [g.location.longitude for g in roster.groups if g.location is not None]
    assert min(latitudes) <= depot.latitude <= max(latitudes)
    assert min(longitudes) <= depot.longitude <= max(longitudes)
