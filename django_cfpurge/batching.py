"""One batching path: the targets of many rows for one zone, deduplicated and cut into
API calls, with each row's progress.

* An item wanted by several rows is sent once; a row is finished when every item it
  wants has been purged, by whichever call.
* Items are cut into calls of at most ``limit(kind)`` items, kinds in the backend's
  order. With ``hold_partial``, the last, partly filled call of each kind is kept back
  (its rows stay claimed) for the next pass to fill, so that N URLs cost ⌈N / limit⌉
  calls however the passes cut them.
* "Everything" in any row makes the batch one "everything" call that finishes every
  row of the zone.
* What an interrupted attempt purged already (``purged_before``) is not sent again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .enums import Kind

#: An item's identity: ``(kind, key)``.
ItemKey = tuple[str, str]


class Row(Protocol):
    """What batching needs of a purge request: an id and its targets."""

    pk: Any
    targets: Any


def item_key(item: Any) -> str:
    """A stable key for an item (``{url, headers}`` dicts by their sorted JSON)."""
    return json.dumps(item, sort_keys=True) if isinstance(item, dict) else str(item)


@dataclass(frozen=True)
class Call:
    """One API call to make: its kind, its items, and their keys."""

    kind: str
    items: tuple[Any, ...]
    keys: frozenset[ItemKey]

    @property
    def size(self) -> int:
        """Items in the call (``everything`` counts one)."""
        return 1 if self.kind == Kind.EVERYTHING else len(self.items)


_EVERYTHING: ItemKey = (Kind.EVERYTHING.value, "True")


class Batch:
    """The calls that purge ``rows`` on one zone, and the rows' progress.

    :param kinds: the backend's kinds, in sending order (others are ignored: the
        caller skips them before).
    :param limit: items per call for a kind.
    :param purged_before: what earlier attempts purged for a row.
    """

    def __init__(
        self,
        rows: Sequence[Row],
        *,
        kinds: Iterable[str],
        limit: Callable[[str], int],
        purged_before: Callable[[Any], set[ItemKey]] = lambda row: set(),
    ) -> None:
        self.rows = list(rows)
        self.kinds = [str(k) for k in kinds]
        self.limit = limit
        self._pending: dict[Any, set[ItemKey]] = {}
        self._before: dict[Any, set[ItemKey]] = {}
        self._served: dict[Any, int] = defaultdict(int)
        self._order: dict[str, list[Any]] = defaultdict(list)
        self.held = False
        self._everything = everything = any(
            Kind.EVERYTHING in (row.targets or {}) for row in self.rows
        )
        seen: set[ItemKey] = set()
        for row in self.rows:
            before = set() if everything else purged_before(row)
            wanted: set[ItemKey] = set()
            for kind, item in _items(row, everything):
                key = (kind, item_key(item))
                if key in before:
                    continue
                wanted.add(key)
                if key not in seen:
                    seen.add(key)
                    self._order[kind].append(item)
            self._pending[row.pk] = wanted
            self._before[row.pk] = before

    def calls(self, *, hold_partial: bool = False) -> list[Call]:
        """The calls, kinds in order; see the module documentation for ``hold_partial``."""
        calls: list[Call] = []
        for kind in self.kinds:
            items = self._order.get(kind, [])
            if not items:
                continue
            if kind == Kind.EVERYTHING:
                calls.append(Call(kind, (), frozenset({_EVERYTHING})))
                continue
            size = max(1, self.limit(kind))
            chunks = [items[i : i + size] for i in range(0, len(items), size)]
            if hold_partial and len(chunks[-1]) < size:
                chunks.pop()
                self.held = True
            calls += [_call(kind, chunk) for chunk in chunks]
        return calls

    @staticmethod
    def split(call: Call, size: int) -> list[Call]:
        """``call`` cut into calls of at most ``size`` items."""
        items = list(call.items)
        return [_call(call.kind, items[i : i + size]) for i in range(0, len(items), size)]

    def wanting(self, call: Call) -> list[Any]:
        """Rows still waiting for any item of ``call``."""
        return [row for row in self.rows if self._pending[row.pk] & call.keys]

    def record(self, call: Call) -> list[Any]:
        """Mark ``call``'s items purged; return the rows it finished."""
        finished = []
        for row in self.rows:
            pending = self._pending[row.pk]
            if pending and pending & call.keys:
                self._served[row.pk] += 1
                pending -= call.keys
                if not pending:
                    finished.append(row)
        return finished

    def unfinished(self) -> list[Any]:
        """Rows with items not purged yet."""
        return [row for row in self.rows if self._pending[row.pk]]

    def empty(self) -> list[Any]:
        """Rows with nothing left to send from the start (all purged before)."""
        return [row for row in self.rows if not self._pending[row.pk]]

    def calls_for(self, row: Any) -> int:
        """How many calls served ``row`` in this batch."""
        return self._served[row.pk]

    def progress(self, row: Any) -> set[ItemKey]:
        """Everything purged for ``row`` so far, in this batch and before it."""
        wanted = set(self._before[row.pk])
        for kind, item in _items(row, self._everything):
            wanted.add((kind, item_key(item)))
        return wanted - self._pending[row.pk] if self._pending[row.pk] else wanted

    def made_progress(self, row: Any) -> bool:
        """True when this batch purged something for ``row``."""
        return self._served[row.pk] > 0


def _items(row: Row, everything: bool) -> Iterable[tuple[str, Any]]:
    if everything:
        yield Kind.EVERYTHING.value, True
        return
    for kind, items in (row.targets or {}).items():
        if kind == Kind.EVERYTHING:
            yield Kind.EVERYTHING.value, True
            continue
        for item in items:
            yield str(kind), item


def _call(kind: str, items: Sequence[Any]) -> Call:
    return Call(kind, tuple(items), frozenset((kind, item_key(i)) for i in items))
