"""Moving recorded changes (:class:`~django_cfpurge.models.PurgeChange`, the request
path's narrow rows) into :class:`~django_cfpurge.models.PurgeRequest`, the queue and
log, oldest first. Every drain pass starts with it; several workers may run it at once
and move each change once."""

from __future__ import annotations

from typing import Any

from django.db import connections, transaction

from ..enums import Source, Status
from ..models import PurgeChange, PurgeRequest
from . import sql
from .claim import retry_locked, take_write_lock
from .db import alias

#: Changes moved by one statement.
INGEST_BATCH = 5000


def ingest(*, batch: str = "", limit: int = INGEST_BATCH, **overrides: Any) -> int:
    """Move up to ``limit`` recorded changes of ``batch`` (``""``: those not held) into
    purge requests; returns how many.

    :param overrides: column values for the new rows (``status=Status.DROPPED``…); by
        default they wait to be sent, due when they were recorded.
    """
    using = alias()
    overrides = {"status": Status.PENDING, "source": Source.MODEL, **overrides}
    if connections[using].vendor == "postgresql":
        return sql.move_changes_postgresql(
            using, PurgeChange, PurgeRequest, batch=batch, limit=limit, overrides=overrides
        )
    return retry_locked(lambda: _move(using, batch, limit, overrides), using=using)


def _move(using: str, batch: str, limit: int, overrides: dict[str, Any]) -> int:
    with transaction.atomic(using=using):
        take_write_lock(using)
        changes = list(PurgeChange.objects.using(using).filter(batch=batch).order_by("id")[:limit])
        if not changes:
            return 0
        PurgeRequest.objects.using(using).bulk_create(
            [
                PurgeRequest(
                    **{
                        "event": change.event,
                        "model_label": change.model_label,
                        "object_pk": change.object_pk,
                        "object_repr": change.object_repr,
                        "change": change.change,
                        "created_at": change.created_at,
                        "next_attempt_at": change.created_at,
                        **overrides,
                    }
                )
                for change in changes
            ]
        )
        PurgeChange.objects.using(using).filter(id__in=[c.pk for c in changes]).delete()
        return len(changes)


def ingest_all(**kwargs: Any) -> int:
    """:func:`ingest` until nothing is left; returns how many."""
    total = 0
    while moved := ingest(**kwargs):
        total += moved
    return total
