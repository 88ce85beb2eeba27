"""What the outbox looks like now: counts, ages and the workers' heartbeat, for the
admin, the CLI and checks."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.core.cache import caches
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from .conf import get_float, get_str
from .enums import Status
from .models import PurgeChange, PurgeRequest

logger = logging.getLogger(__name__)

#: A waiting purge older than this makes the zone list show a warning banner.
STALE_AFTER = timedelta(minutes=10)
#: Cache key of the workers' heartbeat: when a drain last ran.
HEARTBEAT_KEY = "cfpurge:heartbeat"
#: Due rows older than this many coalescing windows (and at least a minute) with no
#: drain since mean no worker is running.
STALLED_WINDOWS = 5


def record_heartbeat() -> None:
    """Note that a worker is draining now (called by the drain task)."""
    try:
        caches[get_str("RATE_LIMIT_CACHE") or "default"].set(
            HEARTBEAT_KEY, time.time(), 7 * 24 * 3600
        )
    except Exception:
        logger.debug("django-cfpurge: could not record the heartbeat", exc_info=True)


def last_heartbeat() -> datetime | None:
    """When a worker last drained, or None (never, or the cache forgot)."""
    try:
        value = caches[get_str("RATE_LIMIT_CACHE") or "default"].get(HEARTBEAT_KEY)
    except Exception:  # noqa: BLE001  (no cache: unknown)
        return None
    if value is None:
        return None
    return datetime.fromtimestamp(float(value), tz=dt_timezone.utc)


@dataclass
class WorkerState:
    """Whether due purges wait for a worker that is not running.

    :ivar stalled: due rows have waited longer than :data:`STALLED_WINDOWS` coalescing
        windows (and a minute) and no worker drained since they became due.
    :ivar since: the last drain (None: never seen).
    :ivar oldest_due: when the oldest due row became due.
    """

    stalled: bool
    since: datetime | None
    oldest_due: datetime | None


def worker_state() -> WorkerState:
    """Is a worker draining? See :class:`WorkerState`."""
    now = timezone.now()
    oldest_due = PurgeRequest.objects.claimable(now).aggregate(due=Min("next_attempt_at"))["due"]
    since = last_heartbeat()
    if oldest_due is None:
        return WorkerState(False, since, None)
    grace = timedelta(seconds=max(60.0, STALLED_WINDOWS * get_float("COALESCE_SECONDS")))
    stalled = now - oldest_due > grace and (since is None or since < oldest_due)
    return WorkerState(stalled, since, oldest_due)


@dataclass
class OutboxStatus:
    """Counts of waiting/failed rows, the oldest waiting row's age, and why rows wait."""

    pending: int = 0
    held: int = 0
    failed: int = 0
    done_24h: int = 0
    oldest_pending_at: datetime | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def oldest_pending_age(self) -> timedelta | None:
        """How long the oldest waiting purge has waited."""
        if self.oldest_pending_at is None:
            return None
        return timezone.now() - self.oldest_pending_at

    @property
    def unhealthy(self) -> bool:
        """Failures exist, or a purge has waited longer than :data:`STALE_AFTER`."""
        age = self.oldest_pending_age
        return bool(self.failed) or (age is not None and age > STALE_AFTER)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``cfpurge status --json``)."""
        age = self.oldest_pending_age
        return {
            "pending": self.pending,
            "held": self.held,
            "failed": self.failed,
            "done_24h": self.done_24h,
            "oldest_pending_seconds": round(age.total_seconds(), 1) if age else None,
            "reasons": self.reasons,
        }


def outbox_status(zone: Any = None) -> OutboxStatus:
    """Current :class:`OutboxStatus`, for every zone or one."""
    qs = PurgeRequest.objects.all()
    if zone is not None:
        qs = qs.of_zone(zone)
    since = timezone.now() - timedelta(hours=24)
    agg = qs.aggregate(
        pending=Count("id", filter=Q(status=Status.PENDING)),
        held=Count("id", filter=Q(status=Status.HELD)),
        failed=Count("id", filter=Q(status=Status.FAILED)),
        done_24h=Count("id", filter=Q(status=Status.DONE, done_at__gte=since)),
        oldest=Min("created_at", filter=Q(status=Status.PENDING)),
    )
    reasons = dict(
        qs.filter(status__in=[Status.PENDING, Status.FAILED])
        .exclude(error_kind="")
        .values_list("error_kind")
        .annotate(n=Count("id"))
        .values_list("error_kind", "n")
    )
    pending, held, oldest = agg["pending"], agg["held"], agg["oldest"]
    if zone is None:
        # Changes recorded but not yet taken by a worker wait too (they have no zone yet).
        recorded = PurgeChange.objects.aggregate(waiting=Count("id"), oldest=Min("created_at"))
        pending += recorded["waiting"]
        oldest = min((d for d in (oldest, recorded["oldest"]) if d is not None), default=None)
    return OutboxStatus(
        pending=pending,
        held=held,
        failed=agg["failed"],
        done_24h=agg["done_24h"],
        oldest_pending_at=oldest,
        reasons=reasons,
    )


def hourly_activity(hours: int = 48) -> list[dict[str, Any]]:
    """Per hour over the last ``hours``: purged, failed and waiting rows (oldest first)."""
    now = timezone.localtime()  # hours as the site's clock shows them
    start = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
    rows = (
        PurgeRequest.objects.filter(created_at__gte=start)
        .annotate(hour=TruncHour("created_at"))
        .values("hour")
        .annotate(
            done=Count("id", filter=Q(status=Status.DONE)),
            failed=Count("id", filter=Q(status=Status.FAILED)),
            waiting=Count("id", filter=Q(status__in=[Status.PENDING, Status.HELD])),
        )
    )
    by_hour = {row["hour"]: row for row in rows}
    series = []
    for i in range(hours):
        hour = start + timedelta(hours=i)
        row: Mapping[str, Any] = by_hour.get(hour, {})
        series.append(
            {
                "hour": hour,
                "done": row.get("done", 0),
                "failed": row.get("failed", 0),
                "waiting": row.get("waiting", 0),
            }
        )
    return series
