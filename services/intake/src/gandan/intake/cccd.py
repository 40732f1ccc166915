"""The citizen ID number (CCCD): what a valid one looks like, and how it is kept sealed.

It never leaves intake in clear: stored encrypted, never in an event, a log or an answer.
No I/O here.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from datetime import date

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# The first three digits: the place-of-birth province, coded as the 63 provinces were before the
# 2025 merger (Circular 07/2016/TT-BCA, amended by 59/2021/TT-BCA); numbers already issued keep it.
PROVINCE_CODES: dict[str, str] = {
    "001": "Hà Nội",
    "002": "Hà Giang",
    "004": "Cao Bằng",
    "006": "Bắc Kạn",
    "008": "Tuyên Quang",
    "010": "Lào Cai",
    "011": "Điện Biên",
    "012": "Lai Châu",
    "014": "Sơn La",
    "015": "Yên Bái",
    "017": "Hòa Bình",
    "019": "Thái Nguyên",
    "020": "Lạng Sơn",
    "022": "Quảng Ninh",
    "024": "Bắc Giang",
    "025": "Phú Thọ",
    "026": "Vĩnh Phúc",
    "027": "Bắc Ninh",
    "030": "Hải Dương",
    "031": "Hải Phòng",
    "033": "Hưng Yên",
    "034": "Thái Bình",
    "035": "Hà Nam",
    "036": "Nam Định",
    "037": "Ninh Bình",
    "038": "Thanh Hóa",
    "040": "Nghệ An",
    "042": "Hà Tĩnh",
    "044": "Quảng Bình",
    "045": "Quảng Trị",
    "046": "Thừa Thiên Huế",
    "048": "Đà Nẵng",
    "049": "Quảng Nam",
    "051": "Quảng Ngãi",
    "052": "Bình Định",
    "054": "Phú Yên",
    "056": "Khánh Hòa",
    "058": "Ninh Thuận",
    "060": "Bình Thuận",
    "062": "Kon Tum",
    "064": "Gia Lai",
    "066": "Đắk Lắk",
    "067": "Đắk Nông",
    "068": "Lâm Đồng",
    "070": "Bình Phước",
    "072": "Tây Ninh",
    "074": "Bình Dương",
    "075": "Đồng Nai",
    "077": "Bà Rịa – Vũng Tàu",
    "079": "Thành phố Hồ Chí Minh",
    "080": "Long An",
    "082": "Tiền Giang",
    "083": "Bến Tre",
    "084": "Trà Vinh",
    "086": "Vĩnh Long",
    "087": "Đồng Tháp",
    "089": "An Giang",
    "091": "Kiên Giang",
    "092": "Cần Thơ",
    "093": "Hậu Giang",
    "094": "Sóc Trăng",
    "095": "Bạc Liêu",
    "096": "Cà Mau",
}

_TWELVE_DIGITS = re.compile(r"[0-9]{12}")  # ASCII only: \d would take other scripts' digits


class InvalidCccd(ValueError):
    """Not a citizen ID number; the message says why, in Vietnamese."""


def birth_year(cccd: str) -> int:
    """The fourth digit is the century and sex (0/1: 1900s male/female, 2/3: 2000s, 4/5: 2100s, ...),
    the fifth and sixth the year within it."""
    return 1900 + int(cccd[3]) // 2 * 100 + int(cccd[4:6])


def check_cccd(cccd: str, today: date) -> str:
    """`cccd` if it can be a citizen ID number issued by now; else `InvalidCccd`."""
    if not _TWELVE_DIGITS.fullmatch(cccd):
        raise InvalidCccd("Số căn cước công dân phải gồm đúng 12 chữ số.")
    if cccd[:3] not in PROVINCE_CODES:
        raise InvalidCccd("Ba chữ số đầu của số căn cước công dân không phải mã tỉnh, thành phố nơi đăng ký khai sinh.")
    if birth_year(cccd) > today.year:
        raise InvalidCccd("Chữ số thứ tư đến thứ sáu của số căn cước công dân cho một năm sinh chưa tới.")
    return cccd


class CccdCipher:
    """AES-256-GCM under a key derived from the `INTAKE_CCCD_KEY` setting. Each number is sealed
    with a fresh nonce and bound to its request code, so a sealed value copied to another request
    does not open."""

    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(hashlib.sha256(secret).digest())

    def seal(self, cccd: str, request_code: str) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, cccd.encode(), request_code.encode())).decode()

    def open(self, sealed: str, request_code: str) -> str:
        raw = base64.b64decode(sealed)
        return self._aead.decrypt(raw[:12], raw[12:], request_code.encode()).decode()
