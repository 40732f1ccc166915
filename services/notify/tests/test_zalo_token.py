"""Zalo's access token refreshed before it expires, by one replica at a time (the refresh token is
single-use), the new pair stored; against a local server speaking Zalo's OAuth, on the real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gandan.notify.channels import DeliveryFailed, Failure, TokenPair, ZaloAccessToken
from gandan.notify.repository import MongoZaloTokens

from .providers import ZALO_APP_SECRET, Providers, running

START = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def replica(client: httpx.AsyncClient, notify_db, clock: Clock, owner: str, secret: str = ZALO_APP_SECRET):
    return ZaloAccessToken(
        client,
        MongoZaloTokens(notify_db),
        app_id="app-1",
        secret_key=secret,
        clock=clock,
        owner=owner,
        first=TokenPair("access-0", "refresh-0", START + timedelta(hours=25)),
    )


async def test_the_token_is_refreshed_once_by_one_replica_and_the_new_pair_stored(notify_db):
    providers, clock = Providers(), Clock()
    async with running(providers) as url, httpx.AsyncClient(base_url=url) as client:
        replicas = [replica(client, notify_db, clock, owner) for owner in ("a", "b", "c")]

        assert {await r() for r in replicas} == {"access-0"}
        assert providers.refreshes == 0  # far from its end: no refresh, no request

        clock.now += timedelta(hours=24, minutes=1)  # within the hour before it expires
        tokens = await asyncio.gather(*(r() for r in replicas))

        assert providers.refreshes == 1
        assert [form for name, form, _ in providers.requests if name == "oauth"] == [
            {"refresh_token": "refresh-0", "app_id": "app-1", "grant_type": "refresh_token"}
        ]
        # The refreshing replica has the new token at once; the others keep the old one, still valid.
        assert sorted(tokens) == ["access-0", "access-0", "access-1"]
        stored = await MongoZaloTokens(notify_db).pair()
        assert stored is not None
        assert (stored.access_token, stored.refresh_token) == ("access-1", "refresh-1")
        assert stored.expires_at == clock.now + timedelta(seconds=90000)
        # Once the old one nears its end for them too, they read the new pair rather than refresh again.
        assert {await r() for r in replicas} == {"access-1"}
        assert providers.refreshes == 1


async def test_a_failed_refresh_keeps_the_stored_pair_and_is_tried_again_later(notify_db):
    providers, clock = Providers(), Clock()
    async with running(providers) as url, httpx.AsyncClient(base_url=url) as client:
        wrong = replica(client, notify_db, clock, "a", secret="not-the-secret")
        clock.now += timedelta(hours=24, minutes=30)

        assert await wrong() == "access-0"  # the refresh failed; the old token still serves

        stored = await MongoZaloTokens(notify_db).pair()
        assert stored is not None and stored.refresh_token == "refresh-0"
        clock.now += timedelta(minutes=31)  # past its end, and the refresh still fails
        with pytest.raises(DeliveryFailed) as expired:
            await wrong()
        assert expired.value.failure is Failure.TECHNICAL
        # While the failed refresh holds the lock, no other replica refreshes; once it runs out, one does.
        with_secret = replica(client, notify_db, clock, "b")
        with pytest.raises(DeliveryFailed, match="expired"):
            await with_secret()
        clock.now += timedelta(seconds=30)
        assert await with_secret() == "access-1"
        assert providers.refreshes == 1
