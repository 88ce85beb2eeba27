"""What a response used while it was made: the registered objects it loaded and the
registered models it queried.

:func:`collecting` opens a record for the current context (a request, in the
middleware or the decorator); while it is open,

* every instance of a registered model that Django builds from the database
  (``post_init``) or whose file field is read (``FieldFile.url`` in a view or a
  serializer, ``{{ image.file.url }}`` in a template, an object unpickled from a cache)
  is noted by its registration label and primary key (:func:`note_object`);
* every ``SELECT`` that reads a registered model's table is noted by the model's label
  (a database execute wrapper), whether it found rows or not: a listing that is empty
  today shows the object created tomorrow.

The record lives in a :class:`~contextvars.ContextVar`, so threads and async tasks
each keep their own; outside :func:`collecting` the hooks return at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.models import Model

from ..registry import registry


@dataclass
class PageUse:
    """What one response used.

    :ivar objects: registration label → primary keys (as text) of the objects used.
    :ivar models: labels of the registered models whose tables were queried.
    :ivar tables: quoted table name → label, by database vendor (filled as queries run).
    """

    objects: dict[str, set[str]] = field(default_factory=dict)
    models: set[str] = field(default_factory=set)
    tables: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def note_object(self, label: str, pk: Any) -> None:
        """Note the object ``pk`` of the registration ``label``."""
        self.objects.setdefault(label, set()).add(str(pk))

    def note_sql(self, sql: str, connection: Any) -> None:
        """Note the registered models whose tables a ``SELECT`` reads."""
        if not sql.lstrip()[:6].upper().startswith(("SELECT", "WITH")):
            return
        for quoted, label in self._tables_of(connection):
            if label not in self.models and quoted in sql:
                self.models.add(label)

    def _tables_of(self, connection: Any) -> list[tuple[str, str]]:
        vendor = connection.vendor
        tables = self.tables.get(vendor)
        if tables is None:
            quote = connection.ops.quote_name
            tables = [
                (quote(r.model._meta.db_table), r.label)
                for r in registry
                if not r.model._meta.proxy
            ]
            self.tables[vendor] = tables
        return tables


_current: ContextVar[PageUse | None] = ContextVar("cfpurge_page_use", default=None)


def current() -> PageUse | None:
    """The record open in this context, if any."""
    return _current.get()


@contextmanager
def collecting() -> Iterator[PageUse]:
    """Record what the code inside the block uses; yields the record.

    Call :func:`watch_queries` first in the thread that runs the queries (the
    middleware does, once per thread and connection).
    """
    use = PageUse()
    token = _current.set(use)
    try:
        yield use
    finally:
        _current.reset(token)


def note_object(instance: Model) -> None:
    """Note ``instance`` if a record is open and its model is registered."""
    use = _current.get()
    if use is None:
        return
    pk = instance.pk
    registration = registry.get(type(instance))
    if registration is not None and pk is not None:
        use.note_object(registration.label, pk)


def _watch(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    use = _current.get()
    if use is not None:
        use.note_sql(sql, context["connection"])
    return execute(sql, params, many, context)


def watch_queries() -> None:
    """Make this thread's database connections note queries into open records.

    Idempotent; the wrapper costs one context-variable read per query when no record
    is open.
    """
    for connection in connections.all():
        if _watch not in connection.execute_wrappers:
            connection.execute_wrappers.append(_watch)
