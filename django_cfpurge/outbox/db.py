"""The outbox's database and its announcements (imported by every outbox module)."""

from __future__ import annotations

from django.db import router

from ..models import PurgeRequest
from ..signals import purge_requested


def alias() -> str:
    """The database the outbox is written to."""
    return router.db_for_write(PurgeRequest)


def announce(using: str, count: int) -> None:
    """Tell the dispatcher that ``count`` rows became due on ``using``."""
    if count:
        purge_requested.send(sender=PurgeRequest, using=using, count=count)
