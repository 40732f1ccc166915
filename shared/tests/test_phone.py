import io
import json
import logging
import re

import pytest

from gandan.shared.logs import JsonFormatter, correlation, log_fields
from gandan.shared.phone import MOBILE_AS_TYPED, InvalidPhone, international, mask, mask_in_text, normalise_mobile


@pytest.mark.parametrize("raw", ["0912345678", "0912.345.678", "0912 345 678", "+84 912 345 678", "84912345678"])
def test_the_ways_people_write_a_mobile_number_are_understood(raw):
    assert normalise_mobile(raw) == "0912345678"


@pytest.mark.parametrize("raw", ["", "12345", "0212345678", "091234567", "09123456789", "abcdefghij"])
def test_what_is_not_a_vietnamese_mobile_is_refused(raw):
    with pytest.raises(InvalidPhone):
        normalise_mobile(raw)


ASSIGNED = [
    *["032", "033", "034", "035", "036", "037", "038", "039", "086", "096", "097", "098"],  # Viettel
    *["081", "082", "083", "084", "085", "088", "091", "094"],  # VinaPhone
    *["070", "076", "077", "078", "079", "089", "090", "093"],  # MobiFone
    *["052", "056", "058", "092", "059", "099", "087", "055"],  # Vietnamobile, Gmobile, Itelecom, Wintel
]
UNASSIGNED = ["030", "031", "050", "051", "053", "054", "057", "071", "072", "073", "074", "075", "080", "095"]


@pytest.mark.parametrize("prefix", ASSIGNED)
def test_every_prefix_of_a_mobile_network_is_accepted_however_written(prefix):
    assert normalise_mobile(f"{prefix}1234567") == f"{prefix}1234567"
    assert normalise_mobile(f"+84 {prefix[1:]} 123 4567") == f"{prefix}1234567"
    assert re.fullmatch(MOBILE_AS_TYPED, f"+84 {prefix[1:]} 123 4567")


@pytest.mark.parametrize("prefix", UNASSIGNED)
def test_a_prefix_no_network_holds_is_refused_however_written(prefix):
    for raw in (f"{prefix}1234567", f"+84 {prefix[1:]} 123 4567", f"{prefix}.123.4567"):
        with pytest.raises(InvalidPhone):
            normalise_mobile(raw)
        assert not re.fullmatch(MOBILE_AS_TYPED, raw)


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


@pytest.mark.parametrize(
    "raw",
    [
        "0912345678",
        "0912.345.678",
        "(091) 234-5678",
        " +84 912 345 678 ",
        "84912345678",
        "+ 8 4 9 1 2 3 4 5 6 7 8",
        "",
        "12345",
        "0212345678",
        "091234567",
        "09123456789",
        "+8491234567",
        "849123456789",
        "09١٢٣٤٥٦٧٨",  # Arabic-Indic digits
        "０９１２３４５６７８",  # full-width digits
    ],
)
def test_the_documented_pattern_accepts_exactly_what_is_understood(raw):
    try:
        normalise_mobile(raw)
        understood = True
    except InvalidPhone:
        understood = False
    assert bool(re.fullmatch(MOBILE_AS_TYPED, raw)) == understood


def test_a_number_in_other_digits_is_not_a_mobile_number():
    with pytest.raises(InvalidPhone):
        normalise_mobile("09١٢٣٤٥٦٧٨")


def test_numbers_inside_text_are_masked_however_they_are_written():
    text = "Lan (0 912 345 678), nhà (0225) 3123 456, con 84-983-123-456, CCCD 031234567890, 2.500.000 đồng"
    assert mask_in_text(text) == (
        "Lan (091****678), nhà (022*****456, con 849*****456, CCCD 031234567890, 2.500.000 đồng"
    )


def test_masking_twice_is_masking_once():
    assert mask(mask("0912345678")) == "091****678"
    assert mask_in_text(mask_in_text("gọi 0912345678")) == "gọi 091****678"


def test_identifiers_that_hold_a_run_of_digits_are_not_masked():
    # Seen in the trail: a message id whose UUID ends in digits that read as "+84 3…".
    message_id = "079eb350-892d-49c2-8fd0-c84391234467/citizen"
    assert mask_in_text(message_id) == message_id
    assert mask_in_text(f"event {message_id} for 0912345678") == f"event {message_id} for 091****678"
    assert mask_in_text("sdt0912345678 / 0912-345-678") == "sdt091****678 / 091****678"
