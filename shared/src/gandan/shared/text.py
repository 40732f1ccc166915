"""Text people type into a form (names, addresses, procedures): one rule for every form.

Control and format characters are refused, with a field error: NUL and the other C0/C1
controls corrupt what stores and logs show, bidirectional overrides and isolates
(U+202A–U+202E, U+2066–U+2069) make a text read otherwise than it is written, zero-width
characters hide inside names, line separators break one-line fields, and a lone surrogate
cannot be stored at all. None belongs in what a person types; Vietnamese letters and
combining accents (category Mn) are not among them.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

# Unicode general categories: control, format, surrogate, line and paragraph separator.
_REFUSED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _refused_ranges() -> list[tuple[int, int]]:
    """Runs of refused code points in the Basic Multilingual Plane (a schema pattern cannot name
    astral characters portably; surrogates are left to the words of the description)."""
    ranges: list[tuple[int, int]] = []
    for point in range(0x10000):
        if unicodedata.category(chr(point)) in _REFUSED - {"Cs"}:
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1] = (ranges[-1][0], point)
            else:
                ranges.append((point, point))
    return ranges


def _pattern() -> str:
    runs = "".join(f"\\u{a:04X}" if a == b else f"\\u{a:04X}-\\u{b:04X}" for a, b in _refused_ranges())
    return f"^[^{runs}]*$"


def _without_hidden_characters(value: str) -> str:
    if any(unicodedata.category(character) in _REFUSED for character in value):
        raise PydanticCustomError(
            "control_character",
            "Không được chứa ký tự điều khiển hoặc ký tự định dạng ẩn (như NUL, ký tự đảo chiều văn bản).",
        )
    return value


PlainText = Annotated[
    str,
    AfterValidator(_without_hidden_characters),
    Field(
        json_schema_extra={
            "pattern": _pattern(),
            "x-refused-characters": "Unicode Cc, Cf, Cs, Zl, Zp (control, format, surrogate, line/paragraph separator)",
        }
    ),
]
"""A string a person typed; refused with `control_character` if it holds a control or format character."""
