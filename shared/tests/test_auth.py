import os
import subprocess
import sys
from datetime import timedelta

import jwt
import pytest

from gandan.shared.auth import Role, UnboundCitizen, issue_token, verify_token
from gandan.shared.http import ApiError

SECRET = "s" * 40


def test_a_credential_carries_one_ward_and_one_role():
    token = issue_token(SECRET, ward_code="11002", role=Role.STAFF, subject="tk-03", valid_for=timedelta(hours=1))
    credential = verify_token(SECRET, token)
    assert (credential.ward_code, credential.role, credential.subject) == ("11002", Role.STAFF, "tk-03")


def test_an_expired_credential_is_refused():
    token = issue_token(SECRET, ward_code="11002", role=Role.STAFF, subject="x", valid_for=timedelta(seconds=-1))
    with pytest.raises(ApiError) as refused:
        verify_token(SECRET, token)
    assert refused.value.status == 401


def test_a_credential_signed_with_another_key_is_refused():
    token = issue_token("t" * 40, ward_code="11002", role=Role.STAFF, subject="x", valid_for=timedelta(hours=1))
    with pytest.raises(ApiError) as refused:
        verify_token(SECRET, token)
    assert refused.value.code == "invalid_credential"


def test_a_credential_is_good_for_its_own_ward_only():
    token = issue_token(SECRET, ward_code="11002", role=Role.STAFF, subject="x", valid_for=timedelta(hours=1))
    credential = verify_token(SECRET, token)
    credential.require_ward("11002")
    with pytest.raises(ApiError) as refused:
        credential.require_ward("11359")
    assert refused.value.status == 403


# --- citizens: bound to one citizen or one request, never to the ward ------------


def citizen(**binding: str):
    token = issue_token(
        SECRET, ward_code="11002", role=Role.CITIZEN, subject="c", valid_for=timedelta(hours=1), **binding
    )
    return verify_token(SECRET, token)


def test_a_citizen_credential_is_issued_only_with_its_binding():
    with pytest.raises(UnboundCitizen):
        issue_token(SECRET, ward_code="11002", role=Role.CITIZEN, subject="c", valid_for=timedelta(hours=1))
    with pytest.raises(UnboundCitizen):
        citizen(citizen_ref="ref-a", request_code="GD-AAAAAAA")
    with pytest.raises(UnboundCitizen):
        issue_token(
            SECRET,
            ward_code="11002",
            role=Role.STAFF,
            subject="s",
            valid_for=timedelta(hours=1),
            citizen_ref="ref-a",
        )


def test_a_citizen_credential_without_binding_is_refused():
    # As a credential issued before citizens were bound looks: signed, valid, bound to nothing.
    unbound = jwt.encode(
        {"sub": "c", "ward": "11002", "role": "citizen", "aud": "gandan", "exp": 4102444800},
        SECRET,
        algorithm="HS256",
    )
    with pytest.raises(ApiError) as refused:
        verify_token(SECRET, unbound)
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
    staff = verify_token(
        SECRET, issue_token(SECRET, ward_code="11002", role=Role.STAFF, subject="s", valid_for=timedelta(hours=1))
    )
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
    issued = run_token_cli("--ward", "11002", "--role", "citizen", "--request", "gd-aaaaaaa")
    assert issued.returncode == 0, issued.stderr
    credential = verify_token(SECRET, issued.stdout.strip())
    assert (credential.role, credential.request_code, credential.citizen_ref) == (Role.CITIZEN, "GD-AAAAAAA", None)


@pytest.mark.parametrize(
    "args",
    [("--role", "citizen"), ("--role", "staff", "--request", "GD-AAAAAAA")],
    ids=["citizen-unbound", "staff-bound"],
)
def test_the_token_command_refuses_a_credential_bound_wrongly(args):
    refused = run_token_cli("--ward", "11002", *args)
    assert refused.returncode == 2
    assert "--request or --citizen-ref" in refused.stderr
    assert refused.stdout == ""
