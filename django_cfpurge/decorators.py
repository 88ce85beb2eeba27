"""``@cache_tags``: the cache tags of :class:`~.middleware.CacheTagsMiddleware`, for one
view.

::

    from django_cfpurge.decorators import cache_tags

    @cache_tags
    def gallery(request):
        ...

A template response is rendered inside the decorator, so that what its template uses
is recorded. Set ``CFPURGE["PAGE_TAGS"] = True`` when only decorators are used: then the
changes purge the tags too (with the middleware installed, that is the default).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest
from django.template.response import SimpleTemplateResponse

from .middleware import view_name
from .tags.collector import collecting, watch_queries
from .tags.headers import add_tag_headers

View = TypeVar("View", bound=Callable[..., Any])


def _render(response: Any) -> Any:
    if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
        response.render()
    return response


def cache_tags(view: View) -> View:
    """Decorate a view (sync or async) so that its responses carry cache tags."""
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            await sync_to_async(watch_queries)()
            with collecting() as use:
                response = await view(request, *args, **kwargs)
                response = await sync_to_async(_render)(response)
            await sync_to_async(add_tag_headers)(response, use, view=view_name(request))
            return response

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        watch_queries()
        with collecting() as use:
            response = _render(view(request, *args, **kwargs))
        add_tag_headers(response, use, view=view_name(request))
        return response

    return wrapper  # type: ignore[return-value]
