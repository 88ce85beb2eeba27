"""The public functions behind ``django_cfpurge.purge_*``. They write outbox rows; no network.

Every purge, automatic or explicit, goes through the outbox so that it is
rate-limited, retried and logged the same way. ``now=True`` drains the new row in
the calling process before returning (deploy scripts, the ``--now`` flag).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ContextDecorator
from typing import Any, TypeVar

from django.db import models
from django.utils.translation import gettext

from . import outbox
from .exceptions import CfPurgeError, NotRegistered
from .models import CloudflareZone, PurgeRequest
from .receivers import snapshot
from .registry import registry

F = TypeVar("F", bound=Callable[..., Any])

#: ``bulk_create`` size used by :func:`purge_queryset`.
QUERYSET_BATCH_SIZE = 1000


def _zone(zone: CloudflareZone | str | None) -> CloudflareZone | None:
    if zone is None or isinstance(zone, CloudflareZone):
        return zone
    from .zones import sync_settings_zones

    sync_settings_zones()
    try:
        return CloudflareZone.objects.get(name=zone)
    except CloudflareZone.DoesNotExist:
        names = ", ".join(CloudflareZone.objects.values_list("name", flat=True))
        raise CfPurgeError(
            gettext("No Cloudflare zone named “%(zone)s” (zones: %(names)s).")
            % {"zone": zone, "names": names or gettext("none")}
        ) from None


def _explicit(
    kind: str,
    items: list[Any],
    *,
    zone: CloudflareZone | str | None,
    now: bool,
    user: Any,
    source: str,
) -> PurgeRequest:
    if kind != "everything" and not items:
        raise ValueError(
            # Translators: %(kind)s is files, tags, prefixes or hosts, as in the API.
            gettext("Nothing to purge: give at least one item for %(kind)s.") % {"kind": kind}
        )
    row = outbox.create_target_row({kind: items}, zone=_zone(zone), source=source, user=user)
    if now:
        from .drain import drain

        drain(ids=[row.pk])
        row.refresh_from_db()
    return row


def purge_urls(
    urls: Iterable[str | dict[str, Any]],
    *,
    zone: CloudflareZone | str | None = None,
    now: bool = False,
    user: Any = None,
    source: str = PurgeRequest.Source.API,
) -> PurgeRequest:
    """Purge URLs (absolute, or paths joined with ``BASE_URLS``).

    An item may be a dict ``{"url": ..., "headers": {...}}`` for cache keys that
    vary on headers. Each URL is routed to the zone serving its host.

    :param zone: restrict to one zone (instance or name).
    :param now: drain in this process before returning (the row is refreshed).
    :returns: the :class:`~django_cfpurge.models.PurgeRequest` row.
    """
    return _explicit("files", list(urls), zone=zone, now=now, user=user, source=source)


def purge_tags(
    tags: Iterable[str],
    *,
    zone: CloudflareZone | str | None = None,
    now: bool = False,
    user: Any = None,
    source: str = PurgeRequest.Source.API,
) -> PurgeRequest:
    """Purge Cloudflare cache tags (on every zone, or on ``zone``)."""
    return _explicit("tags", list(tags), zone=zone, now=now, user=user, source=source)


def purge_prefixes(
    prefixes: Iterable[str],
    *,
    zone: CloudflareZone | str | None = None,
    now: bool = False,
    user: Any = None,
    source: str = PurgeRequest.Source.API,
) -> PurgeRequest:
    """Purge URL prefixes (``www.example.com/media/photos``; a scheme is removed)."""
    return _explicit("prefixes", list(prefixes), zone=zone, now=now, user=user, source=source)


def purge_hosts(
    hosts: Iterable[str],
    *,
    zone: CloudflareZone | str | None = None,
    now: bool = False,
    user: Any = None,
    source: str = PurgeRequest.Source.API,
) -> PurgeRequest:
    """Purge everything cached for whole hostnames."""
    return _explicit("hosts", list(hosts), zone=zone, now=now, user=user, source=source)


def purge_everything(
    *,
    zone: CloudflareZone | str | None = None,
    now: bool = False,
    user: Any = None,
    source: str = PurgeRequest.Source.API,
) -> PurgeRequest:
    """Purge everything cached for ``zone`` (or for every enabled zone)."""
    return _explicit("everything", [True], zone=zone, now=now, user=user, source=source)


def purge_queryset(queryset: models.QuerySet[Any], *, event: str = PurgeRequest.Event.BULK) -> int:
    """Purge the files and extra URLs of every object of ``queryset``.

    For changes made with ``QuerySet.update()``, ``bulk_create()`` or raw SQL,
    which send no signals. Call it after the change, in the same transaction.

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
        change = {
            "files": {},
            "fields": {},
            "values": {name: values.get(name) for name in registration.watch},
            "current": {name: values.get(name) for name in registration.fields},
        }
        batch.append(outbox.build_change_row(registration, instance, event, change))
        if len(batch) >= QUERYSET_BATCH_SIZE:
            written += len(outbox.write_rows(batch))
            batch = []
    written += len(outbox.write_rows(batch))
    return written


class suspend_purging(ContextDecorator):
    """Hold automatic purges during a bulk change; send them once at the end.

    Use as ``with suspend_purging():`` or ``@suspend_purging()``. Every purge
    recorded inside is kept (status "held") and released in one dispatch when
    the block exits, whether it succeeds or raises. ``discard=True`` drops them
    instead, and the purge log says so.
    """

    def __init__(self, *, discard: bool = False) -> None:
        self.discard = discard
        self._cm: Any = None

    def __enter__(self) -> dict[str, Any]:
        self._cm = outbox.suspended(discard=self.discard)
        return self._cm.__enter__()

    def __exit__(self, *exc: Any) -> None:
        cm, self._cm = self._cm, None
        cm.__exit__(*exc)
