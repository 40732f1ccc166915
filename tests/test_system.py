"""The services fit together, and a system where they do not is refused before anything starts."""

import re
import subprocess
import sys
from dataclasses import replace

import pytest

from gandan.shared.spec import SystemMisfit, check_system
from gandan.system.services import AUDIT, DISPATCH, INTAKE, NOTIFY, SERVICES, subscriptions


def test_each_queue_is_bound_by_exactly_what_its_service_handles():
    assert subscriptions() == {
        "intake": ("visit.scheduled", "visit.rescheduled", "wards.served"),
        "dispatch": (
            "request.registered",
            "appointment.agreed",
            "request.cancelled",
            "staff.replied",
            "roster.changed",
        ),
        "notify": (
            "contact.registered",
            "visit.scheduled",
            "appointment.agreed",
            "result.ready",
            "result.delivered",
            "request.overdue",
            "request.closed",
            "route.planned",
            "visit.unassignable",
            "visit.rescheduled",
            "service_level.breached",
            "digest.prepared",
        ),
        "audit": ("#",),
    }
    check_system(SERVICES)


def test_a_handler_for_a_type_no_one_produces_is_refused():
    without_intake = [DISPATCH, NOTIFY, AUDIT]
    with pytest.raises(SystemMisfit) as refused:
        check_system(without_intake)
    assert "dispatch handles 'request.registered', which no service produces" in str(refused.value)
    assert "notify handles 'contact.registered', which no service produces" in str(refused.value)


def test_a_handler_for_a_type_without_a_contract_is_refused():
    guessing = replace(NOTIFY, handlers={**NOTIFY.handlers, "visit.cancelled": NOTIFY.handlers["visit.scheduled"]})
    with pytest.raises(SystemMisfit, match=re.escape("notify handles 'visit.cancelled', which no service produces")):
        check_system([INTAKE, DISPATCH, guessing, AUDIT])


def test_a_produced_type_no_queue_takes_is_refused():
    # Without audit's catch-all, nothing takes what notify reports.
    with pytest.raises(SystemMisfit) as refused:
        check_system([INTAKE, DISPATCH, NOTIFY])
    assert "notify produces 'notification.sent', which no service's queue takes" in str(refused.value)
    assert "notify produces 'notification.failed', which no service's queue takes" in str(refused.value)
    deaf_notify = replace(NOTIFY, handlers={"contact.registered": NOTIFY.handlers["contact.registered"]})
    with pytest.raises(SystemMisfit, match=re.escape("which no service's queue takes")):
        check_system([INTAKE, DISPATCH, deaf_notify])


def test_a_type_produced_by_a_service_that_does_not_own_it_is_refused():
    forging = replace(INTAKE, produces=(*INTAKE.produces, *DISPATCH.produces))
    with pytest.raises(SystemMisfit, match=re.escape("intake produces 'visit.scheduled', which dispatch owns")):
        check_system([forging, DISPATCH, NOTIFY, AUDIT])


def test_a_misfit_system_stops_the_launcher_before_it_starts_anything(tmp_path):
    # `gandan-up` where intake no longer produces requests: dispatch would wait for them forever.
    script = (
        "import sys\n"
        "from dataclasses import replace\n"
        "import gandan.intake.app as intake\n"
        "intake.SPEC = replace(intake.SPEC, produces=())\n"
        "from gandan.system.launcher import main\n"
        "sys.argv = ['gandan-up', '--data-dir', sys.argv[1]]\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "dispatch handles 'request.registered', which no service produces" in done.stderr
    assert "started" not in done.stdout
