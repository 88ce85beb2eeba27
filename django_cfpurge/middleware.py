"""``CacheTagsMiddleware``: tag every response with the registered objects it showed.

Add it near the top of ``MIDDLEWARE`` (after ``SecurityMiddleware``), so that the view,
the template rendering and the middleware below it are all recorded::

    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "django_cfpurge.middleware.CacheTagsMiddleware",
        ...
    ]

See :mod:`django_cfpurge.tags` for what the tags are and when they are purged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase

from .tags.collector import collecting, watch_queries
from .tags.headers import add_tag_headers


def view_name(request: HttpRequest) -> str:
    """The URL name of the view that answered ``request`` (for log lines), or its path."""
    match = getattr(request, "resolver_match", None)
    return (match.view_name if match is not None else "") or request.path


class CacheTagsMiddleware:
    """Write the CDNs' cache tag headers on every response shared caches may keep.

    Works under WSGI and ASGI; adds one context-variable read to each database query.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        watch_queries()
        with collecting() as use:
            response = self.get_response(request)
        add_tag_headers(response, use, view=view_name(request))
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        # The ORM runs in the thread sync_to_async uses: watch its connections.
        await sync_to_async(watch_queries)()
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        with collecting() as use:
            response = await get_response(request)
        # The zones (and so the headers) are read from the database.
        await sync_to_async(add_tag_headers)(response, use, view=view_name(request))
        return response
