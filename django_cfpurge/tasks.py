"""Celery tasks: thin wrappers over :mod:`django_cfpurge.drain`. They take no arguments,
so no purge detail and no secret ever travels through the broker.

Add the sweep to Celery beat so that purges written while the broker was down are sent,
and old log rows pruned::

    CELERY_BEAT_SCHEDULE = {
        "cfpurge-sweep": {"task": "django_cfpurge.sweep", "schedule": 60.0},
    }
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from .dispatch import (
    DRAIN_TASK,
    clear_scheduled,
    dispatch_drain,
    forget_published,
    schedule_followup,
)
from .drain import Drainer
from .outbox.outcomes import due_count, next_due_at, prune
from .status import record_heartbeat


@shared_task(name=DRAIN_TASK, ignore_result=True)
def drain_outbox() -> dict[str, Any]:
    """Drain every due purge request (until none is due, or ``DRAIN_MAX_SECONDS``)."""
    clear_scheduled()
    forget_published()
    record_heartbeat()
    drainer = Drainer()
    try:
        report = drainer.run()
    except SoftTimeLimitExceeded:
        # Stopped by Celery's soft time limit: the rows in hand go back, due now.
        drainer.release_current()
        drainer.report.more = True
        report = drainer.report
    record_heartbeat()
    result = report.as_dict()
    # Rows put back for a retry get a drain at their due time, not at the next sweep;
    # a drain that stopped at its time limit hands over to a fresh task at once.
    result["followup"] = schedule_followup(timezone.now() if report.more else next_due_at())
    return result


@shared_task(name="django_cfpurge.sweep", ignore_result=True)
def sweep() -> dict[str, Any]:
    """Periodic: prune old rows and dispatch a drain if rows are due."""
    pruned = prune()
    due = due_count()
    dispatched = dispatch_drain() if due else False
    return {"pruned": pruned, "due": due, "dispatched": dispatched}
