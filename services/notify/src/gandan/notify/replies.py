"""What a staff member means by an answer to an assignment, typed on a phone: `OK`, `KHÔNG` (or `KHONG`,
`k`), `ĐỔI 14:00` (or `DOI 14h`, `DOI 14:00 1/12`), in any case, with or without accents. No I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from gandan.notify.templates import fold_accents
from gandan.shared.clock import LOCAL_TZ
from gandan.shared.events import StaffAnswer

_ACCEPTED = frozenset({"OK", "OKE", "OKAY", "CO", "DONG Y"})
_DECLINED = frozenset({"KHONG", "K", "KO"})
# `DOI 14:00`, `DOI 14h`, `DOI 14h30`, `DOI 14:00 1/12`, `DOI 14:00 01/12/2026`.
_OTHER_TIME = re.compile(
    r"DOI\s*(?P<hour>\d{1,2})\s*(?:[:H.G]\s*(?P<minute>\d{2})?)?"
    r"(?:\s*(?:NGAY\s*)?(?P<day>\d{1,2})/(?P<month>\d{1,2})(?:/(?P<year>\d{4}))?)?"
)


@dataclass(frozen=True)
class Reply:
    """An answer, or None when it was not understood (the sender gets a short help message)."""

    answer: StaffAnswer | None
    hour: int = 0
    minute: int = 0
    day: int | None = None  # with a month, the day asked for; none: the visit's own day
    month: int | None = None
    year: int | None = None

    def proposed_at(self, visit_day: date) -> datetime | None:
        """The time asked for with `ĐỔI`, in UTC: on the day given, else on the visit's day."""
        if self.answer is not StaffAnswer.OTHER_TIME:
            return None
        on = visit_day
        if self.day is not None and self.month is not None:
            # Without a year, the one that puts the day nearest the visit's (1/1 asked on 30/12 is next year).
            years = [self.year] if self.year else [visit_day.year - 1, visit_day.year, visit_day.year + 1]
            candidates = [d for y in years if (d := _date(y, self.month, self.day)) is not None]
            if not candidates:
                return None
            on = min(candidates, key=lambda d: abs(d - visit_day))
        return datetime.combine(on, time(self.hour, self.minute), LOCAL_TZ).astimezone(UTC)


NOT_UNDERSTOOD = Reply(None)


def parse_reply(text: str) -> Reply:
    words = " ".join(fold_accents(text).upper().split()).strip(" .!")
    if words in _ACCEPTED:
        return Reply(StaffAnswer.ACCEPTED)
    if words in _DECLINED:
        return Reply(StaffAnswer.DECLINED)
    matched = _OTHER_TIME.fullmatch(words)
    if matched is None:
        return NOT_UNDERSTOOD
    hour, minute = int(matched["hour"]), int(matched["minute"] or 0)
    if hour > 23 or minute > 59:
        return NOT_UNDERSTOOD
    if matched["day"] is None:
        return Reply(StaffAnswer.OTHER_TIME, hour, minute)
    day, month = int(matched["day"]), int(matched["month"])
    year = int(matched["year"]) if matched["year"] else None
    # A day no year has (31/4), or not the one given: not understood, rather than a guess.
    if _date(year or 2028, month, day) is None:
        return NOT_UNDERSTOOD
    return Reply(StaffAnswer.OTHER_TIME, hour, minute, day, month, year)


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
