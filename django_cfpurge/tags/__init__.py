"""Automatic cache tags: tag every page with what it showed, purge the tags on change.

With :class:`~django_cfpurge.middleware.CacheTagsMiddleware` (or the
:func:`~django_cfpurge.decorators.cache_tags` decorator on single views), every response
that shared caches may keep carries, in each configured CDN's tag header, a tag per
registered object it loaded or showed and a tag per registered model it queried
(:mod:`.names`, :mod:`.collector`, :mod:`.headers`). A change to a registered object
then also purges its object tag, and a change that can alter what a query finds
(creation, delete, watched field, bulk) the model's listing tag
(:func:`change_tags`): every page that showed the object, or listed its model, is
purged with no ``urls=`` list.
"""

from __future__ import annotations

from django.conf import settings

from ..conf import get_optional_bool
from ..enums import Event
from .names import is_page_tag, listing_tag, model_tag, object_tag

#: The dotted path of the middleware, as ``MIDDLEWARE`` lists it.
MIDDLEWARE_PATH = "django_cfpurge.middleware.CacheTagsMiddleware"
#: Events that can change what a query of the model finds.
MEMBERSHIP_EVENTS = frozenset({Event.CREATED, Event.DELETED, Event.BULK})

__all__ = [
    "MIDDLEWARE_PATH",
    "change_tags",
    "is_page_tag",
    "listing_tag",
    "model_tag",
    "object_tag",
    "page_tags_enabled",
]


def page_tags_enabled() -> bool:
    """``CFPURGE["PAGE_TAGS"]``, or, when it is None, whether the middleware is installed."""
    value = get_optional_bool("PAGE_TAGS")
    if value is not None:
        return value
    return MIDDLEWARE_PATH in getattr(settings, "MIDDLEWARE", ())


def change_tags(label: str, pk: str, event: str, *, watched_changed: bool) -> list[str]:
    """The page tags a change of object ``pk`` of registration ``label`` purges.

    Always its object tag and its model's tag (pages too big for object tags carry the
    latter); the listing tag too when the change can alter what a query finds: a
    creation, a delete, a bulk change, or a watched field that changed. A file
    replaced in place (same name or not) changes no listing.
    """
    tags = [object_tag(label, pk), model_tag(label)]
    if event in MEMBERSHIP_EVENTS or watched_changed:
        tags.append(listing_tag(label))
    return tags
