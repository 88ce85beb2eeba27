"""Writing outbox rows: the request path's one INSERT, suspended batches, explicit purges.

Every write announces itself with :data:`~django_cfpurge.signals.purge_requested` (the
dispatcher, connected in ``AppConfig.ready()``, schedules one drain after commit), so
this module knows nothing of Celery.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import models, router
from django.utils import timezone
from django.utils.translation import gettext

from ..enums import Event, Source, Status
from ..models import PurgeRequest, Zone
from ..signals import purge_requested
from . import sql

logger = logging.getLogger(__name__)

_local = threading.local()


def alias() -> str:
    """The database the outbox is written to."""
    return router.db_for_write(PurgeRequest)


def announce(using: str, count: int) -> None:
    """Tell the dispatcher that ``count`` rows became due on ``using``."""
    if count:
        purge_requested.send(sender=PurgeRequest, using=using, count=count)


def current_batch() -> dict[str, Any] | None:
    """The innermost active :func:`suspended` batch of this thread, or None."""
    stack = getattr(_local, "batches", None)
    return stack[-1] if stack else None


@contextmanager
def suspended(*, discard: bool = False) -> Iterator[dict[str, Any]]:
    """Hold the rows written inside; release them (one dispatch) or drop them at exit.

    Nested blocks join the outermost one's batch.
    """
    stack = _local.__dict__.setdefault("batches", [])
    if stack:
        stack.append(stack[-1])
        try:
            yield stack[-1]
        finally:
            stack.pop()
        return
    batch = {"id": uuid.uuid4().hex, "discard": discard, "rows": 0}
    stack.append(batch)
    try:
        yield batch
    finally:
        stack.pop()
        release_batch(str(batch["id"]), discard=bool(batch["discard"]))


def release_batch(batch_id: str, *, discard: bool = False) -> int:
    """Release (or drop) the held rows of a batch; returns the number of rows."""
    using = alias()
    held = PurgeRequest.objects.using(using).held_in(batch_id)
    if discard:
        count = held.update(
            status=Status.DROPPED,
            last_error=gettext("Dropped: written inside suspend_purging(discard=True)."),
            done_at=timezone.now(),
        )
        logger.info("suspend_purging: dropped %d held purge request(s)", count)
        return count
    count = held.update(status=Status.PENDING, next_attempt_at=timezone.now())
    announce(using, count)
    return count


def write_rows(rows: list[PurgeRequest], *, fetch_ids: bool = True) -> list[PurgeRequest]:
    """INSERT ``rows`` in one statement and announce them.

    ``fetch_ids=False`` skips reading the new rows' ids back (their ``pk`` stays None):
    the cheaper write used for model changes on the request path.
    """
    if not rows:
        return rows
    using = alias()
    batch = current_batch()
    if batch is not None:
        for row in rows:
            row.status = Status.HELD
            row.batch = batch["id"]
        batch["rows"] += len(rows)
    if not fetch_ids and len(rows) <= sql.PLAIN_INSERT_MAX_ROWS:
        sql.insert_rows(using, rows)
    else:
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
    """An unsaved row for one model change."""
    return PurgeRequest(
        source=Source.MODEL,
        event=event,
        model_label=label,
        object_pk=str(instance.pk),
        object_repr=object_repr(instance),
        change=change,
    )


def record_change(
    registration: Any,
    instance: models.Model,
    event: str,
    change: dict[str, Any],
    *,
    using: str | None = None,
) -> PurgeRequest:
    """Write the outbox row for one model change (called by the receivers).

    The row's id is not read back (``pk`` is None): nothing on the request path needs it.

    :param registration: the model's registration (its ``label`` names the model).
    """
    row = change_row(registration.label, instance, event, change)
    write_rows([row], fetch_ids=False)
    return row


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
