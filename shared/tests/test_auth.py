from datetime import timedelta

import pytest

from gandan.shared.auth import Role, issue_token, verify_token
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
