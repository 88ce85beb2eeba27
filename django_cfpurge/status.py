"""What the outbox looks like now: counts, ages and the workers' heartbeat, each zone's
health and overlaps, for the admin, the CLI and checks."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.core.cache import caches
from django.db import models
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .conf import get_float, get_str
from .enums import Status
from .models import PurgeCall, PurgeChange, PurgeRequest, Zone

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
    # A change recorded but not yet taken by a worker is due from the moment it was made.
    recorded = PurgeChange.objects.aggregate(due=Min("created_at"))["due"]
    oldest_due = min((d for d in (oldest_due, recorded) if d is not None), default=None)
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


def _hour_grid(moment: datetime) -> dt_timezone:
    """A fixed-offset zone whose hours start when the site's clock starts its hours.

    Truncating in the site's own zone would merge the two hours of the night the clocks
    go back (both are "02:00"). Daylight saving moves clocks by whole hours, so only the
    offset's minutes (``+05:30`` → 30, ``-03:30`` → 30, ``+05:45`` → 45) place the hours.
    """
    offset = moment.utcoffset() or timedelta(0)
    return dt_timezone(timedelta(minutes=(offset // timedelta(minutes=1)) % 60))


def hourly_activity(hours: int = 48) -> list[dict[str, Any]]:
    """Per hour over the last ``hours``: purged, failed and waiting rows (oldest first).

    Hours are those of the site's clock (``TIME_ZONE``); each point has ``hour`` (its
    start, aware) and ``end`` (the next hour's start), so that ``hour <= created_at < end``
    selects its rows. Hours are stepped in absolute time, so a change of daylight saving
    time neither repeats nor skips one: the hour the clocks go back is two points.
    """
    # Subtracted in UTC (local datetimes subtract by their wall clock), then cut to the
    # hour as the site's clock shows it.
    start = timezone.localtime(timezone.now() - timedelta(hours=hours - 1)).replace(
        minute=0, second=0, microsecond=0
    )
    rows = (
        PurgeRequest.objects.filter(created_at__gte=start)
        .annotate(hour=TruncHour("created_at", tzinfo=_hour_grid(start)))
        .values("hour")
        .annotate(
            done=Count("id", filter=Q(status=Status.DONE)),
            failed=Count("id", filter=Q(status=Status.FAILED)),
            waiting=Count("id", filter=Q(status__in=[Status.PENDING, Status.HELD])),
        )
    )
    # Keyed in UTC: aware datetimes of one zone compare by their wall clock, so the
    # two 02:00 of a night the clocks go back would be one key.
    by_hour = {row["hour"].astimezone(dt_timezone.utc): row for row in rows}
    series = []
    first = start.astimezone(dt_timezone.utc)
    for i in range(hours):
        hour = timezone.localtime(first + timedelta(hours=i))
        row: Mapping[str, Any] = by_hour.get(first + timedelta(hours=i), {})
        series.append(
            {
                "hour": hour,
                "end": timezone.localtime(first + timedelta(hours=i + 1)),
                "done": row.get("done", 0),
                "failed": row.get("failed", 0),
                "waiting": row.get("waiting", 0),
            }
        )
    return series


# -- zones ----------------------------------------------------------------------------


class ConnectionTestState(models.TextChoices):
    """Where a zone's last Test connection stands."""

    NEVER = "never", _("never tested")
    STALE = "stale", _("not tested since the change")
    PASSED = "passed", _("passed")
    FAILED = "failed", _("failed")


def connection_test_state(zone: Zone) -> ConnectionTestState:
    """The state of ``zone``'s last Test connection: a result older than the last change
    of its credentials is :attr:`ConnectionTestState.STALE` (it is about the previous ones)."""
    if zone.last_test_at is None:
        return ConnectionTestState.NEVER
    if zone.credentials_changed_at and zone.credentials_changed_at > zone.last_test_at:
        return ConnectionTestState.STALE
    if zone.last_test_ok:
        return ConnectionTestState.PASSED
    return ConnectionTestState.FAILED


@dataclass
class ZoneHealth:
    """How one zone is doing: its queue, its last accepted call, its last 24 hours.

    :ivar waiting: rows waiting (due, waiting for a retry, or held).
    :ivar failed: rows that failed for good.
    :ivar oldest_waiting_at: when the oldest waiting row was recorded.
    :ivar last_success_at: when the CDN last accepted a purge call of the zone.
    :ivar calls_24h: calls answered in the last 24 hours (calls split because they were
        too large are left out: their items were sent again at once).
    :ivar accepted_24h: of those, the calls the CDN accepted.
    :ivar last_error: the latest error, of a call or of a row still failed or waiting.
    :ivar last_error_at: when it happened.
    """

    waiting: int = 0
    failed: int = 0
    oldest_waiting_at: datetime | None = None
    last_success_at: datetime | None = None
    calls_24h: int = 0
    accepted_24h: int = 0
    last_error: str = ""
    last_error_at: datetime | None = None

    @property
    def success_rate(self) -> float | None:
        """Accepted calls in the last 24 hours, as a fraction (None: no call)."""
        if not self.calls_24h:
            return None
        return self.accepted_24h / self.calls_24h


def zones_health(zones: Iterable[Zone], *, last_error: bool = False) -> dict[int, ZoneHealth]:
    """:class:`ZoneHealth` of each of ``zones``, by primary key.

    Two grouped queries for all the zones, and one per zone for its last accepted call
    (and, with ``last_error``, two more for its last error).
    """
    health = {zone.pk: ZoneHealth() for zone in zones}
    if not health:
        return health
    queued = (
        PurgeRequest.objects.filter(
            zone__in=list(health), status__in=[Status.PENDING, Status.HELD, Status.FAILED]
        )
        .values("zone")
        .annotate(
            waiting=Count("id", filter=Q(status__in=[Status.PENDING, Status.HELD])),
            failed=Count("id", filter=Q(status=Status.FAILED)),
            oldest=Min("created_at", filter=Q(status__in=[Status.PENDING, Status.HELD])),
        )
    )
    for counts in queued:
        item = health[int(counts["zone"])]
        item.waiting, item.failed = counts["waiting"], counts["failed"]
        item.oldest_waiting_at = counts["oldest"]
    since = timezone.now() - timedelta(hours=24)
    answered = (
        PurgeCall.objects.filter(zone__in=list(health), started_at__gte=since)
        .exclude(outcome=PurgeCall.Outcome.SPLIT)
        .values("zone")
        .annotate(n=Count("id"), ok=Count("id", filter=Q(outcome=PurgeCall.Outcome.OK)))
    )
    for calls in answered:
        item = health[int(calls["zone"])]
        item.calls_24h, item.accepted_24h = calls["n"], calls["ok"]
    for pk, item in health.items():
        item.last_success_at = (
            PurgeCall.objects.filter(zone=pk, outcome=PurgeCall.Outcome.OK)
            .order_by("-started_at")
            .values_list("started_at", flat=True)
            .first()
        )
        if last_error:
            item.last_error, item.last_error_at = _last_error(pk)
    return health


def _last_error(zone_pk: int) -> tuple[str, datetime | None]:
    """The latest error of a zone: a call the CDN did not accept, or a row still failed
    or waiting with an error, whichever is newer."""
    call = (
        PurgeCall.objects.filter(zone=zone_pk)
        .exclude(outcome=PurgeCall.Outcome.OK)
        .order_by("-started_at")
        .values_list("message", "started_at")
        .first()
    )
    row = (
        PurgeRequest.objects.filter(zone=zone_pk, status__in=[Status.PENDING, Status.FAILED])
        .exclude(last_error="")
        .order_by("-updated_at")
        .values_list("last_error", "updated_at")
        .first()
    )
    found = [e for e in (call, row) if e is not None]
    if not found:
        return "", None
    message, when = max(found, key=lambda e: e[1])
    return str(message), when


@dataclass(frozen=True)
class Overlap:
    """Zones that share a zone id (``what`` is ``"zone_id"``) or claim the same hostname
    pattern (``"hostname"``): purges meant for one may go to the other."""

    what: str
    value: str
    names: tuple[str, ...]


def zone_overlaps(zones: Iterable[Zone]) -> list[Overlap]:
    """Zone ids (per backend) and hostname patterns that more than one of ``zones``
    claims (the ``cfpurge.W016`` check and the zone pages' warning)."""
    by_id: dict[tuple[str, str], list[str]] = defaultdict(list)
    by_host: dict[str, list[str]] = defaultdict(list)
    for zone in zones:
        if zone.zone_id:
            by_id[(zone.backend, zone.zone_id)].append(zone.name)
        for pattern in (zone.hostnames or "").split():
            by_host[pattern.strip().lower()].append(zone.name)
    found = [
        Overlap("zone_id", zone_id, tuple(names))
        for (_backend, zone_id), names in by_id.items()
        if len(names) > 1
    ]
    found += [
        Overlap("hostname", host, tuple(names)) for host, names in by_host.items() if len(names) > 1
    ]
    return found
