"""Who may send wide purges from the admin, and the "purge everything" cooldown shared
by the manual purge page and "Retry now"."""

from __future__ import annotations

from django.contrib import messages
from django.core.cache import caches
from django.http import HttpRequest
from django.utils.translation import ngettext

from ..conf import get_str
from ..enums import Kind
from ..models import PurgeRequest

#: Seconds between two "purge everything" from the admin, whatever the scope.
PURGE_EVERYTHING_COOLDOWN = 60
#: Kinds whose purge empties much of the cache: they need ``purge_cache`` to re-send.
WIDE_KINDS = frozenset({Kind.HOSTS, Kind.PREFIXES, Kind.EVERYTHING})
#: The permission to purge by hand (and to re-send wide purges).
PURGE_PERMISSION = "django_cfpurge.purge_cache"


def everything_cooldown_taken() -> bool:
    """Start the "purge everything" cooldown; False when one is running already."""
    cache = caches[get_str("RATE_LIMIT_CACHE") or "default"]
    return bool(cache.add("cfpurge:everything-cooldown", 1, PURGE_EVERYTHING_COOLDOWN))


def is_wide(row: PurgeRequest) -> bool:
    """True when ``row`` purges hostnames, prefixes or everything."""
    return bool(set(row.targets or {}) & WIDE_KINDS)


def cooldown_message(request: HttpRequest) -> None:
    """Tell the user that "everything" was purged too recently."""
    messages.error(
        request,
        ngettext(
            "Everything was purged less than %(s)d second ago; wait before purging again.",
            "Everything was purged less than %(s)d seconds ago; wait before purging again.",
            PURGE_EVERYTHING_COOLDOWN,
        )
        % {"s": PURGE_EVERYTHING_COOLDOWN},
    )
