"""Retried registrations: whether the driver, a handler or the client retries, one request is stored once."""

import asyncio

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from gandan.shared.auth import Role
from gandan.testing import auth, eventually, new_api_key
from gandan.testing.factories import home_request_form as form

WARD = "11002"
PATH = "/v1/home-requests"


async def test_a_retried_insert_that_meets_its_own_earlier_write_stores_the_request_once(
    client, home_requests, monkeypatch
):
    # What the driver does when the database dies after storing a write but before answering:
    # it sends the same insert again, which meets the document the first one stored.
    insert_one = AsyncCollection.insert_one

    async def stored_then_retried(self, document, *args, **kwargs):
        await insert_one(self, document, *args, **kwargs)
        return await insert_one(self, document, *args, **kwargs)

    monkeypatch.setattr(AsyncCollection, "insert_one", stored_then_retried)

    answer = await client.post(PATH, json=form(), headers=auth(WARD))

    assert answer.status_code == 202, answer.text
    stored = [d["_id"] async for d in home_requests.find({}, {"_id": 1})]
    assert stored == [answer.json()["request_code"]]


async def test_a_post_retried_with_its_idempotency_key_gets_the_first_answer_and_stores_nothing_new(
    client, home_requests
):
    headers = auth(WARD) | {"Idempotency-Key": "b1c3-registration-1"}
    first = await client.post(PATH, json=form(), headers=headers)
    # The same details as the client may send them again: the phone written differently.
    again = await client.post(PATH, json=form(phone="0912345678"), headers=headers)

    assert first.status_code == again.status_code == 202, again.text
    assert again.json() == first.json()
    assert await home_requests.count_documents({}) == 1

    async def published() -> bool:
        document = await home_requests.find_one({})
        return all(entry["published_at"] for entry in document["outbox"])

    await eventually(published, what="the outbox is published")
    document = await home_requests.find_one({})
    assert len(document["outbox"]) == 2  # announced once: contact.registered and request.registered


async def test_the_first_answer_is_given_even_after_the_request_moved_on(client, home_requests):
    headers = auth(WARD) | {"Idempotency-Key": "later-retry"}
    first = await client.post(PATH, json=form(), headers=headers)
    await home_requests.update_one({"_id": first.json()["request_code"]}, {"$set": {"status": "visit_scheduled"}})

    again = await client.post(PATH, json=form(), headers=headers)

    assert again.status_code == 202
    assert again.json() == first.json() == {"request_code": first.json()["request_code"], "status": "registered"}


async def test_concurrent_retries_with_one_key_store_one_request(client, home_requests):
    headers = auth(WARD) | {"Idempotency-Key": "sent-five-times-at-once"}
    answers = await asyncio.gather(*(client.post(PATH, json=form(), headers=headers) for _ in range(5)))

    assert [a.status_code for a in answers] == [202] * 5, [a.text for a in answers]
    assert len({a.json()["request_code"] for a in answers}) == 1
    assert await home_requests.count_documents({}) == 1


async def test_a_key_used_again_for_other_details_is_refused_and_nothing_is_stored(client, home_requests):
    headers = auth(WARD) | {"Idempotency-Key": "reused-key"}
    first = await client.post(PATH, json=form(), headers=headers)

    other = await client.post(PATH, json=form(time_window="afternoon"), headers=headers)

    assert first.status_code == 202
    assert other.status_code == 422
    [error] = other.json()["errors"]
    assert error["field"] == "Idempotency-Key"
    assert error["code"] == "idempotency_key_reused"
    assert "khóa" in error["message"].lower()
    assert await home_requests.count_documents({}) == 1


async def test_a_key_belongs_to_the_credential_that_sent_it(client, home_requests):
    def sent_by(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}", "Idempotency-Key": "registration-1"}

    # Two group leaders of one ward, each with a key of their own.
    thanh_xa, qua_bo = new_api_key(WARD, Role.GROUP_LEADER), new_api_key(WARD, Role.GROUP_LEADER)
    first = await client.post(PATH, json=form(), headers=sent_by(thanh_xa))
    other = await client.post(PATH, json=form(name="Trần Thị Bình", phone="0987654321"), headers=sent_by(qua_bo))

    assert first.status_code == other.status_code == 202, other.text
    assert first.json()["request_code"] != other.json()["request_code"]
    assert await home_requests.count_documents({}) == 2


async def test_without_a_key_a_post_sent_again_is_no_retry_but_a_second_request_refused_as_still_open(
    client, home_requests
):
    first = await client.post(PATH, json=form(), headers=auth(WARD))
    second = await client.post(PATH, json=form(), headers=auth(WARD))

    assert second.status_code == 409, second.text
    [error] = second.json()["errors"]
    assert error["code"] == "open_request_exists"
    assert first.json()["request_code"] in error["message"]
    assert await home_requests.count_documents({}) == 1


@pytest.mark.parametrize("key", ["", "k" * 101])
async def test_a_key_must_be_1_to_100_characters(client, home_requests, key):
    answer = await client.post(PATH, json=form(), headers=auth(WARD) | {"Idempotency-Key": key})
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["Idempotency-Key"]
    assert await home_requests.count_documents({}) == 0
