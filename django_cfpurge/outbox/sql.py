"""The outbox's vendor SQL, each statement beside its ORM fallback.

* :func:`insert_change` — the request path's INSERT of one change, compiled once and
  reading no id back;
* :func:`move_changes_postgresql` — recorded changes into purge requests in one statement;
* :func:`with_ids` — ``id = ANY(%s)`` with one array parameter on PostgreSQL (the driver
  handles it much faster than ``IN`` with hundreds of parameters);
* :func:`update_rows` — one ``UPDATE … FROM unnest(…)`` per 1,000 rows on PostgreSQL
  (Django's ``bulk_update`` builds ``CASE`` expressions that cost more than one
  ``UPDATE`` per row); one ``UPDATE`` per row elsewhere.

Only quoted identifiers and placeholders are ever formatted into the SQL; every value
goes in the parameters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import connections, models

if TYPE_CHECKING:  # pragma: no cover
    from ..models import PurgeRequest

#: Rows per ``UPDATE … FROM unnest(…)`` statement.
UPDATE_BATCH = 1000


def _insert_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


#: The request path's INSERT of one change, by database alias.
_change_sql_cache: dict[str, str] = {}


def insert_change(alias: str, model: type[models.Model], payload: str) -> None:
    """INSERT one change row of ``model`` (:class:`~django_cfpurge.models.PurgeChange`)
    with its ``payload`` (JSON text).

    The request path's only write: one statement compiled once, one parameter, no model
    instance, no id read back; ``created_at`` comes from the database's default.
    """
    connection = connections[alias]
    statement = _change_sql_cache.get(alias)
    if statement is None:
        quote = connection.ops.quote_name
        table = quote(model._meta.db_table)
        (column,) = (
            quote(f.column or f.name) for f in _insert_fields(model) if f.name == "payload"
        )
        statement = f"INSERT INTO {table} ({column}) VALUES (%s)"  # noqa: S608  (identifiers only)
        _change_sql_cache[alias] = statement
    with connection.cursor() as cursor:
        cursor.execute(statement, [payload])


#: Keys of a change's payload, and the purge-request columns they fill.
PAYLOAD_KEYS = ("model_label", "object_pk", "object_repr", "event", "change")


def move_changes_postgresql(
    alias: str,
    source_model: type[models.Model],
    target_model: type[models.Model],
    *,
    limit: int,
    overrides: dict[str, Any],
) -> int:
    """Move up to ``limit`` change rows into purge requests in one statement
    (``DELETE … RETURNING`` feeding an ``INSERT … SELECT`` that unpacks each payload),
    skipping rows another worker is moving; returns how many."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    columns, selected, params = [], [], []
    for field in _insert_fields(target_model):
        columns.append(quote(str(field.column)))
        if field.name in overrides:
            selected.append("%s")
            params.append(field.get_db_prep_save(overrides[field.name], connection))
        elif field.name == "change":
            selected.append("moved.payload::jsonb -> 'change'")
        elif field.name in PAYLOAD_KEYS:
            selected.append(f"moved.payload::jsonb ->> '{field.name}'")
        elif field.name in ("created_at", "next_attempt_at"):
            selected.append("moved.created_at")
        elif field.name == "updated_at":
            selected.append("now()")
        else:
            selected.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    source = quote(source_model._meta.db_table)
    target = quote(target_model._meta.db_table)
    statement = (
        f"WITH moved AS (DELETE FROM {source} WHERE id IN ("  # noqa: S608  (identifiers only)
        f"SELECT id FROM {source} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING *) "
        f"INSERT INTO {target} ({', '.join(columns)}) "
        f"SELECT {', '.join(selected)} FROM moved ORDER BY moved.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [limit, *params])
        return int(cursor.rowcount)


def with_ids(queryset: Any, ids: list[int]) -> Any:
    """``queryset`` limited to the rows ``ids`` (see the module documentation)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return queryset.filter(id__in=ids)
    model = queryset.model
    column = (
        f"{connection.ops.quote_name(model._meta.db_table)}."
        f"{connection.ops.quote_name(model._meta.pk.column)}"
    )
    return queryset.extra(where=[f"{column} = ANY(%s)"], params=[ids])  # noqa: S610  (identifiers only)


#: The columns :func:`update_rows` writes, with their PostgreSQL array types.
RESOLUTION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("targets", "jsonb"),
    ("resolved", "boolean"),
    ("zone_id", "bigint"),
    ("skipped_targets", "jsonb"),
    ("status", "text"),
    ("last_error", "text"),
    ("error_kind", "text"),
    ("done_at", "timestamptz"),
    ("claimed_until", "timestamptz"),
)


def _column_value(row: PurgeRequest, name: str) -> Any:
    value = getattr(row, name)
    if name in ("targets", "skipped_targets"):
        return json.dumps(value)
    if name in ("done_at", "claimed_until"):
        return value.isoformat() if value else None
    return value


def update_rows(alias: str, rows: Sequence[PurgeRequest]) -> None:
    """Write :data:`RESOLUTION_COLUMNS` of ``rows`` (see the module documentation)."""
    if not rows:
        return
    model = type(rows[0])
    connection = connections[alias]
    names = [name for name, _type in RESOLUTION_COLUMNS]
    if connection.vendor != "postgresql":
        manager = model._default_manager.using(alias)
        for row in rows:
            manager.filter(pk=row.pk).update(**{name: getattr(row, name) for name in names})
        return
    table = connection.ops.quote_name(model._meta.db_table)
    assignments = ", ".join(
        f"{name} = v.{name}" + (f"::{kind}" if kind in ("jsonb", "timestamptz") else "")
        for name, kind in RESOLUTION_COLUMNS
    )
    arrays = ", ".join(
        "%s::bigint[]" if i == 0 else f"%s::{_array_type(kind)}[]"
        for i, kind in enumerate(["bigint", *[k for _n, k in RESOLUTION_COLUMNS]])
    )
    statement = (
        f"UPDATE {table} AS t SET {assignments} "  # noqa: S608  (identifiers only)
        f"FROM unnest({arrays}) AS v(id, {', '.join(names)}) WHERE t.id = v.id"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), UPDATE_BATCH):
            batch = rows[start : start + UPDATE_BATCH]
            params = [[row.pk for row in batch]] + [
                [_column_value(row, name) for row in batch] for name in names
            ]
            cursor.execute(statement, params)


def _array_type(kind: str) -> str:
    # JSON and timestamps travel as text and are cast in the SET clause.
    return "text" if kind in ("jsonb", "timestamptz") else kind
