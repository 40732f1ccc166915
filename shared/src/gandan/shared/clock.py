"""Times are stored in UTC and shown in Vietnam's time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> datetime:
    """Now, to the millisecond: what a BSON date keeps, so a stored time reads back equal."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def local(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_TZ)
