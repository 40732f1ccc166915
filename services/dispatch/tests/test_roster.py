import re
from pathlib import Path

import pytest

from gandan.dispatch.domain import FIELDS, leader_key
from gandan.dispatch.roster import UnknownWard, load_roster, load_roster_file

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


def test_thach_khoi_roster_has_7_officers_and_18_groups():
    roster = load_roster("11002")
    assert (roster.ward_code, roster.ward_name) == ("11002", "Phường Thạch Khôi")
    assert len(roster.officers) == 7
    assert [g.number for g in roster.groups] == list(range(1, 19))
    assert sum(len(g.leaders) for g in roster.groups) == 40
    assert all(g.leaders for g in roster.groups)


def test_thach_khoi_fields_follow_the_plan():
    roster = load_roster("11002")
    assert [o.name for o in roster.officers_for("ho_tich")] == ["Lê Văn Giang"]
    assert [o.name for o in roster.officers_for("kiem_soat_tthc")] == [
        "Phạm Thị Thùy",
        "Nguyễn Thị Thủy",
    ]
    assert [o.name for o in roster.officers_for("xay_dung")] == ["Đàm Văn Thao"]
    leaders = [o.name for o in roster.officers if not o.fields]
    assert leaders == ["Bùi Thị Kim Tuyền", "Nguyễn Xuân Biên"]
    # Every field of the contract has someone to send.
    assert all(roster.officers_for(f) for f in FIELDS)


def test_thach_khoi_group_lookup_and_leader_keys():
    roster = load_roster("11002")
    group = roster.group("thanh xá")
    assert group is not None and group.number == 1
    assert [le.name for le in group.leaders] == ["Đông Đức Hợp", "Đông Đức Mua"]
    assert group.leaders[0].roles == ("bi_thu_chi_bo", "to_truong")
    assert leader_key(group, group.leaders[0]) == "1:Đông Đức Hợp"


def test_thach_khoi_phones_are_fictional_mobiles():
    roster = load_roster("11002")
    phones = [o.phone for o in roster.officers] + [le.phone for g in roster.groups for le in g.leaders]
    assert all(re.fullmatch(r"0[35789]\d{8}", p) for p in phones)
    assert len(set(phones)) == len(phones)
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
        ('fields = ["ho_tich"]', 'fields = ["y_te"]', "unknown field"),
        ('phone = "0912345678"', 'phone = "912345678"', "phone"),
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
