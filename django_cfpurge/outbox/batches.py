"""Suspended batches: rows written inside :func:`~django_cfpurge.suspend_purging` are
held (as purge requests, off the request path's narrow table), then released in one
dispatch, or dropped, and the purge log says so."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext

from ..enums import Status
from ..models import PurgeRequest
from .db import alias, announce

logger = logging.getLogger(__name__)

_local = threading.local()


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
