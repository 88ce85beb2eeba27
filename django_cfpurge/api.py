"""The public functions behind ``django_cfpurge.purge_*``. They write outbox rows; no network.

Every purge, automatic or explicit, goes through the outbox so that it is rate-limited,
retried and logged the same way. What is given is checked first
(:mod:`django_cfpurge.targets`): a URL with another scheme, a malformed URL, a bad tag or
a host with a path raises :class:`~django_cfpurge.exceptions.InvalidTarget` and nothing
is written. ``now=True`` drains the new row in the calling process before returning
(deploy scripts, the ``--now`` flag).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ContextDecorator
from typing import Any

from django.db import models
from django.utils.translation import gettext

from . import changes, targets
from .drain import drain
from .enums import Event, Kind, Source
from .exceptions import CfPurgeError, NotRegistered
from .models import PurgeRequest, Zone
from .outbox import batches, write
from .receivers import snapshot
from .registry import registry
from .zones import sync_settings_zones

#: ``bulk_create`` size used by :func:`purge_queryset`.
QUERYSET_BATCH_SIZE = 1000


def _zone(zone: Zone | str | None) -> Zone | None:
    if zone is None or isinstance(zone, Zone):
        return zone
    sync_settings_zones()
    try:
        return Zone.objects.get(name=zone)
    except Zone.DoesNotExist:
        names = ", ".join(Zone.objects.values_list("name", flat=True))
        raise CfPurgeError(
            gettext("No CDN zone named “%(zone)s” (zones: %(names)s).")
            % {"zone": zone, "names": names or gettext("none")}
        ) from None


def purge(
    kind: str,
    items: Iterable[Any],
    *,
    zone: Zone | str | None = None,
    now: bool = False,
    user: Any = None,
    source: str = Source.API,
) -> PurgeRequest:
    """Purge ``items`` of one :class:`~django_cfpurge.enums.Kind` (the functions below
    are this with their kind).

    :raises InvalidTarget: an item cannot be purged as given (nothing is written).
    :raises CfPurgeError: ``zone`` names no zone.
    """
    cleaned = targets.clean(kind, items)
    target_zone = _zone(zone)
    row = write.record_targets({str(kind): cleaned}, zone=target_zone, source=source, user=user)
    if now:
        drain(ids=[row.pk])
        row.refresh_from_db()
    return row


def purge_urls(
    urls: Iterable[str | dict[str, Any]],
    *,
    zone: Zone | str | None = None,
    now: bool = False,
    user: Any = None,
    source: str = Source.API,
) -> PurgeRequest:
    """Purge URLs (absolute ``http(s)://`` URLs, or paths joined with ``BASE_URLS``).

    An item may be a dict ``{"url": ..., "headers": {...}}`` for cache keys that vary on
    headers. Each URL is routed to the zone serving its host.

    :param zone: restrict to one zone (instance or name).
    :param now: drain in this process before returning (the row is refreshed).
    :returns: the :class:`~django_cfpurge.models.PurgeRequest` row.
    :raises InvalidTarget: a URL cannot be purged (nothing is written).
    """
    return purge(Kind.FILES, urls, zone=zone, now=now, user=user, source=source)


def purge_tags(
    tags: Iterable[str],
    *,
    zone: Zone | str | None = None,
    now: bool = False,
    user: Any = None,
    source: str = Source.API,
) -> PurgeRequest:
    """Purge cache tags (on every zone, or on ``zone``): printable ASCII, no spaces or
    commas, at most 1,024 characters each."""
    return purge(Kind.TAGS, tags, zone=zone, now=now, user=user, source=source)


def purge_prefixes(
    prefixes: Iterable[str],
    *,
    zone: Zone | str | None = None,
    now: bool = False,
    user: Any = None,
    source: str = Source.API,
) -> PurgeRequest:
    """Purge URL prefixes (``www.example.com/media/photos``; a scheme is removed)."""
    return purge(Kind.PREFIXES, prefixes, zone=zone, now=now, user=user, source=source)


def purge_hosts(
    hosts: Iterable[str],
    *,
    zone: Zone | str | None = None,
    now: bool = False,
    user: Any = None,
    source: str = Source.API,
) -> PurgeRequest:
    """Purge everything cached for whole host names (``https://`` and a trailing ``/``
    are removed; a path is refused)."""
    return purge(Kind.HOSTS, hosts, zone=zone, now=now, user=user, source=source)


def purge_everything(
    *,
    zone: Zone | str | None = None,
    now: bool = False,
    user: Any = None,
    source: str = Source.API,
) -> PurgeRequest:
    """Purge everything cached for ``zone`` (or for every enabled zone)."""
    return purge(Kind.EVERYTHING, [True], zone=zone, now=now, user=user, source=source)


def purge_queryset(queryset: models.QuerySet[Any], *, event: str = Event.BULK) -> int:
    """Purge the files and extra URLs of every object of ``queryset``.

    For changes made with ``QuerySet.update()``, ``bulk_create()`` or raw SQL, which
    send no signals. Call it after the change, in the same transaction.

    :returns: the number of rows written.
    :raises NotRegistered: the queryset's model is not registered.
    """
    registration = registry.get(queryset.model)
    if registration is None:
        raise NotRegistered(
            gettext(
                "%(model)s is not registered with django-cfpurge; register it before calling "
                "purge_queryset()."
            )
            % {"model": queryset.model._meta.label}
        )
    written = 0
    batch: list[PurgeRequest] = []
    for instance in queryset.iterator(chunk_size=QUERYSET_BATCH_SIZE):
        values = snapshot(instance, registration)
        change = changes.payload(
            values={name: values.get(name) for name in registration.watch},
            current={name: values.get(name) for name in registration.fields},
        )
        batch.append(write.change_row(registration.label, instance, event, change))
        if len(batch) >= QUERYSET_BATCH_SIZE:
            written += write.write_changes(batch)
            batch = []
    written += write.write_changes(batch)
    return written


class suspend_purging(ContextDecorator):
    """Hold automatic purges during a bulk change; send them once at the end.

    Use as ``with suspend_purging():`` or ``@suspend_purging()``. Every purge recorded
    inside is kept (status "held") and released in one dispatch when the block exits,
    whether it succeeds or raises. ``discard=True`` drops them instead, and the purge
    log says so.
    """

    def __init__(self, *, discard: bool = False) -> None:
        self.discard = discard
        self._cm: Any = None

    def __enter__(self) -> dict[str, Any]:
        self._cm = batches.suspended(discard=self.discard)
        return self._cm.__enter__()

    def __exit__(self, *exc: Any) -> None:
        cm, self._cm = self._cm, None
        cm.__exit__(*exc)
