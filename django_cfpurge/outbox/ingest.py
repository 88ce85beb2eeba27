"""Recorded changes: the request path's narrow rows, and moving them into the queue.

A model change is recorded as one :class:`~django_cfpurge.models.PurgeChange` row whose
``payload`` is JSON (:func:`payload_text`). Before each drain pass a worker moves them
into :class:`~django_cfpurge.models.PurgeRequest`, the queue and log, oldest first
(:func:`ingest`); several workers may run it at once and move each change once."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, transaction

from ..enums import Source, Status
from ..models import PurgeChange, PurgeRequest
from . import sql
from .claim import retry_locked, take_write_lock
from .db import alias

#: Changes moved by one statement.
INGEST_BATCH = 5000
# One encoder for every change (building one per call costs as much as encoding).
_ENCODER = DjangoJSONEncoder(separators=(",", ":"))


def payload_text(
    label: str, object_pk: str, object_repr: str, event: str, change: dict[str, Any]
) -> str:
    """The ``payload`` of a recorded change: what changed, which object (compact JSON)."""
    return _ENCODER.encode(
        {
            "model_label": label,
            "object_pk": object_pk,
            "object_repr": object_repr,
            "event": event,
            "change": change,
        }
    )


def ingest(*, limit: int = INGEST_BATCH, **overrides: Any) -> int:
    """Move up to ``limit`` recorded changes into purge requests; returns how many.

    :param overrides: column values for the new rows; by default they wait to be sent,
        due when they were recorded.
    """
    using = alias()
    overrides = {"status": Status.PENDING, "source": Source.MODEL, **overrides}
    if connections[using].vendor == "postgresql":
        return sql.move_changes_postgresql(
            using, PurgeChange, PurgeRequest, limit=limit, overrides=overrides
        )
    return retry_locked(lambda: _move(using, limit, overrides), using=using)


def _move(using: str, limit: int, overrides: dict[str, Any]) -> int:
    with transaction.atomic(using=using):
        take_write_lock(using)
        changes = list(PurgeChange.objects.using(using).order_by("id")[:limit])
        if not changes:
            return 0
        PurgeRequest.objects.using(using).bulk_create(
            [
                PurgeRequest(
                    **{
                        **json.loads(change.payload),
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
