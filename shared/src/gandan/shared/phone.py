"""Vietnamese mobile numbers: normalise, convert for providers, mask for logs and evidence."""

from __future__ import annotations

import re

# The prefixes assigned to mobile networks today (the Ministry's numbering plan, after the 2018
# renumbering): Viettel 032-039, 086, 096-098; VinaPhone 081-085, 088, 091, 094; MobiFone 070,
# 076-079, 089, 090, 093; Vietnamobile 052, 056, 058, 092; Gmobile 059, 099; Itelecom 087;
# Wintel (was Reddi) 055. Unassigned ones (030, 031, 050, 051, 053, 054, 057, 071-075, 080, 095)
# reach no one: a message to them would be lost. ASCII digits only: Python's \d would take
# Arabic-Indic or full-width digits too.
MOBILE_PREFIXES: frozenset[str] = frozenset(
    [f"03{d}" for d in range(2, 10)]
    + ["052", "055", "056", "058", "059", "070", "076", "077", "078", "079"]
    + [f"08{d}" for d in range(1, 10)]
    + ["090", "091", "092", "093", "094", "096", "097", "098", "099"]
)
# The second and third digits, per second digit, as character classes: `3[2-9]` and so on.
_AFTER_ZERO = "|".join(
    f"{second}[{''.join(sorted(p[2] for p in MOBILE_PREFIXES if p[1] == second))}]"
    for second in sorted({p[1] for p in MOBILE_PREFIXES})
)
_MOBILE = re.compile(rf"^0(?:{_AFTER_ZERO})[0-9]{{7}}$")
_SEPARATOR = r"[\s.\-()]"
_SEPARATORS = re.compile(_SEPARATOR)
_S = _SEPARATOR + "*"
# What `normalise_mobile` accepts, as one pattern over the number as typed: for the API schema.
_AFTER_ZERO_AS_TYPED = "|".join(
    f"{second}{_S}[{''.join(sorted(p[2] for p in MOBILE_PREFIXES if p[1] == second))}]"
    for second in sorted({p[1] for p in MOBILE_PREFIXES})
)
MOBILE_AS_TYPED = rf"^{_S}(?:0|\+{_S}8{_S}4|8{_S}4){_S}(?:{_AFTER_ZERO_AS_TYPED})(?:{_S}[0-9]){{7}}{_S}$"
# Anything that looks like a Vietnamese phone number inside free text: mobile (0 + 9 digits)
# or landline (02x + 8 digits), written with or without separators or the country code.
_IN_TEXT = re.compile(rf"(?<![0-9])(?:0|\+{_S}8{_S}4|8{_S}4){_S}(?:[35789]|2{_S}[0-9])(?:{_S}[0-9]){{8}}(?![0-9])")


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
    """Keep the operator prefix and the last three digits: `0912345678` → `091****678`.

    A number already masked stays as it is, so masking twice (on storing, on showing) is harmless."""
    if "*" in phone:
        return phone
    digits = re.sub(r"[^0-9]", "", phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 6) + digits[-3:]


# A system-made identifier (a UUID, a hex digest) often holds a run of digits that reads like a
# phone number; masking it would corrupt the id. A run of 16 or more hex digits and hyphens with at
# least one letter in it is one; nobody types a phone number like that.
_HEX_IDENTIFIER = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-fA-F-]*[a-fA-F])[0-9a-fA-F][0-9a-fA-F-]{15,}(?![0-9A-Za-z])")


def mask_in_text(text: str) -> str:
    """Every phone number inside `text` masked; identifiers left as they are."""
    masked, start = [], 0
    for identifier in _HEX_IDENTIFIER.finditer(text):
        masked += [_IN_TEXT.sub(_masked, text[start : identifier.start()]), identifier.group(0)]
        start = identifier.end()
    masked.append(_IN_TEXT.sub(_masked, text[start:]))
    return "".join(masked)


def _masked(number: re.Match[str]) -> str:
    return mask(number.group(0))
