"""Writing outbox rows: the request path's one INSERT, suspended batches, explicit purges.

A model change is recorded as one narrow :class:`~django_cfpurge.models.PurgeChange`
row (:func:`record_change`); explicit purges, written off the request path, go straight
to :class:`~django_cfpurge.models.PurgeRequest`. Every write announces itself with
:data:`~django_cfpurge.signals.purge_requested` (the dispatcher, connected in
``AppConfig.ready()``, schedules one drain after commit), so this module knows nothing
of Celery.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import models
from django.utils import timezone

from ..enums import Event, Source, Status
from ..models import PurgeChange, PurgeRequest, Zone
from . import sql
from .batches import current_batch
from .db import alias, announce

logger = logging.getLogger(__name__)


def write_rows(rows: list[PurgeRequest]) -> list[PurgeRequest]:
    """INSERT purge requests (explicit purges) in one statement and announce them."""
    if not rows:
        return rows
    using = alias()
    batch = current_batch()
    if batch is not None:
        for row in rows:
            row.status = Status.HELD
            row.batch = batch["id"]
        batch["rows"] += len(rows)
    PurgeRequest.objects.using(using).bulk_create(rows)
    if batch is None:
        announce(using, len(rows))
    return rows


def object_repr(instance: models.Model) -> str:
    """``str(instance)`` for the log, never raising (a user's ``__str__`` may)."""
    try:
        return str(instance)[:200]
    except Exception:  # noqa: BLE001  (a user's __str__ must never break a save)
        return f"{type(instance).__name__} {instance.pk}"


def change_row(
    label: str, instance: models.Model, event: str, change: dict[str, Any]
) -> PurgeChange:
    """An unsaved change row for one model change (:func:`write_changes` writes many)."""
    return PurgeChange(
        model_label=label,
        object_pk=str(instance.pk),
        object_repr=object_repr(instance),
        event=event,
        change=change,
    )


def write_changes(rows: list[PurgeChange]) -> int:
    """INSERT change rows (``bulk_create``) and announce them; returns how many."""
    if not rows:
        return 0
    using = alias()
    batch = current_batch()
    now = timezone.now()
    for row in rows:
        row.batch = str(batch["id"]) if batch else ""
        row.created_at = now
    PurgeChange.objects.using(using).bulk_create(rows)
    if batch is None:
        announce(using, len(rows))
    else:
        batch["rows"] += len(rows)
    return len(rows)


def record_change(
    registration: Any,
    instance: models.Model,
    event: str,
    change: dict[str, Any],
    *,
    using: str | None = None,
) -> None:
    """Record one model change (called by the receivers): one narrow INSERT.

    :param registration: the model's registration (its ``label`` names the model).
    """
    database = alias()
    batch = current_batch()
    values = (registration.label, str(instance.pk), object_repr(instance), str(event), change)
    if batch is None:
        sql.insert_change(database, PurgeChange, values)
        announce(database, 1)
    else:
        sql.insert_change(database, PurgeChange, values, batch=str(batch["id"]))
        batch["rows"] += 1


def record_targets(
    targets: dict[str, Any],
    *,
    zone: Zone | None = None,
    source: str = Source.API,
    user: Any = None,
) -> PurgeRequest:
    """Write a row with explicit targets (``purge_urls`` & co., the admin, the command)."""
    row = PurgeRequest(
        source=source,
        event=Event.MANUAL,
        targets=targets,
        resolved=False,
        zone=zone,
        requested_by=user if getattr(user, "pk", None) else None,
        change={"explicit": True},
    )
    write_rows([row])
    return row
