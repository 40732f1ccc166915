"""Evidence: what audit keeps of an event. No I/O.

Personal data is minimised as its contract marks it (`Personal` in the event models): phone
numbers masked, home addresses left out, names kept. Phone numbers typed into any other text
(a name, a procedure) are masked too. What no contract describes is left out: nothing says it
is not personal. The rest of the event is kept as published.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, get_args

from pydantic import BaseModel

from gandan.shared.events import Personal, personal_mark
from gandan.shared.phone import mask, mask_in_text

_LEFT_OUT = "[không lưu]"


def minimised(contract: type[BaseModel] | None, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` in its wire form, as `contract` describes it (None: no contract known).

    Also safe on what was minimised already: the trail applies it again to what it shows."""
    fields = contract.model_fields if contract else {}
    kept: dict[str, Any] = {}
    for name, value in data.items():
        field = fields.get(name)
        how = personal_mark(field) if field else None
        if field is None or how is Personal.DROP:
            kept[name] = _LEFT_OUT
        elif how is Personal.MASK:
            kept[name] = _each_text(value, mask)
        elif (nested := _contract_in(field.annotation)) is not None:
            kept[name] = _each_record(value, nested)
        else:
            kept[name] = _each_text(value, mask_in_text)
    return kept


def _contract_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, alone or in a tuple, list or optional."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((found for arg in get_args(annotation) if (found := _contract_in(arg))), None)


def _each_record(value: Any, contract: type[BaseModel]) -> Any:
    if isinstance(value, Mapping):
        return minimised(contract, value)
    if isinstance(value, list):
        return [_each_record(item, contract) for item in value]
    return value


def _each_text(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_each_text(item, change) for item in value]
    if isinstance(value, Mapping):
        return {key: _each_text(item, change) for key, item in value.items()}
    return value
