"""intake running in the test, on the real broker and database of the test's namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from gandan.intake.app import build
from gandan.testing import serving

# What dispatch would have announced: Thạch Khôi, and Gia Viên for the tests of a second ward.
SERVED = ("11002", "11359")


@pytest.fixture
async def served_wards(
    service_settings: dict[str, str], service_database: Callable[[str], AsyncDatabase[dict[str, Any]]]
) -> tuple[str, ...]:
    """The wards intake finds served when it starts, as an earlier `wards.served` left them."""
    document = {"_id": "served_wards", "ward_codes": list(SERVED), "as_of": datetime(2026, 1, 1, tzinfo=UTC)}
    await service_database("intake")["served_wards"].insert_one(document)
    return SERVED


@pytest.fixture
async def client(served_wards: tuple[str, ...]) -> AsyncIterator[httpx.AsyncClient]:
    """intake's HTTP API, the service running with its consumers and relay."""
    service, app = build()
    async with serving(service, app) as client:
        yield client


@pytest.fixture
def home_requests(
    service_database: Callable[[str], AsyncDatabase[dict[str, Any]]],
) -> AsyncCollection[dict[str, Any]]:
    """intake's stored requests in this test's namespace."""
    return service_database("intake")["home_requests"]
