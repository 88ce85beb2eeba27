"""Dispatching drains: one Celery task per transaction, coalesced over a short window.

Publishing to the broker happens after commit. A broker that is down never breaks
the save: the rows are already committed and wait for the periodic sweep or
``manage.py cfpurge drain``.
"""

from __future__ import annotations

import logging
import math

from django.core.cache import caches
from django.db import transaction

from .conf import get_float, get_setting

logger = logging.getLogger(__name__)

#: Cache key meaning "a drain is scheduled and has not started yet".
SCHEDULED_KEY = "cfpurge:drain-scheduled"


def _cache():  # type: ignore[no-untyped-def]
    return caches[get_setting("RATE_LIMIT_CACHE")]


def schedule_drain(using: str | None = None) -> None:
    """Dispatch a drain after the current transaction commits (once per transaction)."""
    connection = transaction.get_connection(using)
    if connection.in_atomic_block:
        for entry in connection.run_on_commit:
            if entry[1] is dispatch_drain:
                return
    transaction.on_commit(dispatch_drain, using=using)


def dispatch_drain() -> bool:
    """Send one drain task unless one is already scheduled; True if sent.

    The marker lives in the shared cache for the coalescing window and is
    removed by the drain when it starts, so a change committed after that start
    always dispatches another drain.
    """
    if not get_setting("ENABLED"):
        return False
    window = get_float("COALESCE_SECONDS")
    cache = _cache()
    try:
        if not cache.add(SCHEDULED_KEY, 1, timeout=max(1, math.ceil(window))):
            return False
    except Exception:  # noqa: BLE001  (a cache outage must not break a save)
        logger.warning("django-cfpurge: cache unavailable; dispatching without coalescing")
    try:
        from .tasks import drain_outbox

        options = {"countdown": window, "retry": False}
        queue = get_setting("TASK_QUEUE")
        if queue:
            options["queue"] = queue
        drain_outbox.apply_async(**options)
    except Exception as err:  # noqa: BLE001  (broker down: rows stay pending, sweep resends)
        logger.warning(
            "django-cfpurge: could not send the drain task (%s: %s); the purge is kept and "
            "will be sent by the periodic sweep or `manage.py cfpurge drain`.",
            type(err).__name__,
            err,
        )
        clear_scheduled()
        return False
    return True


def clear_scheduled() -> None:
    """Remove the "drain scheduled" marker (called when a drain starts)."""
    try:
        _cache().delete(SCHEDULED_KEY)
    except Exception:
        logger.debug("django-cfpurge: could not clear the drain marker", exc_info=True)
