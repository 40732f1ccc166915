"""What notify says: versioned templates, each with an SMS form and a Zalo ZNS form, and the arithmetic
of SMS segments. No I/O.

A template is known by its id and version: a changed wording is a new version, so a stored message
says exactly which text it carried. New letters (for events other services will announce) are added to
`TEMPLATES` the same way.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from string import Template as Text
from types import MappingProxyType

# Zalo approves a ZNS template in advance; it refuses one longer than this, with its values filled in.
ZNS_MAX_CHARS = 400


class Encoding(StrEnum):
    GSM7 = "gsm7"  # unaccented Latin: 160 characters in one SMS, 153 per part of a longer one
    UCS2 = "ucs2"  # anything else, Vietnamese with diacritics: 70, then 67 per part


# The GSM 03.38 basic set, and the extension characters that each take two places.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsSize:
    encoding: Encoding
    length: int  # in the encoding's units: GSM-7 septets (an extension character counts 2), UCS-2 code units
    segments: int


def sms_size(text: str) -> SmsSize:
    if all(c in _GSM7_BASIC or c in _GSM7_EXTENDED for c in text):
        length = sum(2 if c in _GSM7_EXTENDED else 1 for c in text)
        return SmsSize(Encoding.GSM7, length, 1 if length <= 160 else math.ceil(length / 153))
    length = len(text.encode("utf-16-le")) // 2
    return SmsSize(Encoding.UCS2, length, 1 if length <= 70 else math.ceil(length / 67))


def fold_accents(text: str) -> str:
    """Vietnamese without diacritics, for wards that send unaccented SMS: `Đông Đức Hợp` → `Dong Duc Hop`.

    `đ` is a letter of its own, not `d` with a mark, so decomposing leaves it: it is mapped by hand.
    """
    plain = text.replace("đ", "d").replace("Đ", "D").replace("…", "...")  # a cut value's ellipsis too
    decomposed = unicodedata.normalize("NFD", plain)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


@dataclass(frozen=True)
class Template:
    id: str
    version: int
    sms: Text
    # The text registered with Zalo (its `<name>` placeholders written `$name` here), and the most
    # characters Zalo takes for each parameter.
    zns: Text
    zns_limits: MappingProxyType[str, int]
    # Essential to the citizen's request (an appointment, a result): sent even to those who opted out
    # of the rest (a survey, a greeting).
    essential: bool = True

    @property
    def key(self) -> str:
        return f"{self.id}.v{self.version}"

    def sms_text(self, values: dict[str, str], *, unaccented: bool) -> str:
        # Cut as for Zalo: the longest name or address the forms allow would make an SMS of many parts.
        text = self.sms.substitute(values | self.zns_data(values))
        return fold_accents(text) if unaccented else text

    def zns_data(self, values: dict[str, str]) -> dict[str, str]:
        """The `template_data` of a ZNS request: each parameter cut to Zalo's limit for it."""
        return {name: _clip(values[name], limit) for name, limit in self.zns_limits.items()}

    def zns_text(self, values: dict[str, str]) -> str:
        """The message as Zalo shows it."""
        return self.zns.substitute(self.zns_data(values))


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _limits(**limits: int) -> MappingProxyType[str, int]:
    return MappingProxyType(limits)


# Zalo takes a name of 30 characters, an address of 200; ours are shorter, so the whole stays under
# 400 with the longest values the forms allow (a name of 100, an address or a procedure of 200).
_NAME, _PHONE, _ADDRESS, _CODE, _WHEN, _PROCEDURE, _CENTRE = 30, 15, 70, 20, 30, 50, 80

TEMPLATES: MappingProxyType[tuple[str, int], Template] = MappingProxyType(
    {
        (t.id, t.version): t
        for t in (
            Template(
                "visit_appointment_citizen",
                2,
                sms=Text(
                    "$ward hẹn đến nhà ông/bà $citizen_name lúc $when_short hỗ trợ thủ tục $procedure. Mã $request_code"
                ),
                zns=Text(
                    "Kính gửi ông/bà $citizen_name: $centre hẹn đến nhà ông/bà lúc $when để hỗ trợ thủ tục "
                    '"$procedure". Cán bộ $officer_name cùng ông/bà $leader_name sẽ đến. Mã yêu cầu: $request_code.'
                ),
                zns_limits=_limits(
                    citizen_name=_NAME,
                    centre=_CENTRE,
                    when=_WHEN,
                    procedure=_PROCEDURE,
                    officer_name=_NAME,
                    leader_name=_NAME,
                    request_code=_CODE,
                ),
            ),
            Template(
                "visit_assignment_officer",
                2,
                # The citizen's phone, so the officer can call before going (seed 000).
                sms=Text(
                    "Lịch $when_short: nhà $citizen_name $citizen_phone, $address; $procedure; "
                    "cùng $leader_name $leader_phone. $request_code"
                ),
                zns=Text(
                    "Phân công: đồng chí $officer_name đến nhà ông/bà $citizen_name ($citizen_phone), $address "
                    'lúc $when để hỗ trợ thủ tục "$procedure", cùng ông/bà $leader_name ($leader_phone). '
                    "Mã yêu cầu: $request_code."
                ),
                zns_limits=_limits(
                    officer_name=_NAME,
                    citizen_name=_NAME,
                    citizen_phone=_PHONE,
                    address=_ADDRESS,
                    when=_WHEN,
                    procedure=_PROCEDURE,
                    leader_name=_NAME,
                    leader_phone=_PHONE,
                    request_code=_CODE,
                ),
            ),
            Template(
                "visit_assignment_leader",
                2,
                sms=Text(
                    "Lịch $when_short: cùng cán bộ $officer_name $officer_phone đến nhà $citizen_name, $address; "
                    "$procedure. $request_code"
                ),
                zns=Text(
                    "Đề nghị ông/bà $leader_name cùng cán bộ $officer_name ($officer_phone) đến nhà ông/bà "
                    '$citizen_name, $address lúc $when để hỗ trợ thủ tục "$procedure". Mã yêu cầu: $request_code.'
                ),
                zns_limits=_limits(
                    leader_name=_NAME,
                    officer_name=_NAME,
                    officer_phone=_PHONE,
                    citizen_name=_NAME,
                    address=_ADDRESS,
                    when=_WHEN,
                    procedure=_PROCEDURE,
                    request_code=_CODE,
                ),
            ),
        )
    }
)
