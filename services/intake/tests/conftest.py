"""intake running in the test, on the real broker and database of the test's namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from gandan.intake.app import build
from gandan.testing import serving


@pytest.fixture
async def client(service_settings: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
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
