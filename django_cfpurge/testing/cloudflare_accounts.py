"""Zones, API tokens and Global API Keys that the fake Cloudflare APIs know.

The default objects and the ``*_TOKEN`` / ``GLOBAL_KEY*`` constants make every answer
reproducible: an active token, an expired one, one that may read zones but not purge
them, an account-owned one, one with Cloudflare Images permissions... All of them are
well-formed but fake: they only open these fakes.

Standard library only; never imports Django.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeAlias

from . import _cloudflare_common as cf
from ._cloudflare_common import HEX32
from ._http import Reply, split_hostport

#: A grant that covers every zone (for an account-owned token: every zone of its account).
ALL_ZONES = "*"
#: Plan legacy ids, as in ``plan.legacy_id`` of a zone.
PLANS = ("free", "pro", "business", "enterprise")
#: Cloudflare Images permissions of a token: none, Read, or Edit (which implies Read).
IMAGES_PERMISSIONS = ("", "read", "edit")

DEFAULT_ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
DEFAULT_ZONE_NAME = "example.com"
DEFAULT_ACCOUNT_ID = "eb78d65290b24279ba6f44721b3ea3c4"
DEFAULT_ACCOUNT_NAME = "Example Account"
#: Hostnames the default zone serves besides ``example.com`` and its subdomains,
#: so that an edge cache in front of ``http://localhost:PORT/`` belongs to it.
DEFAULT_ZONE_EXTRA_HOSTNAMES = ("localhost", "127.0.0.1", "::1")

# The credentials below are well-formed but fake: they only open the fakes.
#: An active user token that may read and purge every zone.
DEFAULT_TOKEN = "cfut_fakeDefaultPurgeToken000000000000000000000000000"  # noqa: S105  (fake value)
DEFAULT_TOKEN_ID = "ed17574386854bf78a67040be0a770b0"  # noqa: S105  (an id, not a secret)
#: A user token whose status is ``expired`` (it expired on 2020-01-01).
EXPIRED_TOKEN = "cfut_fakeExpiredToken00000000000000000000000000000000"  # noqa: S105  (fake value)
#: A user token whose status is ``disabled``.
DISABLED_TOKEN = "cfut_fakeDisabledToken0000000000000000000000000000000"  # noqa: S105  (fake value)
#: An active user token that may read every zone but has no Cache Purge permission.
NO_PURGE_TOKEN = "cfut_fakeZoneReadOnlyToken000000000000000000000000000"  # noqa: S105  (fake value)
#: An active account-owned token (``cfat_``) of the default account, with Cache Purge.
ACCOUNT_TOKEN = "cfat_fakeAccountOwnedPurgeToken0000000000000000000000"  # noqa: S105  (fake value)
#: A well-formed token that the fakes do not know (answers 401 / 1000).
UNKNOWN_TOKEN = "cfut_fakeUnknownToken00000000000000000000000000000000"  # noqa: S105  (fake value)
#: An account-owned token of the default account with Cloudflare Images Edit.
IMAGES_EDIT_TOKEN = "cfat_fakeImagesEditToken0000000000000000000000000000"  # noqa: S105  (fake value)
#: An account-owned token of the default account with Cloudflare Images Read only.
IMAGES_READ_TOKEN = "cfat_fakeImagesReadToken0000000000000000000000000000"  # noqa: S105  (fake value)
#: Email of the default Global API Key.
GLOBAL_KEY_EMAIL = "owner@example.com"
#: A Global API Key (legacy 37 hex characters) valid for every zone, with :data:`GLOBAL_KEY_EMAIL`.
GLOBAL_KEY = "fa4ec0ffee0000000000000000000000000c5"  # (fake value)

_TOKEN_VALUE = re.compile(r"[A-Za-z0-9_-]{40,80}")
#: What ``X-Auth-Key`` may look like: a new ``cfk_`` key or 37-45 lowercase hex.
GLOBAL_KEY_VALUE = re.compile(r"cfk_[A-Za-z0-9_-]{40,60}|[0-9a-f]{37,45}")
#: What ``X-Auth-Email`` may look like.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_ZONE_NAME = re.compile(r"([a-zA-Z0-9][-a-zA-Z0-9]*\.)+[-a-zA-Z0-9]{2,20}")

#: A zone grant: :data:`ALL_ZONES` or a tuple of zone ids.
Grant: TypeAlias = "str | tuple[str, ...]"


def derived_id(*parts: str) -> str:
    """32 hex characters derived from ``parts`` (stable ids for made-up objects)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PurgeRateLimit:
    """Cloudflare's Instant Purge token buckets for one plan (per account).

    :ivar urls_per_second: single-file purge: URLs per second; the bucket holds one second's worth.
    :ivar flex_per_second: tag / host / prefix / everything purge: requests per second.
    :ivar flex_burst: tag / host / prefix / everything purge: bucket size.
    """

    urls_per_second: float
    flex_per_second: float
    flex_burst: float


#: Purge rate limits by plan, from Cloudflare's "Purge limits" table.
PURGE_RATE_LIMITS: dict[str, PurgeRateLimit] = {
    "free": PurgeRateLimit(urls_per_second=800, flex_per_second=5 / 60, flex_burst=25),
    "pro": PurgeRateLimit(urls_per_second=1500, flex_per_second=5, flex_burst=25),
    "business": PurgeRateLimit(urls_per_second=1500, flex_per_second=10, flex_burst=50),
    "enterprise": PurgeRateLimit(urls_per_second=3000, flex_per_second=50, flex_burst=500),
}

#: ``plan`` of a zone object, by legacy id.
PLAN_DETAILS: dict[str, dict[str, Any]] = {
    # The free plan id is the one seen in live answers; the others are made up.
    "free": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website", "price": 0},
    "pro": {"id": derived_id("plan", "fake-plan-pro"), "name": "Pro Website", "price": 25},
    "business": {
        "id": derived_id("plan", "fake-plan-business"),
        "name": "Business Website",
        "price": 250,
    },
    "enterprise": {
        "id": derived_id("plan", "fake-plan-enterprise"),
        "name": "Enterprise Website",
        "price": 5000,
    },
}


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso_date(value: datetime) -> str:
    """``2020-01-01T00:00:00Z``, as Cloudflare writes token dates."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_dt(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _normalize_grant(value: Grant | Iterable[str] | None, what: str) -> Grant:
    if value is None:
        return ()
    if isinstance(value, str):
        if value == ALL_ZONES:
            return ALL_ZONES
        value = (value,)
    ids = tuple(value)
    for zone_id in ids:
        if not HEX32.fullmatch(zone_id):
            raise ValueError(f"{what}: {zone_id!r} is not a 32-hex zone id (or {ALL_ZONES!r}).")
    return ids


def grant_to_json(value: Grant) -> str | list[str]:
    """A grant as JSON-ready data."""
    return value if isinstance(value, str) else list(value)


@dataclass
class FakeZone:
    """A zone the fake knows.

    :ivar id: 32 lowercase hex characters.
    :ivar name: the domain (``example.com``).
    :ivar account_id: the owning account (32 hex); purge rate limits are per account.
    :ivar plan: ``free``, ``pro``, ``business`` or ``enterprise`` (``plan.legacy_id``).
    :ivar hostnames: hostnames the zone serves besides its name and subdomains; only
        used to decide which edge cache entries a purge of this zone may evict.
    """

    id: str
    name: str
    account_id: str = DEFAULT_ACCOUNT_ID
    plan: str = "free"
    account_name: str = DEFAULT_ACCOUNT_NAME
    status: str = "active"
    paused: bool = False
    hostnames: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not HEX32.fullmatch(self.id):
            raise ValueError(f"Zone id {self.id!r} is not 32 lowercase hex characters.")
        if not _ZONE_NAME.fullmatch(self.name) or len(self.name) > 253:
            raise ValueError(f"Zone name {self.name!r} is not a domain name.")
        self.name = self.name.lower()
        if not HEX32.fullmatch(self.account_id):
            raise ValueError(f"Account id {self.account_id!r} is not 32 lowercase hex characters.")
        if self.plan not in PLANS:
            raise ValueError(f"Plan {self.plan!r} is not one of {', '.join(PLANS)}.")
        if self.status not in ("initializing", "pending", "active", "moved"):
            raise ValueError(f"Zone status {self.status!r} is not a Cloudflare zone status.")
        self.hostnames = tuple(split_hostport(h)[0] for h in self.hostnames)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FakeZone:
        """Build a zone from JSON-like data; ``id`` defaults to one derived from ``name``."""
        values = dict(data)
        if not values.get("id"):
            values["id"] = derived_id("zone", str(values.get("name", "")))
        values["hostnames"] = tuple(values.get("hostnames") or ())
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return the zone as JSON-ready data."""
        return {
            "id": self.id,
            "name": self.name,
            "account_id": self.account_id,
            "account_name": self.account_name,
            "plan": self.plan,
            "status": self.status,
            "paused": self.paused,
            "hostnames": list(self.hostnames),
        }

    def api_object(self, permissions: list[str]) -> dict[str, Any]:
        """The zone as ``GET /zones/{zone_id}`` returns it, with these ``permissions``."""
        plan = PLAN_DETAILS[self.plan]
        paid = self.plan != "free"
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "paused": self.paused,
            "type": "full",
            "development_mode": 0,
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": None,
            "original_registrar": None,
            "original_dnshost": None,
            "vanity_name_servers": [],
            "created_on": "2024-01-02T03:04:05.123456Z",
            "modified_on": "2024-01-02T03:14:05.123456Z",
            "activated_on": "2024-01-02T03:09:05.123456Z" if self.status == "active" else None,
            "meta": {
                "step": 2,
                "custom_certificate_quota": 1 if paid else 0,
                "page_rule_quota": 3,
                "phishing_detected": False,
                "cdn_only": False,
                "dns_only": False,
                "foundation_dns": False,
            },
            "owner": {"id": self.account_id, "name": self.account_name, "type": "organization"},
            "account": {"id": self.account_id, "name": self.account_name},
            "permissions": permissions,
            "plan": {
                "id": plan["id"],
                "name": plan["name"],
                "legacy_id": self.plan,
                "price": plan["price"],
                "currency": "USD",
                "frequency": "monthly" if paid else "",
                "is_subscribed": paid,
                "can_subscribe": False,
                "legacy_discount": False,
                "externally_managed": False,
            },
        }

    def serves(self, hostname: str) -> bool:
        """True if ``hostname`` (no port) is the zone's name, a subdomain, or a listed hostname."""
        hostname = hostname.lower().rstrip(".")
        return (
            hostname == self.name
            or hostname.endswith("." + self.name)
            or hostname in self.hostnames
        )


@dataclass
class Token:
    """An API token the fake accepts as ``Authorization: Bearer <value>``.

    :ivar value: the secret; never recorded, echoed or shown in ``repr``.
    :ivar id: the token id returned by verify (default: derived from the value).
    :ivar status: ``active``, ``disabled`` or ``expired``. An ``active`` token whose
        ``expires_on`` has passed is reported and treated as ``expired``.
    :ivar owner: ``user`` (verified at ``/user/tokens/verify``) or ``account``
        (verified at ``/accounts/{account_id}/tokens/verify``).
    :ivar account_id: the owning account of an account token.
    :ivar read_zones: zone ids the token may read (``GET /zones/{id}``), or :data:`ALL_ZONES`.
    :ivar purge_zones: zone ids the token may purge, or :data:`ALL_ZONES`. Purging implies
        reading, as Cloudflare's "Cache Purge" permission group does. For an account
        token, :data:`ALL_ZONES` means every zone of its account.
    :ivar images: the token's Cloudflare Images permission on its account (on every
        account for a user token): ``""`` (none), ``"read"`` or ``"edit"``; used by
        :class:`~django_cfpurge.testing.cloudflare_images_api.FakeCloudflareImages`.
    """

    value: str = field(repr=False)
    id: str = ""
    name: str = ""
    status: str = "active"
    expires_on: datetime | None = None
    not_before: datetime | None = None
    owner: str = "user"
    account_id: str | None = None
    read_zones: Grant = ()
    purge_zones: Grant = ALL_ZONES
    images: str = ""

    def __post_init__(self) -> None:
        if not _TOKEN_VALUE.fullmatch(self.value or ""):
            raise ValueError("A token value is 40-80 characters of A-Z, a-z, 0-9, '_' and '-'.")
        if not self.id:
            self.id = derived_id("token", self.value)
        if not HEX32.fullmatch(self.id):
            raise ValueError(f"Token id {self.id!r} is not 32 lowercase hex characters.")
        if self.status not in ("active", "disabled", "expired"):
            raise ValueError(f"Token status {self.status!r} is not active, disabled or expired.")
        if self.owner not in ("user", "account"):
            raise ValueError(f"Token owner {self.owner!r} is not 'user' or 'account'.")
        if self.owner == "account" and not HEX32.fullmatch(self.account_id or ""):
            raise ValueError("An account-owned token needs a 32-hex account_id.")
        if self.images not in IMAGES_PERMISSIONS:
            raise ValueError(f"images permission {self.images!r} is not '', 'read' or 'edit'.")
        self.expires_on = _parse_dt(self.expires_on)
        self.not_before = _parse_dt(self.not_before)
        self.read_zones = _normalize_grant(self.read_zones, "read_zones")
        self.purge_zones = _normalize_grant(self.purge_zones, "purge_zones")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        """Build a token from JSON-like data (dates as ISO 8601 strings)."""
        return cls(**dict(data))

    def effective_status(self, now: datetime | None = None) -> str:
        """The status verify reports at ``now``: an expired ``active`` token is ``expired``."""
        now = now or _utcnow()
        if self.status == "active" and self.expires_on is not None and self.expires_on <= now:
            return "expired"
        return self.status

    def usable(self, now: datetime | None = None) -> bool:
        """True if the token may call purge and zone routes at ``now``."""
        now = now or _utcnow()
        if self.effective_status(now) != "active":
            return False
        return self.not_before is None or self.not_before <= now

    def _grants(self, grant: Grant, zone: FakeZone) -> bool:
        if self.owner == "account" and zone.account_id != self.account_id:
            return False
        return grant == ALL_ZONES or zone.id in grant

    def can_purge(self, zone: FakeZone) -> bool:
        """True if the token has Cache Purge on ``zone``."""
        return self._grants(self.purge_zones, zone)

    def can_read(self, zone: FakeZone) -> bool:
        """True if the token may read ``zone`` (a purge grant implies it)."""
        return self._grants(self.read_zones, zone) or self.can_purge(zone)

    def can_use_account(self, account_id: str) -> bool:
        """True if the token acts on ``account_id`` (an account token: its own only)."""
        return self.owner == "user" or self.account_id == account_id

    def to_public_dict(self) -> dict[str, Any]:
        """Return the token without its value, as JSON-ready data."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.effective_status(),
            "owner": self.owner,
            "account_id": self.account_id,
            "expires_on": iso_date(self.expires_on) if self.expires_on else None,
            "not_before": iso_date(self.not_before) if self.not_before else None,
            "read_zones": grant_to_json(self.read_zones),
            "purge_zones": grant_to_json(self.purge_zones),
            "images": self.images,
        }


@dataclass
class GlobalKey:
    """A legacy Global API Key, sent as ``X-Auth-Email`` + ``X-Auth-Key``.

    :ivar key: the secret; never recorded, echoed or shown in ``repr``.
    :ivar zones: zone ids the key's user owns, or :data:`ALL_ZONES`; it may read and purge them.
    """

    email: str
    key: str = field(repr=False)
    zones: Grant = ALL_ZONES
    id: str = ""

    def __post_init__(self) -> None:
        if not EMAIL.fullmatch(self.email or ""):
            raise ValueError(f"{self.email!r} is not an email address.")
        if not GLOBAL_KEY_VALUE.fullmatch(self.key or ""):
            raise ValueError("A Global API Key is 37-45 lowercase hex, or 'cfk_' + 40-60 chars.")
        if not self.id:
            self.id = derived_id("global-key", self.email.lower(), self.key)
        self.zones = _normalize_grant(self.zones, "zones")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GlobalKey:
        """Build a key from JSON-like data."""
        return cls(**dict(data))

    def can_access(self, zone: FakeZone) -> bool:
        """True if the key's user owns ``zone``."""
        return self.zones == ALL_ZONES or zone.id in self.zones

    def to_public_dict(self) -> dict[str, Any]:
        """Return the key without its value, as JSON-ready data."""
        return {"id": self.id, "email": self.email, "zones": grant_to_json(self.zones)}


def default_zones() -> list[FakeZone]:
    """The zones a fake has by default: ``example.com`` (free plan) of the default account.

    It also serves :data:`DEFAULT_ZONE_EXTRA_HOSTNAMES`, so that local edge URLs belong to it.
    """
    return [
        FakeZone(
            id=DEFAULT_ZONE_ID,
            name=DEFAULT_ZONE_NAME,
            account_id=DEFAULT_ACCOUNT_ID,
            plan="free",
            hostnames=DEFAULT_ZONE_EXTRA_HOSTNAMES,
        )
    ]


def default_tokens() -> list[Token]:
    """The tokens a fake has by default (see the ``*_TOKEN`` constants)."""
    return [
        Token(DEFAULT_TOKEN, id=DEFAULT_TOKEN_ID, name="Purge every zone"),
        Token(
            EXPIRED_TOKEN,
            name="Expired",
            status="expired",
            not_before=datetime(2019, 1, 1, tzinfo=timezone.utc),
            expires_on=datetime(2020, 1, 1, tzinfo=timezone.utc),
        ),
        Token(DISABLED_TOKEN, name="Disabled", status="disabled"),
        Token(NO_PURGE_TOKEN, name="Zone read only", read_zones=ALL_ZONES, purge_zones=()),
        Token(
            ACCOUNT_TOKEN,
            name="Account purge",
            owner="account",
            account_id=DEFAULT_ACCOUNT_ID,
        ),
        Token(
            IMAGES_EDIT_TOKEN,
            name="Images edit",
            owner="account",
            account_id=DEFAULT_ACCOUNT_ID,
            purge_zones=(),
            images="edit",
        ),
        Token(
            IMAGES_READ_TOKEN,
            name="Images read",
            owner="account",
            account_id=DEFAULT_ACCOUNT_ID,
            purge_zones=(),
            images="read",
        ),
    ]


def default_global_keys() -> list[GlobalKey]:
    """The Global API Keys a fake has by default: :data:`GLOBAL_KEY` for every zone."""
    return [GlobalKey(GLOBAL_KEY_EMAIL, GLOBAL_KEY)]


def as_zone(value: FakeZone | Mapping[str, Any]) -> FakeZone:
    """A copy of ``value``, or a :class:`FakeZone` built from JSON-like data."""
    return copy.deepcopy(value) if isinstance(value, FakeZone) else FakeZone.from_dict(value)


def as_token(value: Token | Mapping[str, Any]) -> Token:
    """A copy of ``value``, or a :class:`Token` built from JSON-like data."""
    return copy.deepcopy(value) if isinstance(value, Token) else Token.from_dict(value)


def as_global_key(value: GlobalKey | Mapping[str, Any]) -> GlobalKey:
    """A copy of ``value``, or a :class:`GlobalKey` built from JSON-like data."""
    return copy.deepcopy(value) if isinstance(value, GlobalKey) else GlobalKey.from_dict(value)


def verify_answer(credential: Token | GlobalKey, owner: str, account_id: str | None) -> Reply:
    """The answer of ``/user/tokens/verify`` (``owner`` ``"user"``) or
    ``/accounts/{account_id}/tokens/verify`` (``"account"``) to ``credential``.

    A token of the other family, or a Global API Key, gets 401 / 1000; an account token
    of another account 403 / 10000.
    """
    if not isinstance(credential, Token) or credential.owner != owner:
        return cf.invalid_token()
    if owner == "account" and credential.account_id != account_id:
        return cf.auth_error()
    return cf.verify_reply(
        credential.id,
        credential.effective_status(),
        iso_date(credential.not_before) if credential.not_before else None,
        iso_date(credential.expires_on) if credential.expires_on else None,
    )
