import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from gandan.shared.auth import (
    CREDENTIALS,
    Credential,
    CredentialStore,
    Role,
    UnboundCitizen,
    issue_citizen_token,
    verify_citizen_token,
)
from gandan.shared.http import ApiError

SECRET = "s" * 40
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def test_a_credential_is_good_for_its_own_ward_only():
    credential = Credential("k", "11002", Role.OFFICER)
    credential.require_ward("11002")
    with pytest.raises(ApiError) as refused:
        credential.require_ward("11359")
    assert refused.value.status == 403


# --- API keys: staff and systems, stored hashed in the service's database ----------------


@pytest.fixture
def store(service_database):
    return CredentialStore(service_database("intake"))


async def test_a_key_carries_one_ward_and_one_role_and_only_its_hash_is_stored(store, service_database):
    key = await store.issue(ward_code="11002", role=Role.OFFICER, label="Lê Văn Giang", now=T0)

    credential = await store.verify(key)
    _, key_id, secret = key.split("_", 2)
    assert (credential.ward_code, credential.role, credential.subject) == ("11002", Role.OFFICER, key_id)
    [stored] = await service_database("intake")[CREDENTIALS].find({}).to_list()
    assert stored["hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(stored) and key not in str(stored)
    assert len(secret) == 43  # 32 random bytes


@pytest.mark.parametrize(
    "mangle",
    [
        lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),  # the right id, a wrong secret
        lambda key: "gd_" + "0" * 16 + key[19:],  # an unknown id
        lambda key: key + "x",
        lambda key: "gd_",
    ],
    ids=["wrong-secret", "unknown-id", "too-long", "no-id"],
)
async def test_a_wrong_key_is_refused(store, mangle):
    key = await store.issue(ward_code="11002", role=Role.OFFICER, label="x", now=T0)
    with pytest.raises(ApiError) as refused:
        await store.verify(mangle(key))
    assert (refused.value.status, refused.value.code) == (401, "invalid_credential")


async def test_a_revoked_key_is_refused_at_once_and_listed_as_revoked(store):
    key = await store.issue(ward_code="11002", role=Role.AUDITOR, label="kiểm tra", now=T0)
    other = await store.issue(ward_code="11359", role=Role.OFFICER, label="Gia Viên", now=T0)
    key_id = key.split("_")[1]

    revoked = await store.revoke(key_id, T0 + timedelta(days=1))

    assert revoked is not None and revoked.revoked_at == T0 + timedelta(days=1)
    with pytest.raises(ApiError) as refused:
        await store.verify(key)
    assert (refused.value.status, refused.value.code) == (401, "credential_revoked")
    assert (await store.verify(other)).ward_code == "11359"
    # Revoking again keeps the first time.
    assert (await store.revoke(key_id, T0 + timedelta(days=2))).revoked_at == T0 + timedelta(days=1)
    assert await store.revoke("0" * 16, T0) is None
    listed = {k.key_id: k for k in await store.listing()}
    assert listed[key_id].revoked_at == T0 + timedelta(days=1)
    assert listed[other.split("_")[1]].revoked_at is None


async def test_a_key_is_never_a_citizen_s(store):
    with pytest.raises(UnboundCitizen):
        await store.issue(ward_code="11002", role=Role.CITIZEN, label="x", now=T0)


# --- citizens: signed tokens, bound to one citizen or one request, never to the ward ------


def citizen(**binding: str) -> Credential:
    token = issue_citizen_token(SECRET, ward_code="11002", subject="c", valid_for=timedelta(hours=1), **binding)
    return verify_citizen_token(SECRET, token)


def test_an_expired_citizen_token_is_refused():
    token = issue_citizen_token(
        SECRET, ward_code="11002", subject="x", valid_for=timedelta(seconds=-1), request_code="GD-AAAAAAA"
    )
    with pytest.raises(ApiError) as refused:
        verify_citizen_token(SECRET, token)
    assert refused.value.status == 401


def test_a_citizen_token_signed_with_another_key_is_refused():
    token = issue_citizen_token(
        "t" * 40, ward_code="11002", subject="x", valid_for=timedelta(hours=1), request_code="GD-AAAAAAA"
    )
    with pytest.raises(ApiError) as refused:
        verify_citizen_token(SECRET, token)
    assert refused.value.code == "invalid_credential"


@pytest.mark.parametrize("role", ["staff", "officer", "auditor"])
def test_a_signed_token_for_staff_is_refused_staff_have_keys(role):
    # As `gandan-token --role staff` issued them before keys replaced them.
    token = jwt.encode({"sub": "s", "ward": "11002", "role": role, "aud": "gandan", "exp": 4102444800}, SECRET)
    with pytest.raises(ApiError) as refused:
        verify_citizen_token(SECRET, token)
    assert (refused.value.status, refused.value.code) == (401, "invalid_credential")


def test_a_citizen_credential_is_issued_only_with_its_binding():
    with pytest.raises(UnboundCitizen):
        issue_citizen_token(SECRET, ward_code="11002", subject="c", valid_for=timedelta(hours=1))
    with pytest.raises(UnboundCitizen):
        citizen(citizen_ref="ref-a", request_code="GD-AAAAAAA")
    with pytest.raises(UnboundCitizen):
        Credential("s", "11002", Role.OFFICER, citizen_ref="ref-a")


def test_a_citizen_credential_without_binding_is_refused():
    # As a credential issued before citizens were bound looks: signed, valid, bound to nothing.
    unbound = jwt.encode(
        {"sub": "c", "ward": "11002", "role": "citizen", "aud": "gandan", "exp": 4102444800},
        SECRET,
        algorithm="HS256",
    )
    with pytest.raises(ApiError) as refused:
        verify_citizen_token(SECRET, unbound)
    assert (refused.value.status, refused.value.code) == (401, "citizen_not_bound")


def test_a_citizen_sees_only_their_own_requests():
    mine = citizen(citizen_ref="ref-a")
    assert mine.may_see(ward_code="11002", citizen_ref="ref-a", request_code="GD-AAAAAAA")
    assert not mine.may_see(ward_code="11002", citizen_ref="ref-b", request_code="GD-BBBBBBB")
    assert not mine.may_see(ward_code="11359", citizen_ref="ref-a", request_code="GD-AAAAAAA")


def test_a_credential_for_one_request_sees_that_request_only():
    one = citizen(request_code="GD-AAAAAAA")
    assert one.may_see(ward_code="11002", citizen_ref="ref-a", request_code="GD-AAAAAAA")
    assert not one.may_see(ward_code="11002", citizen_ref="ref-a", request_code="GD-BBBBBBB")


def test_staff_see_every_request_of_their_ward():
    staff = Credential("k", "11002", Role.OFFICER)
    assert staff.may_see(ward_code="11002", citizen_ref="ref-b", request_code="GD-BBBBBBB")
    assert not staff.may_see(ward_code="11359", citizen_ref="ref-b", request_code="GD-BBBBBBB")
    staff.require_citizen("ref-b")  # registers for anyone of the ward


def test_a_citizen_registers_only_for_themselves():
    citizen(citizen_ref="ref-a").require_citizen("ref-a")
    for credential in (citizen(citizen_ref="ref-a"), citizen(request_code="GD-AAAAAAA")):
        with pytest.raises(ApiError) as refused:
            credential.require_citizen("ref-b")
        assert (refused.value.status, refused.value.code, refused.value.field) == (403, "not_your_phone", "phone")


def run_token_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from gandan.shared.auth import main; main()", *args],
        env=os.environ | {"GANDAN_AUTH_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_token_command_binds_a_citizen_credential_to_one_request():
    issued = run_token_cli("--ward", "11002", "--request", "gd-aaaaaaa")
    assert issued.returncode == 0, issued.stderr
    credential = verify_citizen_token(SECRET, issued.stdout.strip())
    assert (credential.role, credential.request_code, credential.citizen_ref) == (Role.CITIZEN, "GD-AAAAAAA", None)


@pytest.mark.parametrize(
    "args", [(), ("--role", "staff", "--request", "GD-AAAAAAA")], ids=["unbound", "staff-no-longer-issued"]
)
def test_the_token_command_issues_citizens_credentials_only(args):
    refused = run_token_cli("--ward", "11002", *args)
    assert refused.returncode == 2
    assert refused.stdout == ""
