"""What a ward's roster does for booking, and how a roster file is read."""

import unicodedata
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gandan.dispatch.domain import WorkingCalendar, book_visit, leader_key
from gandan.dispatch.roster import UnknownWard, load_roster, load_roster_file
from gandan.shared.clock import LOCAL_TZ
from gandan.shared.events import ProcedureField, TimeWindow
from gandan.shared.phone import normalise_mobile

VALID = """
ward_code = "99999"
ward_name = "Phường Thử"
[[officers]]
staff_id = "a"
name = "Người A"
title = "Chuyên viên"
fields = ["ho_tich"]
phone = "0912345678"
[[residential_groups]]
number = 1
name = "Số 1"
[[residential_groups.leaders]]
name = "Người B"
roles = ["to_truong"]
phone = "0387654321"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roster.toml"
    path.write_text(text, encoding="utf-8")
    return path


THACH_KHOI = load_roster("11002")
MONDAY_BEFORE = datetime(2026, 6, 1, 7, tzinfo=LOCAL_TZ)  # an ordinary week, no public holiday


def book(*, field: str = "ho_tich", residential_group: str = "Thanh Xá"):
    """A visit booked from Thạch Khôi's roster, with no one busy yet."""
    return book_visit(
        roster=THACH_KHOI,
        field=field,
        residential_group=residential_group,
        preferred_date=MONDAY_BEFORE.date(),
        window=TimeWindow.MORNING,
        busy={},
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


def test_no_two_leaders_share_a_busy_key():
    # A key shared by two people would make one's visit block the other's hour.
    keys = [leader_key(g, le) for g in THACH_KHOI.groups for le in g.leaders]
    assert len(set(keys)) == len(keys)


def test_a_name_written_decomposed_in_the_file_is_the_same_person_as_its_composed_form(tmp_path):
    decomposed = VALID.replace('name = "Người B"', f'name = "{unicodedata.normalize("NFD", "Đông Đức Hợp")}"')
    roster = load_roster_file(write(tmp_path, decomposed))

    [group] = roster.groups
    assert leader_key(group, group.leaders[0]) == "1:Đông Đức Hợp"


def test_every_phone_reaches_a_mobile_and_none_is_a_real_one():
    phones = [o.phone for o in THACH_KHOI.officers] + [le.phone for g in THACH_KHOI.groups for le in g.leaders]
    assert [normalise_mobile(p) for p in phones] == phones  # what notify can send an SMS to
    assert "0327568168" not in phones  # Lê Văn Giang's real number in the plan


@pytest.mark.parametrize("code", ["00000", "../11002", "11002.toml", ""])
def test_unknown_ward(code):
    with pytest.raises(UnknownWard) as err:
        load_roster(code)
    assert err.value.ward_code == code


def test_load_roster_file_reads_a_valid_file(tmp_path):
    roster = load_roster_file(write(tmp_path, VALID))
    assert roster.officers_for("ho_tich")[0].staff_id == "a"
    assert roster.group("số 1") is not None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('fields = ["ho_tich"]', 'fields = ["quoc_phong"]', "unknown field"),
        ('phone = "0912345678"', 'phone = "912345678"', "phone"),
        ('phone = "0912345678"', 'phone = "0301234567"', "phone"),  # 030: no network holds it
        ('phone = "0387654321"', 'phone = "0387.654.321"', "phone"),
        ('roles = ["to_truong"]', 'roles = ["chu_tich"]', "roles"),
        ("number = 1", 'number = "1"', "number"),
    ],
)
def test_invalid_values_are_rejected(tmp_path, old, new, message):
    with pytest.raises(ValueError, match=message):
        load_roster_file(write(tmp_path, VALID.replace(old, new)))


def test_duplicate_staff_ids_are_rejected(tmp_path):
    officer = VALID[VALID.index("[[officers]]") : VALID.index("[[residential_groups]]")]
    with pytest.raises(ValueError, match="duplicate staff_id a"):
        load_roster_file(write(tmp_path, VALID + officer))


def test_duplicate_group_names_are_rejected(tmp_path):
    extra = '[[residential_groups]]\nnumber = 2\nname = "SỐ 1"\n'
    with pytest.raises(ValueError, match="duplicate residential group name"):
        load_roster_file(write(tmp_path, VALID + extra))
