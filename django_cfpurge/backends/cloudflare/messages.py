"""The sentences Cloudflare's errors become: what happened, in Cloudflare's own codes,
and what to do. Each names the value to fix and where to find it."""

from __future__ import annotations

from django.utils.translation import gettext, pgettext_lazy

from . import codes

#: The operations, as named inside messages ("the purge request can be retried").
OPERATION_NAMES = {
    "purge": pgettext_lazy("Cloudflare API request", "purge"),
    "verify": pgettext_lazy("Cloudflare API request", "verify"),
    "zone": pgettext_lazy("Cloudflare API request", "zone"),
}
SETTING = "CFPURGE['API_URL']"


def rate_limited(said: str, seconds: str | None, *, purge: bool) -> str:
    """429 or codes 971/1134."""
    values = {"said": said, "seconds": seconds}
    if purge and seconds:
        message = gettext(
            "Cloudflare is rate-limiting purge requests for this account (%(said)s): "
            "waiting %(seconds)s before sending again."
        )
    elif purge:
        message = gettext(
            "Cloudflare is rate-limiting purge requests for this account (%(said)s): "
            "slowing down and sending again later."
        )
    elif seconds:
        message = gettext(
            "Cloudflare is rate-limiting API requests for this account (%(said)s): "
            "wait %(seconds)s before trying again."
        )
    else:
        message = gettext(
            "Cloudflare is rate-limiting API requests for this account (%(said)s): "
            "slow down and try again later."
        )
    return message % values


def server_error(said: str) -> str:
    """5xx with Cloudflare's envelope."""
    return gettext(
        "Cloudflare's API had a temporary server error (%(said)s); it is retried later."
    ) % {"said": said}


def unconfirmed(said: str) -> str:
    """A 2xx envelope with ``success`` false."""
    return gettext(
        "Cloudflare answered without confirming success (%(said)s); it is retried later."
    ) % {"said": said}


def auth(
    found: frozenset[int | str], said: str, *, token: bool, operation: str, endpoint: str
) -> str:
    """Credentials refused or lacking a permission (401/403 and the auth codes)."""
    values = {"said": said}
    chained = found & {codes.BAD_AUTHORIZATION_FORMAT, codes.BAD_KEY_FORMAT, codes.BAD_EMAIL_FORMAT}
    if codes.BAD_AUTHORIZATION_FORMAT in found or (
        codes.BAD_HEADERS in found and token and not chained
    ):
        return (
            gettext(
                "Cloudflare could not read the API token: it is not in the expected format "
                "(%(said)s). Copy the token again in one piece, without spaces, quotes or the "
                "word “Bearer”."
            )
            % values
        )
    if codes.BAD_KEY_FORMAT in found:
        return (
            gettext(
                "Cloudflare could not read the Global API Key: it is not in the expected format "
                "(%(said)s). Copy it again from My Profile → API Tokens → Global API Key."
            )
            % values
        )
    if codes.BAD_EMAIL_FORMAT in found or codes.BAD_HEADERS in found:
        return (
            gettext(
                "Cloudflare could not read the account email or Global API Key (%(said)s). Check "
                "the email address you log in to Cloudflare with, and the key."
            )
            % values
        )
    if codes.NO_CREDENTIALS in found:
        return (
            gettext(
                "Cloudflare received no credentials (%(said)s). Enter an API token, or the account "
                "email and Global API Key."
            )
            % values
        )
    if codes.UNKNOWN_KEY in found:
        return (
            gettext(
                "Cloudflare does not know this email and Global API Key pair (%(said)s). Check "
                "both; the key is under My Profile → API Tokens → Global API Key."
            )
            % values
        )
    if codes.INVALID_TOKEN in found:
        return (
            gettext(
                "Cloudflare rejected the API token: it is unknown, revoked, or was rolled "
                "(%(said)s). Create a new token with Zone → Cache Purge → Purge on this zone and "
                "paste it again."
            )
            % values
        )
    return _refused(said, token=token, operation=operation, endpoint=endpoint)


def _refused(said: str, *, token: bool, operation: str, endpoint: str) -> str:
    """A valid credential refused for this request (403 / 10000 / 9109)."""
    values = {"said": said}
    if not token:
        return (
            gettext(
                "Cloudflare refused this email and Global API Key for this zone (%(said)s): the "
                "account they belong to must own the zone; check the Zone ID and the email."
            )
            % values
        )
    if operation == "purge":
        return (
            gettext(
                "Cloudflare refused the purge (%(said)s): either the API token lacks Zone → "
                "Cache Purge → Purge on this zone, or the Zone ID names a zone the token is not "
                "for. Run Test connection to tell which."
            )
            % values
        )
    if operation == "zone":
        return (
            gettext(
                "Cloudflare does not let this API token read the zone (%(said)s): check the Zone "
                "ID, and that the token lists this zone under Zone Resources."
            )
            % values
        )
    if endpoint == "account":
        return (
            gettext(
                "Cloudflare refused to verify the token at this account: check that the Account "
                "ID is the one that owns the token (%(said)s)."
            )
            % values
        )
    return gettext("Cloudflare refused to verify the API token (%(said)s).") % values


def not_found(
    said: str, *, operation: str, endpoint: str, zone_id: str, account_id: str, token: bool = True
) -> str:
    """404, 7003, 7000, 1003. ``token``: the credentials are an API token (not an email +
    Global API Key)."""
    if operation == "verify" and endpoint == "account":
        return gettext(
            "Cloudflare found no account %(account_id)s for this token (%(said)s): check the "
            "Account ID (32 hexadecimal characters, on the zone's Overview page, section "
            "“API”)."
        ) % {"account_id": account_id, "said": said}
    if operation == "verify":
        return gettext(
            "Cloudflare could not find its token check endpoint (%(said)s); check %(setting)s."
        ) % {"said": said, "setting": SETTING}
    if not token:
        return gettext(
            "Cloudflare found no zone %(zone_id)s for this email and Global API Key "
            "(%(said)s): did you paste the Account ID or the zone name instead of the Zone ID, "
            "or does the zone belong to another account?"
        ) % {"zone_id": zone_id, "said": said}
    return gettext(
        "Cloudflare found no zone %(zone_id)s for these credentials (%(said)s): did you paste "
        "the Account ID or the zone name instead of the Zone ID, or is the token scoped to "
        "another zone?"
    ) % {"zone_id": zone_id, "said": said}


def rejected(said: str, *, operation: str, items: int) -> str:
    """400 for a reason other than credentials."""
    if operation == "purge":
        return gettext(
            "Cloudflare rejected the purge request of %(items)d item(s) (%(said)s). Check that "
            "the URLs, tags, hosts or prefixes belong to this zone."
        ) % {"said": said, "items": items}
    return gettext("Cloudflare rejected the request (%(said)s).") % {"said": said}


def redirect(status: int, location: str, api_url: str) -> str:
    """Any 3xx: the API URL is not the API."""
    values = {"status": status, "location": location, "setting": SETTING, "api_url": api_url}
    if location:
        return (
            gettext(
                "Cloudflare's API answered with a redirect (HTTP %(status)s) to %(location)s; "
                "%(setting)s (%(api_url)s) should be the exact API address, normally "
                "https://api.cloudflare.com/client/v4."
            )
            % values
        )
    return (
        gettext(
            "Cloudflare's API answered with a redirect (HTTP %(status)s); %(setting)s "
            "(%(api_url)s) should be the exact API address, normally "
            "https://api.cloudflare.com/client/v4."
        )
        % values
    )


def not_cloudflare(status: int, what: str, operation: str, api_url: str) -> str:
    """An answer that is not Cloudflare's JSON envelope."""
    return gettext(
        # Translators: %(operation)s is the request's name: purge, verify or zone.
        "The answer to the %(operation)s request was HTTP %(status)s with %(what)s instead of "
        "Cloudflare's JSON reply: a proxy or firewall between this server and Cloudflare "
        "answered, or %(setting)s (%(api_url)s) is wrong."
    ) % {
        "operation": OPERATION_NAMES.get(operation, operation),
        "status": status,
        "what": what,
        "setting": SETTING,
        "api_url": api_url,
    }


def not_cloudflare_busy(status: int, what: str, seconds: str | None) -> str:
    """A 429/5xx answer that is not Cloudflare's envelope (a proxy's error page)."""
    values = {"status": status, "what": what, "seconds": seconds}
    if status == 429 and seconds:
        return (
            gettext(
                "Too many requests: HTTP 429 with %(what)s; waiting %(seconds)s before sending "
                "again."
            )
            % values
        )
    if status == 429:
        return (
            gettext("Too many requests: HTTP 429 with %(what)s; slowing down before sending again.")
            % values
        )
    return (
        gettext(
            "Cloudflare's API, or a proxy in front of it, had a temporary server error (HTTP "
            "%(status)s with %(what)s); it is retried later."
        )
        % values
    )


def missing_field(what: str) -> str:
    """A 200 reply without a field we need."""
    return gettext("Cloudflare answered without %(what)s; try again later.") % {"what": what}
