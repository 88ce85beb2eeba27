"""django-cfpurge: keep a Cloudflare-fronted Django site's CDN cache truthful.

Importing this package imports no models and no Celery: the public functions
below are loaded on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from .api import (
        purge_everything,
        purge_hosts,
        purge_prefixes,
        purge_queryset,
        purge_tags,
        purge_urls,
        suspend_purging,
    )
    from .registry import register

__all__ = [
    "__version__",
    "purge_everything",
    "purge_hosts",
    "purge_prefixes",
    "purge_queryset",
    "purge_tags",
    "purge_urls",
    "register",
    "suspend_purging",
]

_LAZY = {
    "register": "registry",
    "purge_urls": "api",
    "purge_tags": "api",
    "purge_prefixes": "api",
    "purge_hosts": "api",
    "purge_everything": "api",
    "purge_queryset": "api",
    "suspend_purging": "api",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module_name}"), name)
