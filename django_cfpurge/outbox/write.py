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

from ..enums import Event, Source, Status
from ..models import PurgeChange, PurgeRequest, Zone
from . import sql
from .batches import current_batch
from .db import alias, announce
from .ingest import payload_text

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
) -> PurgeRequest:
    """An unsaved purge request for one model change (:func:`write_changes` writes many)."""
    return PurgeRequest(
        source=Source.MODEL,
        event=event,
        model_label=label,
        object_pk=str(instance.pk),
        object_repr=object_repr(instance),
        change=change,
    )


def write_changes(rows: list[PurgeRequest]) -> int:
    """Record many model changes (``purge_queryset``): one change row each, or held purge
    requests inside :func:`~django_cfpurge.suspend_purging`; returns how many."""
    if not rows:
        return 0
    if current_batch() is not None:
        return len(write_rows(rows))
    using = alias()
    PurgeChange.objects.using(using).bulk_create(
        [
            PurgeChange(
                payload=payload_text(
                    row.model_label, row.object_pk, row.object_repr, row.event, row.change
                )
            )
            for row in rows
        ]
    )
    announce(using, len(rows))
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

    Inside :func:`~django_cfpurge.suspend_purging` it is held as a purge request instead.

    :param registration: the model's registration (its ``label`` names the model).
    """
    if current_batch() is not None:
        write_rows([change_row(registration.label, instance, event, change)])
        return
    database = alias()
    text = payload_text(
        registration.label, str(instance.pk), object_repr(instance), str(event), change
    )
    sql.insert_change(database, PurgeChange, text)
    announce(database, 1)


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
