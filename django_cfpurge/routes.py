"""Where each resolved target goes: to the zones that take it, or skipped with why.

Items that name a host go to the zone serving that host (:class:`~.zones.ZoneRouter`);
tags and "everything" to every zone in scope. An item whose zone's CDN cannot take its
kind is skipped with the reason, unless the zone gets what it needs in another form
(:func:`covered`).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext

from .batching import item_key
from .enums import FILE_STATE_KINDS, Kind, Source
from .exceptions import CfPurgeConfigurationError
from .models import PurgeRequest, Zone
from .tags import is_page_tag
from .targets import host_of, unpurgeable
from .zones import ZoneRouter, backend_class


class Routes:
    """Where one row's targets go: each to the zones that take it (by host; tags and
    "everything" to every zone in scope), or to the skipped list with the reason.

    An item whose zone's CDN cannot take its kind is skipped with the reason, unless the
    zone gets what it needs in another form (:func:`covered`): then it is left out
    quietly, and the zone is said to *cover* it.
    """

    def __init__(self, row: PurgeRequest, router: ZoneRouter) -> None:
        self.row = row
        self.router = router
        self.scope = [row.zone] if row.zone is not None else router.zones
        self.per_zone: dict[int, dict[str, list[Any]]] = {}
        self.zones: dict[int, Zone] = {}
        self.skipped: list[dict[str, str]] = []
        self.covering: dict[int, Zone] = {}

    def place(self, kind: str, item: Any) -> None:
        """Route one item."""
        state = kind in FILE_STATE_KINDS
        reason = unpurgeable(kind, item)
        destinations = [] if reason else self.destinations(kind, item)
        if not reason and not destinations and not state:
            reason = gettext("No configured zone serves the host “%(host)s”.") % {
                "host": host_of(kind, item)
            }
        if reason:
            self.skipped.append({"target": item_key(item), "reason": reason})
        for zone in destinations:
            kinds = zone_kinds(zone)
            if kind in kinds:
                self.zones[zone.pk] = zone
                self.per_zone.setdefault(zone.pk, {}).setdefault(kind, []).append(item)
            elif covered(kind, kinds, model_change=self.row.source == Source.MODEL, item=item):
                self.covering[zone.pk] = zone
            else:
                self.skipped.append({"target": item_key(item), "reason": unsupported(zone, kind)})

    def destinations(self, kind: str, item: Any) -> list[Zone]:
        """The zones an item goes to."""
        host = host_of(kind, item)
        if host is None:  # tags, everything: every zone in scope
            return self.scope
        row, router = self.row, self.router
        zone = router.route(host)
        if row.zone is not None and zone != row.zone:
            # An explicit zone takes hosts no zone claims, never another zone's.
            unclaimed = zone is None and not router.claims(row.zone)
            zone = row.zone if unclaimed else None
        return [zone] if zone else []


def covered(kind: str, kinds: tuple[str, ...], *, model_change: bool, item: Any = None) -> bool:
    """Whether a CDN taking ``kinds`` needs nothing more for an item of ``kind`` it
    cannot take, because the item reaches it in another form:

    * a file state (``gone``, ``hide``, ``show``): a model change lists the same URL under
      ``files``, which a CDN that purges URLs takes (and which is skipped with the reason
      on one that does not);
    * a page tag of a model change (:mod:`~django_cfpurge.tags`): a CDN that takes no
      tags tags no page;
    * a model change's ``files`` on a CDN that takes file states (Cloudflare Images): the
      states say all it must do; a file still used, whose state did not change, needs
      nothing there.
    """
    if kind in FILE_STATE_KINDS:
        return True
    if kind == Kind.TAGS and model_change and isinstance(item, str) and is_page_tag(item):
        # A page tag goes where pages are tagged; a CDN without tags purges the URLs.
        return True
    return kind == Kind.FILES and model_change and any(k in FILE_STATE_KINDS for k in kinds)


def zone_kinds(zone: Zone) -> tuple[str, ...]:
    """The purge kinds ``zone``'s backend supports (none for an unknown backend)."""
    try:
        return tuple(str(k) for k in backend_class(zone).kinds)
    except CfPurgeConfigurationError:
        return ()


def unsupported(zone: Zone, kind: str) -> str:
    try:
        name = str(backend_class(zone).verbose_name)
    except CfPurgeConfigurationError:
        name = zone.backend
    return gettext("%(backend)s cannot purge %(kind)s (zone “%(zone)s”).") % {
        "backend": name,
        # Translators: the kind's name: URLs, prefixes, hostnames, cache tags...
        "kind": Kind(kind).label if kind in Kind.values else kind,
        "zone": zone.name,
    }
