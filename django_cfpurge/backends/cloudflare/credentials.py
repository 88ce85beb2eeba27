"""Cloudflare's credentials: Zone ID, API token or email + Global API Key, Account ID.

Shapes (each mistake gets its own message; see also
:mod:`django_cfpurge.credentials` for quotes, invisible characters and spaces):

* a Zone ID or Account ID is 32 hexadecimal characters;
* an API token is ``cfut_``/``cfat_`` + 40-60 characters, or a legacy 40-80
  character ``[A-Za-z0-9_-]`` string;
* a Global API Key is ``cfk_`` + 40-60 characters, or 37-45 lowercase hex;
* a key pasted into the token field (or a token into the key field) is named as such.

An account-owned token (``cfat_``, or a legacy token that only the account endpoint
accepts) purges without the Account ID; Test connection reads the account from the
zone when it is not entered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from django.utils.translation import gettext, gettext_lazy, ngettext

from ...credentials import clean_email, clean_hex_id, clean_value, strip
from ...exceptions import InvalidCredentials
from ..http import SecretHeaders

AuthKind = Literal["token", "global_key"]
AUTH_TOKEN: AuthKind = "token"  # noqa: S105  (a choice value, not a secret)
AUTH_GLOBAL_KEY: AuthKind = "global_key"

_TOKEN_SCANNABLE = re.compile(r"cf(ut|at)_[A-Za-z0-9_-]{40,60}")
_TOKEN_LEGACY = re.compile(r"[A-Za-z0-9_-]{40,80}")
_KEY_SCANNABLE = re.compile(r"cfk_[A-Za-z0-9_-]{40,60}")
_KEY_LEGACY = re.compile(r"[0-9a-f]{37,45}")
# "Bearer abc…", "Bearer:abc…", "Authorization: Bearer abc…", or "Bearer" glued to it.
_BEARER = re.compile(r"(?:authorization\s*:\s*)?bearer(?:[\s:]|$|(?=[A-Za-z0-9_-]{40}))", re.I)

# Translators: the names of the values pasted from Cloudflare, as they appear inside the
# messages about them ("The Zone ID must be 32 hexadecimal characters").
ZONE_ID_LABEL = gettext_lazy("Zone ID")
ACCOUNT_ID_LABEL = gettext_lazy("Account ID")
API_TOKEN_LABEL = gettext_lazy("API token")
GLOBAL_API_KEY_LABEL = gettext_lazy("Global API Key")
WHERE_IDS = gettext_lazy("Copy it from the zone's Overview page, section “API”")


def looks_like_global_key(value: str) -> bool:
    """True if ``value`` has the shape of a Global API Key (``cfk_…`` or 37-45 hex)."""
    return bool(_KEY_SCANNABLE.fullmatch(value) or _KEY_LEGACY.fullmatch(value))


def looks_like_token(value: str) -> bool:
    """True if ``value`` has the shape of an API token (``cfut_``/``cfat_`` or legacy 40-80)."""
    if looks_like_global_key(value):
        return False
    return bool(_TOKEN_SCANNABLE.fullmatch(value) or _TOKEN_LEGACY.fullmatch(value))


def is_account_token(value: str) -> bool:
    """True for an account-owned API token in the scannable format (``cfat_``)."""
    return value.startswith("cfat_")


def clean_zone_id(value: str | None) -> str:
    """A trimmed, lower-cased Zone ID. :raises InvalidCredentials: see the module doc."""
    if not strip(value):
        raise InvalidCredentials(
            gettext("Enter the Zone ID (%(where)s).") % {"where": WHERE_IDS}, field="zone_id"
        )
    return clean_hex_id(value, field="zone_id", label=ZONE_ID_LABEL, where=WHERE_IDS)


def clean_account_id(value: str | None) -> str:
    """A trimmed, lower-cased Account ID, or ``""`` when none is given."""
    if not strip(value):
        return ""
    return clean_hex_id(value, field="account_id", label=ACCOUNT_ID_LABEL, where=WHERE_IDS)


def clean_api_token(value: str | None, *, global_key_advice: str | None = None) -> str:
    """A trimmed API token, or an error with what is wrong with it.

    :param global_key_advice: what to say when a Global API Key was pasted instead
        (by default: create a token with Cache Purge, or switch the authentication kind).
    """
    # Before the generic checks: "Bearer <token>" (or a whole "Authorization:" header)
    # has a space in it, and "contains a space" would not say which part to remove.
    if _BEARER.match(strip(value)):
        raise InvalidCredentials(
            gettext("Paste the token without the word “Bearer” in front of it."),
            field="api_token",
        )
    token = clean_value(value, field="api_token", label=API_TOKEN_LABEL)
    if not token:
        raise InvalidCredentials(gettext("Enter the API token."), field="api_token")
    if looks_like_global_key(token):
        raise InvalidCredentials(
            global_key_advice
            or gettext(
                "This is a Global API Key, not an API token. Create a scoped API token "
                "(My Profile → API Tokens → Create Token, permission Zone → Cache Purge → Purge) "
                "or choose “Account email + Global API Key” as the authentication kind."
            ),
            field="api_token",
        )
    if not looks_like_token(token):
        raise InvalidCredentials(
            ngettext(
                # Translators: the English singular keeps "characters"; translate each form.
                "This does not look like a Cloudflare API token (%(count)d characters; a token "
                "is 40 to 80 letters, digits, “-” and “_”, or starts with cfut_ / cfat_). "
                "Was only part of it copied?",
                "This does not look like a Cloudflare API token (%(count)d characters; a token "
                "is 40 to 80 letters, digits, “-” and “_”, or starts with cfut_ / cfat_). "
                "Was only part of it copied?",
                len(token),
            )
            % {"count": len(token)},
            field="api_token",
        )
    return token


def clean_api_key(value: str | None) -> str:
    """A trimmed Global API Key, or an error with what is wrong with it."""
    key = clean_value(value, field="api_key", label=GLOBAL_API_KEY_LABEL)
    if not key:
        raise InvalidCredentials(gettext("Enter the Global API Key."), field="api_key")
    if looks_like_global_key(key):
        return key
    if looks_like_token(key):
        raise InvalidCredentials(
            gettext(
                "This is an API token, not a Global API Key. Choose “API token” as the "
                "authentication kind and paste it in the API token field (recommended)."
            ),
            field="api_key",
        )
    raise InvalidCredentials(
        ngettext(
            # Translators: the English singular keeps "characters"; translate each form.
            "This does not look like a Global API Key (%(count)d characters; a key is 37 to 45 "
            "lowercase hexadecimal characters, or starts with cfk_). Was only part of it copied?",
            "This does not look like a Global API Key (%(count)d characters; a key is 37 to 45 "
            "lowercase hexadecimal characters, or starts with cfk_). Was only part of it copied?",
            len(key),
        )
        % {"count": len(key)},
        field="api_key",
    )


@dataclass(frozen=True, repr=False)
class CloudflareCredentials:
    """Everything needed to call Cloudflare for one zone. Never shown in ``repr``."""

    zone_id: str
    api_token: str = ""
    email: str = ""
    api_key: str = ""
    account_id: str = ""

    @property
    def auth_kind(self) -> AuthKind:
        """``"token"`` or ``"global_key"``."""
        return AUTH_TOKEN if self.api_token else AUTH_GLOBAL_KEY

    @property
    def is_account_token(self) -> bool:
        """True for an account-owned token in the scannable format."""
        return bool(self.api_token) and is_account_token(self.api_token)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values to redact from everything reported (the email too: it is half of
        the Global API Key's credentials)."""
        return tuple(s for s in (self.api_token, self.api_key, self.email) if s)

    def auth_headers(self) -> SecretHeaders:
        """HTTP headers that authenticate a request (their ``repr`` hides the values)."""
        if self.api_token:
            return SecretHeaders({"Authorization": f"Bearer {self.api_token}"})
        return SecretHeaders({"X-Auth-Email": self.email, "X-Auth-Key": self.api_key})

    def as_values(self) -> dict[str, str]:
        """The cleaned values, as a zone stores them."""
        return {
            "zone_id": self.zone_id,
            "account_id": self.account_id,
            "auth_kind": self.auth_kind,
            "api_token": self.api_token,
            "email": self.email,
            "api_key": self.api_key,
        }

    def __repr__(self) -> str:
        return f"<CloudflareCredentials zone_id={self.zone_id!r} auth={self.auth_kind}>"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Credentials are not pickled: tasks carry ids only.")

    @classmethod
    def from_values(cls, values: Mapping[str, str | None]) -> CloudflareCredentials:
        """Clean and validate a zone's values (``zone_id``, ``auth_kind``,
        ``api_token``, ``email``, ``api_key``, ``account_id``).

        ``auth_kind`` defaults to a token when one is given, else to the Global API Key.

        :raises InvalidCredentials: the first problem found, naming its field.
        """
        zone = clean_zone_id(values.get("zone_id"))
        account = clean_account_id(values.get("account_id"))
        if account and account == zone:
            raise InvalidCredentials(
                gettext(
                    "The Zone ID and the Account ID are the same value. The Account ID was "
                    "probably pasted as the Zone ID: copy the Zone ID from the zone's Overview "
                    "page, section “API” (the first of the two IDs)."
                ),
                field="zone_id",
            )
        kind = values.get("auth_kind") or (
            AUTH_TOKEN if strip(values.get("api_token")) else AUTH_GLOBAL_KEY
        )
        if kind == AUTH_TOKEN:
            return cls(
                zone_id=zone, api_token=clean_api_token(values.get("api_token")), account_id=account
            )
        return cls(
            zone_id=zone,
            email=clean_email(values.get("email")),
            api_key=clean_api_key(values.get("api_key")),
            account_id=account,
        )
