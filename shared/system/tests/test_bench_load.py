"""What the bench loads the stack with: registrations whose messages can all be sent, and, before
its second round, the first round's visits moved into the past, so that round books into weeks as
empty as the first's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from gandan.notify.channels import PERMANENT_FAILURE_NUMBER, TEMPORARY_FAILURE_NUMBER
from gandan.shared.phone import normalise_mobile
from gandan.system.bench import WARD, move_visits_a_year_back, registration_forms


def _visit(number: int, starts_at: datetime) -> dict[str, Any]:
    day = starts_at.date().isoformat()
    return {
        "_id": f"v{number}",
        "ward_code": WARD,
        "request_code": f"GD-{number}",
        "day": day,
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(hours=4),
        "claims": [f"{WARD}/tk-01@{day}/morning#0"],
        "outbox": [],
    }


async def test_the_first_rounds_visits_go_a_year_back_with_their_claims_freed_and_past_ones_stay(
    mongodb_url: str, namespace: str
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    visits = client[f"{namespace}_bench"]["visits"]
    soon = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    while soon < datetime.now(UTC):
        soon += timedelta(days=365)
    long_ago = soon - timedelta(days=800)
    try:
        await visits.insert_many([_visit(1, soon), _visit(2, long_ago)])

        await move_visits_a_year_back(visits)

        moved, past = await visits.find({}, sort=[("_id", 1)]).to_list()
        assert moved["starts_at"] == soon - timedelta(days=365)
        assert moved["ends_at"] == soon + timedelta(hours=4) - timedelta(days=365)
        assert moved["day"] == (soon - timedelta(days=365)).date().isoformat()
        # The slot it held is free again: its claim no longer reads as the slot's.
        assert moved["claims"] == [f"{WARD}/tk-01@{soon.date().isoformat()}/morning#0#moved"]
        assert moved["request_code"] == "GD-1"
        assert past == _visit(2, long_ago)
    finally:
        await client.drop_database(f"{namespace}_bench")
        await client.close()


def test_no_registration_the_bench_sends_goes_to_a_number_whose_messages_fail_on_purpose() -> None:
    phones = {form["phone"] for form in registration_forms(0, 2_000)}

    assert len(phones) == 2_000
    assert not phones & {PERMANENT_FAILURE_NUMBER, TEMPORARY_FAILURE_NUMBER}
    assert all(normalise_mobile(phone) == phone for phone in phones)
