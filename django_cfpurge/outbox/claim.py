"""Claiming due rows for one worker.

``SELECT … FOR UPDATE SKIP LOCKED`` where the database has it (PostgreSQL), plus a
lease (``claimed_until`` and a claim token): rows held by a worker that died are
claimed again once the lease runs out, so nothing is lost, and two live workers never
hold the same row. On SQLite, the claim takes the write lock up front, so that
concurrent claims wait for each other instead of failing with "database is locked".
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.db import OperationalError, connections, transaction
from django.utils import timezone

from ..conf import get_float, get_int
from ..enums import Source
from ..models import PurgeRequest
from .db import alias

logger = logging.getLogger(__name__)

#: How far past ``CLAIM_BATCH_SIZE`` a claim looks for more rows of the same objects,
#: in batches: a burst of saves of the same objects is purged once, not once per pass.
CLAIM_LOOKAHEAD = 4
#: Attempts of a statement that SQLite answered "database is locked".
SQLITE_LOCK_RETRIES = 8

T = TypeVar("T")


@dataclass
class Claim:
    """Rows claimed by one drain pass, and the token that proves the claim.

    :ivar full: the claim took a whole ``CLAIM_BATCH_SIZE``: more rows are probably due.
    """

    token: str
    rows: list[PurgeRequest]
    full: bool = False


def lease_until() -> datetime:
    """When a claim made now runs out."""
    return timezone.now() + timedelta(seconds=get_float("CLAIM_LEASE_SECONDS", minimum=1))


def take_write_lock(using: str) -> None:
    """On SQLite, start the current transaction's write now (a no-op UPDATE), so that a
    busy database is waited for instead of failing on a later read-then-write."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    table = connection.ops.quote_name(PurgeRequest._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET id = id WHERE 0")  # noqa: S608  (identifiers only)


def retry_locked(work: Callable[[], T], *, using: str) -> T:
    """Run ``work``; on SQLite, run it again (with a growing pause) when the database
    answers "database is locked", which is contention, not an error."""
    for attempt in range(SQLITE_LOCK_RETRIES):
        try:
            return work()
        except OperationalError as err:
            locked = connections[using].vendor == "sqlite" and "locked" in str(err)
            if not locked or attempt == SQLITE_LOCK_RETRIES - 1:
                raise
            logger.debug("django-cfpurge: SQLite is locked; trying again (%d)", attempt + 1)
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _same_objects(
    using: str, now: datetime, first: list[tuple[int, str, str, str]], limit: int
) -> list[int]:
    """Due rows, among the next ``CLAIM_LOOKAHEAD`` batches, that change the objects of
    ``first``. Read without locks: the claiming UPDATE re-checks every row."""
    objects = {
        (label, object_pk)
        for _pk, source, label, object_pk in first
        if source == Source.MODEL and object_pk
    }
    if not objects:
        return []
    taken = {pk for pk, *_rest in first}
    window = (
        PurgeRequest.objects.using(using)
        .claimable(now)
        .model_changes()
        .order_by("next_attempt_at", "id")
        .values_list("id", "model_label", "object_pk")[: limit * (1 + CLAIM_LOOKAHEAD)]
    )
    return [
        pk for pk, label, object_pk in window if pk not in taken and (label, object_pk) in objects
    ]


def _claim(using: str, limit: int, ids: list[int] | None, token: str) -> tuple[list[int], bool]:
    now = timezone.now()
    rows = PurgeRequest.objects.using(using)
    with transaction.atomic(using=using):
        take_write_lock(using)
        qs = rows.claimable(now)
        if ids is not None:
            qs = qs.filter(id__in=ids)
        skip_locked = connections[using].features.has_select_for_update_skip_locked
        if skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        first = list(
            qs.order_by("next_attempt_at", "id").values_list(
                "id", "source", "model_label", "object_pk"
            )[:limit]
        )
        chosen = [pk for pk, *_rest in first]
        more = _same_objects(using, now, first, limit) if ids is None else []
        if more and skip_locked:
            # Lock them too, never waiting: two workers each waiting for rows the other
            # locked would deadlock.
            more = list(
                rows.claimable(now)
                .with_ids(more)
                .select_for_update(skip_locked=True)
                .values_list("id", flat=True)
            )
        chosen += more
        if chosen:
            # Re-check claimability: on databases without row locks another worker may
            # have taken some of these rows since the SELECT.
            rows.claimable(now).with_ids(chosen).update(
                claimed_until=lease_until(), claim_token=token
            )
    return chosen, len(first) >= limit


def claim_due(limit: int | None = None, *, ids: Iterable[int] | None = None) -> Claim:
    """Claim up to ``limit`` due rows (or exactly ``ids``, if due) for this worker, and
    the due rows of the same objects among the next ``CLAIM_LOOKAHEAD`` batches."""
    using = alias()
    limit = limit or get_int("CLAIM_BATCH_SIZE", minimum=1)
    token = uuid.uuid4().hex
    wanted = list(ids) if ids is not None else None
    chosen, full = retry_locked(lambda: _claim(using, limit, wanted, token), using=using)
    rows = list(
        PurgeRequest.objects.using(using)
        .owned_by(token, chosen)
        .select_related("zone")
        .order_by("id")
    )
    return Claim(token=token, rows=rows, full=full)


def transfer_claim(rows: list[PurgeRequest], token: str) -> None:
    """Move rows held by an earlier claim of this drain to ``token`` (a new lease).

    Only rows still held by the claim they were taken with move: a row whose lease ran
    out and that another worker claimed since stays with that worker.
    """
    if not rows:
        return
    until = lease_until()
    queryset = PurgeRequest.objects.using(alias())
    for old_token in {row.claim_token for row in rows}:
        ids = [row.pk for row in rows if row.claim_token == old_token]
        queryset.owned_by(old_token, ids).update(claim_token=token, claimed_until=until)
    # Read back which moved: only this drain knows ``token``.
    moved = set(queryset.owned_by(token, [row.pk for row in rows]).values_list("id", flat=True))
    for row in rows:
        if row.pk in moved:
            row.claim_token = token
            row.claimed_until = until
