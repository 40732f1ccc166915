"""A ward's roster from CSV, shaped like the two tables attached to seed 000's plan.

A roster is a folder of three files, UTF-8, comma-separated, with a header row:

- `can_bo.csv`, the centre's people: STT, Mã cán bộ, Họ và tên, Chức vụ, Vai trò, Lĩnh vực phụ
  trách, Tổ dân phố phụ trách, Số điện thoại, Nghỉ phép.
- `to_dan_pho.csv`, the residential groups as the plan lists them: STT, Tổ dân phố, Họ tên,
  Chức danh, Số điện thoại, Vĩ độ, Kinh độ, Tọa độ. A group's first row carries its number, name
  and cultural house; the rows below with STT and Tổ dân phố empty are its other leaders.
- `phuong_tien.csv`, the vehicles: Mã, Loại, Số chỗ, Chở theo, Sẵn sàng.

Lists inside a cell are separated by `;`. Every error is reported with its file and line, and a
roster with any error is refused whole. The rosters shipped inside the package
(`rosters/{ward_code}/`) seed an empty store.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import date
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

from gandan.dispatch.domain import (
    FIELDS,
    GroupLeader,
    Location,
    Officer,
    Period,
    ResidentialGroup,
    Roster,
    StaffRole,
    UnknownWard,
    Vehicle,
)
from gandan.shared.events import VehicleKind
from gandan.shared.wards import ward_name

STAFF_FILE, GROUPS_FILE, VEHICLES_FILE = "can_bo.csv", "to_dan_pho.csv", "phuong_tien.csv"
STAFF_COLUMNS = (
    "STT",
    "Mã cán bộ",
    "Họ và tên",
    "Chức vụ",
    "Vai trò",
    "Lĩnh vực phụ trách",
    "Tổ dân phố phụ trách",
    "Số điện thoại",
    "Nghỉ phép",
)
GROUP_COLUMNS = ("STT", "Tổ dân phố", "Họ tên", "Chức danh", "Số điện thoại", "Vĩ độ", "Kinh độ", "Tọa độ")
VEHICLE_COLUMNS = ("Mã", "Loại", "Số chỗ", "Chở theo", "Sẵn sàng")

# Any 10-digit number of the mobile ranges (03x, 05x, 07x, 08x, 09x), assigned to a network or
# not: the made-up rosters use 050, which no network holds (README "Rosters").
STAFF_PHONE = re.compile(r"0[35789][0-9]{8}")
_SEPARATORS = re.compile(r"[\s.\-]")
_STAFF_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_WARD_CODE = re.compile(r"\d{5}")
# The plan's titles for a group's leaders.
_LEADER_TITLES = {"btcb": "bi_thu_chi_bo", "tổ trưởng": "to_truong", "tổ phó": "to_pho"}
_YES, _NO = {"có", "co", "x"}, {"không", "khong", ""}
_APPROXIMATE, _SURVEYED = "gần đúng", "khảo sát"

T = TypeVar("T")


class RosterInvalid(ValueError):
    """A roster file with errors; each names its file and line."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Errors:
    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, where: str, make: Callable[..., T], *args: Any) -> T | None:
        try:
            return make(*args)
        except ValueError as error:
            self.found.append(f"{where}: {error}")
            return None


def text(value: str) -> str:
    # NFC so names, which are part of busy keys, compare byte-equal however they were typed.
    return unicodedata.normalize("NFC", " ".join(value.split()))


def staff_phone(value: str) -> str:
    digits = _SEPARATORS.sub("", value)
    if not STAFF_PHONE.fullmatch(digits):
        raise ValueError(f"số điện thoại {value!r} không phải 10 chữ số bắt đầu bằng 03, 05, 07, 08 hoặc 09")
    return digits


def _required(row: dict[str, str], column: str) -> str:
    value = text(row.get(column) or "")
    if not value:
        raise ValueError(f"cột {column!r} trống")
    return value


def _items(value: str) -> list[str]:
    return [text(item) for item in value.split(";") if text(item)]


def _period(value: str) -> Period:
    first, _, last = value.partition("..")
    try:
        return Period(date.fromisoformat(first.strip()), date.fromisoformat((last or first).strip()))
    except ValueError as error:
        raise ValueError(f"nghỉ {value!r}: YYYY-MM-DD hoặc YYYY-MM-DD..YYYY-MM-DD ({error})") from None


def _rows(source: str, content: str, columns: tuple[str, ...], errors: _Errors) -> Iterator[tuple[str, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(content.removeprefix("\ufeff")))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        errors.found.append(f"{source}:1: thiếu cột {', '.join(missing)}")
        return
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # a blank line between groups, as in the plan
        yield f"{source}:{reader.line_num}", row


def _member(row: dict[str, str], known_groups: set[int]) -> Officer:
    staff_id = _required(row, "Mã cán bộ")
    if not _STAFF_ID.fullmatch(staff_id):
        raise ValueError(f"mã cán bộ {staff_id!r}: chữ thường, số và '-', tối đa 32 ký tự")
    role_text = _required(row, "Vai trò")
    try:
        role = StaffRole(role_text)
    except ValueError:
        raise ValueError(f"vai trò {role_text!r} không thuộc {', '.join(r.value for r in StaffRole)}") from None
    fields = frozenset(_items(row.get("Lĩnh vực phụ trách") or ""))
    unknown = sorted(fields - FIELDS)
    if unknown:
        raise ValueError(f"lĩnh vực không biết: {', '.join(unknown)}")
    groups: set[int] = set()
    for item in _items(row.get("Tổ dân phố phụ trách") or ""):
        if not item.isdigit() or int(item) not in known_groups:
            raise ValueError(f"tổ dân phố {item!r} không có trong {GROUPS_FILE}")
        groups.add(int(item))
    return Officer(
        staff_id=staff_id,
        name=_required(row, "Họ và tên"),
        title=_required(row, "Chức vụ"),
        fields=fields,
        phone=staff_phone(_required(row, "Số điện thoại")),
        role=role,
        groups=frozenset(groups),
        leave=tuple(_period(p) for p in _items(row.get("Nghỉ phép") or "")),
    )


def _leader(row: dict[str, str]) -> GroupLeader:
    titles = [t.strip().casefold() for t in _required(row, "Chức danh").split(",")]
    unknown = [t for t in titles if t not in _LEADER_TITLES]
    if unknown:
        raise ValueError(f"chức danh {', '.join(unknown)!r}: BTCB, Tổ trưởng hoặc Tổ phó")
    return GroupLeader(
        name=_required(row, "Họ tên"),
        roles=tuple(_LEADER_TITLES[t] for t in titles),
        phone=staff_phone(_required(row, "Số điện thoại")),
    )


def _location(row: dict[str, str]) -> Location | None:
    latitude, longitude = (text(row.get(c) or "") for c in ("Vĩ độ", "Kinh độ"))
    if not latitude and not longitude:
        return None
    how = text(row.get("Tọa độ") or "").casefold()
    if how not in (_APPROXIMATE, _SURVEYED):
        raise ValueError(f"tọa độ {how!r}: '{_APPROXIMATE}' hoặc '{_SURVEYED}'")
    try:
        return Location(float(latitude), float(longitude), approximate=how == _APPROXIMATE)
    except ValueError as error:
        raise ValueError(f"vĩ độ/kinh độ {latitude!r}, {longitude!r}: {error}") from None


def _groups(content: str, errors: _Errors) -> list[ResidentialGroup]:
    groups: list[ResidentialGroup] = []
    for where, row in _rows(GROUPS_FILE, content, GROUP_COLUMNS, errors):
        number_text, name = text(row.get("STT") or ""), text(row.get("Tổ dân phố") or "")
        if number_text or name:
            if not number_text.isdigit() or int(number_text) < 1 or not name:
                errors.found.append(f"{where}: một tổ mới cần STT là số dương và tên tổ dân phố")
                continue
            if int(number_text) in {g.number for g in groups}:
                errors.found.append(f"{where}: STT {int(number_text)} trùng")
                continue
            if name.casefold() in {g.name.casefold() for g in groups}:
                errors.found.append(f"{where}: tổ dân phố {name!r} trùng")
                continue
            location = errors.check(where, _location, row)
            groups.append(ResidentialGroup(number=int(number_text), name=name, leaders=(), location=location))
        elif not groups:
            errors.found.append(f"{where}: dòng người của tổ phải đứng sau dòng có STT và tên tổ")
            continue
        leader = errors.check(where, _leader, row)
        if leader is not None:
            group = groups[-1]
            groups[-1] = ResidentialGroup(group.number, group.name, (*group.leaders, leader), group.location)
    return groups


def _vehicle(row: dict[str, str]) -> Vehicle:
    kind_text, seats_text = _required(row, "Loại"), _required(row, "Số chỗ")
    try:
        kind = VehicleKind(kind_text)
    except ValueError:
        raise ValueError(f"loại {kind_text!r} không thuộc {', '.join(k.value for k in VehicleKind)}") from None
    if not seats_text.isdigit():
        raise ValueError(f"số chỗ {seats_text!r} không phải số")
    ready = text(row.get("Sẵn sàng") or "").casefold()
    if ready not in _YES | _NO:
        raise ValueError(f"sẵn sàng {ready!r}: 'có' hoặc 'không'")
    return Vehicle(
        vehicle_id=_required(row, "Mã"),
        kind=kind,
        seats=int(seats_text),
        carries=tuple(_items(row.get("Chở theo") or "")),
        available=ready in _YES,
    )


def parse_roster(ward_code: str, staff: str, groups: str, vehicles: str = "") -> Roster:
    """The roster these three files' contents describe; `RosterInvalid` listing every error if any."""
    name = ward_name(ward_code)
    if name is None:
        raise RosterInvalid([f"mã phường/xã {ward_code!r} không có trong danh mục"])
    errors = _Errors()
    parsed_groups = _groups(groups, errors)
    known = {g.number for g in parsed_groups}
    members: list[Officer] = []
    for where, row in _rows(STAFF_FILE, staff, STAFF_COLUMNS, errors):
        member = errors.check(where, _member, row, known)
        if member is None:
            continue
        if member.staff_id in {m.staff_id for m in members}:
            errors.found.append(f"{where}: mã cán bộ {member.staff_id!r} trùng")
            continue
        members.append(member)
    parsed_vehicles: list[Vehicle] = []
    for where, row in _rows(VEHICLES_FILE, vehicles, VEHICLE_COLUMNS, errors) if vehicles.strip() else ():
        vehicle = errors.check(where, _vehicle, row)
        if vehicle is None:
            continue
        if vehicle.vehicle_id in {v.vehicle_id for v in parsed_vehicles}:
            errors.found.append(f"{where}: mã phương tiện {vehicle.vehicle_id!r} trùng")
            continue
        parsed_vehicles.append(vehicle)
    if errors.found:
        raise RosterInvalid(errors.found)
    return Roster(ward_code, name, tuple(members), tuple(parsed_groups), tuple(parsed_vehicles))


def _read(folder: Traversable | Path, file: str) -> str:
    path = folder.joinpath(file)
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def read_roster_folder(ward_code: str, folder: Traversable | Path) -> Roster:
    return parse_roster(ward_code, _read(folder, STAFF_FILE), _read(folder, GROUPS_FILE), _read(folder, VEHICLES_FILE))


def _shipped() -> Traversable:
    return files("gandan.dispatch").joinpath("rosters")


def shipped_wards() -> list[str]:
    return sorted(p.name for p in _shipped().iterdir() if p.is_dir() and _WARD_CODE.fullmatch(p.name))


def load_roster(ward_code: str) -> Roster:
    """The roster shipped inside the package for this ward."""
    # Official ward codes are digits only; anything else must never reach a path.
    if not _WARD_CODE.fullmatch(ward_code) or not _shipped().joinpath(ward_code).is_dir():
        raise UnknownWard(ward_code)
    return read_roster_folder(ward_code, _shipped().joinpath(ward_code))
