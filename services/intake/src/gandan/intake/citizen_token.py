"""`gandan-citizen-token --ward 11002 --phone 0912345678`: a citizen's own credential.

A citizen's credential is bound to their pseudonymous reference, which only intake can compute
(it is keyed by INTAKE_PSEUDONYM_KEY, which shared/ never sees); it is signed with
GANDAN_AUTH_SECRET like every citizen's credential (staff and systems have API keys instead:
`gandan-credentials`). With it the citizen registers for that phone only and reads only the
requests registered for it. For one request only: `gandan-token --request`.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from pydantic import ValidationError

from gandan.intake.app import IntakeSettings
from gandan.intake.domain import citizen_ref
from gandan.shared.auth import issue_citizen_token
from gandan.shared.phone import InvalidPhone, normalise_mobile
from gandan.shared.wards import ward_name


def main() -> None:
    parser = argparse.ArgumentParser(description="Issue a citizen's credential, bound to their ward and phone.")
    parser.add_argument("--ward", required=True, help="official ward code, e.g. 11002")
    parser.add_argument("--phone", required=True, help="the citizen's mobile number, e.g. 0912345678")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    if ward_name(args.ward) is None:
        parser.error(f"{args.ward} is not in the official list of wards")
    try:
        phone = normalise_mobile(args.phone)
    except InvalidPhone:
        parser.error(f"{args.phone} is not a Vietnamese mobile number")
    try:
        settings = IntakeSettings()
    except ValidationError as error:
        parser.error(f"GANDAN_AUTH_SECRET and INTAKE_PSEUDONYM_KEY must be set: {error}")
    reference = citizen_ref(settings.pseudonym_key.get_secret_value().encode(), args.ward, phone)
    print(
        issue_citizen_token(
            settings.auth_secret.get_secret_value(),
            ward_code=args.ward,
            subject=reference,
            valid_for=timedelta(days=args.days),
            citizen_ref=reference,
        )
    )
