"""What a journey costs the database, pinned: a change that adds commands to a journey fails here.

The four services run in this process on the real broker and database; every command
their clients send is counted by PyMongo's command monitoring (counts, never times).
A journey is one registration through to its six evidence records, its outboxes
published and its three messages sent. Journeys go one after another, so nothing is
shared between them by chance: the counts are the same from run to run (but audit's:
it keeps events that arrive together in one insert, at most one per event), and they
are the most a journey costs (under load, batches and wake-ups share commands).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from gandan.audit.app import build as build_audit
from gandan.dispatch.app import build as build_dispatch
from gandan.intake.app import build as build_intake
from gandan.notify.app import build as build_notify
from gandan.testing import DatabaseCommands, auth, eventually, serving, ward_not_served
from gandan.testing.factories import home_request_form

JOURNEYS = 20
# Commands per journey, at most: each service's share and the total (the target is 25).
# intake 4: the POST's credential is an API key, looked up by its id (`find` on `_id`) at every
# request, not cached, so a revoked key is refused at once (issue 8, item 7).
# notify 5: the handler claims the messages it stores and hands them to its sender, which sends them
# without reading them back (issue 10); the claim, the outcomes and the relay's mark are the rest.
BUDGET = {"intake": 4, "dispatch": 3, "notify": 5, "audit": 6}
TOTAL_BUDGET = 18
SERVICES = ("intake", "dispatch", "notify", "audit")
IDLE_SECONDS = 3


@asynccontextmanager
async def four_services() -> AsyncIterator[httpx.AsyncClient]:
    """The four services in this process; the client talks to intake."""
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serving(*build_dispatch()))
        await stack.enter_async_context(serving(*build_notify()))
        await stack.enter_async_context(serving(*build_audit()))
        yield await stack.enter_async_context(serving(*build_intake()))


async def test_a_journey_costs_the_database_no_more_than_its_budget_and_reads_through_indexes(
    service_settings: dict[str, str],
    service_database: Callable[[str], AsyncDatabase[dict[str, Any]]],
    database_commands: DatabaseCommands,
) -> None:
    # This test's own reads go through `service_database`'s client, which is not counted.
    counter = database_commands
    counter.counting = False
    evidence = service_database("audit")["events"]

    async def journey(number: int) -> None:
        # A citizen of their own each time: the same one with the same procedure still open would be refused.
        form = home_request_form(phone=f"0912{number:06d}")
        answer = await eventually(
            lambda: intake.post("/v1/home-requests", headers=auth(), json=form),
            lambda answer: not ward_not_served(answer),  # until intake has heard dispatch's announcement
            what="intake knows the ward is served",
        )
        assert answer.status_code == 202, answer.text
        code = answer.json()["request_code"]
        await eventually(
            lambda: evidence.count_documents({"request_code": code}),
            lambda n: n == 6,
            what=f"the six evidence records of {code}",
        )
        await eventually(lambda: _settled(service_database), what="every outbox published, every message sent")

    async with four_services() as intake:
        await journey(0)  # once first: what starting costs (each relay's first search) is not a journey's
        counter.counting = True
        for number in range(1, JOURNEYS + 1):
            await journey(number)
        counter.counting = False

    per_service = {service: counter.of(service) for service in SERVICES}
    print(f"\ndatabase commands per journey ({JOURNEYS} journeys, one after another):")
    for service in SERVICES:
        by_command = {c: n / JOURNEYS for (s, c), n in sorted(counter.counts.items()) if s == service}
        print(f"  {service:9}{per_service[service] / JOURNEYS:6.2f}  {by_command}")
    total = sum(per_service.values()) / JOURNEYS
    print(f"  {'total':9}{total:6.2f}")

    over = {s: per_service[s] / JOURNEYS for s in SERVICES if per_service[s] > BUDGET[s] * JOURNEYS}
    assert not over, f"over budget (per journey): {over}, budget {BUDGET}"
    assert total <= TOTAL_BUDGET
    # Every query a journey runs is served by an index: its cost does not grow with the data kept.
    assert await counter.unindexed(service_database("audit").client) == []


async def test_with_nothing_to_do_the_services_ask_their_databases_nothing(
    service_settings: dict[str, str], database_commands: DatabaseCommands
) -> None:
    async with four_services():
        # Each worker's first turn at start (a search for what an earlier run left) is done by now.
        await eventually(lambda: _asleep(database_commands), what="the start-up searches done")
        database_commands.counts.clear()
        # Work wakes the workers; only a backstop poll, a minute apart (30 s for retries of
        # messages), asks anything with nothing to do. The old one-second polls asked ~12 times here.
        await asyncio.sleep(IDLE_SECONDS)
        assert database_commands.counts == {}


# The searches each service makes as it starts: a relay's, two per collection with an outbox (what is
# free to publish, then what other replicas still hold; dispatch has four: visits, the requests no
# visit fits (with their `visit.unassignable`), its announcements of the wards it serves, rosters),
# and dispatch's list of the wards it has rosters for; intake's reading of the wards it knows served;
# notify's sender (one read for each way a message comes due).
START_SEARCHES = {"intake": 3, "dispatch": 9, "notify": 5}


async def _asleep(commands: DatabaseCommands) -> bool:
    return all(commands.of(service, "find") >= n for service, n in START_SEARCHES.items())


async def _settled(service_database: Callable[[str], AsyncDatabase[dict[str, Any]]]) -> bool:
    pending = {"outbox": {"$elemMatch": {"published_at": None}}}
    for service, collection in (("intake", "home_requests"), ("dispatch", "visits"), ("notify", "messages")):
        if await service_database(service)[collection].count_documents(pending, limit=1):
            return False
    return not await service_database("notify")["messages"].count_documents({"status": {"$ne": "sent"}}, limit=1)
