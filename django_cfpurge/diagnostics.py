"""Test connection: run a zone's backend steps in order and store the report.

Shared by the admin (list action and per-zone button) and ``manage.py cfpurge test``.
The runner owns the rules; each step is a small object of the backend
(:class:`~django_cfpurge.backends.base.Step`):

1. ``local`` — the values' shape, checked by the backend's ``clean_credentials``
   before anything is sent;
2. the backend's :meth:`~django_cfpurge.backends.base.Backend.test_steps`, in order.

The "skip the rest" rule lives here only: once a step fails, every later step is
reported as skipped with the failed step's reason. A step never makes Test connection
fail as a whole: any exception becomes a failed step with a sentence, never an error
page (and never a secret in it).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_variables

from .backends.base import Backend, Step, StepResult, StepStatus, TestContext
from .conf import get_bool
from .edge import NOT_PROVEN, check_with, recent_url
from .exceptions import BackendError, CfPurgeConfigurationError, InvalidCredentials
from .models import Zone
from .outbox.outcomes import requeue_for_fix
from .zones import backend_class, backend_for, hostname_patterns

logger = logging.getLogger(__name__)


@dataclass
class StepReport:
    """One step's outcome as shown and stored: ``status`` is ok, warning, error or skipped."""

    key: str
    label: str
    status: str
    message: str


@dataclass
class TestReport:
    """All steps of one Test connection, and what was learnt about the zone."""

    zone: str
    steps: list[StepReport] = field(default_factory=list)
    context: TestContext | None = None
    tested_at: datetime = field(default_factory=timezone.now)

    __test__ = False  # not a pytest test class

    @property
    def ok(self) -> bool:
        """True when no step failed."""
        return all(step.status != StepStatus.ERROR for step in self.steps)

    @property
    def failures(self) -> list[StepReport]:
        """The failed steps."""
        return [step for step in self.steps if step.status == StepStatus.ERROR]

    def as_dicts(self) -> list[dict[str, str]]:
        """The steps as JSON-friendly dicts (stored on the zone)."""
        return [asdict(step) for step in self.steps]

    def summary(self) -> str:
        """One line: the first failure, or what was verified."""
        if self.failures:
            return self.failures[0].message
        remote = self.context.remote if self.context else None
        name = remote.name if remote and remote.name else self.zone
        if remote and remote.plan:
            return gettext("Connected to zone %(zone)s, plan %(plan)s.") % {
                "zone": name,
                "plan": remote.plan,
            }
        return gettext("Connected to zone %(zone)s.") % {"zone": name}


VALUES_KEY = "local"
EDGE_KEY = "edge"


class ConnectionTest:
    """Runs the steps for one zone (nothing is saved)."""

    def __init__(self, zone: Zone, **backend_options: Any) -> None:
        self.zone = zone
        self.backend_options = backend_options
        self.report = TestReport(zone=zone.name)

    def _add(self, key: str, label: str, result: StepResult) -> None:
        self.report.steps.append(
            StepReport(key=key, label=label, status=str(result.status), message=result.message)
        )

    @sensitive_variables()
    def run(self) -> TestReport:
        """Run every step and return the report."""
        values_label = gettext("Values")
        try:
            cls = backend_class(self.zone)
        except CfPurgeConfigurationError as err:
            self._add(VALUES_KEY, values_label, StepResult(StepStatus.ERROR, str(err)))
            return self.report
        try:
            backend = backend_for(self.zone, **self.backend_options)
        except (InvalidCredentials, BackendError) as err:
            self._add(VALUES_KEY, values_label, StepResult(StepStatus.ERROR, str(err)))
            self._skip_all(cls, gettext("Skipped: fix the values first."))
            return self.report
        self._add(
            VALUES_KEY,
            values_label,
            StepResult(StepStatus.OK, gettext("The values are well-formed.")),
        )
        with backend:
            self._run_steps(backend)
        return self.report

    def _skip_all(self, cls: type[Backend], reason: str) -> None:
        for step_cls in cls.step_classes:
            self._add(step_cls.key, str(step_cls.label), StepResult(StepStatus.SKIPPED, reason))

    @sensitive_variables()
    def _run_steps(self, backend: Backend) -> None:
        context = TestContext(backend=backend, site_hostnames=tuple(hostname_patterns(self.zone)))
        self.report.context = context
        skip_reason = ""
        for step in backend.test_steps():
            if skip_reason:
                result = StepResult(StepStatus.SKIPPED, skip_reason)
            else:
                result = _run_one(step, backend, context)
                if result.status == StepStatus.ERROR:
                    skip_reason = result.skip_reason or gettext("Skipped: an earlier step failed.")
            self._add(step.key, str(step.label), result)
        if get_bool("VERIFY_AT_EDGE") and type(backend).cache_status_header:
            self._add(EDGE_KEY, gettext("At the edge"), self._edge(backend, context, skip_reason))

    def _edge(self, backend: Backend, context: TestContext, skip_reason: str) -> StepResult:
        """The optional check at the edge (``VERIFY_AT_EDGE``) of a URL purged lately."""
        if skip_reason:
            return StepResult(StepStatus.SKIPPED, skip_reason)
        url = recent_url(self.zone)
        if url is None:
            return StepResult(
                StepStatus.WARNING,
                gettext(
                    "No URL was purged through this zone yet: the check at the edge runs "
                    "once one has been."
                ),
            )
        check = check_with(backend, self.zone, url)
        context.facts["edge"] = check.verdict
        if check.proven:
            return StepResult(StepStatus.OK, check.message)
        status = StepStatus.ERROR if check.verdict == NOT_PROVEN else StepStatus.WARNING
        return StepResult(status, check.message)


@sensitive_variables()
def _run_one(step: Step, backend: Backend, context: TestContext) -> StepResult:
    try:
        return step.run(context)
    except BackendError as err:
        return StepResult(StepStatus.ERROR, backend.describe_error(err, doing=step.doing))
    except Exception as err:
        # A bug or an unforeseen answer must never become an error page: say so plainly.
        logger.exception("django-cfpurge: Test connection step %s failed", step.key)
        return StepResult(
            StepStatus.ERROR,
            gettext(
                "This step failed unexpectedly (%(error)s). The details are in the server's log."
            )
            % {"error": type(err).__name__},
        )


def run_connection_test(zone: Zone, *, save: bool = True, **backend_options: Any) -> TestReport:
    """Test ``zone``'s connection; store the result on the zone when ``save``.

    A passing test makes the zone's purges that waited for a fix due again.
    """
    report = ConnectionTest(zone, **backend_options).run()
    if save:
        store_report(zone, report)
    return report


def store_report(zone: Zone, report: TestReport) -> None:
    """Save a report's outcome on the zone (no secret is part of a report)."""
    zone.last_test_at = report.tested_at
    zone.last_test_ok = report.ok
    zone.last_test_steps = report.as_dicts()
    context = report.context
    remote = context.remote if context else None
    if remote is not None:
        zone.remote_name = remote.name
        zone.remote_status = remote.status
        zone.remote_hostnames = list(remote.hostnames)
        if remote.plan:
            zone.plan = remote.plan
    if context is not None and context.account_id:
        zone.remote_account_id = context.account_id
    # What this test learnt about the token, or nothing: a rejected or replaced token's
    # old status and expiry must not stay on show as if they were current.
    zone.token_status = context.token_status if context else ""
    zone.token_expires_on = context.token_expires_on if context else None
    Zone.objects.filter(pk=zone.pk).update(
        last_test_at=zone.last_test_at,
        last_test_ok=zone.last_test_ok,
        last_test_steps=zone.last_test_steps,
        remote_name=zone.remote_name,
        remote_status=zone.remote_status,
        remote_hostnames=zone.remote_hostnames,
        remote_account_id=zone.remote_account_id,
        plan=zone.plan,
        token_status=zone.token_status,
        token_expires_on=zone.token_expires_on,
    )
    if report.ok:
        requeue_for_fix(zone)
