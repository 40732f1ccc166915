"""The official list of wards and communes after the 2025 reorganisation."""

from __future__ import annotations

from functools import cache

from vietnam_provinces import Ward, WardCode


@cache
def ward_name(ward_code: str) -> str | None:
    """`"11002"` → `"Phường Thạch Khôi"`; None for a code not in the list."""
    if len(ward_code) != 5 or not ward_code.isdigit():
        return None
    try:
        return Ward.from_code(WardCode(int(ward_code))).name
    except ValueError:  # not a code in the list
        return None
