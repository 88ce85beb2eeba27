"""Recording what happened to claimed rows, and making rows due again.

Every claimed row leaves a drain in a recorded state: done, failed (with a message a
person can act on), skipped, or waiting again with its next attempt time and why.
Only a row's own claim may record its outcome (rows are filtered by claim token).
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Min
from django.utils import timezone
from django.utils.translation import ngettext

from ..conf import get_float, get_int
from ..enums import ErrorKind, Status
from ..models import PurgeCall, PurgeChange, PurgeRequest, Zone
from . import sql
from .db import alias, announce

logger = logging.getLogger(__name__)

#: Key of ``PurgeRequest.result`` listing what an interrupted attempt purged already,
#: as ``[kind, item key]`` pairs: a retry sends only the rest.
PURGED_KEY = "purged"


def _rows() -> Any:
    return PurgeRequest.objects.using(alias())


def _owned(rows: list[PurgeRequest], token: str) -> Any:
    return _rows().owned_by(token, [r.pk for r in rows])


def save_resolutions(rows: list[PurgeRequest]) -> None:
    """Persist what resolving rows produced (targets, zone, skipped targets, and the
    outcome of rows with nothing to send), in as few statements as the database allows."""
    for row in rows:
        row.resolved = True
    sql.update_rows(alias(), rows)


def mark_done(
    rows: list[PurgeRequest], token: str, *, api_calls: int, result: dict[str, Any]
) -> int:
    """Record a successful purge of ``rows``."""
    return _owned(rows, token).update(
        status=Status.DONE,
        attempts=F("attempts") + 1,
        api_calls=F("api_calls") + api_calls,
        done_at=timezone.now(),
        claimed_until=None,
        last_error="",
        error_kind="",
        result=result,
    )


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds before attempt ``attempt + 1``: exponential backoff with jitter, ≥ Retry-After."""
    base = get_float("RETRY_BASE_SECONDS")
    cap = get_float("RETRY_MAX_SECONDS")
    delay = base * (2 ** min(max(0, attempt - 1), 32))
    delay *= random.uniform(0.8, 1.2)  # noqa: S311  (jitter, not cryptography)
    delay = min(cap, delay)
    if retry_after:
        delay = max(delay, retry_after)
    return delay


def mark_retry(
    rows: list[PurgeRequest],
    token: str,
    *,
    error_kind: str,
    message: str,
    retry_after: float | None = None,
) -> tuple[list[PurgeRequest], list[PurgeRequest]]:
    """Count an attempt and schedule ``rows`` again after a transient failure; rows out
    of attempts fail.

    :returns: ``(retried, failed)`` rows.
    """
    max_attempts = get_int("MAX_ATTEMPTS", minimum=1)
    now = timezone.now()
    retried, failed = [], []
    for row in rows:
        attempts = row.attempts + 1
        if attempts >= max_attempts:
            failed.append(row)
            continue
        retried.append(row)
        _owned([row], token).update(
            attempts=attempts,
            next_attempt_at=now + timedelta(seconds=retry_delay(attempts, retry_after)),
            claimed_until=None,
            error_kind=error_kind,
            last_error=message,
        )
        row.attempts = attempts
    if failed:
        mark_failed(
            failed,
            token,
            error_kind=error_kind,
            message=ngettext(
                "%(message)s (gave up after %(count)d attempt)",
                "%(message)s (gave up after %(count)d attempts)",
                max_attempts,
            )
            % {"message": message, "count": max_attempts},
        )
    return retried, failed


def mark_failed(rows: list[PurgeRequest], token: str, *, error_kind: str, message: str) -> int:
    """Record a permanent failure (kept: retried when the zone is fixed, or by hand)."""
    for row in rows:
        row.status = Status.FAILED
        row.error_kind = error_kind
        row.last_error = message
    return _owned(rows, token).update(
        status=Status.FAILED,
        attempts=F("attempts") + 1,
        done_at=timezone.now(),
        claimed_until=None,
        error_kind=error_kind,
        last_error=message,
    )


def mark_waiting(
    rows: list[PurgeRequest], token: str, *, error_kind: str, message: str, delay: float
) -> int:
    """Put rows back without counting an attempt (rate limited, no zone, purging off…)."""
    return _owned(rows, token).update(
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        claimed_until=None,
        error_kind=error_kind,
        last_error=message,
    )


def save_progress(row: PurgeRequest, token: str, purged: set[tuple[str, str]]) -> None:
    """Record on a row put back what was purged for it already (``[kind, key]`` pairs),
    so that its retry does not send it again."""
    result = dict(row.result) if isinstance(row.result, dict) else {}
    result[PURGED_KEY] = sorted([kind, item] for kind, item in purged)
    row.result = result
    _owned([row], token).update(result=result)


def purged_before(row: PurgeRequest) -> set[tuple[str, str]]:
    """What earlier, interrupted attempts purged for ``row``."""
    data = row.result if isinstance(row.result, dict) else {}
    return {(str(kind), str(item)) for kind, item in data.get(PURGED_KEY) or []}


def release(rows: list[PurgeRequest], token: str) -> int:
    """Give claimed rows back, due now, without counting an attempt (a drain that must
    stop early, such as at its time limit)."""
    return _owned(rows, token).update(claimed_until=None, next_attempt_at=timezone.now())


def requeue_for_fix(zone: Zone) -> int:
    """``zone``'s rows that waited for its configuration (and rows no zone took): due
    now, attempts reset. Called when its credentials or settings change, or its Test
    connection passes."""
    count = (
        _rows()
        .waiting_for_fix(zone)
        .update(status=Status.PENDING, next_attempt_at=timezone.now(), attempts=0, done_at=None)
    )
    announce(alias(), count)
    return count


def requeue_recovered(zone: Zone) -> int:
    """After a successful purge of ``zone``: retry its rows that failed transiently
    (out of attempts during an outage), so that nothing is lost to a long outage."""
    return (
        _rows()
        .failed_transiently(zone)
        .update(
            status=Status.PENDING,
            next_attempt_at=timezone.now(),
            attempts=0,
            done_at=None,
            claimed_until=None,
        )
    )


def retry_rows(queryset: Any) -> int:
    """Make failed/waiting/ignored/skipped rows due now (admin "Retry now", ``cfpurge
    retry``), with their attempts counted from zero again: a row that gave up after
    ``MAX_ATTEMPTS`` gets a full series of attempts, not a single one."""
    count = int(
        queryset.retryable().update(
            status=Status.PENDING,
            next_attempt_at=timezone.now(),
            claimed_until=None,
            done_at=None,
            attempts=0,
        )
    )
    announce(alias(), count)
    return count


def ignore_rows(queryset: Any) -> int:
    """Take rows out of the queue for good (admin "Ignore"); purged rows stay purged."""
    return int(
        queryset.exclude(status=Status.DONE).update(
            status=Status.IGNORED, done_at=timezone.now(), claimed_until=None
        )
    )


def prune(days: int | None = None) -> int:
    """Delete finished rows, and rows that waited for a zone to be configured, older
    than ``RETENTION_DAYS``, and the API calls of that age that no kept row made;
    returns how many rows."""
    days = get_int("RETENTION_DAYS") if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    label = PurgeRequest._meta.label
    # Counted by model: the links to their API calls are deleted with them.
    deleted = _rows().finished_before(cutoff).delete()[1].get(label, 0)
    stale = _rows().unconfigured().filter(created_at__lt=cutoff).delete()[1].get(label, 0)
    # The API calls of the same age go with them (those of a row still kept stay).
    PurgeCall.objects.using(alias()).filter(started_at__lt=cutoff).exclude(
        requests__isnull=False
    ).delete()
    if stale:
        logger.warning(
            "django-cfpurge: deleted %d purge request(s) that waited more than %d days for a "
            "zone to be configured.",
            stale,
            days,
        )
    return deleted + stale


def _changes() -> Any:
    return PurgeChange.objects.using(alias())


def next_due_at() -> datetime | None:
    """When the earliest unclaimed waiting row (or recorded change) becomes due (None if
    there is none)."""
    due = [
        _rows().unclaimed().aggregate(due=Min("next_attempt_at"))["due"],
        _changes().aggregate(due=Min("created_at"))["due"],
    ]
    return min((d for d in due if d is not None), default=None)


def due_count() -> int:
    """Number of rows a drain would take now (recorded changes included)."""
    return int(_rows().claimable().count()) + int(_changes().count())


__all__ = [
    "PURGED_KEY",
    "ErrorKind",
    "due_count",
    "ignore_rows",
    "mark_done",
    "mark_failed",
    "mark_retry",
    "mark_waiting",
    "next_due_at",
    "prune",
    "purged_before",
    "release",
    "requeue_for_fix",
    "requeue_recovered",
    "retry_delay",
    "retry_rows",
    "save_progress",
    "save_resolutions",
]
