"""Helpers for notify's tests: notify's own database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase


@pytest.fixture
def notify_db(service_database: Callable[[str], AsyncDatabase[dict[str, Any]]]) -> AsyncDatabase[dict[str, Any]]:
    """notify's database of this test, on the real server (dropped by the `namespace` fixture)."""
    return service_database("notify")
