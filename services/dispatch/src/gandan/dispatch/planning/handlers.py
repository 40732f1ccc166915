"""What each of dispatch's timers does when it fires, per ward (timers.py fires them once, across restarts
and replicas):

- `cutoff`: at the ward's cut-off (DISPATCH_PLANNING_CUTOFF, the working day before) plans the next
  working day; then waits for the next cut-off.
- `replanning`: every DISPATCH_REPLAN_CHECK_MINUTES compares each planned day still to come (today's and
  tomorrow's) with its visits as they are now; a visit agreed, moved or cancelled since makes a new
  revision, in which the stops whose arrival has passed keep their team and time. A sweep rather than a
  mark set by the booking's writes: the booking stays as it is, and a change is planned within minutes.
- `service_levels`: every DISPATCH_SERVICE_LEVEL_SWEEP_MINUTES, the ward's missed service levels, each
  announced once.
- `digest`: at DISPATCH_DIGEST_AT each working day, the morning digest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Protocol

from gandan.dispatch.domain import RosterBook
from gandan.dispatch.planning.domain import (
    breached,
    breaches,
    day_problem,
    digest,
    fingerprint,
    next_cutoff,
    next_daily,
    pinned_stops,
    planned_day,
)
from gandan.dispatch.planning.repository import MongoDayPlans, breach_id
from gandan.dispatch.planning.timers import Fired, MongoTimers, Timer
from gandan.dispatch.routing.model import DayPlan, DayProblem
from gandan.dispatch.routing.solver import NoFeasiblePlan
from gandan.shared.clock import LOCAL_TZ, local
from gandan.shared.logs import log_fields

logger = logging.getLogger(__name__)

CUTOFF, REPLANNING, SERVICE_LEVELS, DIGEST = "cutoff", "replanning", "service_levels", "digest"
# Visits further back than this are past every service level's interest.
_SWEEP_BACK = timedelta(days=60)


class Planner(Protocol):
    async def plan(self, problem: DayProblem) -> DayPlan: ...


@dataclass(frozen=True)
class PlanningSettings:
    cutoff: time = time(16)
    digest_at: time = time(7)
    replan_check: timedelta = timedelta(minutes=10)
    service_level_sweep: timedelta = timedelta(hours=1)
    visit_within_working_days: int = 5
    visit_within_by_ward: Mapping[str, int] = field(default_factory=dict)

    def visit_within(self, ward_code: str) -> int:
        return self.visit_within_by_ward.get(ward_code, self.visit_within_working_days)


class DayPlanning:
    def __init__(
        self,
        *,
        rosters: RosterBook,
        plans: MongoDayPlans,
        timers: MongoTimers,
        planner: Planner,
        settings: PlanningSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._rosters = rosters
        self._plans = plans
        self._timers = timers
        self._planner = planner
        self._settings = settings
        self._clock = clock
        timers.on(CUTOFF, self.at_cutoff)
        timers.on(REPLANNING, self.replan_changed)
        timers.on(SERVICE_LEVELS, self.sweep_service_levels)
        timers.on(DIGEST, self.morning_digest)

    async def arm(self, ward_codes: list[str]) -> None:
        """At start: each ward's timers, unless pending already (then they keep their time, overdue or not)."""
        now = self._clock()
        calendar = await self._rosters.calendar()
        for ward in ward_codes:
            open_days = (await self._rosters.roster(ward)).open_days
            at, day = next_cutoff(now, self._settings.cutoff, calendar, open_days)
            for timer in (
                Timer(f"{CUTOFF}/{ward}", CUTOFF, at, {"ward_code": ward, "day": day.isoformat()}),
                Timer(f"{REPLANNING}/{ward}", REPLANNING, now + self._settings.replan_check, {"ward_code": ward}),
                Timer(f"{SERVICE_LEVELS}/{ward}", SERVICE_LEVELS, now, {"ward_code": ward}),
                Timer(
                    f"{DIGEST}/{ward}",
                    DIGEST,
                    next_daily(now, self._settings.digest_at, calendar, open_days),
                    {"ward_code": ward},
                ),
            ):
                await self._timers.arm(timer)

    # --- the timers' firings --------------------------------------------------------------

    async def at_cutoff(self, timer: Timer) -> Fired:
        ward, day = str(timer.data["ward_code"]), date.fromisoformat(str(timer.data["day"]))
        now = self._clock()
        # Fired late (dispatch was down past the cut-off): the day is planned still, unless it is over.
        if day >= local(now).date():
            await self.plan(ward, day, firing=_firing(timer))
        roster, calendar = await self._rosters.roster(ward), await self._rosters.calendar()
        at, next_day = next_cutoff(now, self._settings.cutoff, calendar, roster.open_days)
        return Fired(next_due=at, next_data={"ward_code": ward, "day": next_day.isoformat()})

    async def replan_changed(self, timer: Timer) -> Fired:
        ward = str(timer.data["ward_code"])
        now = self._clock()
        for plan in await self._plans.days_from(ward, local(now).date()):
            day = date.fromisoformat(plan["day"])
            if fingerprint(await self._plans.day_visits(ward, day)) != plan["fingerprint"]:
                await self.plan(ward, day, firing=_firing(timer))
        return Fired(next_due=now + self._settings.replan_check)

    async def sweep_service_levels(self, timer: Timer) -> Fired:
        ward = str(timer.data["ward_code"])
        now = self._clock()
        roster, calendar = await self._rosters.roster(ward), await self._rosters.calendar()
        visits = await self._plans.visits_ending_after(ward, now - _SWEEP_BACK)
        found = breaches(
            visits,
            now,
            calendar,
            visit_within_working_days=self._settings.visit_within(ward),
            open_days=roster.open_days,
        )
        known = await self._plans.breached(ward, {b.request_code for b in found})
        for breach in found:
            if breach_id(breach.request_code, breach.rule) not in known:
                await self._plans.record(ward, breach, breached(roster, breach))
        return Fired(next_due=now + self._settings.service_level_sweep)

    async def morning_digest(self, timer: Timer) -> Fired:
        ward = str(timer.data["ward_code"])
        now = self._clock()
        today = local(now).date()
        roster, calendar = await self._rosters.roster(ward), await self._rosters.calendar()
        plan = await self._plans.latest(ward, today)
        late = await self._plans.late(ward, datetime.combine(today, time(0), tzinfo=LOCAL_TZ))
        prepared = digest(
            roster,
            today,
            plan["routes"] if plan else [],
            plan["unassigned_requests"] if plan else [],
            late,
        )
        return Fired(events=(prepared,), next_due=next_daily(now, self._settings.digest_at, calendar, roster.open_days))

    # --- planning a day -------------------------------------------------------------------

    async def plan(self, ward: str, day: date, *, firing: str) -> None:
        """Plan the ward's day, a new revision over the stored one; nothing if this firing did already."""
        earlier = await self._plans.latest(ward, day)
        if earlier is not None and earlier["firing"] == firing:
            return
        roster, calendar = await self._rosters.roster(ward), await self._rosters.calendar()
        visits = await self._plans.day_visits(ward, day)
        now = self._clock()
        draft = day_problem(roster, visits, day, now, pinned_stops(earlier["routes"], now) if earlier else ())
        try:
            solved = await self._planner.plan(draft.problem)
        except NoFeasiblePlan:
            # A defect of the solver, not a passing failure: solving again at once (the timer's retry, each
            # second) would only burn the cores. The day keeps its earlier plan, or has none; the
            # re-planning sweep tries again at its next turn, as the day still differs from its plan.
            logger.exception("no plan published", extra=log_fields(ward_code=ward, day=day.isoformat()))
            return
        planned = planned_day(
            roster,
            day,
            earlier["revision"] + 1 if earlier else 1,
            visits,
            draft,
            solved,
            provisional=calendar.is_provisional(day),
            earlier_teams=[r["team_id"] for r in earlier["routes"] if r["stops"]] if earlier else (),
            earlier_unassigned=earlier["unassigned"] if earlier else (),
        )
        stored = await self._plans.store(planned, firing=firing, fingerprint=fingerprint(visits), planned_at=now)
        logger.info(
            "day planned" if stored else "day planned by another replica meanwhile",
            extra=log_fields(
                ward_code=ward,
                day=day.isoformat(),
                revision=planned.revision,
                routes=len(planned.routes),
                unassigned=len(planned.unassigned),
            ),
        )


def _firing(timer: Timer) -> str:
    return f"{timer.key}@{timer.due_at.isoformat()}"
