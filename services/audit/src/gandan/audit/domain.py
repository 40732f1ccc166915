"""Evidence: what audit keeps of an event. No I/O.

Personal data is minimised as its contract marks it (`Personal` in the event models): phone
numbers masked, home addresses left out, names kept. Phone numbers typed into any other text
(a name, a procedure) are masked too. What no contract describes is left out: nothing says it
is not personal. The rest of the event is kept as published.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, get_args
from uuid import UUID

from pydantic import BaseModel

from gandan.shared.events import Envelope, EventData, Personal, personal_mark, to_wire
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


@dataclass(frozen=True)
class Evidence:
    """One event as kept: its envelope, and its data minimised."""

    event_id: UUID
    type: str
    version: int
    occurred_at: datetime
    ward_code: str
    correlation_id: UUID
    causation_id: UUID | None
    producer: str
    data: dict[str, Any]
    recorded_at: datetime

    @classmethod
    def of(cls, event: Envelope[EventData], recorded_at: datetime) -> Evidence:
        # What was published: the data's wire form, minimised as its contract marks it.
        return cls(
            event_id=event.id,
            type=event.type,
            version=event.version,
            occurred_at=event.occurred_at,
            ward_code=event.ward_code,
            correlation_id=event.correlation_id,
            causation_id=event.causation_id,
            producer=event.producer,
            data=minimised(type(event.data), to_wire(event)["data"]),
            recorded_at=recorded_at,
        )

    @property
    def request_code(self) -> str | None:
        code = self.data.get("request_code")
        return code if isinstance(code, str) else None


class EvidenceLog(Protocol):
    async def record(self, evidence: Evidence) -> bool:
        """Keep it once; False if it was already kept (a redelivery)."""
        ...

    async def trail(self, ward_code: str, request_code: str) -> list[Evidence]:
        """The evidence of one request, in the order it happened (the same order every time)."""
        ...
