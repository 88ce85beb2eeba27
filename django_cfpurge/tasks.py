"""Celery tasks: thin wrappers over :mod:`django_cfpurge.drain`. Arguments are never secrets.

Add the sweep to Celery beat so that purges written while the broker was down
are sent, and old log rows pruned::

    CELERY_BEAT_SCHEDULE = {
        "cfpurge-sweep": {"task": "django_cfpurge.sweep", "schedule": 60.0},
    }
"""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="django_cfpurge.drain", ignore_result=True)
def drain_outbox() -> dict[str, Any]:
    """Drain every due purge request (loops until none is due)."""
    from .dispatch import clear_scheduled, schedule_followup
    from .drain import drain
    from .outbox import next_due_at

    clear_scheduled()
    report = drain().as_dict()
    # Rows put back for a retry get a drain at their due time, not at the next sweep.
    report["followup"] = schedule_followup(next_due_at())
    return report


@shared_task(name="django_cfpurge.sweep", ignore_result=True)
def sweep() -> dict[str, Any]:
    """Periodic: prune old finished rows and dispatch a drain if rows are due."""
    from .dispatch import dispatch_drain
    from .outbox import due_count, prune_done

    pruned = prune_done()
    due = due_count()
    dispatched = dispatch_drain() if due else False
    return {"pruned": pruned, "due": due, "dispatched": dispatched}
