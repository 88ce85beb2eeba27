"""The outbox: write :class:`~django_cfpurge.models.PurgeRequest` rows, claim them, record outcomes.

Writing happens on the request path (one ``bulk_create`` in the caller's
transaction). Claiming uses ``SELECT … FOR UPDATE SKIP LOCKED`` where the database
supports it, plus a lease (``claimed_until``): rows held by a worker that died are
claimed again once the lease runs out, so nothing is lost, and two live workers
never hold the same row.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import connections, models, router, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from .conf import get_float, get_int
from .models import CloudflareZone, PurgeRequest

if TYPE_CHECKING:  # pragma: no cover
    from .registry import Registration

logger = logging.getLogger(__name__)

Status = PurgeRequest.Status

#: Error kinds recorded on rows (``PurgeRequest.error_kind``).
ERROR_AUTH = "auth"
ERROR_ZONE = "zone"
ERROR_CREDENTIALS = "credentials"
ERROR_UNCONFIGURED = "unconfigured"
ERROR_DISABLED = "disabled"
ERROR_RATE_LIMITED = "rate_limited"
ERROR_SERVER = "server"
ERROR_NETWORK = "network"
ERROR_INVALID_RESPONSE = "invalid_response"
ERROR_REJECTED = "rejected"
ERROR_RESOLVE = "resolve"
#: Kinds that wait for a person to fix the configuration; retried when the zone's
#: Test connection passes again.
NEEDS_FIX = (ERROR_AUTH, ERROR_ZONE, ERROR_CREDENTIALS, ERROR_UNCONFIGURED)

_local = threading.local()


def _alias() -> str:
    return router.db_for_write(PurgeRequest)


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
    held = PurgeRequest.objects.using(_alias()).filter(batch=batch_id, status=Status.HELD)
    if discard:
        count = held.update(
            status=Status.DROPPED,
            last_error=gettext("Dropped: written inside suspend_purging(discard=True)."),
            done_at=timezone.now(),
        )
        logger.info("suspend_purging: dropped %d held purge request(s)", count)
        return count
    count = held.update(status=Status.PENDING, next_attempt_at=timezone.now())
    if count:
        from .dispatch import schedule_drain

        schedule_drain(_alias())
    return count


#: Rows written by one plain INSERT (:func:`_insert_rows`); longer lists use
#: ``bulk_create``, which splits them into statements the database accepts.
PLAIN_INSERT_MAX_ROWS = 20

#: The INSERT of ``n`` rows on database ``alias``, by ``(alias, n)``.
_insert_sql_cache: dict[tuple[str, int], str] = {}


def _insert_fields() -> list[models.Field[Any, Any]]:
    return [f for f in PurgeRequest._meta.concrete_fields if not f.primary_key]


def _insert_rows(alias: str, rows: list[PurgeRequest]) -> None:
    """INSERT ``rows`` in one statement without reading their ids back.

    The request path's write: the same columns and values as ``bulk_create`` (each
    field's own ``pre_save`` and database preparation), without compiling a query per
    call or a ``RETURNING`` clause, which together cost as much as the INSERT itself.
    """
    connection = connections[alias]
    fields = _insert_fields()
    key = (alias, len(rows))
    sql = _insert_sql_cache.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        # Only quoted identifiers and placeholders: every value goes in ``params``.
        table = quote(PurgeRequest._meta.db_table)
        columns = ", ".join(quote(str(f.column)) for f in fields)
        values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(rows))
        sql = f"INSERT INTO {table} ({columns}) VALUES {values}"  # noqa: S608
        _insert_sql_cache[key] = sql
    params = [
        field.get_db_prep_save(field.pre_save(row, True), connection)
        for row in rows
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def write_rows(rows: list[PurgeRequest], *, fetch_ids: bool = True) -> list[PurgeRequest]:
    """INSERT ``rows`` in one statement and schedule a drain after commit.

    ``fetch_ids=False`` skips reading the new rows' ids back (their ``pk`` stays None):
    the cheaper write used for model changes on the request path.
    """
    if not rows:
        return rows
    alias = _alias()
    batch = current_batch()
    if batch is not None:
        for row in rows:
            row.status = Status.HELD
            row.batch = batch["id"]
        batch["rows"] += len(rows)
    if not fetch_ids and len(rows) <= PLAIN_INSERT_MAX_ROWS:
        _insert_rows(alias, rows)
    else:
        PurgeRequest.objects.using(alias).bulk_create(rows)
    if batch is None:
        from .dispatch import schedule_drain

        schedule_drain(alias)
    return rows


def _object_repr(instance: models.Model) -> str:
    try:
        return str(instance)[:200]
    except Exception:  # noqa: BLE001  (a user's __str__ must never break a save)
        return f"{type(instance).__name__} {instance.pk}"


def build_change_row(
    registration: Registration, instance: models.Model, event: str, change: dict[str, Any]
) -> PurgeRequest:
    """An unsaved row for one model change."""
    return PurgeRequest(
        source=PurgeRequest.Source.MODEL,
        event=event,
        model_label=registration.label,
        object_pk=str(instance.pk),
        object_repr=_object_repr(instance),
        change=change,
    )


def record_change(
    registration: Registration,
    instance: models.Model,
    event: str,
    change: dict[str, Any],
    *,
    using: str | None = None,
) -> PurgeRequest:
    """Write the outbox row for one model change (called by the receivers).

    The row's id is not read back (``pk`` is None): nothing on the request path needs it.
    """
    row = build_change_row(registration, instance, event, change)
    write_rows([row], fetch_ids=False)
    return row


def create_target_row(
    targets: dict[str, Any],
    *,
    zone: CloudflareZone | None = None,
    source: str = PurgeRequest.Source.API,
    user: Any = None,
) -> PurgeRequest:
    """Write a row with explicit targets (``purge_urls`` & co., the admin, the command)."""
    row = PurgeRequest(
        source=source,
        event=PurgeRequest.Event.MANUAL,
        targets=targets,
        resolved=False,
        zone=zone,
        requested_by=user if getattr(user, "pk", None) else None,
        change={"explicit": True},
    )
    write_rows([row])
    return row


def _claimable(now: Any) -> Q:
    return Q(status=Status.PENDING, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


@dataclass
class Claim:
    """Rows claimed by one drain pass, and the token that proves the claim.

    :ivar full: the claim took a whole ``CLAIM_BATCH_SIZE``: more rows are probably due.
    """

    token: str
    rows: list[PurgeRequest]
    full: bool = False


_MODEL_SOURCE = PurgeRequest.Source.MODEL

#: How far past ``CLAIM_BATCH_SIZE`` a claim looks for more rows of the same objects,
#: in batches: a burst of saves of the same objects is purged once, not once per pass.
CLAIM_LOOKAHEAD = 4


def _with_ids(
    queryset: models.QuerySet[PurgeRequest], ids: Iterable[int]
) -> models.QuerySet[PurgeRequest]:
    """``queryset`` limited to the rows ``ids``: on PostgreSQL with one array parameter
    (``id = ANY(%s)``), which the driver handles much faster than ``IN`` with hundreds of
    parameters; elsewhere with ``id__in``."""
    from django.db import connections

    ids = list(ids)
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return queryset.filter(id__in=ids)
    column = (
        f"{connection.ops.quote_name(PurgeRequest._meta.db_table)}."
        f"{connection.ops.quote_name(PurgeRequest._meta.pk.column)}"
    )
    return queryset.extra(where=[f"{column} = ANY(%s)"], params=[ids])  # noqa: S610


def _same_objects(
    alias: str, now: Any, first: list[tuple[int, str, str, str]], limit: int
) -> list[int]:
    """Due rows, among the next ``CLAIM_LOOKAHEAD`` batches, that change the objects of
    ``first``. Read without locks: the claiming UPDATE re-checks every row."""
    objects = {
        (label, object_pk)
        for _pk, source, label, object_pk in first
        if source == _MODEL_SOURCE and object_pk
    }
    if not objects:
        return []
    taken = {pk for pk, *_rest in first}
    window = (
        PurgeRequest.objects.using(alias)
        .filter(_claimable(now), source=_MODEL_SOURCE)
        .order_by("next_attempt_at", "id")
        .values_list("id", "model_label", "object_pk")[: limit * (1 + CLAIM_LOOKAHEAD)]
    )
    return [
        pk for pk, label, object_pk in window if pk not in taken and (label, object_pk) in objects
    ]


def claim_due(limit: int | None = None, *, ids: Iterable[int] | None = None) -> Claim:
    """Claim up to ``limit`` due rows (or exactly ``ids``, if due) for this worker, and
    the due rows of the same objects among the next ``CLAIM_LOOKAHEAD`` batches."""
    alias = _alias()
    limit = limit or get_int("CLAIM_BATCH_SIZE", minimum=1)
    now = timezone.now()
    lease = timedelta(seconds=get_float("CLAIM_LEASE_SECONDS", minimum=1))
    token = uuid.uuid4().hex
    with transaction.atomic(using=alias):
        qs = PurgeRequest.objects.using(alias).filter(_claimable(now))
        if ids is not None:
            qs = qs.filter(id__in=list(ids))
        from django.db import connections

        skip_locked = connections[alias].features.has_select_for_update_skip_locked
        if skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        first = list(
            qs.order_by("next_attempt_at", "id").values_list(
                "id", "source", "model_label", "object_pk"
            )[:limit]
        )
        full = len(first) >= limit
        chosen = [pk for pk, *_rest in first]
        more = _same_objects(alias, now, first, limit) if ids is None else []
        if more and skip_locked:
            # Lock them too, never waiting: two workers each waiting for rows the other
            # locked would deadlock.
            more = list(
                _with_ids(PurgeRequest.objects.using(alias).filter(_claimable(now)), more)
                .select_for_update(skip_locked=True)
                .values_list("id", flat=True)
            )
        chosen += more
        if chosen:
            # Re-check claimability: on databases without row locks (SQLite) another
            # worker may have taken some of these rows since the SELECT.
            _with_ids(PurgeRequest.objects.using(alias).filter(_claimable(now)), chosen).update(
                claimed_until=now + lease, claim_token=token
            )
    rows = list(
        _with_ids(PurgeRequest.objects.using(alias).filter(claim_token=token), chosen)
        .select_related("zone")
        .order_by("id")
    )
    return Claim(token=token, rows=rows, full=full)


def transfer_claim(rows: list[PurgeRequest], token: str) -> None:
    """Move rows held by an earlier claim of this drain to ``token`` (a new lease)."""
    if not rows:
        return
    lease = timedelta(seconds=get_float("CLAIM_LEASE_SECONDS", minimum=1))
    until = timezone.now() + lease
    _with_ids(PurgeRequest.objects.using(_alias()), [r.pk for r in rows]).update(
        claim_token=token, claimed_until=until
    )
    for row in rows:
        row.claim_token = token
        row.claimed_until = until


def _owned(rows: Iterable[PurgeRequest], token: str) -> models.QuerySet[PurgeRequest]:
    return _with_ids(
        PurgeRequest.objects.using(_alias()).filter(claim_token=token), [r.pk for r in rows]
    )


_RESOLUTION_FIELDS = [
    "targets",
    "resolved",
    "zone",
    "skipped_targets",
    "status",
    "last_error",
    "error_kind",
    "done_at",
    "claimed_until",
]


#: Rows per ``UPDATE … FROM unnest(…)`` statement on PostgreSQL.
_RESOLUTION_BATCH = 1000


def save_resolutions(rows: list[PurgeRequest]) -> None:
    """Persist what resolving rows produced (targets, zone, skipped targets, and the
    outcome of rows with nothing to send).

    On PostgreSQL one ``UPDATE … FROM unnest(…)`` per 1,000 rows (Django's
    ``bulk_update`` builds ``CASE`` expressions that cost more than one ``UPDATE`` per
    row); elsewhere one ``UPDATE`` per row.
    """
    if not rows:
        return
    alias = _alias()
    for row in rows:
        row.resolved = True
    from django.db import connections

    connection = connections[alias]
    if connection.vendor != "postgresql":
        for row in rows:
            PurgeRequest.objects.using(alias).filter(pk=row.pk).update(
                **{name: getattr(row, name) for name in _RESOLUTION_FIELDS}
            )
        return
    table = connection.ops.quote_name(PurgeRequest._meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _RESOLUTION_BATCH):
            batch = rows[start : start + _RESOLUTION_BATCH]
            # One array per column: nine parameters, however many rows.
            columns: list[list[Any]] = [
                [row.pk for row in batch],
                [json.dumps(row.targets) for row in batch],
                [row.zone_id for row in batch],
                [json.dumps(row.skipped_targets) for row in batch],
                [row.status for row in batch],
                [row.last_error for row in batch],
                [row.error_kind for row in batch],
                [row.done_at.isoformat() if row.done_at else None for row in batch],
                [row.claimed_until.isoformat() if row.claimed_until else None for row in batch],
            ]
            cursor.execute(
                f"UPDATE {table} AS t SET targets = v.targets::jsonb, resolved = true, "  # noqa: S608  (only %s parameters)
                "zone_id = v.zone_id, skipped_targets = v.skipped::jsonb, status = v.status, "
                "last_error = v.last_error, error_kind = v.error_kind, "
                "done_at = v.done_at::timestamptz, claimed_until = v.claimed_until::timestamptz "
                "FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::text[], "
                "%s::text[], %s::text[], %s::text[], %s::text[]) "
                "AS v(id, targets, zone_id, skipped, status, last_error, error_kind, done_at, "
                "claimed_until) WHERE t.id = v.id",
                columns,
            )


def save_resolution(row: PurgeRequest) -> None:
    """Persist what resolving one row produced (see :func:`save_resolutions`)."""
    save_resolutions([row])


def mark_done(
    rows: list[PurgeRequest], token: str, *, api_calls: int, result: dict[str, Any]
) -> int:
    """Record a successful purge of ``rows``."""
    now = timezone.now()
    return _owned(rows, token).update(
        status=Status.DONE,
        attempts=F("attempts") + 1,
        api_calls=F("api_calls") + api_calls,
        done_at=now,
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
    count_attempt: bool = True,
) -> tuple[list[PurgeRequest], list[PurgeRequest]]:
    """Schedule ``rows`` again after a transient failure; rows out of attempts fail.

    :returns: ``(retried, failed)`` rows.
    """
    max_attempts = get_int("MAX_ATTEMPTS", minimum=1)
    now = timezone.now()
    retried, failed = [], []
    for row in rows:
        attempts = row.attempts + (1 if count_attempt else 0)
        if attempts >= max_attempts:
            failed.append(row)
            continue
        retried.append(row)
        delay = retry_delay(attempts, retry_after)
        _owned([row], token).update(
            attempts=attempts,
            next_attempt_at=now + timedelta(seconds=delay),
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
    now = timezone.now()
    for row in rows:
        row.status = Status.FAILED
        row.error_kind = error_kind
        row.last_error = message
    return _owned(rows, token).update(
        status=Status.FAILED,
        attempts=F("attempts") + 1,
        done_at=now,
        claimed_until=None,
        error_kind=error_kind,
        last_error=message,
    )


def mark_waiting(
    rows: list[PurgeRequest], token: str, *, error_kind: str, message: str, delay: float
) -> int:
    """Put rows back without counting an attempt (no credentials, purging off…)."""
    return _owned(rows, token).update(
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        claimed_until=None,
        error_kind=error_kind,
        last_error=message,
    )


def requeue_zone(zone: CloudflareZone) -> int:
    """After a passing Test connection: retry the zone's rows that waited for a fix."""
    alias = _alias()
    now = timezone.now()
    count = (
        PurgeRequest.objects.using(alias)
        .filter(Q(zone=zone) | Q(zone__isnull=True, error_kind=ERROR_UNCONFIGURED))
        .filter(status__in=[Status.FAILED, Status.PENDING], error_kind__in=NEEDS_FIX)
        .update(status=Status.PENDING, next_attempt_at=now, attempts=0, done_at=None)
    )
    if count:
        from .dispatch import schedule_drain

        schedule_drain(alias)
    return count


#: Error kinds that say nothing about the zone's configuration: once a purge of the
#: zone succeeds again, rows that failed with them are retried.
TRANSIENT = (ERROR_RATE_LIMITED, ERROR_SERVER, ERROR_NETWORK, ERROR_INVALID_RESPONSE)


def requeue_recovered(zone: CloudflareZone) -> int:
    """After a successful purge of ``zone``: retry its rows that failed transiently
    (out of attempts during an outage), so that nothing is lost to a long outage."""
    alias = _alias()
    count = (
        PurgeRequest.objects.using(alias)
        .filter(zone=zone, status=Status.FAILED, error_kind__in=TRANSIENT)
        .update(
            status=Status.PENDING,
            next_attempt_at=timezone.now(),
            attempts=0,
            done_at=None,
            claimed_until=None,
        )
    )
    return count


def next_due_at() -> Any:
    """When the earliest unclaimed pending row becomes due (None if there is none)."""
    now = timezone.now()
    return (
        PurgeRequest.objects.using(_alias())
        .filter(status=Status.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .aggregate(due=models.Min("next_attempt_at"))["due"]
    )


def retry_rows(queryset: models.QuerySet[PurgeRequest]) -> int:
    """Make failed/waiting/ignored rows due now (admin "retry now", ``cfpurge retry``)."""
    count = queryset.filter(
        status__in=[Status.FAILED, Status.PENDING, Status.IGNORED, Status.SKIPPED]
    ).update(
        status=Status.PENDING, next_attempt_at=timezone.now(), claimed_until=None, done_at=None
    )
    if count:
        from .dispatch import schedule_drain

        schedule_drain(_alias())
    return count


def prune_done(days: int | None = None) -> int:
    """Delete finished rows older than ``RETENTION_DAYS``; returns how many."""
    days = get_int("RETENTION_DAYS", minimum=0) if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    finished = [Status.DONE, Status.SKIPPED, Status.DROPPED, Status.IGNORED]
    deleted, _ = (
        PurgeRequest.objects.using(_alias())
        .filter(status__in=finished, created_at__lt=cutoff)
        .delete()
    )
    return deleted


def due_count() -> int:
    """Number of rows a drain would claim now."""
    return PurgeRequest.objects.using(_alias()).filter(_claimable(timezone.now())).count()
