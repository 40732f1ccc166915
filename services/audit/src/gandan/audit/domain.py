"""Evidence: what audit keeps of an event. No I/O.

Personal data is minimised before it is stored: phone numbers are masked, in fields
named for a phone and inside any other text (a number typed into a name or a procedure),
and home addresses left out; the rest of the event is kept as published.
"""

from __future__ import annotations

from typing import Any

from gandan.shared.phone import mask, mask_in_text

_LEFT_OUT = "[không lưu]"


def minimised(value: Any) -> Any:
    """Also safe on what was minimised already: the trail applies it again to what it shows."""
    if isinstance(value, dict):
        return {key: _minimise_field(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [minimised(item) for item in value]
    if isinstance(value, str):
        return mask_in_text(value)
    return value


def _minimise_field(key: str, value: Any) -> Any:
    if (key == "phone" or key.endswith("_phone")) and value is not None:
        return mask(str(value))
    if key == "address":
        return _LEFT_OUT
    return minimised(value)
