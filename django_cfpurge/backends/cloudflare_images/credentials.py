"""Cloudflare Images credentials: the Account ID and an API token.

* The Account ID is 32 hexadecimal characters (stored in the zone's identifier
  column: for Cloudflare Images the account *is* the zone). A domain, or a value of
  another length, is named as such.
* The API token is a Cloudflare API token with **Account → Cloudflare Images → Edit**
  (``cfat_…`` for a token the account owns, or an older 40-character token). A Global
  API Key, or "Bearer …", pasted instead is named as such. The quotes, invisible
  characters and spaces every secret is checked for: see
  :mod:`django_cfpurge.credentials`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.translation import gettext, gettext_lazy

from ...credentials import clean_hex_id, strip
from ...exceptions import InvalidCredentials
from ..cloudflare import credentials as cf_credentials
from ..http import SecretHeaders

# Translators: the names of the values pasted from Cloudflare, as they appear inside the
# messages about them.
ACCOUNT_ID_LABEL = gettext_lazy("Account ID")
API_TOKEN_LABEL = gettext_lazy("API token")
WHERE_ACCOUNT_ID = gettext_lazy(
    "Copy it from the Cloudflare dashboard, Images → Overview (“Developer resources”), or "
    "Account Home → the account's menu → Copy account ID"
)
#: The permission the token needs, as the dashboard names it.
PERMISSION = "Account → Cloudflare Images → Edit"


def clean_account_id(value: str | None) -> str:
    """A trimmed, lower-cased Account ID. :raises InvalidCredentials: see the module doc."""
    if not strip(value):
        raise InvalidCredentials(
            gettext("Enter the Account ID (%(where)s).") % {"where": WHERE_ACCOUNT_ID},
            field="zone_id",
        )
    return clean_hex_id(value, field="zone_id", label=ACCOUNT_ID_LABEL, where=WHERE_ACCOUNT_ID)


def clean_api_token(value: str | None) -> str:
    """A trimmed API token, or an error that says what is wrong with it (Cloudflare's
    checks, with the advice for an account token when a Global API Key was pasted)."""
    return cf_credentials.clean_api_token(
        value,
        global_key_advice=gettext(
            "This is a Global API Key, not an API token. Create an API token for the "
            "account (Manage Account → Account API Tokens → Create Token) with the "
            "permission %(permission)s."
        )
        % {"permission": PERMISSION},
    )


@dataclass(frozen=True, repr=False)
class ImagesCredentials:
    """Everything needed to call the Images API of one account. Never shown in ``repr``.

    :ivar zone_id: the Account ID.
    :ivar api_token: an API token with Cloudflare Images Read/Edit on that account.
    """

    zone_id: str
    api_token: str

    @property
    def account_id(self) -> str:
        """The Account ID (the zone's identifier)."""
        return self.zone_id

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values to redact from everything reported."""
        return (self.api_token,)

    @property
    def token_hash(self) -> str:
        """Names the token in cache keys (Cloudflare limits API requests per token): a
        hash, never the token."""
        return hashlib.sha256(self.api_token.encode()).hexdigest()[:20]

    def auth_headers(self) -> SecretHeaders:
        """The header that authenticates a request (its ``repr`` hides the value)."""
        return SecretHeaders({"Authorization": f"Bearer {self.api_token}"})

    def as_values(self) -> dict[str, str]:
        """The cleaned values, as a zone stores them."""
        return {"zone_id": self.zone_id, "api_token": self.api_token}

    def __repr__(self) -> str:
        return f"<ImagesCredentials account_id={self.zone_id!r}>"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Credentials are not pickled: tasks carry ids only.")

    @classmethod
    def from_values(cls, values: Mapping[str, str | None]) -> ImagesCredentials:
        """Clean and validate a zone's values (``zone_id``: the Account ID, ``api_token``).

        :raises InvalidCredentials: the first problem found, naming its field.
        """
        account = clean_account_id(values.get("zone_id"))
        return cls(zone_id=account, api_token=clean_api_token(values.get("api_token")))
