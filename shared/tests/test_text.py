"""The one rule for text people type: no control or format characters."""

from __future__ import annotations

import re
import unicodedata

import pytest
from pydantic import BaseModel, ValidationError

from gandan.shared.text import PlainText


class Form(BaseModel):
    name: PlainText


REFUSED = {
    "NUL": "\x00",
    "escape": "\x1b",
    "delete": "\x7f",
    "C1 next line": "\x85",
    "newline": "\n",
    "right-to-left override": "\u202e",
    "left-to-right embedding": "\u202a",
    "first strong isolate": "\u2068",
    "pop directional isolate": "\u2069",
    "zero width space": "\u200b",
    "zero width joiner": "\u200d",
    "byte order mark": "\ufeff",
    "line separator": "\u2028",
    "lone surrogate": "\ud800",
    "language tag": "\U000e0001",
}


@pytest.mark.parametrize("character", REFUSED.values(), ids=REFUSED.keys())
def test_a_control_or_format_character_is_refused_with_a_field_error(character):
    with pytest.raises(ValidationError) as refused:
        Form(name=f"Nguyễn{character} Văn An")
    [error] = refused.value.errors()
    assert error["type"] == "control_character"
    assert error["loc"] == ("name",)
    assert "ký tự điều khiển" in error["msg"]


@pytest.mark.parametrize(
    "name",
    [
        "Nguyễn Văn An",
        unicodedata.normalize("NFD", "Đặng Thị Hường"),  # accents as combining marks
        "Trần-Lê Thị Ngọc Ánh (bà nội)",
        "Số 12/3, ngõ 45 – đường Lạch Tray",
    ],
)
def test_vietnamese_text_is_accepted_as_written(name):
    assert Form(name=name).name == name


def test_the_schema_pattern_refuses_what_the_rule_refuses_in_the_basic_plane():
    schema = Form.model_json_schema()["properties"]["name"]
    pattern = re.compile(schema["pattern"])
    for point in range(0x10000):
        if 0xD800 <= point <= 0xDFFF:
            continue  # surrogates: in the schema's words, not its pattern
        character = chr(point)
        try:
            Form(name=character)
            accepted = True
        except ValidationError:
            accepted = False
        assert bool(pattern.fullmatch(character)) == accepted, hex(point)
