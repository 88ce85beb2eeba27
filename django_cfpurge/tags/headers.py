"""The tag headers of a response: which CDNs' headers, which tags, within their limits.

The headers are those of the backends of the enabled zones (``Cache-Tag`` for
Cloudflare, ``CDN-Tag`` for bunny.net), read from the database at most once a minute
per process. The tags are, in order: the registrations' declared tags (a ``tags=``
list), the listing tag of each model queried, then the object tag of each object used.
When they do not fit in a CDN's header, the object tags of the model with the most of
them are replaced by that model's tag, then the next model's, until they fit; the
first time a view needs this, the log says so. If even that does not fit, the header
is left off, and the log says so (that page is then purged by its URL only).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save
from django.http import HttpResponseBase

from ..backends.base import TagHeader
from ..exceptions import CfPurgeConfigurationError
from ..models import Zone
from ..registry import registry
from ..zones import active_zones, backend_class
from .collector import PageUse
from .names import listing_tag, model_tag, object_tag

logger = logging.getLogger(__name__)

#: Seconds the list of headers is kept before the zones are read again.
HEADERS_TTL = 60.0
#: ``Cache-Control`` directives that keep a response out of every shared cache.
_PRIVATE = frozenset({"private", "no-store"})
_CC_DELIMITER = re.compile(r"\s*,\s*")

_headers_cache: tuple[float, list[TagHeader]] | None = None
_warned: set[tuple[str, str]] = set()


def tag_headers() -> list[TagHeader]:
    """The tag headers of the backends of the enabled zones (one per header name)."""
    global _headers_cache
    now = time.monotonic()
    if _headers_cache is not None and now - _headers_cache[0] < HEADERS_TTL:
        return _headers_cache[1]
    found: dict[str, TagHeader] = {}
    for zone in active_zones():
        try:
            header = backend_class(zone).tag_header
        except CfPurgeConfigurationError:  # an unknown backend: the checks report it
            header = None
        if header is not None:
            found.setdefault(header.name.lower(), header)
    headers = list(found.values())
    _headers_cache = (now, headers)
    return headers


def forget_headers(**kwargs: Any) -> None:
    """Read the zones again at the next response (a zone or a setting changed)."""
    global _headers_cache
    _headers_cache = None


def connect_signals() -> None:
    """Forget the headers when a zone or a setting changes (called at startup)."""
    post_save.connect(forget_headers, sender=Zone, dispatch_uid="cfpurge_tag_headers_save")
    post_delete.connect(forget_headers, sender=Zone, dispatch_uid="cfpurge_tag_headers_delete")
    setting_changed.connect(forget_headers, dispatch_uid="cfpurge_tag_headers_settings")


def is_shared_cacheable(response: HttpResponseBase) -> bool:
    """False when ``Cache-Control`` keeps the response out of shared caches."""
    directives = {
        part.split("=", 1)[0].strip().lower()
        for part in _CC_DELIMITER.split(response.get("Cache-Control", ""))
        if part.strip()
    }
    return not (directives & _PRIVATE)


def page_tags(use: PageUse) -> tuple[list[str], dict[str, list[str]]]:
    """``(tags that always stay, object tags by model label)`` for what ``use`` saw."""
    labels = sorted(set(use.objects) | use.models)
    fixed: list[str] = []
    for label in labels:
        registration = registry.get_by_label(label)
        declared = registration.tags if registration is not None else None
        if declared and not callable(declared) and label in use.objects:
            fixed += [str(t) for t in declared]
    fixed += [listing_tag(label) for label in sorted(use.models)]
    by_model = {
        label: [object_tag(label, pk) for pk in sorted(pks)]
        for label, pks in sorted(use.objects.items())
    }
    return _unique(fixed), by_model


def fit(
    header: TagHeader, fixed: list[str], by_model: dict[str, list[str]]
) -> tuple[list[str] | None, list[str]]:
    """The tags to write in ``header``: ``(tags, labels coarsened)``; ``None`` when even
    the model tags do not fit."""
    coarse: list[str] = []
    order = sorted(by_model, key=lambda label: (-len(by_model[label]), label))
    while True:
        tags = list(fixed)
        for label, tags_of_model in by_model.items():
            tags += [model_tag(label)] if label in coarse else tags_of_model
        tags = _unique(tags)
        if header.fits(tags):
            return tags, coarse
        remaining = [label for label in order if label not in coarse]
        if not remaining:
            return None, coarse
        coarse.append(remaining[0])


def add_tag_headers(response: HttpResponseBase, use: PageUse, *, view: str) -> None:
    """Write the tag headers of ``use`` on ``response`` (if it may be cached), merged
    with the tags already there.

    :param view: names the view in log lines (its URL name, or the path).
    """
    if not (use.objects or use.models) or not is_shared_cacheable(response):
        return
    fixed, by_model = page_tags(use)
    for header in tag_headers():
        own = header.parse(response[header.name]) if response.has_header(header.name) else []
        tags, coarse = fit(header, _unique([*own, *fixed]), by_model)
        if tags is None:
            _warn_once(header, view, "none", _too_many(header, view))
            continue
        if coarse:
            _warn_once(header, view, "coarse", _coarsened(header, view, coarse))
        response[header.name] = header.value(tags)


def _too_many(header: TagHeader, view: str) -> str:
    return (
        f"django-cfpurge: the cache tags of {view} do not fit in {header.name} even with one "
        "tag per model; the header is left off, so those pages are purged by URL only."
    )


def _coarsened(header: TagHeader, view: str, coarse: Sequence[str]) -> str:
    return (
        f"django-cfpurge: the object tags of {', '.join(coarse)} on {view} do not fit in "
        f"{header.name}; those pages carry one tag per model instead, purged with every "
        "change of the model."
    )


def _warn_once(header: TagHeader, view: str, what: str, message: str) -> None:
    key = (f"{header.name}:{what}", view)
    if key not in _warned:
        _warned.add(key)
        logger.warning(message)


def _unique(tags: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for tag in tags:
        folded = tag.lower()
        if folded not in seen:
            seen.add(folded)
            out.append(tag)
    return out
