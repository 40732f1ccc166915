"""Personal data is marked in the contract: every event field that looks personal says what becomes of it."""

from __future__ import annotations

import re
from typing import Any, NewType, get_args

from pydantic import BaseModel

from gandan.shared.events import (
    EVENT_TYPES,
    ContactRegistered,
    Contract,
    HomeAddress,
    PhoneNumber,
    VisitScheduled,
    personal_mark,
)

# Words of a field's name, or of its type's name, that say it may carry personal data
# (English and Vietnamese, as a field or type name would spell them).
_LOOKS_PERSONAL = re.compile(
    r"(?:^|_)(?:phone|telephone|tel|mobile|msisdn|sdt|so_dien_thoai|dien_thoai|name|full_name|surname|ho_ten|ten"
    r"|address|addr|dia_chi|cccd|cmnd|can_cuoc|national_id|identity|passport|email|e_mail|mail|zalo)(?:_|$)"
)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _named_types(annotation: Any) -> list[Any]:
    """The classes and NewTypes a field's annotation is made of: `tuple[StaffContact, ...]` → tuple, StaffContact."""
    own = [annotation] if isinstance(annotation, type) or hasattr(annotation, "__supertype__") else []
    return own + [t for arg in get_args(annotation) for t in _named_types(arg)]


def unmarked(models: tuple[type[BaseModel], ...]) -> list[str]:
    """Fields that look personal, by name or by type, and carry no mark; nested models are searched too."""
    found: list[str] = []
    for model in models:
        for name, field in model.model_fields.items():
            types = _named_types(field.annotation)
            nested = tuple(t for t in types if isinstance(t, type) and issubclass(t, BaseModel))
            if nested:
                # A field holding a model is as personal as the model's own fields say.
                found += unmarked(nested)
                continue
            words = [name] + [_snake(t.__name__) for t in types]
            if personal_mark(field) is None and any(_LOOKS_PERSONAL.search(w) for w in words):
                found.append(f"{model.__name__}.{name}")
    return sorted(set(found))


def test_every_event_field_that_looks_personal_is_marked():
    assert unmarked(EVENT_TYPES) == [], (
        "mark each with its fate: Annotated[..., personal(Personal.MASK | DROP | KEEP)] (gandan.shared.events)"
    )


ZaloUserId = NewType("ZaloUserId", str)


class Household(Contract):
    head_full_name: str
    dia_chi: str
    members: int


class Leaky(Contract):
    """An event someone might add tomorrow."""

    request_code: str
    email: str
    zalo_id: str
    so_cccd: str
    recipient: ZaloUserId  # personal by its type, whatever the field is called
    household: Household | None
    phone: PhoneNumber  # marked
    home: HomeAddress  # marked


def test_the_check_finds_an_unmarked_field_by_name_by_type_and_inside_a_nested_model():
    assert unmarked((Leaky,)) == [
        "Household.dia_chi",
        "Household.head_full_name",
        "Leaky.email",
        "Leaky.recipient",
        "Leaky.so_cccd",
        "Leaky.zalo_id",
    ]


def test_the_json_schema_shows_each_mark():
    contact = ContactRegistered.model_json_schema()["properties"]
    visit = VisitScheduled.model_json_schema()["$defs"]

    assert {name: contact[name].get("x-personal") for name in ("name", "phone", "address", "request_code")} == {
        "name": "keep",
        "phone": "mask",
        "address": "drop",
        "request_code": None,
    }
    assert visit["StaffContact"]["properties"]["phone"]["x-personal"] == "mask"
    assert visit["LeaderContact"]["properties"]["phone"]["x-personal"] == "mask"
