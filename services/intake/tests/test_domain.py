"""Home requests without I/O: pseudonyms, request codes, and what registering announces."""

import hashlib
import json
import re
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from cryptography.exceptions import InvalidTag

from gandan.intake.cccd import PROVINCE_CODES, CccdCipher, InvalidCccd, birth_year, check_cccd
from gandan.intake.domain import (
    EligibilityCategory,
    HomeRequest,
    HomeRequestDetails,
    RequestStatus,
    citizen_ref,
    fingerprint,
    new_request_code,
    registration_events,
)
from gandan.shared.events import (
    ContactRegistered,
    ProcedureField,
    Registrar,
    RegistrationChannel,
    RequestRegistered,
    ResultDelivery,
    TimeWindow,
    to_wire,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
KEY = b"k" * 32
OTHER_KEY = b"j" * 32
PHONE = "0912345678"

NAME = "Nguyễn Văn An"
ADDRESS = "Số 12 ngõ 3, tổ dân phố Thanh Xá"
CATEGORY = EligibilityCategory.THUONG_BINH


def a_request(**changes) -> HomeRequest:
    values: dict[str, Any] = dict(
        code="GD-ABC2345",
        ward_code="11002",
        citizen_ref=citizen_ref(KEY, "11002", PHONE),
        name=NAME,
        phone=PHONE,
        address=ADDRESS,
        residential_group="Thanh Xá",
        category=CATEGORY,
        procedure="Cấp bản sao trích lục khai sinh",
        field=ProcedureField.HO_TICH,
        preferred_date=date(2026, 6, 10),
        time_window=TimeWindow.MORNING,
        result_delivery=ResultDelivery.POST,
        registered_by=Registrar.GROUP_LEADER,
        channel=RegistrationChannel.PHONE_CALL,
        # Registered in the evening, Vietnam time: the event must still say the same instant.
        registered_at=datetime(2026, 6, 3, 21, 15, 30, 123000, tzinfo=HCM),
    )
    values.update(changes)
    return HomeRequest(**values)


# --- citizen_ref ---------------------------------------------------------------


def test_citizen_ref_is_stable_for_the_same_person_in_the_same_ward():
    assert citizen_ref(KEY, "11002", PHONE) == citizen_ref(KEY, "11002", PHONE)


def test_citizen_ref_differs_by_ward():
    assert citizen_ref(KEY, "11002", PHONE) != citizen_ref(KEY, "11359", PHONE)


def test_citizen_ref_differs_by_key():
    assert citizen_ref(KEY, "11002", PHONE) != citizen_ref(OTHER_KEY, "11002", PHONE)


def test_citizen_ref_differs_by_phone():
    assert citizen_ref(KEY, "11002", PHONE) != citizen_ref(KEY, "11002", "0987654321")


def test_citizen_ref_does_not_reveal_the_phone():
    ref = citizen_ref(KEY, "11002", PHONE)
    assert ref != PHONE
    assert PHONE not in ref
    assert PHONE[1:] not in ref  # not even without the leading zero
    assert "11002" not in ref


def test_citizen_ref_does_not_mix_ward_and_phone_ambiguously():
    # "1100" + "20912..." must not collide with "11002" + "0912...".
    assert citizen_ref(KEY, "11002", PHONE) != citizen_ref(KEY, "1100", "2" + PHONE)


# --- request codes -------------------------------------------------------------

CODE = re.compile(r"^GD-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{7}$")


def test_request_codes_have_the_format_read_aloud_over_the_phone():
    codes = [new_request_code() for _ in range(2000)]
    for code in codes:
        assert CODE.fullmatch(code), code
        assert not set(code[3:]) & set("0O1IL"), code


def test_request_codes_are_drawn_at_random():
    codes = {new_request_code() for _ in range(500)}
    assert len(codes) == 500
    # Over 3500 drawn characters every letter of the alphabet shows up.
    assert set("".join(c[3:] for c in codes)) == set("ABCDEFGHJKMNPQRSTUVWXYZ23456789")


# --- registration events -------------------------------------------------------


def test_registration_announces_the_contact_first_then_the_request():
    contact, request = registration_events(a_request(), uuid4())
    assert (contact.type, contact.version) == ("contact.registered", 1)
    assert (request.type, request.version) == ("request.registered", 1)
    assert isinstance(contact.data, ContactRegistered)
    assert isinstance(request.data, RequestRegistered)


def test_request_registered_on_the_wire_carries_no_personal_data():
    registered = a_request()
    _, request = registration_events(registered, uuid4())
    wire = to_wire(request)
    text = json.dumps(wire, ensure_ascii=False)

    assert set(wire["data"]) == {
        "request_code",
        "citizen_ref",
        "residential_group",
        "procedure",
        "field",
        "preferred_date",
        "time_window",
        "result_delivery",
        "registered_by",
        "channel",
    }
    for personal in (PHONE, PHONE[1:], NAME, ADDRESS, CATEGORY.value):
        assert personal not in text, personal
    assert wire["data"]["request_code"] == registered.code
    assert wire["data"]["citizen_ref"] == registered.citizen_ref
    assert wire["data"]["preferred_date"] == "2026-06-10"
    assert wire["data"]["field"] == "ho_tich"
    assert wire["data"]["time_window"] == "morning"
    assert wire["data"]["result_delivery"] == "post"
    assert (wire["data"]["registered_by"], wire["data"]["channel"]) == ("group_leader", "phone_call")


def test_no_event_of_a_registration_carries_the_cccd():
    registered = a_request(cccd=CCCD)
    for event in registration_events(registered, uuid4()):
        assert CCCD not in json.dumps(to_wire(event)), event.type


def test_contact_registered_carries_how_to_reach_the_citizen_but_not_the_health_condition():
    registered = a_request()
    contact, _ = registration_events(registered, uuid4())
    wire = to_wire(contact)
    assert wire["data"] == {
        "request_code": registered.code,
        "citizen_ref": registered.citizen_ref,
        "name": NAME,
        "phone": PHONE,
        "address": ADDRESS,
        "residential_group": "Thanh Xá",
    }
    assert CATEGORY.value not in json.dumps(wire, ensure_ascii=False)


def test_registration_events_share_correlation_ward_and_time():
    registered = a_request()
    correlation_id = uuid4()
    events = registration_events(registered, correlation_id)
    assert len(events) == 2
    for event in events:
        assert event.correlation_id == correlation_id
        assert event.causation_id is None  # a person's action caused it
        assert event.ward_code == "11002"
        assert event.producer == "intake"
        assert event.occurred_at == registered.registered_at
        wire = to_wire(event)
        assert datetime.fromisoformat(wire["occurred_at"]) == registered.registered_at
        assert datetime.fromisoformat(wire["occurred_at"]).utcoffset() == timedelta(0)
    assert events[0].id != events[1].id


def test_registration_events_follow_the_request_ward():
    registered = a_request(ward_code="11359", citizen_ref=citizen_ref(KEY, "11359", PHONE))
    for event in registration_events(registered, uuid4()):
        assert event.ward_code == "11359"


def test_a_new_request_is_registered_without_a_visit():
    registered = a_request()
    assert registered.status is RequestStatus.REGISTERED
    assert registered.visit is None


# --- CCCD ----------------------------------------------------------------------

CCCD = "031090012345"  # born in Hải Phòng, a man of 1990
TODAY = date(2026, 11, 26)
DETAILS = HomeRequestDetails.__dataclass_fields__


def test_there_are_the_63_former_province_codes_from_001_to_096():
    assert len(PROVINCE_CODES) == 63
    assert min(PROVINCE_CODES) == "001" and max(PROVINCE_CODES) == "096"
    assert {"003", "005", "028", "029", "032", "097"}.isdisjoint(PROVINCE_CODES)  # gaps, e.g. Hà Tây's old 028


@pytest.mark.parametrize(
    ("cccd", "year"),
    [(CCCD, 1990), ("001190012345", 1990), ("079205012345", 2005), ("096326012345", 2026), ("001000012345", 1900)],
)
def test_a_cccd_of_a_known_province_and_a_birth_year_already_past_is_valid(cccd, year):
    assert check_cccd(cccd, TODAY) == cccd
    assert birth_year(cccd) == year


@pytest.mark.parametrize(
    "cccd",
    [
        "03109001234",  # 11 digits
        "0310900123456",  # 13
        "03109001234a",
        "０３１０９００１２３４５",  # full-width digits
        "003090012345",  # 003: no province
        "097090012345",  # past 096
        "000090012345",
        "031227012345",  # born in 2027
        "031490012345",  # born in 2190
    ],
)
def test_anything_else_is_not_a_cccd(cccd):
    with pytest.raises(InvalidCccd):
        check_cccd(cccd, TODAY)


def test_a_sealed_cccd_reads_back_only_with_its_key_and_for_its_request():
    cipher = CccdCipher(b"s" * 32)
    sealed = cipher.seal(CCCD, "GD-ABC2345")

    assert CCCD not in sealed
    assert sealed != cipher.seal(CCCD, "GD-ABC2345")  # a fresh nonce each time
    assert cipher.open(sealed, "GD-ABC2345") == CCCD
    with pytest.raises(InvalidTag):
        cipher.open(sealed, "GD-OTHER22")
    with pytest.raises(InvalidTag):
        CccdCipher(b"t" * 32).open(sealed, "GD-ABC2345")


def test_what_a_retry_must_repeat_is_fingerprinted_under_a_key_so_the_cccd_cannot_be_guessed_back():
    details = HomeRequestDetails(**{k: v for k, v in asdict(a_request(cccd=CCCD)).items() if k in DETAILS})
    unkeyed = hashlib.sha256(json.dumps(asdict(details), sort_keys=True, default=str, ensure_ascii=False).encode())

    assert fingerprint(details, KEY) == fingerprint(details, KEY)
    assert fingerprint(details, KEY) not in {fingerprint(details, OTHER_KEY), unkeyed.hexdigest()}


# --- open requests ---------------------------------------------------------------


def test_an_open_request_is_keyed_by_citizen_and_procedure_however_the_procedure_is_typed():
    request = a_request(procedure="Cấp bản sao trích lục khai sinh")
    assert request.open_key == a_request(procedure=" cấp  bản sao Trích lục KHAI SINH").open_key
    assert request.open_key != a_request(procedure="Đăng ký khai tử").open_key
    assert request.open_key != a_request(citizen_ref=citizen_ref(KEY, "11002", "0987654321")).open_key
