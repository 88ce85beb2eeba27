"""The QuerySet of :class:`~django_cfpurge.models.PurgeRequest`: every question the
admin, the commands, the checks and the drain ask of the outbox, in one place."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ..enums import FINISHED, NEEDS_FIX, TRANSIENT, ErrorKind, Source, Status
from . import sql


class PurgeRequestQuerySet(models.QuerySet[Any]):
    """Queries on purge requests. Each returns a QuerySet, so they chain."""

    def claimable(self, now: datetime | None = None) -> PurgeRequestQuerySet:
        """Rows a drain may claim now: waiting, due, and not held by a live claim."""
        now = now or timezone.now()
        return self.filter(status=Status.PENDING, next_attempt_at__lte=now).filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        )

    def unclaimed(self, now: datetime | None = None) -> PurgeRequestQuerySet:
        """Waiting rows not held by a live claim, due or not."""
        now = now or timezone.now()
        return self.filter(status=Status.PENDING).filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        )

    def waiting(self) -> PurgeRequestQuerySet:
        """Rows not sent yet (due or waiting for a retry)."""
        return self.filter(status=Status.PENDING)

    def failed(self) -> PurgeRequestQuerySet:
        """Rows that failed for good (kept; retried when fixed, or by hand)."""
        return self.filter(status=Status.FAILED)

    def of_zone(self, zone: Any) -> PurgeRequestQuerySet:
        """Rows routed to ``zone``."""
        return self.filter(zone=zone)

    def failed_for(self, zone: Any) -> PurgeRequestQuerySet:
        """``zone``'s failed rows."""
        return self.failed().of_zone(zone)

    def waiting_for_fix(self, zone: Any) -> PurgeRequestQuerySet:
        """``zone``'s rows (and rows no zone took yet) that wait for its configuration
        to be fixed: failed or waiting with a credentials, zone or settings error."""
        return self.filter(
            Q(zone=zone) | Q(zone__isnull=True, error_kind=ErrorKind.UNCONFIGURED)
        ).filter(status__in=[Status.FAILED, Status.PENDING], error_kind__in=NEEDS_FIX)

    def failed_transiently(self, zone: Any) -> PurgeRequestQuerySet:
        """``zone``'s rows that ran out of attempts during an outage."""
        return self.failed_for(zone).filter(error_kind__in=TRANSIENT)

    def unconfigured(self) -> PurgeRequestQuerySet:
        """Rows waiting because no zone was configured when they were looked at."""
        return self.waiting().filter(error_kind=ErrorKind.UNCONFIGURED)

    def finished_before(self, cutoff: datetime) -> PurgeRequestQuerySet:
        """Finished rows (done, skipped, dropped, ignored) created before ``cutoff``."""
        return self.filter(status__in=FINISHED, created_at__lt=cutoff)

    def retryable(self) -> PurgeRequestQuerySet:
        """Rows "retry now" may make due again."""
        return self.filter(
            status__in=[Status.FAILED, Status.PENDING, Status.IGNORED, Status.SKIPPED]
        )

    def held_in(self, batch_id: str) -> PurgeRequestQuerySet:
        """Rows held by a :func:`~django_cfpurge.suspend_purging` batch."""
        return self.filter(batch=batch_id, status=Status.HELD)

    def model_changes(self) -> PurgeRequestQuerySet:
        """Rows recorded by model receivers (not explicit purges)."""
        return self.filter(source=Source.MODEL)

    def with_ids(self, ids: Iterable[int]) -> PurgeRequestQuerySet:
        """Rows with these ids: on PostgreSQL one array parameter, elsewhere ``IN``."""
        return sql.with_ids(self, list(ids))

    def owned_by(self, token: str, ids: Iterable[int]) -> PurgeRequestQuerySet:
        """Rows ``ids`` still held by the claim ``token``."""
        return self.filter(claim_token=token).with_ids(ids)

    def recent(self, hours: int = 24) -> PurgeRequestQuerySet:
        """Rows created in the last ``hours``."""
        return self.filter(created_at__gte=timezone.now() - timedelta(hours=hours))

    def resolved_for_objects(
        self, zone: Any, objects: Iterable[tuple[str, str]], *, after: datetime
    ) -> PurgeRequestQuerySet:
        """Rows of ``zone`` already resolved, for any of ``objects`` (``(model label,
        pk)`` pairs), recorded after ``after``: the newer file states of those objects."""
        match = Q()
        for label, pk in objects:
            match |= Q(model_label=label, object_pk=pk)
        if not match:
            return self.none()
        return self.filter(match, zone=zone, resolved=True, created_at__gt=after)
