"""bunny.net's credentials: a pull zone's id and the account's API key.

* The Pull zone ID is a number (digits only); a hostname, or another CDN's
  hexadecimal id, pasted instead is named as such.
* The API key is the account's one key (sent as ``AccessKey``). bunny.net does not
  document its shape, so nothing is checked beyond what every secret gets from
  :func:`~django_cfpurge.credentials.clean_value`: trimmed, no quotes, no invisible
  characters, no spaces inside.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.translation import gettext, gettext_lazy, ngettext

from ...credentials import clean_value
from ...exceptions import InvalidCredentials
from ..http import SecretHeaders

# Translators: the names of the values pasted from bunny.net, as they appear inside the
# messages about them.
PULL_ZONE_ID_LABEL = gettext_lazy("Pull zone ID")
API_KEY_LABEL = gettext_lazy("API key")
WHERE_ZONE_ID = gettext_lazy(
    "In the bunny.net dashboard, open CDN, then the pull zone: its ID is the number in the "
    "page's address"
)
WHERE_API_KEY = gettext_lazy(
    "In the bunny.net dashboard, open Account settings → API and copy the API key"
)
#: The largest id bunny.net's API takes (``int64``).
MAX_ID = 2**63 - 1


def clean_pull_zone_id(value: str | None) -> str:
    """A trimmed Pull zone ID, digits only, without leading zeros.

    :raises InvalidCredentials: empty, or not a number (a hostname is named as such).
    """
    cleaned = clean_value(value, field="zone_id", label=PULL_ZONE_ID_LABEL)
    if not cleaned:
        raise InvalidCredentials(
            gettext("Enter the Pull zone ID (%(where)s).") % {"where": WHERE_ZONE_ID},
            field="zone_id",
        )
    if cleaned.isascii() and cleaned.isdigit() and 0 < int(cleaned) <= MAX_ID:
        return str(int(cleaned))
    if "." in cleaned:
        raise InvalidCredentials(
            gettext("“%(value)s” looks like a hostname. The Pull zone ID is a number: %(where)s.")
            % {"value": cleaned, "where": WHERE_ZONE_ID},
            field="zone_id",
        )
    raise InvalidCredentials(
        ngettext(
            # Translators: the English singular keeps "characters"; translate each form.
            "The Pull zone ID is a number, digits only; this value has %(count)d characters "
            "(a Storage Zone name or another CDN's ID?). %(where)s.",
            "The Pull zone ID is a number, digits only; this value has %(count)d characters "
            "(a Storage Zone name or another CDN's ID?). %(where)s.",
            len(cleaned),
        )
        % {"count": len(cleaned), "where": WHERE_ZONE_ID},
        field="zone_id",
    )


def clean_api_key(value: str | None) -> str:
    """A trimmed API key. :raises InvalidCredentials: empty, or see the module doc."""
    key = clean_value(value, field="api_key", label=API_KEY_LABEL)
    if not key:
        raise InvalidCredentials(
            gettext("Enter the account's API key (%(where)s).") % {"where": WHERE_API_KEY},
            field="api_key",
        )
    return key


@dataclass(frozen=True, repr=False)
class BunnyCredentials:
    """Everything needed to call bunny.net for one pull zone. Never shown in ``repr``.

    :ivar zone_id: the Pull zone ID (digits).
    :ivar api_key: the account's API key.
    """

    zone_id: str
    api_key: str

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values to redact from everything reported."""
        return (self.api_key,)

    @property
    def account_hash(self) -> str:
        """Names the account (the key's owner) in cache keys: a hash of the key, never
        the key."""
        return hashlib.sha256(self.api_key.encode()).hexdigest()[:20]

    def auth_headers(self) -> SecretHeaders:
        """The header that authenticates a request (its ``repr`` hides the value)."""
        return SecretHeaders({"AccessKey": self.api_key})

    def as_values(self) -> dict[str, str]:
        """The cleaned values, as a zone stores them."""
        return {"zone_id": self.zone_id, "api_key": self.api_key}

    def __repr__(self) -> str:
        return f"<BunnyCredentials zone_id={self.zone_id!r}>"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Credentials are not pickled: tasks carry ids only.")

    @classmethod
    def from_values(cls, values: Mapping[str, str | None]) -> BunnyCredentials:
        """Clean and validate a zone's values (``zone_id``, ``api_key``).

        :raises InvalidCredentials: the first problem found, naming its field.
        """
        zone_id = clean_pull_zone_id(values.get("zone_id"))
        return cls(zone_id=zone_id, api_key=clean_api_key(values.get("api_key")))
