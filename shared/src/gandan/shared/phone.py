"""Vietnamese mobile numbers: normalise, convert for providers, mask for logs and evidence."""

from __future__ import annotations

import re

# Mobile prefixes after the 2018 renumbering: 03x, 05x, 07x, 08x, 09x.
_MOBILE = re.compile(r"^0[35789]\d{8}$")
_SEPARATORS = re.compile(r"[\s.\-()]")
# Anything that looks like a Vietnamese phone number inside free text.
_IN_TEXT = re.compile(r"(?<!\d)(?:\+?84[\s.\-]?|0)[35789](?:[\s.\-]?\d){8}(?!\d)")


class InvalidPhone(ValueError):
    pass


def normalise_mobile(raw: str) -> str:
    """`0912.345.678`, `+84 912 345 678`, `84912345678` → `0912345678`."""
    digits = _SEPARATORS.sub("", raw.strip())
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    if not _MOBILE.fullmatch(digits):
        raise InvalidPhone(raw)
    return digits


def international(phone: str) -> str:
    """The form Zalo and SMS providers take: `0912345678` → `84912345678`."""
    return "84" + normalise_mobile(phone)[1:]


def mask(phone: str) -> str:
    """Keep the operator prefix and the last three digits: `0912345678` → `091****678`."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 6) + digits[-3:]


def mask_in_text(text: str) -> str:
    return _IN_TEXT.sub(lambda m: mask(m.group(0)), text)
