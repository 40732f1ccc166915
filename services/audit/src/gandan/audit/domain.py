"""Evidence: what audit keeps of an event. No I/O.

Personal data is minimised before it is stored: phone numbers are masked and
home addresses left out; the rest of the event is kept as published.
"""

from __future__ import annotations

from typing import Any

from gandan.shared.phone import mask

_LEFT_OUT = "[không lưu]"


def minimised(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _minimise_field(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [minimised(item) for item in value]
    return value


def _minimise_field(key: str, value: Any) -> Any:
    if (key == "phone" or key.endswith("_phone")) and value is not None:
        return mask(str(value))
    if key == "address":
        return _LEFT_OUT
    return minimised(value)
