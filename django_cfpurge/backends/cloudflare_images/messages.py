"""The sentences the Images API's errors become. Those every Cloudflare API shares
(rate limits, server errors, redirects, answers that are not Cloudflare's) are the
Cloudflare backend's own, in :mod:`django_cfpurge.backends.cloudflare.messages`."""

from __future__ import annotations

from django.utils.translation import gettext, pgettext_lazy

from .credentials import PERMISSION, WHERE_ACCOUNT_ID

#: The operations, as named inside messages ("the delete request can be retried").
OPERATION_NAMES = {
    "verify": pgettext_lazy("Cloudflare Images API request", "verify"),
    "list": pgettext_lazy("Cloudflare Images API request", "list"),
    "stats": pgettext_lazy("Cloudflare Images API request", "usage"),
    "upload": pgettext_lazy("Cloudflare Images API request", "upload"),
    "delete": pgettext_lazy("Cloudflare Images API request", "delete"),
    "hide": pgettext_lazy("Cloudflare Images API request", "make private"),
    "show": pgettext_lazy("Cloudflare Images API request", "make public"),
}
#: Operations that change images (they need Edit; the others Read).
WRITES = frozenset({"upload", "delete", "hide", "show"})
WHERE_TOKENS = pgettext_lazy("Cloudflare dashboard", "Manage Account → Account API Tokens")


def invalid_token(said: str) -> str:
    """401 / 1000: the token is unknown, revoked or rolled."""
    return gettext(
        "Cloudflare rejected the API token: it is unknown, revoked, or was rolled (%(said)s). "
        "Create a token in %(where)s with %(permission)s, and paste it again."
    ) % {"said": said, "where": WHERE_TOKENS, "permission": PERMISSION}


def malformed_token(said: str) -> str:
    """400 / 6003, 6111: Cloudflare could not read the token."""
    return gettext(
        "Cloudflare could not read the API token: it is not in the expected format "
        "(%(said)s). Copy the token again in one piece, without spaces, quotes or the word "
        "“Bearer”."
    ) % {"said": said}


def no_permission(said: str, *, operation: str, account_id: str) -> str:
    """403 / 10000, 9109: a valid token without the Images permission on this account."""
    values = {"said": said, "account_id": account_id, "permission": PERMISSION}
    if operation in WRITES:
        return (
            gettext(
                "The API token may not change Cloudflare Images on account %(account_id)s "
                "(%(said)s): it needs %(permission)s (“Cloudflare Images Write” in the API) "
                "on that account."
            )
            % values
        )
    return (
        gettext(
            "The API token may not read Cloudflare Images on account %(account_id)s "
            "(%(said)s): give it %(permission)s on that account (Read is not enough to "
            "delete or hide images), or check the Account ID."
        )
        % values
    )


def not_subscribed(said: str, account_id: str) -> str:
    """5403: the account has no Cloudflare Images."""
    return gettext(
        "Cloudflare says account %(account_id)s cannot use Cloudflare Images (%(said)s): "
        "check the Account ID, and that Images is enabled for the account (dashboard → "
        "Images)."
    ) % {"said": said, "account_id": account_id}


def no_account(said: str, account_id: str) -> str:
    """404, 7003, 7000: no such account for this token."""
    return gettext(
        "Cloudflare found no account %(account_id)s for this token (%(said)s): check the "
        "Account ID (%(where)s); a Zone ID does not work here."
    ) % {"said": said, "account_id": account_id, "where": WHERE_ACCOUNT_ID}


def rejected(said: str, *, operation: str, image_id: str) -> str:
    """400 for a reason other than credentials."""
    if image_id:
        return gettext(
            "Cloudflare Images rejected the %(operation)s request for image %(image_id)s "
            "(%(said)s)."
        ) % {
            "operation": OPERATION_NAMES.get(operation, operation),
            "image_id": image_id,
            "said": said,
        }
    return gettext("Cloudflare Images rejected the %(operation)s request (%(said)s).") % {
        "operation": OPERATION_NAMES.get(operation, operation),
        "said": said,
    }


def not_delivery_url(url: str) -> str:
    """A URL routed to a Cloudflare Images zone that names no image."""
    return gettext(
        "%(url)s is not a Cloudflare Images delivery URL "
        "(https://imagedelivery.net/<account hash>/<image id>/<variant>): check the storage's "
        "url() and this zone's hostnames."
    ) % {"url": url}
