"""The sentences bunny.net's answers become: what happened, in bunny.net's own words
(HTTP status and ``ErrorKey``), and what to do, naming the value to fix and where in the
bunny.net dashboard to find it."""

from __future__ import annotations

from django.utils.translation import gettext, pgettext_lazy

SETTING = "CFPURGE['BUNNY_API_URL']"
DEFAULT_API_URL = "https://api.bunny.net"
#: The operations, as named inside messages ("the purge request can be retried").
OPERATION_NAMES = {
    "purge": pgettext_lazy("bunny.net API request", "purge"),
    "purge_zone": pgettext_lazy("bunny.net API request", "pull zone purge"),
    "pull_zone": pgettext_lazy("bunny.net API request", "pull zone"),
}
WHERE_KEY = pgettext_lazy("bunny.net dashboard", "the bunny.net dashboard, Account settings → API")
WHERE_HOSTNAMES = pgettext_lazy(
    "bunny.net dashboard", "the bunny.net dashboard, CDN → the pull zone → Hostnames"
)


def rate_limited(said: str, seconds: str | None) -> str:
    """429."""
    values = {"said": said, "seconds": seconds}
    if seconds:
        return (
            gettext(
                "bunny.net is rate-limiting purge requests for this account (%(said)s): "
                "waiting %(seconds)s before sending again."
            )
            % values
        )
    return (
        gettext(
            "bunny.net is rate-limiting purge requests for this account (%(said)s): slowing "
            "down and sending again later."
        )
        % values
    )


def server_error(said: str) -> str:
    """5xx."""
    return gettext(
        "bunny.net's API had a temporary server error (%(said)s); it is retried later."
    ) % {"said": said}


def refused(said: str, *, operation: str, zone_id: str) -> str:
    """401: the API key is unknown, or (for a pull zone's own routes) the id is not a pull
    zone of its account."""
    values = {"said": said, "where": WHERE_KEY, "zone_id": zone_id}
    if operation == "purge":
        return (
            gettext(
                "bunny.net refused the API key (%(said)s). Copy the account's API key again "
                "from %(where)s; a Storage Zone password or a Stream library key does not "
                "work here."
            )
            % values
        )
    return (
        gettext(
            "bunny.net refused the API key for pull zone %(zone_id)s (%(said)s). Copy the "
            "account's API key again from %(where)s (not a Storage Zone password or a Stream "
            "key), and check that %(zone_id)s is the ID of a pull zone of that account: a "
            "Storage Zone ID is refused the same way."
        )
        % values
    )


def forbidden(said: str) -> str:
    """403."""
    return gettext(
        "bunny.net does not allow this API key to do that (%(said)s). Use the account's own "
        "API key, from %(where)s."
    ) % {"said": said, "where": WHERE_KEY}


def host_not_served(said: str, host: str) -> str:
    """404 to a purge by URL: no pull zone of the account serves the URL's host."""
    return gettext(
        "No pull zone of this bunny.net account serves the host “%(host)s” (%(said)s). Add "
        "it to the pull zone in %(where)s, or remove it from this zone's hostnames in "
        "django-cfpurge."
    ) % {"said": said, "host": host, "where": WHERE_HOSTNAMES}


def zone_not_found(said: str, zone_id: str) -> str:
    """404 to a pull zone's own routes."""
    return gettext(
        "bunny.net found no pull zone %(zone_id)s for this API key (%(said)s). Check the Pull "
        "zone ID (the bunny.net dashboard, CDN → the pull zone: the number in the page's "
        "address) and that the API key belongs to the account that owns it."
    ) % {"said": said, "zone_id": zone_id}


def rejected(said: str, *, operation: str, item: str) -> str:
    """400 and other 4xx."""
    if operation == "purge":
        return gettext(
            "bunny.net rejected the purge of %(item)s (%(said)s). Check that it is a URL the "
            "pull zone serves."
        ) % {"said": said, "item": item}
    return gettext("bunny.net rejected the request (%(said)s).") % {"said": said}


def redirect(status: int, location: str, api_url: str) -> str:
    """Any 3xx: the API URL is not the API."""
    values = {
        "status": status,
        "location": location or "?",
        "setting": SETTING,
        "api_url": api_url,
        "default": DEFAULT_API_URL,
    }
    return (
        gettext(
            "bunny.net's API answered with a redirect (HTTP %(status)s) to %(location)s; "
            "%(setting)s (%(api_url)s) should be the exact API address, normally %(default)s."
        )
        % values
    )


def not_bunny(status: int, what: str, operation: str, api_url: str) -> str:
    """An answer that is not bunny.net's (a proxy's page, a wrong API URL)."""
    return gettext(
        # Translators: %(operation)s is the request's name: purge, pull zone purge...
        "The answer to the %(operation)s request was HTTP %(status)s with %(what)s instead of "
        "bunny.net's reply: a proxy or firewall between this server and bunny.net answered, "
        "or %(setting)s (%(api_url)s) is wrong."
    ) % {
        "operation": OPERATION_NAMES.get(operation, operation),
        "status": status,
        "what": what,
        "setting": SETTING,
        "api_url": api_url,
    }


def missing_field(what: str) -> str:
    """A 200 reply without a field we need."""
    return gettext("bunny.net answered without %(what)s; try again later.") % {"what": what}
