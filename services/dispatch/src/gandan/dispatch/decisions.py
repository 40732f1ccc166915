"""A year's working-calendar decision from TOML, as an operator enters it (`gandan-roster calendar`).

`year`, `source` (the decision's reference), and three lists of YYYY-MM-DD dates: `days_off`
(the package lacks them), `not_days_off` (the package has them, this year works them) and
`working_days` (make-up days, usually Saturdays). The years shipped in `calendars/` seed an
empty store.
"""

from __future__ import annotations

import tomllib
from datetime import date
from importlib.resources import files
from typing import Any

from gandan.dispatch.domain import YearDecision


class DecisionInvalid(ValueError):
    pass


def _days(data: dict[str, Any], key: str) -> frozenset[date]:
    values = data.get(key, [])
    if not isinstance(values, list):
        raise DecisionInvalid(f"{key}: a list of dates")
    days: set[date] = set()
    for value in values:
        # TOML's own dates arrive as date; quoted ones as text.
        if isinstance(value, date):
            days.add(value)
            continue
        try:
            days.add(date.fromisoformat(str(value)))
        except ValueError:
            raise DecisionInvalid(f"{key}: {value!r} is not a YYYY-MM-DD date") from None
    return frozenset(days)


def parse_decision(content: str) -> YearDecision:
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as error:
        raise DecisionInvalid(str(error)) from None
    unknown = sorted(set(data) - {"year", "source", "days_off", "not_days_off", "working_days"})
    if unknown:
        raise DecisionInvalid(f"unknown keys: {', '.join(unknown)}")
    year, source = data.get("year"), data.get("source", "")
    if type(year) is not int or not 2000 <= year <= 2100:
        raise DecisionInvalid(f"year: {year!r} is not a year")
    if not isinstance(source, str) or not source.strip():
        raise DecisionInvalid("source: name the decision the days come from")
    try:
        return YearDecision(
            year=year,
            days_off=_days(data, "days_off"),
            not_days_off=_days(data, "not_days_off"),
            working_days=_days(data, "working_days"),
            source=source.strip(),
        )
    except ValueError as error:
        raise DecisionInvalid(str(error)) from None


def shipped_decisions() -> list[YearDecision]:
    folder = files("gandan.dispatch").joinpath("calendars")
    return [parse_decision(p.read_text(encoding="utf-8")) for p in folder.iterdir() if p.name.endswith(".toml")]
