"""A request's lifecycle after registration: the appointment, the officers' field reports, the
one-stop system's result updates, the citizen's satisfaction answer and look-up (issue 8).

Kept apart from registration (`gandan.intake.domain`, `handlers`, `repository`, `api`), in the
same layers: `domain` (pure rules), `handlers`, `repository`, `api`."""
