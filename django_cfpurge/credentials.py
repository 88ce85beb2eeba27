"""What users paste: normalise, recognise and validate credentials and IDs.

Rules (each failure is an :class:`~django_cfpurge.exceptions.InvalidCredentials`
whose message says what to do, and never repeats the secret):

* whitespace at both ends is trimmed; whitespace inside a secret is rejected;
* a Zone ID or Account ID is 32 hexadecimal characters;
* an API token is ``cfut_``/``cfat_`` + 40-60 characters, or a legacy 40-80
  character ``[A-Za-z0-9_-]`` string;
* a Global API Key is ``cfk_`` + 40-60 characters, or 37-45 lowercase hex;
* a key pasted into the token field (or a token into the key field) is named as such;
* an account-owned token (``cfat_``) asks for the Account ID, because it is verified
  at ``/accounts/{account_id}/tokens/verify``.

Precedence: a zone given in settings wins over the database, field by field for
the whole zone (see :func:`django_cfpurge.zones.settings_zones`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext, gettext_lazy, ngettext

from .exceptions import InvalidCredentials

if TYPE_CHECKING:  # pragma: no cover
    from django.utils.functional import _StrOrPromise as StrOrPromise
else:
    StrOrPromise = str

AuthKind = Literal["token", "global_key"]
AUTH_TOKEN: AuthKind = "token"  # noqa: S105  (a choice value, not a secret)
AUTH_GLOBAL_KEY: AuthKind = "global_key"

_HEX32 = re.compile(r"[0-9a-f]{32}")
_TOKEN_SCANNABLE = re.compile(r"cf(ut|at)_[A-Za-z0-9_-]{40,60}")
_TOKEN_LEGACY = re.compile(r"[A-Za-z0-9_-]{40,80}")
_KEY_SCANNABLE = re.compile(r"cfk_[A-Za-z0-9_-]{40,60}")
_KEY_LEGACY = re.compile(r"[0-9a-f]{37,45}")
_WHITESPACE = re.compile(r"\s")

# Translators: the names of the values pasted from Cloudflare, as they appear inside the
# messages about them ("The Zone ID must be 32 hexadecimal characters").
ZONE_ID_LABEL = gettext_lazy("Zone ID")
ACCOUNT_ID_LABEL = gettext_lazy("Account ID")
API_TOKEN_LABEL = gettext_lazy("API token")
GLOBAL_API_KEY_LABEL = gettext_lazy("Global API Key")


def _strip(value: str | None) -> str:
    return (value or "").strip()


def _reject_inner_whitespace(value: str, field: str, label: StrOrPromise) -> None:
    if _WHITESPACE.search(value):
        raise InvalidCredentials(
            gettext(
                # Translators: %(label)s is the name of the value, e.g. "Zone ID" or "API token".
                "The %(label)s contains a space or line break inside it. Copy it again from the "
                "Cloudflare dashboard in one piece (only the characters of the value)."
            )
            % {"label": label},
            field=field,
        )


def looks_like_global_key(value: str) -> bool:
    """True if ``value`` has the shape of a Global API Key (``cfk_…`` or 37-45 hex)."""
    return bool(_KEY_SCANNABLE.fullmatch(value) or _KEY_LEGACY.fullmatch(value))


def looks_like_token(value: str) -> bool:
    """True if ``value`` has the shape of an API token (``cfut_``/``cfat_`` or legacy 40-80)."""
    if looks_like_global_key(value):
        return False
    return bool(_TOKEN_SCANNABLE.fullmatch(value) or _TOKEN_LEGACY.fullmatch(value))


def is_account_token(value: str) -> bool:
    """True for an account-owned API token (``cfat_`` prefix)."""
    return value.startswith("cfat_")


def clean_identifier(
    value: str | None, *, field: str = "zone_id", label: StrOrPromise = ZONE_ID_LABEL
) -> str:
    """Return a trimmed, lower-cased 32-hex Cloudflare identifier.

    :raises InvalidCredentials: the value is not 32 hexadecimal characters; the
        message says where to find the right value.
    """
    cleaned = _strip(value)
    _reject_inner_whitespace(cleaned, field, label)
    lowered = cleaned.lower()
    if _HEX32.fullmatch(lowered):
        return lowered
    if "." in cleaned and field == "zone_id":
        raise InvalidCredentials(
            gettext(
                "“%(value)s” looks like a domain name. The Zone ID is the 32-character "
                "hexadecimal value shown under “API” on the zone's Overview page in the "
                "Cloudflare dashboard."
            )
            % {"value": cleaned},
            field=field,
        )
    raise InvalidCredentials(
        ngettext(
            # Translators: %(label)s is "Zone ID" or "Account ID". The English singular keeps
            # "characters" (the message has always read so); translate each form properly.
            "The %(label)s must be 32 hexadecimal characters (0-9, a-f); this value has "
            "%(count)d characters. Copy it from the zone's Overview page, section “API”.",
            "The %(label)s must be 32 hexadecimal characters (0-9, a-f); this value has "
            "%(count)d characters. Copy it from the zone's Overview page, section “API”.",
            len(cleaned),
        )
        % {"label": label, "count": len(cleaned)},
        field=field,
    )


def clean_api_token(value: str | None) -> str:
    """Return a trimmed API token, or raise with what is wrong with it."""
    token = _strip(value)
    if not token:
        raise InvalidCredentials(gettext("Enter the API token."), field="api_token")
    _reject_inner_whitespace(token, "api_token", API_TOKEN_LABEL)
    if looks_like_global_key(token):
        raise InvalidCredentials(
            gettext(
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
    """Return a trimmed Global API Key, or raise with what is wrong with it."""
    key = _strip(value)
    if not key:
        raise InvalidCredentials(gettext("Enter the Global API Key."), field="api_key")
    _reject_inner_whitespace(key, "api_key", GLOBAL_API_KEY_LABEL)
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


def clean_email(value: str | None) -> str:
    """Return a trimmed account email address, or raise."""
    email = _strip(value)
    if not email:
        raise InvalidCredentials(
            gettext(
                "Enter the email address of the Cloudflare account that owns the Global API Key."
            ),
            field="email",
        )
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidCredentials(
            gettext("Enter the email address you log in to Cloudflare with."), field="email"
        ) from None
    return email


@dataclass(frozen=True, repr=False)
class Credentials:
    """Everything needed to call Cloudflare for one zone. Never shown in ``repr``.

    Build with :meth:`from_values`, which cleans and validates every value.
    """

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
        """True for an account-owned token, verified at the account endpoint."""
        return bool(self.api_token) and is_account_token(self.api_token)

    def auth_headers(self) -> dict[str, str]:
        """HTTP headers that authenticate a request. Never log them."""
        if self.api_token:
            return {"Authorization": f"Bearer {self.api_token}"}
        return {"X-Auth-Email": self.email, "X-Auth-Key": self.api_key}

    def __repr__(self) -> str:
        return f"<Credentials zone_id={self.zone_id!r} auth={self.auth_kind}>"

    __str__ = __repr__

    @classmethod
    def from_values(
        cls,
        *,
        zone_id: str | None,
        api_token: str | None = "",
        email: str | None = "",
        api_key: str | None = "",
        account_id: str | None = "",
        auth_kind: AuthKind | None = None,
    ) -> Credentials:
        """Clean and validate pasted values into :class:`Credentials`.

        ``auth_kind`` defaults to a token when one is given, else to the Global API Key.

        :raises InvalidCredentials: the first problem found, naming its field.
        """
        zone = clean_identifier(zone_id)
        account = (
            clean_identifier(account_id, field="account_id", label=ACCOUNT_ID_LABEL)
            if _strip(account_id)
            else ""
        )
        kind = auth_kind or (AUTH_TOKEN if _strip(api_token) else AUTH_GLOBAL_KEY)
        if kind == AUTH_TOKEN:
            token = clean_api_token(api_token)
            if is_account_token(token) and not account:
                raise InvalidCredentials(
                    gettext(
                        "This is an account-owned API token (cfat_…). Enter the Account ID too: "
                        "it is verified at the account's endpoint. Find it on the zone's Overview "
                        "page, section “API”, under the Zone ID."
                    ),
                    field="account_id",
                )
            return cls(zone_id=zone, api_token=token, account_id=account)
        return cls(
            zone_id=zone,
            email=clean_email(email),
            api_key=clean_api_key(api_key),
            account_id=account,
        )
