"""Dispatching drains: one Celery task per transaction, coalesced over a short window.

Publishing to the broker happens after commit. A broker that is down never breaks
the save: the rows are already committed and wait for the periodic sweep or
``manage.py cfpurge drain``. A publish tries the broker once, without Celery's
connection retries, and after a failed one this process stops trying for
``BROKER_BACKOFF_SECONDS``, so that a broker outage costs the request path one failed
connection attempt, not seconds per save.
"""

from __future__ import annotations

import logging
import math
import re
import time
from datetime import datetime
from typing import Any

from celery import current_app
from django.core.cache import BaseCache, caches
from django.db import transaction
from django.utils import timezone

from .conf import get_bool, get_float, get_str

logger = logging.getLogger(__name__)

#: The Celery name of the drain task (defined in :mod:`django_cfpurge.tasks`).
DRAIN_TASK = "django_cfpurge.drain"
#: Seconds a drain task may run past ``DRAIN_MAX_SECONDS`` before Celery's soft time
#: limit stops it (a pass finishing, one rate-limiter wait, one request deadline), and
#: after that before the hard limit kills it; its rows are then retaken after their lease.
SOFT_LIMIT_MARGIN = 120.0
HARD_LIMIT_MARGIN = 60.0

#: Cache key meaning "a drain is scheduled and has not started yet".
SCHEDULED_KEY = "cfpurge:drain-scheduled"
#: Prefix of the cache keys that make one follow-up drain per due time.
FOLLOWUP_KEY = "cfpurge:drain-at:"
#: Longest countdown of a follow-up drain. A longer wait is bridged by another
#: follow-up; brokers redeliver tasks delayed longer than their visibility timeout.
MAX_FOLLOWUP_SECONDS = 900.0

# A broker URL's user name and password, if an error message quotes the URL.
_USERINFO = re.compile(r"//[^/@\s]*@")

# time.monotonic() until which this process does not try the broker again.
_broker_down_until = 0.0
# time.monotonic() until which the drain this process published has not started (its
# countdown): commits until then need no dispatch of their own.
_published_until = 0.0


def _cache() -> BaseCache:
    return caches[get_str("RATE_LIMIT_CACHE") or "default"]


def on_purge_requested(sender: Any, using: str | None = None, **kwargs: Any) -> None:
    """Receiver of :data:`~django_cfpurge.signals.purge_requested`: drain after commit."""
    schedule_drain(using)


def time_limits() -> tuple[float, float]:
    """Celery's ``(soft_time_limit, time_limit)`` for one drain task."""
    soft = get_float("DRAIN_MAX_SECONDS", minimum=1) + get_float("DEADLINE") + SOFT_LIMIT_MARGIN
    return soft, soft + HARD_LIMIT_MARGIN


def schedule_drain(using: str | None = None) -> None:
    """Dispatch a drain after the current transaction commits (once per transaction)."""
    connection = transaction.get_connection(using)
    if connection.in_atomic_block:
        for entry in connection.run_on_commit:
            if entry[1] is dispatch_drain:
                return
    transaction.on_commit(dispatch_drain, using=using)


def broker_backoff_remaining() -> float:
    """Seconds before this process tries the broker again after a failed publish."""
    return max(0.0, _broker_down_until - time.monotonic())


def forget_published() -> None:
    """Forget this process's last published drain (tests that start a drain by hand)."""
    global _published_until
    _published_until = 0.0


def reset_broker_backoff() -> None:
    """Forget a failed publish: the next dispatch tries the broker at once."""
    global _broker_down_until
    _broker_down_until = 0.0


def dispatch_drain() -> bool:
    """Send one drain task unless one is already scheduled; True if sent.

    The marker lives in the shared cache for the coalescing window and is
    removed by the drain when it starts, so a change committed after that start
    always dispatches another drain.
    """
    global _published_until
    if time.monotonic() < _published_until:
        # This process published a drain that has not started yet: it will see this
        # change too (it starts after the commit). Nothing else to read on this commit.
        return False
    if not get_bool("ENABLED"):
        return False
    if broker_backoff_remaining() > 0:
        logger.debug("django-cfpurge: broker recently unreachable; the sweep sends this purge")
        return False
    window = get_float("COALESCE_SECONDS")
    cache = _cache()
    try:
        if not cache.add(SCHEDULED_KEY, 1, timeout=max(1, math.ceil(window))):
            return False
    except Exception:  # noqa: BLE001  (a cache outage must not break a save)
        logger.warning("django-cfpurge: cache unavailable; dispatching without coalescing")
    started = time.monotonic()
    if not _publish(window):
        clear_scheduled()
        return False
    _published_until = started + window
    return True


def schedule_followup(due_at: datetime | None) -> bool:
    """Send one drain for the time ``due_at`` (rows waiting for a retry); True if sent.

    Without it, a row put back for a retry would wait for the periodic sweep. Workers
    that finish at the same time agree on one task per due second through the cache.
    """
    if due_at is None or not get_bool("ENABLED") or broker_backoff_remaining() > 0:
        return False
    delay = min(MAX_FOLLOWUP_SECONDS, max(0.0, (due_at - timezone.now()).total_seconds()))
    key = f"{FOLLOWUP_KEY}{math.ceil(time.time() + delay)}"
    try:
        if not _cache().add(key, 1, timeout=math.ceil(delay) + 60):
            return False
    except Exception:  # noqa: BLE001  (without the cache, a duplicate drain is harmless)
        logger.debug("django-cfpurge: cache unavailable for the follow-up marker")
    return _publish(delay)


def _publish(countdown: float) -> bool:
    global _broker_down_until
    try:
        task = current_app.tasks[DRAIN_TASK]
        soft, hard = time_limits()
        # ``connection`` is one of apply_async's documented options (passed through).
        options: dict[str, Any] = {
            "countdown": countdown,
            "retry": False,
            "soft_time_limit": soft,
            "time_limit": hard,
        }
        queue = get_str("TASK_QUEUE")
        if queue:
            options["queue"] = queue
        # A connection of its own that tries the broker once: Celery's pooled one retries
        # for seconds when the broker is down, and this runs right after a commit, on the
        # request path. At most one publish per coalescing window makes the extra
        # connection cheap.
        with task.app.connection_for_write(transport_options={"max_retries": 0}) as connection:
            options["connection"] = connection
            task.apply_async(**options)
    except Exception as err:  # noqa: BLE001  (broker down: rows stay pending, sweep resends)
        backoff = get_float("BROKER_BACKOFF_SECONDS")
        _broker_down_until = time.monotonic() + backoff
        logger.warning(
            "django-cfpurge: could not send the drain task (%s: %s); the purge is kept and "
            "will be sent by the periodic sweep or `manage.py cfpurge drain`. Not trying the "
            "broker again from this process for %.0f s.",
            type(err).__name__,
            _USERINFO.sub("//***@", str(err)),
            backoff,
        )
        return False
    return True


def clear_scheduled() -> None:
    """Remove the "drain scheduled" marker (called when a drain starts)."""
    try:
        _cache().delete(SCHEDULED_KEY)
    except Exception:
        logger.debug("django-cfpurge: could not clear the drain marker", exc_info=True)
