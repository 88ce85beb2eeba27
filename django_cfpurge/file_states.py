"""File states (``gone``, ``hide``, ``show``) that agree with the newest change.

A CDN that stores the files themselves (Cloudflare Images) is told what became of each
file, not which URLs to forget; told in the wrong order, an old "make public" retried
after a block would publish a blocked file again. Before a zone's rows are sent, each
file's ``hide``/``show`` is cut down to the newest one, counting newer rows already sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from .batching import item_key
from .enums import Kind
from .models import PurgeRequest, Zone
from .outbox.db import alias


def latest_visibility(rows: list[PurgeRequest], newer: Sequence[PurgeRequest] = ()) -> None:
    """Make ``hide`` and ``show`` of each URL in ``rows`` agree with its newest row.

    A file hidden, then shown again, while its purges waited (an outage, a rate limit, a
    retry's backoff) has both in one batch, or the newer one sent already: only the
    newest state counts, and an older row's other state is left out of its targets in
    memory (the purge log keeps what each row asked for). ``newer`` are rows of the same
    objects outside the batch (:func:`newer_rows`): they are not changed, but their
    states count. Neither is sent for a URL reported ``gone``.
    """
    latest: dict[str, str] = {}
    gone: set[str] = set()
    for row in sorted([*rows, *newer], key=lambda r: (r.created_at, r.pk)):
        targets = row.targets or {}
        gone.update(item_key(item) for item in targets.get(Kind.GONE, ()))
        for kind in (Kind.HIDE, Kind.SHOW):
            latest.update((item_key(item), kind) for item in targets.get(kind, ()))
    for row in rows:
        targets = dict(row.targets or {})
        for kind in (Kind.HIDE, Kind.SHOW):
            if kind not in targets:
                continue
            kept = [
                item
                for item in targets[kind]
                if latest.get(item_key(item)) == kind and item_key(item) not in gone
            ]
            if kept:
                targets[kind] = kept
            else:
                del targets[kind]
        row.targets = targets


def newer_rows(zone: Zone, rows: list[PurgeRequest]) -> list[PurgeRequest]:
    """Resolved rows of ``zone`` for the objects of ``rows`` whose ``hide`` or ``show``
    they carry, newer than the oldest of them and not among them: a state one of them
    sent already (or will send) wins over an older row retried after it."""
    objects = {
        (row.model_label, row.object_pk)
        for row in rows
        if row.object_pk and (Kind.HIDE in (row.targets or {}) or Kind.SHOW in (row.targets or {}))
    }
    if not objects:
        return []
    oldest = min(row.created_at for row in rows)
    return list(
        PurgeRequest.objects.using(alias())
        .resolved_for_objects(zone, objects, after=oldest)
        .exclude(pk__in=[row.pk for row in rows])
        .only("pk", "created_at", "targets")
    )
