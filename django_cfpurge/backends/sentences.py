"""Sentences for the errors any CDN's API can give a Test connection step: a rate limit,
a temporary server error, the network. Each backend names its service, how it cites an
answer and the setting that holds its API's URL."""

from __future__ import annotations

import math
from collections.abc import Callable

from django.utils.translation import gettext

from ..conf import get_str
from ..exceptions import BackendError, NetworkError, RateLimited, ServerError


def describe_error(
    err: Exception,
    *,
    doing: str,
    service: str,
    cited: Callable[[BackendError], str],
    url_key: str,
) -> str:
    """A sentence for ``err``, met while ``doing`` something ("reading the zone").

    :param service: the CDN as people call it ("Cloudflare", "bunny.net").
    :param cited: what the CDN answered, as the backend cites it ("HTTP 429, code 971").
    :param url_key: the ``CFPURGE`` key of the API's base URL (``"API_URL"``).
    :returns: the error's own text for anything but a rate limit, a server error or a
        network error.
    """
    if isinstance(err, RateLimited):
        values = {"service": service, "doing": doing, "cited": cited(err)}
        if err.retry_after:
            values["seconds"] = str(math.ceil(err.retry_after))
            return (
                gettext(
                    "%(service)s is rate-limiting this account's API requests (%(doing)s; "
                    "%(cited)s). Try again in %(seconds)s s. Purges are not lost meanwhile: "
                    "they wait and are retried."
                )
                % values
            )
        return (
            gettext(
                "%(service)s is rate-limiting this account's API requests (%(doing)s; "
                "%(cited)s). Purges are not lost meanwhile: they wait and are retried."
            )
            % values
        )
    if isinstance(err, ServerError):
        return gettext(
            "%(service)s answered with a temporary server error (%(doing)s; %(cited)s); try "
            "again in a few minutes."
        ) % {"service": service, "doing": doing, "cited": cited(err)}
    if isinstance(err, NetworkError):
        return gettext(
            "%(reason)s (%(doing)s). Check this server's outbound network access (firewall, "
            "proxy, DNS) and %(setting)s (%(api_url)s)."
        ) % {
            "doing": doing,
            "reason": err.reason or err,
            "setting": f"CFPURGE['{url_key}']",
            "api_url": get_str(url_key),
        }
    return str(err)
