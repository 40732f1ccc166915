"""Load a ward's roster (officers and residential-group leaders) from TOML.

Rosters ship inside the package as `rosters/{ward_code}.toml`, read through
importlib.resources so they are found from an installed wheel too.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from importlib.resources import files
from pathlib import Path
from typing import Any

from gandan.dispatch.domain import (
    FIELDS,
    LEADER_ROLES,
    GroupLeader,
    Officer,
    ResidentialGroup,
    Roster,
)
from gandan.shared.phone import InvalidPhone, normalise_mobile

# Official ward codes are digits only; anything else must never reach a path.
_WARD_CODE = re.compile(r"\d{5}")


class UnknownWard(LookupError):
    def __init__(self, ward_code: str) -> None:
        super().__init__(f"no roster for ward {ward_code!r}")
        self.ward_code = ward_code


def load_roster(ward_code: str) -> Roster:
    if not _WARD_CODE.fullmatch(ward_code):
        raise UnknownWard(ward_code)
    resource = files("gandan.dispatch").joinpath("rosters", f"{ward_code}.toml")
    if not resource.is_file():
        raise UnknownWard(ward_code)
    roster = _parse(tomllib.loads(resource.read_text(encoding="utf-8")), source=f"{ward_code}.toml")
    if roster.ward_code != ward_code:
        raise ValueError(f"{ward_code}.toml: declares ward_code {roster.ward_code!r}")
    return roster


def served_wards() -> tuple[str, ...]:
    """The wards a roster ships for, each roster read (so a broken one stops the start)."""
    names = (r.name for r in files("gandan.dispatch").joinpath("rosters").iterdir() if r.name.endswith(".toml"))
    return tuple(sorted(load_roster(name.removesuffix(".toml")).ward_code for name in names))


def load_roster_file(path: Path) -> Roster:
    return _parse(tomllib.loads(path.read_text(encoding="utf-8")), source=str(path))


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: {key} must be a non-empty string")
    # NFC so leader names, which are part of busy keys, compare byte-equal.
    return unicodedata.normalize("NFC", value.strip())


def _phone(value: Any, where: str) -> str:
    # Messages go to these numbers: only one a mobile network holds can receive them. Written
    # as stored (0 and nine digits), so the file reads the same as what is sent.
    try:
        if isinstance(value, str) and normalise_mobile(value) == value:
            return value
    except InvalidPhone:
        pass
    raise ValueError(f"{where}: phone {value!r} is not a Vietnamese mobile number, written as 0 and nine digits")


def _parse(data: dict[str, Any], *, source: str) -> Roster:
    officers = tuple(_officer(o, f"{source}: officers[{i}]") for i, o in enumerate(data.get("officers", [])))
    staff_ids = [o.staff_id for o in officers]
    duplicates = sorted({s for s in staff_ids if staff_ids.count(s) > 1})
    if duplicates:
        raise ValueError(f"{source}: duplicate staff_id {', '.join(duplicates)}")

    groups = tuple(
        _group(g, f"{source}: residential_groups[{i}]") for i, g in enumerate(data.get("residential_groups", []))
    )
    numbers = [g.number for g in groups]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"{source}: duplicate residential group number")
    roster = Roster(
        ward_code=_text(data, "ward_code", source),
        ward_name=_text(data, "ward_name", source),
        officers=officers,
        groups=groups,
    )
    # Lookup by name returns the first match, so a second one would be unreachable.
    for g in groups:
        if roster.group(g.name) is not g:
            raise ValueError(f"{source}: duplicate residential group name {g.name!r}")
    return roster


def _officer(raw: dict[str, Any], where: str) -> Officer:
    fields = frozenset(raw.get("fields", []))
    unknown = sorted(fields - FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    return Officer(
        staff_id=_text(raw, "staff_id", where),
        name=_text(raw, "name", where),
        title=_text(raw, "title", where),
        fields=fields,
        phone=_phone(raw.get("phone"), where),
    )


def _group(raw: dict[str, Any], where: str) -> ResidentialGroup:
    leaders = tuple(_leader(le, f"{where}.leaders[{i}]") for i, le in enumerate(raw.get("leaders", [])))
    number = raw.get("number")
    if type(number) is not int or number < 1:
        raise ValueError(f"{where}: number {number!r} must be a positive integer")
    return ResidentialGroup(number=number, name=_text(raw, "name", where), leaders=leaders)


def _leader(raw: dict[str, Any], where: str) -> GroupLeader:
    roles = tuple(raw.get("roles", []))
    unknown = sorted(set(roles) - LEADER_ROLES)
    if not roles or unknown:
        raise ValueError(f"{where}: roles {list(roles)!r} must be non-empty, from {sorted(LEADER_ROLES)}")
    return GroupLeader(name=_text(raw, "name", where), roles=roles, phone=_phone(raw.get("phone"), where))
