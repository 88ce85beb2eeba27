"""The outbox's vendor SQL, each statement beside its ORM fallback.

* :func:`insert_rows` — the request path's INSERT, compiled once per row count and
  reading no id back;
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

#: Rows written by one precompiled INSERT; longer lists use ``bulk_create``.
PLAIN_INSERT_MAX_ROWS = 20
#: Rows per ``UPDATE … FROM unnest(…)`` statement.
UPDATE_BATCH = 1000

#: The INSERT of ``n`` rows, by ``(alias, n)``.
_insert_sql_cache: dict[tuple[str, int], str] = {}


def _insert_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def insert_rows(alias: str, rows: Sequence[PurgeRequest]) -> None:
    """INSERT ``rows`` in one statement without reading their ids back.

    The same columns and values as ``bulk_create`` (each field's own ``pre_save`` and
    database preparation), without compiling a query per call or a ``RETURNING``
    clause, which together cost as much as the INSERT itself.
    """
    model = type(rows[0])
    connection = connections[alias]
    fields = _insert_fields(model)
    cache_key = (alias, len(rows))
    statement = _insert_sql_cache.get(cache_key)
    if statement is None:
        quote = connection.ops.quote_name
        table = quote(model._meta.db_table)
        columns = ", ".join(quote(str(f.column)) for f in fields)
        values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(rows))
        statement = f"INSERT INTO {table} ({columns}) VALUES {values}"  # noqa: S608  (identifiers only)
        _insert_sql_cache[cache_key] = statement
    params = [
        field.get_db_prep_save(field.pre_save(row, True), connection)
        for row in rows
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


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
