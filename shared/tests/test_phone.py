import io
import json
import logging

import pytest

from gandan.shared.logs import JsonFormatter, correlation, log_fields
from gandan.shared.phone import InvalidPhone, international, mask, mask_in_text, normalise_mobile


@pytest.mark.parametrize("raw", ["0912345678", "0912.345.678", "0912 345 678", "+84 912 345 678", "84912345678"])
def test_the_ways_people_write_a_mobile_number_are_understood(raw):
    assert normalise_mobile(raw) == "0912345678"


@pytest.mark.parametrize("raw", ["", "12345", "0212345678", "091234567", "09123456789", "abcdefghij"])
def test_what_is_not_a_vietnamese_mobile_is_refused(raw):
    with pytest.raises(InvalidPhone):
        normalise_mobile(raw)


def test_providers_get_the_international_form():
    assert international("0912.345.678") == "84912345678"


def test_a_masked_number_keeps_only_prefix_and_last_three():
    assert mask("0912345678") == "091****678"


def test_numbers_inside_text_are_masked():
    text = "Gọi 0912.345.678 hoặc +84 983 123 456, mã GD-ABC1234, năm 2026"
    assert mask_in_text(text) == "Gọi 091****678 hoặc 849*****456, mã GD-ABC1234, năm 2026"


def test_log_lines_are_json_with_correlation_id_and_no_phone_number():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("intake"))
    logger = logging.getLogger("test.phone.masking")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with correlation("c-1"):
            logger.info("sent to 0912345678", extra=log_fields(phone="0987654321"))
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    entry = json.loads(line)
    assert entry["service"] == "intake"
    assert entry["correlation_id"] == "c-1"
    assert entry["message"] == "sent to 091****678"
    assert entry["phone"] == "098****321"
    assert "0912345678" not in line and "0987654321" not in line
