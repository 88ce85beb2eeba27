"""A fake Cloudflare API, and optionally a fake edge cache, for integration tests and demos.

The fake speaks the four API routes django-cfpurge uses, over real HTTP on the
loopback interface, with Cloudflare's error codes, per-plan item limits and
per-account purge rate limits, and it records what it was asked to do::

    from django_cfpurge.testing.fake_cloudflare import (
        DEFAULT_TOKEN, DEFAULT_ZONE_ID, FakeCloudflare,
    )

    with FakeCloudflare() as fake:
        settings.CFPURGE = {"API_URL": fake.api_url, "ZONE_ID": DEFAULT_ZONE_ID,
                            "API_TOKEN": DEFAULT_TOKEN}
        ...  # exercise the code under test
        assert "https://www.example.com/media/a.jpg" in fake.purged_urls()

By default the fake knows one zone, ``example.com`` (:data:`DEFAULT_ZONE_ID`, free
plan, account :data:`DEFAULT_ACCOUNT_ID`), and the credentials in the ``*_TOKEN`` and
``GLOBAL_KEY*`` constants. Rate limits are Cloudflare's, per account and per plan: on
the free plan, tag / host / prefix / everything purges allow a burst of 25 and then
5 per minute, so tests that purge more should pass ``speed`` or ``rate_limits``.

API routes (under ``/client/v4``):

* ``POST /zones/{zone_id}/purge_cache``
* ``GET /user/tokens/verify`` and ``GET /accounts/{account_id}/tokens/verify``
* ``GET /zones/{zone_id}``

Control routes (under ``/__fake__``, never under ``/client/v4``):

* ``GET /__fake__/`` -- an HTML "edge log" of the purges, newest first;
* ``GET /__fake__/health``, ``GET /__fake__/requests``, ``GET /__fake__/purges``,
  ``GET /__fake__/config``, ``GET /__fake__/edge``;
* ``POST /__fake__/reset``, ``POST /__fake__/config`` and ``POST /__fake__/edge/clear``
  (JSON bodies only, so that a web page cannot post to them cross-origin).

With an origin configured, a second listener is a caching reverse proxy (the
"edge"), so a whole stack can be seen serving stale content until it purges:

* ``GET``/``HEAD`` answers 200 are cached, keyed by scheme + host + path + query
  (the request's Host header, or ``public_host``); ``CF-Cache-Status`` is ``HIT``
  (with ``Age``), ``MISS``, ``EXPIRED`` (``max-age``/``s-maxage`` passed), ``BYPASS``
  (``no-store``, ``private``, ``no-cache`` or ``Set-Cookie``) or ``DYNAMIC``;
* ``Cache-Tag`` response headers are stored with the entry and not forwarded;
* the request's Host header is forwarded to the origin unchanged, with
  ``X-Forwarded-Proto``, ``X-Forwarded-For`` and ``CF-Connecting-IP``;
* a purge of a zone evicts entries whose host the zone serves (see :meth:`Zone.serves`):
  files by exact URL, prefixes by host + path ignoring the query, hosts, tags
  (case-insensitively) and everything. ``/cdn-cgi/`` URLs are never purged.

Where Cloudflare's behaviour is not documented the fake makes a choice and says
so in the docstring of the option that controls it. The fake never records or
echoes a token or key value. It refuses to listen anywhere but on loopback.

Run it on its own with ``python -m django_cfpurge.testing.fake_cloudflare --help``.

This module uses the standard library only and never imports Django.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import html
import http.client
import json
import logging
import math
import os
import random
import re
import secrets
import signal
import socket
import socketserver
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeAlias
from urllib.parse import urlsplit

#: Request headers: a mapping, or the case-insensitive ``Message`` of http.server.
Headers: TypeAlias = "Mapping[str, str] | Message[str, str]"

logger = logging.getLogger(__name__)

__all__ = [
    "ACCOUNT_TOKEN",
    "ALL_ZONES",
    "API_PREFIX",
    "CONTROL_PREFIX",
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_TOKEN",
    "DEFAULT_TOKEN_ID",
    "DEFAULT_ZONE_ID",
    "DEFAULT_ZONE_NAME",
    "DISABLED_TOKEN",
    "EXPIRED_TOKEN",
    "GLOBAL_KEY",
    "GLOBAL_KEY_EMAIL",
    "NO_PURGE_TOKEN",
    "PLANS",
    "PURGE_KINDS",
    "PURGE_RATE_LIMITS",
    "UNKNOWN_TOKEN",
    "FakeCloudflare",
    "FakeCloudflareRemote",
    "GlobalKey",
    "PurgeRateLimit",
    "Token",
    "Zone",
    "default_global_keys",
    "default_tokens",
    "default_zones",
    "main",
]

#: Path prefix of the Cloudflare API routes (``api_url`` ends with it).
API_PREFIX = "/client/v4"
#: Path prefix of the fake's own control routes.
CONTROL_PREFIX = "/__fake__"
#: A grant that covers every zone (for an account-owned token: every zone of its account).
ALL_ZONES = "*"
#: Plan legacy ids, as in ``plan.legacy_id`` of a zone.
PLANS = ("free", "pro", "business", "enterprise")
#: Purge kinds, as recorded in :meth:`FakeCloudflare.purges`.
PURGE_KINDS = ("files", "tags", "hosts", "prefixes", "everything")
PLAN_LIMITS_MODES = ("legacy", "current")
ERROR_STYLES = ("mixed", "html", "json")
FAULT_ROUTES = ("purge", "verify", "zone")

DEFAULT_ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
DEFAULT_ZONE_NAME = "example.com"
DEFAULT_ACCOUNT_ID = "eb78d65290b24279ba6f44721b3ea3c4"
DEFAULT_ACCOUNT_NAME = "Example Account"
#: Hostnames the default zone serves besides ``example.com`` and its subdomains,
#: so that edge entries fetched as ``http://localhost:PORT/...`` belong to it.
DEFAULT_ZONE_EXTRA_HOSTNAMES = ("localhost", "127.0.0.1", "::1")

# The credentials below are well-formed but fake: they only open this fake.
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
#: A well-formed token that the fake does not know (answers 401 / 1000).
UNKNOWN_TOKEN = "cfut_fakeUnknownToken00000000000000000000000000000000"  # noqa: S105  (fake value)
#: Email of the default Global API Key.
GLOBAL_KEY_EMAIL = "owner@example.com"
#: A Global API Key (legacy 37 hex characters) valid for every zone, with :data:`GLOBAL_KEY_EMAIL`.
GLOBAL_KEY = "fa4ec0ffee0000000000000000000000000c5"  # (fake value)

#: Code of the JSON body of a 5xx fault. Cloudflare documents none; this one is arbitrary.
SERVER_ERROR_CODE = 10001

_HEX32 = re.compile(r"[0-9a-f]{32}")
_TOKEN_VALUE = re.compile(r"[A-Za-z0-9_-]{40,80}")
_BEARER = re.compile(r"(?i:bearer) ([A-Za-z0-9_-]{40,80})")
_GLOBAL_KEY_VALUE = re.compile(r"cfk_[A-Za-z0-9_-]{40,60}|[0-9a-f]{37,45}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_ZONE_NAME = re.compile(r"([a-zA-Z0-9][-a-zA-Z0-9]*\.)+[-a-zA-Z0-9]{2,20}")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ROUTES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"/zones/([^/]+)/purge_cache"), "POST", "purge"),
    (re.compile(r"/zones/([^/]+)"), "GET", "zone"),
    (re.compile(r"/user/tokens/verify"), "GET", "verify_user"),
    (re.compile(r"/accounts/([^/]+)/tokens/verify"), "GET", "verify_account"),
)
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
_UNRECORDED_HEADERS = frozenset(
    {
        "authorization",
        "x-auth-key",
        "x-auth-email",
        "x-auth-user-service-key",
        "cookie",
        "proxy-authorization",
    }
)
_MAX_BODY = 10 * 1024 * 1024
_MAX_RECORDS = 10_000
_LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}

#: A zone grant: :data:`ALL_ZONES` or a tuple of zone ids.
Grant: TypeAlias = "str | tuple[str, ...]"
#: A scripted answer: an HTTP status, ``"drop"``, or a dict (see ``fail_next``).
FailSpec: TypeAlias = "int | str | Mapping[str, Any]"


def _derived_id(*parts: str) -> str:
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

_PLAN_DETAILS: dict[str, dict[str, Any]] = {
    # The free plan id is the one seen in live answers; the others are made up.
    "free": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website", "price": 0},
    "pro": {"id": _derived_id("plan", "fake-plan-pro"), "name": "Pro Website", "price": 25},
    "business": {
        "id": _derived_id("plan", "fake-plan-business"),
        "name": "Business Website",
        "price": 250,
    },
    "enterprise": {
        "id": _derived_id("plan", "fake-plan-enterprise"),
        "name": "Enterprise Website",
        "price": 5000,
    },
}


# --------------------------------------------------------------------------- helpers


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _iso_ts(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _iso_dt(value: datetime) -> str:
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
        if not _HEX32.fullmatch(zone_id):
            raise ValueError(f"{what}: {zone_id!r} is not a 32-hex zone id (or {ALL_ZONES!r}).")
    return ids


def _grant_to_json(value: Grant) -> str | list[str]:
    return value if isinstance(value, str) else list(value)


def _split_hostport(netloc: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (IPv6 in brackets) into a lowercase host and a port."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        end = netloc.find("]")
        host = netloc[1:end] if end > 0 else netloc[1:]
        rest = netloc[end + 1 :] if end > 0 else ""
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
        return host, port
    if netloc.count(":") == 1:
        host, _, port_text = netloc.partition(":")
        return host, int(port_text) if port_text.isdigit() else None
    return netloc, None


def _join_hostport(host: str, port: int | None, scheme: str | None = None) -> str:
    shown = f"[{host}]" if ":" in host else host
    if port is None or (scheme is not None and _DEFAULT_PORTS.get(scheme) == port):
        return shown
    return f"{shown}:{port}"


def normalize_url(url: str) -> str | None:
    """Return ``url`` in the form edge cache keys use, or None if it is not an http(s) URL.

    The scheme and host are lowercased, a default port is dropped, an empty path
    becomes ``/``, the query string is kept as is and a fragment is dropped.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    netloc = _join_hostport(parts.hostname.lower(), port, scheme)
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{parts.path or '/'}{query}"


def _url_of(item: Any) -> str:
    return item["url"] if isinstance(item, Mapping) else str(item)


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=False).encode()


# --------------------------------------------------------------------------- configuration


@dataclass
class Zone:
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
        if not _HEX32.fullmatch(self.id):
            raise ValueError(f"Zone id {self.id!r} is not 32 lowercase hex characters.")
        if not _ZONE_NAME.fullmatch(self.name) or len(self.name) > 253:
            raise ValueError(f"Zone name {self.name!r} is not a domain name.")
        self.name = self.name.lower()
        if not _HEX32.fullmatch(self.account_id):
            raise ValueError(f"Account id {self.account_id!r} is not 32 lowercase hex characters.")
        if self.plan not in PLANS:
            raise ValueError(f"Plan {self.plan!r} is not one of {', '.join(PLANS)}.")
        if self.status not in ("initializing", "pending", "active", "moved"):
            raise ValueError(f"Zone status {self.status!r} is not a Cloudflare zone status.")
        self.hostnames = tuple(_split_hostport(h)[0] for h in self.hostnames)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Zone:
        """Build a zone from JSON-like data; ``id`` defaults to one derived from ``name``."""
        values = dict(data)
        if not values.get("id"):
            values["id"] = _derived_id("zone", str(values.get("name", "")))
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

    def __post_init__(self) -> None:
        if not _TOKEN_VALUE.fullmatch(self.value or ""):
            raise ValueError("A token value is 40-80 characters of A-Z, a-z, 0-9, '_' and '-'.")
        if not self.id:
            self.id = _derived_id("token", self.value)
        if not _HEX32.fullmatch(self.id):
            raise ValueError(f"Token id {self.id!r} is not 32 lowercase hex characters.")
        if self.status not in ("active", "disabled", "expired"):
            raise ValueError(f"Token status {self.status!r} is not active, disabled or expired.")
        if self.owner not in ("user", "account"):
            raise ValueError(f"Token owner {self.owner!r} is not 'user' or 'account'.")
        if self.owner == "account" and not _HEX32.fullmatch(self.account_id or ""):
            raise ValueError("An account-owned token needs a 32-hex account_id.")
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

    def _grants(self, grant: Grant, zone: Zone) -> bool:
        if self.owner == "account" and zone.account_id != self.account_id:
            return False
        return grant == ALL_ZONES or zone.id in grant

    def can_purge(self, zone: Zone) -> bool:
        """True if the token has Cache Purge on ``zone``."""
        return self._grants(self.purge_zones, zone)

    def can_read(self, zone: Zone) -> bool:
        """True if the token may read ``zone`` (a purge grant implies it)."""
        return self._grants(self.read_zones, zone) or self.can_purge(zone)

    def to_public_dict(self) -> dict[str, Any]:
        """Return the token without its value, as JSON-ready data."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.effective_status(),
            "owner": self.owner,
            "account_id": self.account_id,
            "expires_on": _iso_dt(self.expires_on) if self.expires_on else None,
            "not_before": _iso_dt(self.not_before) if self.not_before else None,
            "read_zones": _grant_to_json(self.read_zones),
            "purge_zones": _grant_to_json(self.purge_zones),
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
        if not _EMAIL.fullmatch(self.email or ""):
            raise ValueError(f"{self.email!r} is not an email address.")
        if not _GLOBAL_KEY_VALUE.fullmatch(self.key or ""):
            raise ValueError("A Global API Key is 37-45 lowercase hex, or 'cfk_' + 40-60 chars.")
        if not self.id:
            self.id = _derived_id("global-key", self.email.lower(), self.key)
        self.zones = _normalize_grant(self.zones, "zones")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GlobalKey:
        """Build a key from JSON-like data."""
        return cls(**dict(data))

    def can_access(self, zone: Zone) -> bool:
        """True if the key's user owns ``zone``."""
        return self.zones == ALL_ZONES or zone.id in self.zones

    def to_public_dict(self) -> dict[str, Any]:
        """Return the key without its value, as JSON-ready data."""
        return {"id": self.id, "email": self.email, "zones": _grant_to_json(self.zones)}


def default_zones() -> list[Zone]:
    """The zones a fake has by default: ``example.com`` (free plan) of the default account.

    It also serves :data:`DEFAULT_ZONE_EXTRA_HOSTNAMES`, so that local edge URLs belong to it.
    """
    return [
        Zone(
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
    ]


def default_global_keys() -> list[GlobalKey]:
    """The Global API Keys a fake has by default: :data:`GLOBAL_KEY` for every zone."""
    return [GlobalKey(GLOBAL_KEY_EMAIL, GLOBAL_KEY)]


def _as_zone(value: Zone | Mapping[str, Any]) -> Zone:
    return copy.deepcopy(value) if isinstance(value, Zone) else Zone.from_dict(value)


def _as_token(value: Token | Mapping[str, Any]) -> Token:
    return copy.deepcopy(value) if isinstance(value, Token) else Token.from_dict(value)


def _as_global_key(value: GlobalKey | Mapping[str, Any]) -> GlobalKey:
    return copy.deepcopy(value) if isinstance(value, GlobalKey) else GlobalKey.from_dict(value)


def _normalize_fail_spec(spec: FailSpec) -> dict[str, Any]:
    if isinstance(spec, bool):
        raise ValueError("fail_next entries are HTTP statuses, 'drop', or dicts.")
    if isinstance(spec, int):
        spec = {"status": spec}
    elif isinstance(spec, str):
        if spec != "drop":
            raise ValueError(f"fail_next entry {spec!r}: the only string allowed is 'drop'.")
        spec = {"drop": True}
    result = dict(spec)
    if not result.get("drop"):
        status = result.get("status")
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"fail_next entry {spec!r}: status must be an int from 400 to 599.")
    return result


def _ratio(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1.")
    return value


@dataclass
class _Faults:
    error_ratio: float = 0.0
    drop_ratio: float = 0.0
    latency: float = 0.0
    fail_next: list[dict[str, Any]] = field(default_factory=list)
    error_style: str = "mixed"
    routes: tuple[str, ...] = FAULT_ROUTES

    def to_dict(self) -> dict[str, Any]:
        return {
            "error_ratio": self.error_ratio,
            "drop_ratio": self.drop_ratio,
            "latency": self.latency,
            "fail_next": copy.deepcopy(self.fail_next),
            "error_style": self.error_style,
            "routes": list(self.routes),
        }


_OPTION_NAMES = (
    "plan_limits_mode",
    "speed",
    "unknown_zone_status",
    "invalid_body_code",
    "too_many_items_code",
    "rate_limit_code",
    "global_limit",
    "global_window",
    "rate_limits",
)


def _validate_options(options: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in options.items():
        if name not in _OPTION_NAMES:
            raise ValueError(f"Unknown option {name!r}.")
        if name == "plan_limits_mode" and value not in PLAN_LIMITS_MODES:
            raise ValueError(f"plan_limits_mode must be one of {PLAN_LIMITS_MODES}.")
        if name == "speed" and not float(value) > 0:
            raise ValueError("speed must be greater than 0.")
        if name == "unknown_zone_status" and value not in (403, 404):
            raise ValueError("unknown_zone_status must be 403 or 404.")
        # 971 is below the schema's minimum of 1000, but it is what Cloudflare's
        # global rate limit answers.
        allowed_low = (971,) if name == "rate_limit_code" else ()
        if name.endswith("_code") and not (
            isinstance(value, int) and (value >= 1000 or value in allowed_low)
        ):
            raise ValueError(f"{name} must be an integer >= 1000 (or 971 for rate_limit_code).")
        if name == "global_limit" and value is not None and int(value) < 1:
            raise ValueError("global_limit must be a positive integer, or None to disable it.")
        if name == "global_window" and not float(value) > 0:
            raise ValueError("global_window must be greater than 0.")
        if name == "rate_limits" and value is not None:
            value = {
                plan: limit if isinstance(limit, PurgeRateLimit) else PurgeRateLimit(**limit)
                for plan, limit in dict(value).items()
            }
            unknown = set(value) - set(PLANS)
            if unknown:
                raise ValueError(f"rate_limits: unknown plans {sorted(unknown)}.")
        if name == "speed" or name == "global_window":
            value = float(value)
        result[name] = value
    return result


# --------------------------------------------------------------------------- rate limiting


class _TokenBucket:
    """A classic token bucket. ``take`` returns 0.0 when allowed, else seconds to wait."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = float(capacity)
        self.rate = float(rate)
        self.tokens = float(capacity)
        self.updated = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now

    def take(self, cost: float, now: float) -> float:
        self._refill(now)
        # A request larger than the bucket passes when the bucket is full (and leaves
        # a debt), otherwise it could never pass.
        needed = min(cost, self.capacity)
        if self.tokens >= needed:
            self.tokens -= cost
            return 0.0
        if self.rate <= 0:
            return math.inf
        return (needed - self.tokens) / self.rate

    def remaining(self, now: float) -> int:
        self._refill(now)
        return max(0, int(self.tokens))

    def seconds_to_full(self, now: float) -> float:
        self._refill(now)
        if self.rate <= 0:
            return math.inf
        return max(0.0, (self.capacity - self.tokens) / self.rate)


@dataclass
class _Window:
    start: float
    count: int = 0


def _ceil_seconds(value: float) -> int:
    if math.isinf(value) or value > 10**9:
        return 10**9
    return max(1, math.ceil(value))


# --------------------------------------------------------------------------- replies


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False
    delay: float = 0.0
    errors: list[int] = field(default_factory=list)


def _envelope_error(status: int, errors: Sequence[Mapping[str, Any]], **extra: Any) -> _Reply:
    body = {"success": False, "errors": [dict(e) for e in errors], "messages": [], "result": None}
    return _Reply(status, _json_bytes(body), errors=[int(e["code"]) for e in errors], **extra)


def _err(code: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def _ok(result: Any, messages: Sequence[Mapping[str, Any]] = ()) -> _Reply:
    body = {"success": True, "errors": [], "messages": [dict(m) for m in messages]}
    body["result"] = result
    return _Reply(200, _json_bytes(body))


def _html_error_page(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    title = html.escape(f"{status} {phrase}")
    return (
        "<!DOCTYPE html>\n<html><head><title>"
        + title
        + "</title></head><body><center><h1>"
        + title
        + "</h1></center><hr><center>cloudflare</center></body></html>\n"
    ).encode()


def _malformed_auth() -> _Reply:
    chain = [_err(6111, "Invalid format for Authorization header")]
    return _envelope_error(400, [_err(6003, "Invalid request headers", error_chain=chain)])


def _invalid_token() -> _Reply:
    return _envelope_error(401, [_err(1000, "Invalid API Token")])


def _auth_error() -> _Reply:
    return _envelope_error(403, [_err(10000, "Authentication error")])


def _missing_auth() -> _Reply:
    return _envelope_error(
        400, [_err(9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")]
    )


def _bad_identifier(path: str) -> _Reply:
    return _envelope_error(
        400,
        [
            _err(7003, f"Could not route to {path}, perhaps your object identifier is invalid?"),
            _err(7000, "No route for that URI"),
        ],
    )


# --------------------------------------------------------------------------- edge cache


@dataclass
class _EdgeEntry:
    key: str
    scheme: str
    host: str
    hostname: str
    path: str
    query: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    tags: frozenset[str]
    stored_at: float
    expires_at: float | None
    hits: int = 0


def _cache_control(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    directives: dict[str, str] = {}
    for name, value in headers:
        if name.lower() != "cache-control":
            continue
        for part in value.split(","):
            key, _, arg = part.strip().partition("=")
            if key:
                directives[key.strip().lower()] = arg.strip().strip('"')
    return directives


def _cache_tags(headers: Sequence[tuple[str, str]]) -> frozenset[str]:
    tags: set[str] = set()
    for name, value in headers:
        if name.lower() == "cache-tag":
            tags.update(t.strip().lower() for t in value.split(",") if t.strip())
    return frozenset(tags)


def _prefix_matches(prefix: str, entry: _EdgeEntry) -> bool:
    host_part, slash, path_part = prefix.partition("/")
    host, port = _split_hostport(host_part)
    if port is None:
        if host != entry.hostname:
            return False
    elif _join_hostport(host, port) != entry.host and host_part.lower() != entry.host:
        return False
    return entry.path.startswith(slash + path_part) if slash else True


def _host_matches(value: str, entry: _EdgeEntry) -> bool:
    host, port = _split_hostport(value)
    if port is None:
        return host == entry.hostname
    return _join_hostport(host, port) == entry.host


# --------------------------------------------------------------------------- the engine


class _Engine:
    """Everything behind the listeners: configuration, API logic, records, edge store."""

    def __init__(
        self,
        *,
        zones: Iterable[Zone | Mapping[str, Any]] | None,
        tokens: Iterable[Token | Mapping[str, Any]] | None,
        global_keys: Iterable[GlobalKey | Mapping[str, Any]] | None,
        options: Mapping[str, Any],
        faults: Mapping[str, Any],
        seed: int | None,
        clock: Callable[[], float],
        edge_default_ttl: float,
        edge_max_entries: int,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.edge_default_ttl = float(edge_default_ttl)
        self.edge_max_entries = int(edge_max_entries)
        self._initial_zones = [_as_zone(z) for z in (default_zones() if zones is None else zones)]
        self._initial_tokens = [
            _as_token(t) for t in (default_tokens() if tokens is None else tokens)
        ]
        self._initial_keys = [
            _as_global_key(k)
            for k in (default_global_keys() if global_keys is None else global_keys)
        ]
        self._initial_options = _validate_options(options)
        self._initial_faults = dict(faults)
        self._initial_seed = seed
        self.reset()

    # -- state ------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.zones: dict[str, Zone] = {z.id: copy.deepcopy(z) for z in self._initial_zones}
            self.tokens: dict[str, Token] = {
                t.value: copy.deepcopy(t) for t in self._initial_tokens
            }
            self.keys: dict[str, GlobalKey] = {k.key: copy.deepcopy(k) for k in self._initial_keys}
            self.plan_limits_mode = "legacy"
            self.speed = 1.0
            self.unknown_zone_status = 403
            self.invalid_body_code = 1012
            self.too_many_items_code = 1013
            self.rate_limit_code = 1134
            self.global_limit: int | None = 1200
            self.global_window = 300.0
            self.rate_limits: dict[str, PurgeRateLimit] = dict(PURGE_RATE_LIMITS)
            self.configure(self._initial_options)
            self.faults = _Faults()
            self.rng = random.Random(self._initial_seed)  # noqa: S311  (fault dice, not crypto)
            self.set_faults(**self._initial_faults)
            self.request_log: list[dict[str, Any]] = []
            self.purge_log: list[dict[str, Any]] = []
            self.request_seq = 0
            self.purge_seq = 0
            self.buckets: dict[tuple[str, str, str], _TokenBucket] = {}
            self.windows: dict[str, _Window] = {}
            self.edge: OrderedDict[str, _EdgeEntry] = OrderedDict()
            self.edge_stats = {"hit": 0, "miss": 0, "expired": 0, "bypass": 0, "dynamic": 0}

    def configure(self, options: Mapping[str, Any]) -> None:
        values = _validate_options(options)
        with self.lock:
            for name, value in values.items():
                if name == "rate_limits":
                    self.rate_limits = {**PURGE_RATE_LIMITS, **(value or {})}
                elif name == "global_limit":
                    self.global_limit = None if value is None else int(value)
                else:
                    setattr(self, name, value)
            if {"speed", "rate_limits", "global_window", "global_limit"} & set(values):
                self.buckets = {}
                self.windows = {}

    def set_faults(self, **changes: Any) -> None:
        with self.lock:
            faults = self.faults
            for name, value in changes.items():
                if value is None:
                    continue
                if name in ("error_ratio", "drop_ratio"):
                    setattr(faults, name, _ratio(value, name))
                elif name == "latency":
                    if float(value) < 0:
                        raise ValueError("latency must not be negative.")
                    faults.latency = float(value)
                elif name == "fail_next":
                    faults.fail_next = [_normalize_fail_spec(s) for s in value]
                elif name == "error_style":
                    if value not in ERROR_STYLES:
                        raise ValueError(f"error_style must be one of {ERROR_STYLES}.")
                    faults.error_style = value
                elif name == "routes":
                    routes = tuple(value)
                    if set(routes) - set(FAULT_ROUTES):
                        raise ValueError(f"fault routes must be among {FAULT_ROUTES}.")
                    faults.routes = routes
                elif name == "seed":
                    self.rng.seed(value)
                else:
                    raise ValueError(f"Unknown fault option {name!r}.")
            if faults.error_ratio + faults.drop_ratio > 1.0:
                raise ValueError("error_ratio + drop_ratio must not exceed 1.")

    def add_zone(self, zone: Zone | Mapping[str, Any]) -> Zone:
        value = _as_zone(zone)
        with self.lock:
            self.zones[value.id] = value
        return copy.deepcopy(value)

    def add_token(self, token: Token | Mapping[str, Any]) -> Token:
        value = _as_token(token)
        with self.lock:
            self.tokens[value.value] = value
        return copy.deepcopy(value)

    def add_global_key(self, key: GlobalKey | Mapping[str, Any]) -> GlobalKey:
        value = _as_global_key(key)
        with self.lock:
            self.keys[value.key] = value
        return copy.deepcopy(value)

    def config_summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "zones": [z.to_dict() for z in self.zones.values()],
                "tokens": [t.to_public_dict() for t in self.tokens.values()],
                "global_keys": [k.to_public_dict() for k in self.keys.values()],
                "plan_limits_mode": self.plan_limits_mode,
                "speed": self.speed,
                "unknown_zone_status": self.unknown_zone_status,
                "invalid_body_code": self.invalid_body_code,
                "too_many_items_code": self.too_many_items_code,
                "rate_limit_code": self.rate_limit_code,
                "global_limit": self.global_limit,
                "global_window": self.global_window,
                "rate_limits": {
                    plan: {
                        "urls_per_second": limit.urls_per_second,
                        "flex_per_second": limit.flex_per_second,
                        "flex_burst": limit.flex_burst,
                    }
                    for plan, limit in self.rate_limits.items()
                },
                "faults": self.faults.to_dict(),
            }

    # -- records -----------------------------------------------------------------------

    def _redact(self, value: Any) -> Any:
        """Replace any known secret inside recorded data (defence in depth)."""
        if isinstance(value, str):
            for secret in (*self.tokens, *self.keys):
                if secret in value:
                    value = value.replace(secret, "[redacted]")
            return value
        if isinstance(value, list):
            return [self._redact(v) for v in value]
        if isinstance(value, dict):
            return {k: self._redact(v) for k, v in value.items()}
        return value

    def _append(self, log: list[dict[str, Any]], record: dict[str, Any]) -> None:
        log.append(record)
        if len(log) > _MAX_RECORDS:
            del log[: len(log) - _MAX_RECORDS]

    def requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.request_log)

    def purges(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.purge_log)

    # -- the API -----------------------------------------------------------------------

    def handle_api(self, method: str, target: str, headers: Headers, body: bytes) -> _Reply:
        """Answer one request under ``/client/v4``; record it (without secrets)."""
        now = time.time()
        split = urlsplit(target)
        sub = split.path[len(API_PREFIX) :] or "/"
        parsed_body: Any = None
        body_error: str | None = None
        if body:
            try:
                parsed_body = json.loads(body)
            except ValueError:
                body_error = "not JSON"
        with self.lock:
            self.request_seq += 1
            record: dict[str, Any] = {
                "id": self.request_seq,
                "time": _iso_ts(now),
                "timestamp": now,
                "method": method,
                "path": split.path + (f"?{split.query}" if split.query else ""),
                "route": None,
                "zone": None,
                "status": None,
                "auth": "none",
                "credential": None,
                "errors": [],
                "fault": None,
                "latency": self.faults.latency,
                "body": parsed_body,
                "headers": {
                    k: v for k, v in headers.items() if k.lower() not in _UNRECORDED_HEADERS
                },
            }
            if body_error:
                record["body_error"] = body_error
            reply, credential_key = self._dispatch(
                method, sub, headers, parsed_body, body_error, record
            )
            reply.delay = self.faults.latency
            record["status"] = None if reply.drop else reply.status
            record["errors"] = list(reply.errors)
            if not reply.drop:
                reply.headers.extend(self._ratelimit_headers(reply, credential_key))
                reply.headers.append(("cf-ray", f"{secrets.token_hex(8)}-LCL"))
            self._append(self.request_log, self._redact(record))
        return reply

    def _route(self, method: str, sub: str) -> tuple[str, dict[str, str]] | _Reply:
        for pattern, allowed, name in _ROUTES:
            match = pattern.fullmatch(sub)
            if match is None:
                continue
            if method != allowed:
                return _envelope_error(
                    405,
                    [_err(7001, f"Method {method} not available for that URI")],
                    headers=[("Allow", allowed)],
                )
            params: dict[str, str] = {}
            if name in ("purge", "zone"):
                params["zone"] = match.group(1)
            elif name == "verify_account":
                params["account"] = match.group(1)
            return name, params
        return _envelope_error(404, [_err(7000, "No route for that URI")])

    def _dispatch(
        self,
        method: str,
        sub: str,
        headers: Headers,
        body: Any,
        body_error: str | None,
        record: dict[str, Any],
    ) -> tuple[_Reply, str | None]:
        routed = self._route(method, sub)
        if isinstance(routed, _Reply):
            return routed, None
        route, params = routed
        record["route"] = route
        record["zone"] = params.get("zone")

        fault = self._pick_fault(route, record)
        if fault is not None:
            return fault, None

        identifier = params.get("zone") or params.get("account")
        if identifier is not None and not _HEX32.fullmatch(identifier):
            return _bad_identifier(sub), None

        authed = self._authenticate(route, headers, record)
        if isinstance(authed, _Reply):
            return authed, None
        credential = authed
        credential_id = credential.id
        record["credential"] = credential_id

        limited = self._take_global(credential_id)
        if limited is not None:
            return limited, credential_id

        if route == "verify_user":
            if not isinstance(credential, Token) or credential.owner != "user":
                return _invalid_token(), credential_id
            return self._verify_reply(credential), credential_id
        if route == "verify_account":
            if not isinstance(credential, Token) or credential.owner != "account":
                return _invalid_token(), credential_id
            if credential.account_id != params["account"]:
                return _auth_error(), credential_id
            return self._verify_reply(credential), credential_id

        if isinstance(credential, Token) and not credential.usable():
            return _invalid_token(), credential_id
        zone = self.zones.get(params["zone"])
        if zone is None:
            return self._unknown_zone(sub), credential_id
        if route == "zone":
            if isinstance(credential, Token):
                if not credential.can_read(zone):
                    return _auth_error(), credential_id
                permissions = ["#zone:read"]
                if credential.can_purge(zone):
                    permissions.append("#cache_purge:edit")
            else:
                if not credential.can_access(zone):
                    return _auth_error(), credential_id
                permissions = [
                    "#analytics:read",
                    "#cache_purge:edit",
                    "#dns_records:edit",
                    "#dns_records:read",
                    "#zone:edit",
                    "#zone:read",
                    "#zone_settings:edit",
                    "#zone_settings:read",
                ]
            return _ok(self._zone_object(zone, permissions)), credential_id

        allowed = (
            credential.can_purge(zone)
            if isinstance(credential, Token)
            else credential.can_access(zone)
        )
        if not allowed:
            return _auth_error(), credential_id
        return self._purge(zone, body, body_error, credential_id), credential_id

    def _authenticate(
        self, route: str, headers: Headers, record: dict[str, Any]
    ) -> Token | GlobalKey | _Reply:
        authorization = headers.get("Authorization")
        email = headers.get("X-Auth-Email")
        key = headers.get("X-Auth-Key")
        if authorization is not None:
            record["auth"] = "token"
            match = _BEARER.fullmatch(authorization.strip())
            if match is None:
                return _malformed_auth()
            token = self.tokens.get(match.group(1))
            if token is None:
                return _invalid_token()
            return token
        if email is not None or key is not None:
            record["auth"] = "global_key"
            if route.startswith("verify"):
                # Verify takes tokens only. What Cloudflare answers to a Global API Key
                # there is undocumented; the fake treats it as "no valid token".
                return _invalid_token()
            if not email or not key:
                return _missing_auth()
            if not _GLOBAL_KEY_VALUE.fullmatch(key.strip()):
                chain = [_err(6103, "Invalid format for X-Auth-Key header")]
                return _envelope_error(
                    400, [_err(6003, "Invalid request headers", error_chain=chain)]
                )
            if not _EMAIL.fullmatch(email.strip()):
                chain = [_err(6102, "Invalid format for X-Auth-Email header")]
                return _envelope_error(
                    400, [_err(6003, "Invalid request headers", error_chain=chain)]
                )
            global_key = self.keys.get(key.strip())
            if global_key is None or global_key.email.lower() != email.strip().lower():
                return _envelope_error(403, [_err(9103, "Unknown X-Auth-Key or X-Auth-Email")])
            return global_key
        return _missing_auth()

    def _unknown_zone(self, sub: str) -> _Reply:
        if self.unknown_zone_status == 404:
            message = f"Could not route to {sub}, perhaps your object identifier is invalid?"
            return _envelope_error(404, [_err(7003, message)])
        return _auth_error()

    def _verify_reply(self, token: Token) -> _Reply:
        status = token.effective_status()
        result: dict[str, Any] = {"id": token.id, "status": status}
        if token.not_before is not None:
            result["not_before"] = _iso_dt(token.not_before)
        if token.expires_on is not None:
            result["expires_on"] = _iso_dt(token.expires_on)
        messages = []
        if status == "active":
            messages = [
                {"code": 10000, "message": "This API Token is valid and active", "type": None}
            ]
        return _ok(result, messages)

    def _zone_object(self, zone: Zone, permissions: list[str]) -> dict[str, Any]:
        plan = _PLAN_DETAILS[zone.plan]
        paid = zone.plan != "free"
        return {
            "id": zone.id,
            "name": zone.name,
            "status": zone.status,
            "paused": zone.paused,
            "type": "full",
            "development_mode": 0,
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": None,
            "original_registrar": None,
            "original_dnshost": None,
            "vanity_name_servers": [],
            "created_on": "2024-01-02T03:04:05.123456Z",
            "modified_on": "2024-01-02T03:14:05.123456Z",
            "activated_on": "2024-01-02T03:09:05.123456Z" if zone.status == "active" else None,
            "meta": {
                "step": 2,
                "custom_certificate_quota": 1 if paid else 0,
                "page_rule_quota": 3,
                "phishing_detected": False,
                "cdn_only": False,
                "dns_only": False,
                "foundation_dns": False,
            },
            "owner": {"id": zone.account_id, "name": zone.account_name, "type": "organization"},
            "account": {"id": zone.account_id, "name": zone.account_name},
            "permissions": permissions,
            "plan": {
                "id": plan["id"],
                "name": plan["name"],
                "legacy_id": zone.plan,
                "price": plan["price"],
                "currency": "USD",
                "frequency": "monthly" if paid else "",
                "is_subscribed": paid,
                "can_subscribe": False,
                "legacy_discount": False,
                "externally_managed": False,
            },
        }

    # -- purge ------------------------------------------------------------------------

    def max_items(self, plan: str, key: str) -> int:
        """Items allowed per purge call for ``plan`` and body key ``key`` in the current mode."""
        if self.plan_limits_mode == "legacy":
            return 500 if plan == "enterprise" else 30
        return 500 if plan == "enterprise" and key == "files" else 100

    def _invalid_body(self, message: str) -> _Reply:
        return _envelope_error(400, [_err(self.invalid_body_code, message)])

    def _validate_items(self, key: str, items: list[Any]) -> str | None:
        if key == "files" and len({isinstance(item, Mapping) for item in items}) > 1:
            # Each of the schema's two "files" forms is a list of one item type.
            return '"files" must be all URL strings or all {"url", "headers"} objects'
        for item in items:
            if key == "files":
                if isinstance(item, Mapping):
                    url = item.get("url")
                    item_headers = item.get("headers", {})
                    if not isinstance(item_headers, Mapping) or not all(
                        isinstance(k, str) and isinstance(v, str) for k, v in item_headers.items()
                    ):
                        return '"headers" of a file must map header names to strings'
                else:
                    url = item
                if not isinstance(url, str) or normalize_url(url) is None:
                    return f"{json.dumps(url)} is not a valid http(s) URL"
                continue
            if not isinstance(item, str) or not item:
                return f'"{key}" must contain non-empty strings'
            if key in ("hosts", "prefixes") and "://" in item:
                return f'"{key}" must not contain a scheme: {json.dumps(item)}'
            if key == "hosts" and "/" in item:
                return f"{json.dumps(item)} is not a hostname"
            if key == "prefixes" and ("?" in item or "#" in item):
                return f'"prefixes" cannot contain "?" or "#": {json.dumps(item)}'
            if key == "prefixes" and item.count("/") > 31:
                return f"A prefix may contain at most 31 path separators: {json.dumps(item)}"
            if key == "tags" and (len(item) > 1024 or not all(33 <= ord(c) <= 126 for c in item)):
                return f"Invalid cache tag {json.dumps(item)}"
        return None

    def _purge(self, zone: Zone, body: Any, body_error: str | None, credential_id: str) -> _Reply:
        if body_error is not None:
            return self._invalid_body("Malformed JSON in request body")
        if not isinstance(body, dict):
            return self._invalid_body("Request body must be a JSON object")
        present = [
            k for k in ("files", "tags", "hosts", "prefixes", "purge_everything") if k in body
        ]
        if len(present) != 1:
            return self._invalid_body(
                'Request must contain exactly one of "files", "tags", "hosts", "prefixes" '
                'or "purge_everything"'
            )
        key = present[0]
        ignored: list[Any] = []
        if key == "purge_everything":
            if body[key] is not True:
                return self._invalid_body('"purge_everything" must be true')
            kind, items = "everything", []
        else:
            kind, items = key, body[key]
            if not isinstance(items, list):
                return self._invalid_body(f'"{key}" must be an array')
            if not items:
                return self._invalid_body(f'"{key}" must not be empty')
            limit = self.max_items(zone.plan, key)
            if len(items) > limit:
                return _envelope_error(
                    400,
                    [
                        _err(
                            self.too_many_items_code,
                            f"Up to {limit} {key} can be purged in one API call "
                            f"on this zone's plan ({zone.plan}); got {len(items)}",
                        )
                    ],
                )
            problem = self._validate_items(key, items)
            if problem is not None:
                return self._invalid_body(problem)
        limited = self._take_purge(zone, kind, len(items))
        if limited is not None:
            return limited
        if kind == "files":
            # Cloudflare cannot purge /cdn-cgi/ URLs (e.g. image variants): it accepts
            # them but nothing happens.
            kept: list[Any] = []
            for item in items:
                path = urlsplit(_url_of(item)).path
                (ignored if path.startswith("/cdn-cgi/") else kept).append(item)
            items = kept
        evicted = self._evict(zone, kind, items)
        now = time.time()
        self.purge_seq += 1
        self._append(
            self.purge_log,
            self._redact(
                {
                    "id": self.purge_seq,
                    "time": _iso_ts(now),
                    "timestamp": now,
                    "zone": zone.id,
                    "zone_name": zone.name,
                    "account": zone.account_id,
                    "kind": kind,
                    "items": copy.deepcopy(items),
                    "ignored": copy.deepcopy(ignored),
                    "credential": credential_id,
                    "evicted": evicted,
                }
            ),
        )
        return _ok({"id": zone.id})

    # -- limits ------------------------------------------------------------------------

    def _take_purge(self, zone: Zone, kind: str, count: int) -> _Reply | None:
        limits = self.rate_limits[zone.plan]
        family = "files" if kind == "files" else "flex"
        now = self.clock()
        bucket_key = (zone.account_id, family, zone.plan)
        bucket = self.buckets.get(bucket_key)
        if bucket is None:
            if family == "files":
                capacity, rate = limits.urls_per_second, limits.urls_per_second
            else:
                capacity, rate = limits.flex_burst, limits.flex_per_second
            bucket = _TokenBucket(capacity, rate * self.speed, now)
            self.buckets[bucket_key] = bucket
        wait = bucket.take(count if family == "files" else 1, now)
        if wait <= 0:
            return None
        retry_after = _ceil_seconds(wait)
        window = _ceil_seconds(bucket.capacity / bucket.rate) if bucket.rate > 0 else 10**9
        headers = [
            ("Retry-After", str(retry_after)),
            ("Ratelimit", f'"purge-{family}";r={bucket.remaining(now)};t={retry_after}'),
            ("Ratelimit-Policy", f'"purge-{family}";q={int(bucket.capacity)};w={window}'),
        ]
        return _envelope_error(
            429,
            [
                _err(
                    self.rate_limit_code,
                    "Unable to purge, rate limit reached. "
                    "Please wait and consider throttling your request speed",
                )
            ],
            headers=headers,
        )

    def _window_seconds(self) -> float:
        return self.global_window / self.speed

    def _take_global(self, credential_id: str) -> _Reply | None:
        if self.global_limit is None:
            return None
        now = self.clock()
        window = self.windows.get(credential_id)
        length = self._window_seconds()
        if window is None or now >= window.start + length:
            window = self.windows[credential_id] = _Window(start=now)
        if window.count >= self.global_limit:
            retry_after = _ceil_seconds(window.start + length - now)
            return _envelope_error(
                429,
                [_err(971, "Please wait and consider throttling your request speed")],
                headers=[("Retry-After", str(retry_after))],
            )
        window.count += 1
        return None

    def _ratelimit_headers(self, reply: _Reply, credential_id: str | None) -> list[tuple[str, str]]:
        present = {name.lower() for name, _ in reply.headers}
        if "ratelimit" in present:
            return []
        limit = self.global_limit or 1200
        length = self._window_seconds()
        remaining, reset = limit, _ceil_seconds(length)
        window = self.windows.get(credential_id) if credential_id else None
        if window is not None and self.global_limit is not None:
            remaining = max(0, limit - window.count)
            reset = _ceil_seconds(window.start + length - self.clock())
        return [
            ("Ratelimit", f'"default";r={remaining};t={reset}'),
            ("Ratelimit-Policy", f'"default";q={limit};w={_ceil_seconds(length)}'),
        ]

    # -- faults ------------------------------------------------------------------------

    def _pick_fault(self, route: str, record: dict[str, Any]) -> _Reply | None:
        faults = self.faults
        if route == "purge" and faults.fail_next:
            record["fault"] = "fail_next"
            return self._fault_reply(faults.fail_next.pop(0))
        fault_route = "verify" if route.startswith("verify") else route
        if fault_route not in faults.routes:
            return None
        if faults.drop_ratio <= 0 and faults.error_ratio <= 0:
            return None
        roll = self.rng.random()
        if roll < faults.drop_ratio:
            record["fault"] = "drop"
            return _Reply(0, drop=True)
        if roll < faults.drop_ratio + faults.error_ratio:
            record["fault"] = "error"
            style = faults.error_style
            if style == "mixed":
                style = "html" if self.rng.random() < 0.5 else "json"
            return self._fault_reply({"status": 503, "html": style == "html"})
        return None

    def _fault_reply(self, spec: Mapping[str, Any]) -> _Reply:
        if spec.get("drop"):
            return _Reply(0, drop=True)
        status = int(spec["status"])
        if status >= 500 and spec.get("html", False):
            return _Reply(status, _html_error_page(status), content_type="text/html; charset=UTF-8")
        headers: list[tuple[str, str]] = []
        if status == 429 or "retry_after" in spec:
            retry_after = int(spec.get("retry_after", 1))
            headers.append(("Retry-After", str(retry_after)))
        default_codes = {
            400: (self.invalid_body_code, "Request failed"),
            401: (1000, "Invalid API Token"),
            403: (10000, "Authentication error"),
            404: (7003, "No route for the URI"),
            429: (
                self.rate_limit_code,
                "Unable to purge, rate limit reached. "
                "Please wait and consider throttling your request speed",
            ),
        }
        code, message = default_codes.get(status, (SERVER_ERROR_CODE, "Internal server error"))
        code = int(spec.get("code", code))
        message = str(spec.get("message", message))
        return _envelope_error(status, [_err(code, message)], headers=headers)

    # -- edge ------------------------------------------------------------------------

    def _evict(self, zone: Zone, kind: str, items: Sequence[Any]) -> int:
        if not self.edge:
            return 0
        if kind == "files":
            urls = {normalize_url(_url_of(i)) for i in items}

            def match(e: _EdgeEntry) -> bool:
                return e.key in urls

        elif kind == "tags":
            tags = {str(t).lower() for t in items}

            def match(e: _EdgeEntry) -> bool:
                return bool(e.tags & tags)

        elif kind == "hosts":

            def match(e: _EdgeEntry) -> bool:
                return any(_host_matches(h, e) for h in items)

        elif kind == "prefixes":

            def match(e: _EdgeEntry) -> bool:
                return any(_prefix_matches(p, e) for p in items)

        else:

            def match(e: _EdgeEntry) -> bool:
                return True

        doomed = [k for k, e in self.edge.items() if zone.serves(e.hostname) and match(e)]
        for key in doomed:
            del self.edge[key]
        return len(doomed)

    def edge_lookup(self, key: str) -> tuple[str, _EdgeEntry | None]:
        with self.lock:
            entry = self.edge.get(key)
            if entry is None:
                return "MISS", None
            now = self.clock()
            if entry.expires_at is not None and now >= entry.expires_at:
                del self.edge[key]
                return "EXPIRED", None
            entry.hits += 1
            self.edge.move_to_end(key)
            self.edge_stats["hit"] += 1
            return "HIT", copy.copy(entry)

    def edge_store(self, entry: _EdgeEntry) -> None:
        with self.lock:
            self.edge[entry.key] = entry
            self.edge.move_to_end(entry.key)
            while len(self.edge) > self.edge_max_entries:
                self.edge.popitem(last=False)

    def edge_count(self, status: str) -> None:
        with self.lock:
            self.edge_stats[status.lower()] = self.edge_stats.get(status.lower(), 0) + 1

    def edge_snapshot(self) -> dict[str, Any]:
        with self.lock:
            now = self.clock()
            return {
                "stats": dict(self.edge_stats),
                "entries": [
                    {
                        "key": e.key,
                        "status": e.status,
                        "tags": sorted(e.tags),
                        "age": int(max(0.0, now - e.stored_at)),
                        "hits": e.hits,
                        "size": len(e.body),
                    }
                    for e in self.edge.values()
                ],
            }

    def edge_clear(self) -> None:
        with self.lock:
            self.edge.clear()


# --------------------------------------------------------------------------- HTML page


def _render_page(engine: _Engine, edge_url: str | None) -> bytes:
    purges = list(reversed(engine.purges()))
    recent = list(reversed(engine.requests()))[:50]
    esc = html.escape
    rows = []
    for purge in purges:
        items = "".join(
            "<li>"
            + esc(_url_of(item))
            + (
                " <small>" + esc(json.dumps(item.get("headers", {}))) + "</small>"
                if isinstance(item, Mapping)
                else ""
            )
            + "</li>"
            for item in purge["items"]
        )
        ignored = "".join(
            "<li><s>" + esc(_url_of(item)) + "</s> (not purgeable)</li>"
            for item in purge["ignored"]
        )
        if purge["kind"] == "everything":
            items = "<li><em>everything</em></li>"
        rows.append(
            "<tr><td>{time}</td><td>{zone}</td><td>{kind}</td><td><ul>{items}{ignored}</ul></td>"
            "<td>{evicted}</td></tr>".format(
                time=esc(purge["time"]),
                zone=esc(purge["zone_name"]),
                kind=esc(purge["kind"]),
                items=items,
                ignored=ignored,
                evicted=esc(str(purge["evicted"])),
            )
        )
    request_rows = "".join(
        "<tr><td>{time}</td><td>{method}</td><td>{path}</td><td>{status}</td><td>{auth}</td>"
        "<td>{fault}</td></tr>".format(
            time=esc(r["time"]),
            method=esc(r["method"]),
            path=esc(r["path"]),
            status=esc(str(r["status"] if r["status"] is not None else "dropped")),
            auth=esc(str(r["auth"])),
            fault=esc(str(r["fault"] or "")),
        )
        for r in recent
    )
    edge_line = (
        f"<p>Edge cache: <a href='{esc(edge_url)}'>{esc(edge_url)}</a></p>" if edge_url else ""
    )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='refresh' content='3'>"
        "<title>Fake Cloudflare: edge log</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}"
        "ul{margin:0;padding-left:1.2em}</style></head><body>"
        "<h1>Fake Cloudflare: edge log</h1>"
        f"<p>{len(purges)} purge call(s); newest first.</p>{edge_line}"
        "<table><thead><tr><th>Time (UTC)</th><th>Zone</th><th>Kind</th><th>Items</th>"
        "<th>Edge entries evicted</th></tr></thead><tbody>"
        + ("".join(rows) or "<tr><td colspan='5'>No purge yet.</td></tr>")
        + "</tbody></table><h2>Recent API requests</h2>"
        "<table><thead><tr><th>Time (UTC)</th><th>Method</th><th>Path</th><th>Status</th>"
        "<th>Auth</th><th>Fault</th></tr></thead><tbody>"
        + (request_rows or "<tr><td colspan='6'>No request yet.</td></tr>")
        + "</tbody></table></body></html>"
    )
    return page.encode()


# --------------------------------------------------------------------------- HTTP plumbing


def _loopback_host(host: str) -> str:
    bind = _LOOPBACK_HOSTS.get(host.strip().lower().strip("[]"))
    if bind is None:
        raise ValueError(
            f"The fake Cloudflare only listens on loopback (127.0.0.1, ::1, localhost), "
            f"not {host!r}."
        )
    return bind


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that remembers its connections so ``stop()`` can end them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, host: str, port: int, handler: type[BaseHTTPRequestHandler], owner: Any
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((host, port), handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() resolves the host's FQDN, which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The head and the body go out in two writes; with Nagle's algorithm on, the body
    # would wait for the client's delayed ACK of the head (40 ms on Linux), a delay
    # Cloudflare's edge does not add.
    disable_nagle_algorithm = True
    server_version = "cloudflare"
    sys_version = ""
    timeout = 60
    server: _Server

    def version_string(self) -> str:
        return "cloudflare"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > _MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, reply: _Reply, *, head_only: bool = False) -> None:
        if reply.delay > 0:
            time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if not head_only:
            self.wfile.write(reply.body)

    def _safely(self, work: Callable[[], None]) -> None:
        try:
            work()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            logger.exception("The fake Cloudflare failed to answer %s %s", self.command, self.path)
            self.close_connection = True
            with contextlib.suppress(OSError):
                body = _json_bytes(
                    {
                        "success": False,
                        "errors": [_err(SERVER_ERROR_CODE, "Fake Cloudflare internal error")],
                        "messages": [],
                        "result": None,
                    }
                )
                self._send(_Reply(500, body))


class _ApiHandler(_BaseHandler):
    """API routes and control routes."""

    def do_GET(self) -> None:
        self._safely(self._handle)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def do_HEAD(self) -> None:
        self._safely(lambda: self._handle(head_only=True))

    def _handle(self, head_only: bool = False) -> None:
        fake: FakeCloudflare = self.server.owner
        body = self._read_body()
        path = urlsplit(self.path).path
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            reply = fake._control(self.command, self.path, self.headers, body)
        elif path.startswith(API_PREFIX + "/"):
            reply = fake._engine.handle_api(self.command, self.path, self.headers, body)
        elif path == "/":
            reply = _Reply(302, b"", "text/plain", [("Location", CONTROL_PREFIX + "/")])
        else:
            reply = _envelope_error(404, [_err(7000, "No route for that URI")])
        self._send(reply, head_only=head_only)


class _EdgeHandler(_BaseHandler):
    """The caching reverse proxy in front of the origin."""

    def do_GET(self) -> None:
        self._safely(self._handle)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _handle(self) -> None:
        fake: FakeCloudflare = self.server.owner
        body = self._read_body()
        status, headers, payload = fake._edge_request(
            self.command, self.path, self.headers, body, self.client_address[0]
        )
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


# --------------------------------------------------------------------------- public class


class FakeCloudflare:
    """A fake Cloudflare API server (and optional edge cache) running in a background thread.

    :param zones: zones to know (:class:`Zone` or dicts); default :func:`default_zones`.
    :param tokens: API tokens (:class:`Token` or dicts); default :func:`default_tokens`.
    :param global_keys: Global API Keys (:class:`GlobalKey` or dicts);
        default :func:`default_global_keys`.
    :param plan_limits_mode: ``"legacy"``: 30 items per purge call on every plan but
        Enterprise (500); ``"current"``: 100 per call, 500 URLs on Enterprise.
    :param speed: multiplies every refill rate (purge buckets and the global 1200 per
        5 minutes window); bucket sizes stay the same. Use a tiny value to empty
        buckets on purpose, a large one to never wait.
    :param unknown_zone_status: answer for a well-formed zone id the fake does not
        know: 403 / 10000 (default, a guess at Cloudflare's behaviour) or 404 / 7003.
    :param invalid_body_code: error code of a rejected purge body (Cloudflare's is
        undocumented; default 1012).
    :param too_many_items_code: error code of a purge over the per-call item limit
        (undocumented; default 1013).
    :param rate_limit_code: error code of a purge over the rate limit: 1134 (default) or 971.
    :param global_limit: requests per credential per ``global_window`` (1200); None disables.
    :param global_window: seconds of the global window (300), divided by ``speed``.
    :param rate_limits: per-plan :class:`PurgeRateLimit` (or dicts) replacing
        :data:`PURGE_RATE_LIMITS` entries.
    :param error_ratio: fraction of API requests answered 503 (HTML or JSON, see ``error_style``).
    :param drop_ratio: fraction of API requests whose connection is closed without an answer.
    :param latency: seconds added before every API answer.
    :param fail_next: answers for the next purge calls, in order: an HTTP status
        (``503``), ``"drop"``, or a dict (``{"status": 429, "retry_after": 3}``,
        ``{"status": 502, "html": True}``, ``{"status": 400, "code": 1012}``).
    :param error_style: body of ``error_ratio`` faults: ``"mixed"``, ``"html"`` or ``"json"``.
    :param fault_routes: routes ``error_ratio``/``drop_ratio``/``latency`` dice apply to,
        among ``"purge"``, ``"verify"`` and ``"zone"`` (all by default).
    :param seed: seed of the fault dice, for reproducible runs.
    :param host: ``127.0.0.1`` (default), ``::1`` or ``localhost``; nothing else.
    :param port: API port; 0 picks a free one.
    :param origin: origin URL (``http://127.0.0.1:8000``); enables the edge cache.
    :param edge_port: edge cache port (0 picks a free one); used with ``origin``.
    :param public_host: key edge entries as this public origin (``www.example.com`` or
        ``https://www.example.com``) instead of the request's scheme and Host.
    :param edge_default_ttl: seconds an edge entry lives without ``max-age``/``s-maxage``.
    :param edge_max_entries: edge entries kept (least recently used evicted first).
    :param clock: monotonic clock for rate limits and edge ages (tests may pass their own).

    All configuration can be changed while running (:meth:`configure`, :meth:`set_faults`,
    :meth:`add_zone`, ...) and :meth:`reset` returns to the state given here.
    """

    def __init__(
        self,
        *,
        zones: Iterable[Zone | Mapping[str, Any]] | None = None,
        tokens: Iterable[Token | Mapping[str, Any]] | None = None,
        global_keys: Iterable[GlobalKey | Mapping[str, Any]] | None = None,
        plan_limits_mode: str = "legacy",
        speed: float = 1.0,
        unknown_zone_status: int = 403,
        invalid_body_code: int = 1012,
        too_many_items_code: int = 1013,
        rate_limit_code: int = 1134,
        global_limit: int | None = 1200,
        global_window: float = 300.0,
        rate_limits: Mapping[str, PurgeRateLimit | Mapping[str, float]] | None = None,
        error_ratio: float = 0.0,
        drop_ratio: float = 0.0,
        latency: float = 0.0,
        fail_next: Sequence[FailSpec] = (),
        error_style: str = "mixed",
        fault_routes: Sequence[str] = FAULT_ROUTES,
        seed: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        origin: str | None = None,
        edge_port: int = 0,
        public_host: str | None = None,
        edge_default_ttl: float = 4 * 3600.0,
        edge_max_entries: int = 10_000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._bind_host = _loopback_host(host)
        self._port = int(port)
        self._edge_port = int(edge_port)
        self._origin = self._parse_origin(origin) if origin else None
        self._public = self._parse_public_host(public_host) if public_host else None
        self._engine = _Engine(
            zones=zones,
            tokens=tokens,
            global_keys=global_keys,
            options={
                "plan_limits_mode": plan_limits_mode,
                "speed": speed,
                "unknown_zone_status": unknown_zone_status,
                "invalid_body_code": invalid_body_code,
                "too_many_items_code": too_many_items_code,
                "rate_limit_code": rate_limit_code,
                "global_limit": global_limit,
                "global_window": global_window,
                "rate_limits": rate_limits,
            },
            faults={
                "error_ratio": error_ratio,
                "drop_ratio": drop_ratio,
                "latency": latency,
                "fail_next": list(fail_next),
                "error_style": error_style,
                "routes": tuple(fault_routes),
            },
            seed=seed,
            clock=clock or time.monotonic,
            edge_default_ttl=edge_default_ttl,
            edge_max_entries=edge_max_entries,
        )
        self._api_server: _Server | None = None
        self._edge_server: _Server | None = None
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        state = self.base_url if self.running else "stopped"
        return f"<FakeCloudflare {state}>"

    # -- lifecycle ----------------------------------------------------------------------

    @staticmethod
    def _parse_origin(origin: str) -> tuple[str, str, int]:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"origin must be an http(s) URL, not {origin!r}.")
        return parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme]

    @staticmethod
    def _parse_public_host(value: str) -> tuple[str, str]:
        text = value if "://" in value else f"https://{value}"
        parts = urlsplit(text)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"public_host must be a hostname or an http(s) origin: {value!r}.")
        return parts.scheme, _join_hostport(parts.hostname.lower(), parts.port, parts.scheme)

    def start(self) -> FakeCloudflare:
        """Bind the listener(s) and serve in daemon threads. Returns ``self``."""
        if self.running:
            return self
        self._api_server = _Server(self._bind_host, self._port, _ApiHandler, self)
        servers = [self._api_server]
        if self._origin is not None:
            try:
                self._edge_server = _Server(self._bind_host, self._edge_port, _EdgeHandler, self)
            except OSError:
                self._api_server.server_close()
                self._api_server = None
                raise
            servers.append(self._edge_server)
        self._threads = []
        for server in servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fake-cloudflare-{server.server_port}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        logger.info("Fake Cloudflare listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection. Records stay readable."""
        for server in (self._api_server, self._edge_server):
            if server is None:
                continue
            server.shutdown()
            server.close_connections()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        self._api_server = None
        self._edge_server = None

    def __enter__(self) -> FakeCloudflare:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._api_server is not None

    def _require_running(self) -> _Server:
        if self._api_server is None:
            raise RuntimeError("The fake Cloudflare is not running: call start() first.")
        return self._api_server

    @property
    def port(self) -> int:
        """The API port (known once started)."""
        return self._require_running().server_port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{_join_hostport(self._bind_host, self.port)}"

    @property
    def api_url(self) -> str:
        """The value for ``CFPURGE["API_URL"]``: ``http://127.0.0.1:PORT/client/v4``."""
        return self.base_url + API_PREFIX

    @property
    def control_url(self) -> str:
        """``http://127.0.0.1:PORT/__fake__`` (the HTML edge log is at ``control_url + "/"``)."""
        return self.base_url + CONTROL_PREFIX

    @property
    def edge_port(self) -> int | None:
        """The edge cache port, or None without an origin."""
        return self._edge_server.server_port if self._edge_server is not None else None

    @property
    def edge_url(self) -> str | None:
        """``http://127.0.0.1:EDGE_PORT``, or None without an origin."""
        port = self.edge_port
        return None if port is None else f"http://{_join_hostport(self._bind_host, port)}"

    # -- configuration ------------------------------------------------------------------

    def configure(self, **options: Any) -> None:
        """Change options at run time: ``plan_limits_mode``, ``speed``, ``unknown_zone_status``,
        ``invalid_body_code``, ``too_many_items_code``, ``rate_limit_code``, ``global_limit``,
        ``global_window``, ``rate_limits`` (see the class docstring).

        Changing a rate option empties the rate-limit buckets.

        :raises ValueError: for an unknown option or a bad value.
        """
        self._engine.configure(options)

    def set_faults(
        self,
        *,
        error_ratio: float | None = None,
        drop_ratio: float | None = None,
        latency: float | None = None,
        fail_next: Sequence[FailSpec] | None = None,
        error_style: str | None = None,
        routes: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> None:
        """Change fault injection; arguments left as None are unchanged.

        ``fail_next`` replaces the queue of scripted purge answers; ``seed`` reseeds the dice.

        :raises ValueError: for a bad value.
        """
        self._engine.set_faults(
            error_ratio=error_ratio,
            drop_ratio=drop_ratio,
            latency=latency,
            fail_next=fail_next,
            error_style=error_style,
            routes=routes,
            seed=seed,
        )

    def add_zone(
        self,
        name: str,
        *,
        id: str | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        plan: str = "free",
        hostnames: Iterable[str] = (),
        **extra: Any,
    ) -> Zone:
        """Add (or replace) a zone; ``id`` defaults to one derived from ``name``. Returns it."""
        data = {
            "name": name,
            "id": id,
            "account_id": account_id,
            "plan": plan,
            "hostnames": tuple(hostnames),
            **extra,
        }
        return self._engine.add_zone(data)

    def add_token(
        self,
        value: str,
        *,
        status: str = "active",
        owner: str = "user",
        account_id: str | None = None,
        read_zones: Grant | Iterable[str] = (),
        purge_zones: Grant | Iterable[str] = ALL_ZONES,
        expires_on: datetime | str | None = None,
        not_before: datetime | str | None = None,
        **extra: Any,
    ) -> Token:
        """Add (or replace) an API token. Returns it (its ``repr`` hides the value)."""
        return self._engine.add_token(
            {
                "value": value,
                "status": status,
                "owner": owner,
                "account_id": account_id,
                "read_zones": read_zones,
                "purge_zones": purge_zones,
                "expires_on": expires_on,
                "not_before": not_before,
                **extra,
            }
        )

    def add_global_key(
        self, email: str, key: str, *, zones: Grant | Iterable[str] = ALL_ZONES
    ) -> GlobalKey:
        """Add (or replace) a Global API Key. Returns it (its ``repr`` hides the key)."""
        return self._engine.add_global_key({"email": email, "key": key, "zones": zones})

    def config(self) -> dict[str, Any]:
        """The current configuration, without any token or key value."""
        return self._engine.config_summary()

    def reset(self) -> None:
        """Forget requests, purges, rate-limit state and the edge cache, and restore the
        zones, credentials, options and faults given to the constructor."""
        self._engine.reset()

    # -- records ------------------------------------------------------------------------

    def requests(self, route: str | None = None) -> list[dict[str, Any]]:
        """Every API request received, oldest first (``route``: ``purge``, ``zone``,
        ``verify_user``, ``verify_account`` to filter).

        Each is a dict with ``id``, ``time``, ``timestamp``, ``method``, ``path``, ``route``,
        ``zone``, ``status`` (None when the connection was dropped), ``auth`` (``token``,
        ``global_key`` or ``none``), ``credential`` (token / key id, never its value),
        ``errors`` (codes), ``fault``, ``latency``, ``body`` and ``headers`` (without
        credentials or cookies).
        """
        records = self._engine.requests()
        return [r for r in records if route is None or r["route"] == route]

    def purges(self, zone: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """Every purge applied, oldest first, optionally for one zone id and/or kind.

        Each is a dict with ``id``, ``time``, ``timestamp``, ``zone``, ``zone_name``,
        ``account``, ``kind`` (one of :data:`PURGE_KINDS`), ``items`` (as sent, without
        ``/cdn-cgi/`` URLs), ``ignored`` (the ``/cdn-cgi/`` URLs), ``credential`` and
        ``evicted`` (edge entries removed).
        """
        return _filter_purges(self._engine.purges(), zone, kind)

    def purged_urls(self, zone: str | None = None) -> list[str]:
        """URLs purged by single-file purges, in order (``{url, headers}`` items give their url)."""
        return _flatten(self.purges(zone, "files"), urls=True)

    def purged_tags(self, zone: str | None = None) -> list[str]:
        """Cache tags purged, in order."""
        return _flatten(self.purges(zone, "tags"))

    def purged_hosts(self, zone: str | None = None) -> list[str]:
        """Hostnames purged, in order."""
        return _flatten(self.purges(zone, "hosts"))

    def purged_prefixes(self, zone: str | None = None) -> list[str]:
        """Prefixes purged, in order."""
        return _flatten(self.purges(zone, "prefixes"))

    def wait_for_purges(
        self, count: int = 1, *, timeout: float = 10.0, interval: float = 0.02
    ) -> list[dict[str, Any]]:
        """Wait until at least ``count`` purges were applied; return them.

        :raises TimeoutError: if they are not there after ``timeout`` seconds.
        """
        return _wait_for(self.purges, count, timeout, interval)

    # -- edge ---------------------------------------------------------------------------

    def edge_entries(self) -> list[dict[str, Any]]:
        """The edge cache's entries (``key``, ``status``, ``tags``, ``age``, ``hits``, ``size``)."""
        return self._engine.edge_snapshot()["entries"]

    def edge_stats(self) -> dict[str, int]:
        """Counts of edge answers by ``CF-Cache-Status`` (lowercase keys)."""
        return self._engine.edge_snapshot()["stats"]

    def clear_edge(self) -> None:
        """Empty the edge cache (without recording a purge)."""
        self._engine.edge_clear()

    def _edge_key(self, host_header: str, target: str) -> tuple[str, str, str, str]:
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            host_header = host_header or parts.netloc
        if self._public is not None:
            scheme, netloc = self._public
        else:
            scheme = "http"
            host, port = _split_hostport(host_header or self._bind_host)
            netloc = _join_hostport(host, port, scheme)
        path, _, query = target.partition("?")
        key = f"{scheme}://{netloc}{path or '/'}" + (f"?{query}" if query else "")
        return key, scheme, netloc, path or "/"

    def _edge_request(
        self,
        method: str,
        target: str,
        headers: Headers,
        body: bytes,
        client_ip: str,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        key, scheme, netloc, path = self._edge_key(headers.get("Host", ""), target)
        ray = f"{secrets.token_hex(8)}-LCL"
        cacheable_method = method in ("GET", "HEAD")
        lookup = "MISS"
        if cacheable_method:
            lookup, entry = self._engine.edge_lookup(key)
            if entry is not None:
                age = int(max(0.0, self._engine.clock() - entry.stored_at))
                out = [*entry.headers, ("CF-Cache-Status", "HIT"), ("Age", str(age))]
                return entry.status, [*out, ("CF-RAY", ray)], entry.body
        status, origin_headers, payload = self._fetch_origin(
            "GET" if method == "HEAD" else method, target, headers, body, client_ip, scheme, ray
        )
        kept = [
            (k, v)
            for k, v in origin_headers
            if k.lower() not in _HOP_BY_HOP and k.lower() not in ("cache-tag", "server", "date")
        ]
        cache_status = "DYNAMIC"
        if cacheable_method and status == 200:
            directives = _cache_control(origin_headers)
            no_cache = {"no-store", "private", "no-cache"} & set(directives)
            has_cookie = any(k.lower() == "set-cookie" for k, _ in origin_headers)
            ttl_text = directives.get("s-maxage", directives.get("max-age"))
            try:
                ttl = float(ttl_text) if ttl_text is not None else self._engine.edge_default_ttl
            except ValueError:
                ttl = self._engine.edge_default_ttl
            if no_cache or has_cookie or ttl <= 0:
                cache_status = "BYPASS"
            else:
                cache_status = lookup
                host, _ = _split_hostport(netloc)
                now = self._engine.clock()
                self._engine.edge_store(
                    _EdgeEntry(
                        key=key,
                        scheme=scheme,
                        host=netloc,
                        hostname=host,
                        path=path,
                        query=key.partition("?")[2],
                        status=status,
                        headers=kept,
                        body=payload,
                        tags=_cache_tags(origin_headers),
                        stored_at=now,
                        expires_at=now + ttl,
                    )
                )
        self._engine.edge_count("miss" if cache_status == "MISS" else cache_status)
        return status, [*kept, ("CF-Cache-Status", cache_status), ("CF-RAY", ray)], payload

    def _fetch_origin(
        self,
        method: str,
        target: str,
        headers: Headers,
        body: bytes,
        client_ip: str,
        scheme: str,
        ray: str,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        assert self._origin is not None  # noqa: S101  (edge runs only with an origin)
        origin_scheme, origin_host, origin_port = self._origin
        forwarded = [
            (k, v)
            for k, v in headers.items()
            if k.lower() not in _HOP_BY_HOP and k.lower() != "accept-encoding"
        ]
        forwarded += [
            ("X-Forwarded-For", client_ip),
            ("X-Forwarded-Proto", scheme),
            ("CF-Connecting-IP", client_ip),
            ("CF-Visitor", json.dumps({"scheme": scheme})),
            ("CF-RAY", ray),
        ]
        if body:
            forwarded.append(("Content-Length", str(len(body))))
        connection_class = (
            http.client.HTTPSConnection if origin_scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(origin_host, origin_port, timeout=30)
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            if not any(k.lower() == "host" for k, _ in forwarded):
                forwarded.append(("Host", _join_hostport(origin_host, origin_port)))
            for name, value in forwarded:
                connection.putheader(name, value)
            connection.endheaders(body or None)
            response = connection.getresponse()
            payload = response.read()
            return response.status, response.getheaders(), payload
        except ConnectionRefusedError:
            return 521, [("Content-Type", "text/html")], _html_error_page(521)
        except TimeoutError:
            return 524, [("Content-Type", "text/html")], _html_error_page(524)
        except (OSError, http.client.HTTPException):
            logger.warning("Fake edge: the origin failed to answer %s %s", method, target)
            return 502, [("Content-Type", "text/html")], _html_error_page(502)
        finally:
            connection.close()

    # -- control API --------------------------------------------------------------------

    def _control(self, method: str, target: str, headers: Headers, body: bytes) -> _Reply:
        path = urlsplit(target).path.rstrip("/") or "/"
        sub = path[len(CONTROL_PREFIX) :] or "/"

        def reply(payload: Any, status: int = 200) -> _Reply:
            return _Reply(status, _json_bytes(payload), headers=[("Cache-Control", "no-store")])

        if method in ("GET", "HEAD"):
            if sub == "/":
                return _Reply(
                    200,
                    _render_page(self._engine, self.edge_url),
                    content_type="text/html; charset=utf-8",
                    headers=[("Cache-Control", "no-store")],
                )
            if sub == "/health":
                return reply(
                    {
                        "ok": True,
                        "api_url": self.api_url,
                        "control_url": self.control_url,
                        "edge_url": self.edge_url,
                    }
                )
            if sub == "/requests":
                return reply({"requests": self._engine.requests()})
            if sub == "/purges":
                return reply({"purges": self._engine.purges()})
            if sub == "/config":
                return reply(self._engine.config_summary())
            if sub == "/edge":
                return reply(self._engine.edge_snapshot())
            return reply({"error": f"unknown control route {sub}"}, 404)
        if method != "POST":
            return reply({"error": "method not allowed"}, 405)
        # JSON only: a page in a browser cannot send this cross-origin without a preflight.
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return reply({"error": "control requests must be application/json"}, 415)
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
            if sub == "/reset":
                self.reset()
                return reply({"ok": True})
            if sub == "/config":
                self._apply_config(data)
                return reply({"ok": True, "config": self._engine.config_summary()})
            if sub == "/edge/clear":
                self.clear_edge()
                return reply({"ok": True})
        except (ValueError, TypeError) as error:
            return reply({"error": str(error)}, 400)
        return reply({"error": f"unknown control route {sub}"}, 404)

    def _apply_config(self, data: Mapping[str, Any]) -> None:
        data = dict(data)
        zones = data.pop("zones", None) or []
        tokens = data.pop("tokens", None) or []
        keys = data.pop("global_keys", None) or []
        faults = data.pop("faults", None) or {}
        # Validate everything before changing anything.
        new_zones = [_as_zone(z) for z in zones]
        new_tokens = [_as_token(t) for t in tokens]
        new_keys = [_as_global_key(k) for k in keys]
        _validate_options(data)
        with self._engine.lock:
            self._engine.configure(data)
            if faults:
                self._engine.set_faults(**faults)
            for zone in new_zones:
                self._engine.add_zone(zone)
            for token in new_tokens:
                self._engine.add_token(token)
            for key in new_keys:
                self._engine.add_global_key(key)


def _filter_purges(
    purges: list[dict[str, Any]], zone: str | None, kind: str | None
) -> list[dict[str, Any]]:
    return [
        p
        for p in purges
        if (zone is None or p["zone"] == zone) and (kind is None or p["kind"] == kind)
    ]


def _flatten(purges: Iterable[Mapping[str, Any]], *, urls: bool = False) -> list[str]:
    return [_url_of(item) if urls else str(item) for p in purges for item in p["items"]]


def _wait_for(
    fetch: Callable[[], list[dict[str, Any]]], count: int, timeout: float, interval: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if len(found) >= count:
            return found
        if time.monotonic() >= deadline:
            raise TimeoutError(f"Expected {count} purge(s) within {timeout}s, saw {len(found)}.")
        time.sleep(interval)


# --------------------------------------------------------------------------- remote client


class FakeCloudflareRemote:
    """Read and control a fake running in another process, through its control API.

    :param base_url: the fake's root (``http://127.0.0.1:8787``); an ``api_url`` or
        ``control_url`` works too.
    :param timeout: seconds to wait for each control call.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        root = base_url.rstrip("/")
        for suffix in (API_PREFIX, CONTROL_PREFIX):
            if root.endswith(suffix):
                root = root[: -len(suffix)]
        parts = urlsplit(root)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"base_url must be an http:// URL, not {base_url!r}.")
        self.base_url = root
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<FakeCloudflareRemote {self.base_url}>"

    @classmethod
    def from_ready_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> FakeCloudflareRemote:
        """Connect to the fake that wrote ``path`` (the CLI's ``--ready-file``)."""
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return cls(data["base_url"], **kwargs)

    @property
    def api_url(self) -> str:
        """The fake's API URL (``.../client/v4``)."""
        return self.base_url + API_PREFIX

    @property
    def control_url(self) -> str:
        """The fake's control URL (``.../__fake__``)."""
        return self.base_url + CONTROL_PREFIX

    def _call(self, method: str, route: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310  (http URL checked in __init__)
            self.control_url + route,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            raise RuntimeError(
                f"Fake Cloudflare control call failed: {error.code} {detail}"
            ) from error

    def health(self) -> dict[str, Any]:
        """The fake's ``/__fake__/health`` answer (``ok``, ``api_url``, ``edge_url``...)."""
        return self._call("GET", "/health")

    def wait_until_ready(self, timeout: float = 10.0, interval: float = 0.05) -> dict[str, Any]:
        """Poll :meth:`health` until the fake answers; return the answer.

        :raises TimeoutError: if it does not answer within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.health()
            except OSError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"No fake Cloudflare at {self.base_url}") from None
                time.sleep(interval)

    @property
    def edge_url(self) -> str | None:
        """The fake's edge cache URL, or None."""
        return self.health().get("edge_url")

    def requests(self, route: str | None = None) -> list[dict[str, Any]]:
        """See :meth:`FakeCloudflare.requests`."""
        records = self._call("GET", "/requests")["requests"]
        return [r for r in records if route is None or r["route"] == route]

    def purges(self, zone: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """See :meth:`FakeCloudflare.purges`."""
        return _filter_purges(self._call("GET", "/purges")["purges"], zone, kind)

    def purged_urls(self, zone: str | None = None) -> list[str]:
        """See :meth:`FakeCloudflare.purged_urls`."""
        return _flatten(self.purges(zone, "files"), urls=True)

    def purged_tags(self, zone: str | None = None) -> list[str]:
        """See :meth:`FakeCloudflare.purged_tags`."""
        return _flatten(self.purges(zone, "tags"))

    def purged_hosts(self, zone: str | None = None) -> list[str]:
        """See :meth:`FakeCloudflare.purged_hosts`."""
        return _flatten(self.purges(zone, "hosts"))

    def purged_prefixes(self, zone: str | None = None) -> list[str]:
        """See :meth:`FakeCloudflare.purged_prefixes`."""
        return _flatten(self.purges(zone, "prefixes"))

    def wait_for_purges(
        self, count: int = 1, *, timeout: float = 10.0, interval: float = 0.05
    ) -> list[dict[str, Any]]:
        """See :meth:`FakeCloudflare.wait_for_purges`."""
        return _wait_for(self.purges, count, timeout, interval)

    def reset(self) -> None:
        """See :meth:`FakeCloudflare.reset`."""
        self._call("POST", "/reset", {})

    def config(self) -> dict[str, Any]:
        """See :meth:`FakeCloudflare.config`."""
        return self._call("GET", "/config")

    def configure(self, **options: Any) -> None:
        """See :meth:`FakeCloudflare.configure`."""
        self._call("POST", "/config", options)

    def set_faults(self, **faults: Any) -> None:
        """See :meth:`FakeCloudflare.set_faults` (arguments that are None are not sent)."""
        values = {k: v for k, v in faults.items() if v is not None}
        if "fail_next" in values:
            values["fail_next"] = list(values["fail_next"])
        self._call("POST", "/config", {"faults": values})

    def add_zone(self, name: str, **fields: Any) -> dict[str, Any]:
        """Add a zone (fields as :class:`Zone`); return it as the fake stored it."""
        zone = Zone.from_dict({"name": name, **fields})
        self._call("POST", "/config", {"zones": [zone.to_dict()]})
        return zone.to_dict()

    def add_token(self, value: str, **fields: Any) -> dict[str, Any]:
        """Add an API token (fields as :class:`Token`); return it without its value."""
        token = Token.from_dict({"value": value, **fields})
        payload = {
            "value": value,
            **{k: v for k, v in token.to_public_dict().items() if k != "status"},
            "status": token.status,
        }
        self._call("POST", "/config", {"tokens": [payload]})
        return token.to_public_dict()

    def add_global_key(self, email: str, key: str, **fields: Any) -> dict[str, Any]:
        """Add a Global API Key; return it without the key."""
        global_key = GlobalKey.from_dict({"email": email, "key": key, **fields})
        self._call(
            "POST",
            "/config",
            {
                "global_keys": [
                    {"email": email, "key": key, "zones": _grant_to_json(global_key.zones)}
                ]
            },
        )
        return global_key.to_public_dict()

    def edge_entries(self) -> list[dict[str, Any]]:
        """See :meth:`FakeCloudflare.edge_entries`."""
        return self._call("GET", "/edge")["entries"]

    def clear_edge(self) -> None:
        """See :meth:`FakeCloudflare.clear_edge`."""
        self._call("POST", "/edge/clear", {})


# --------------------------------------------------------------------------- CLI


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m django_cfpurge.testing.fake_cloudflare",
        description="Run a fake Cloudflare API (and optionally a caching edge) on loopback.",
        epilog="Options left out take their value from --config, else the defaults shown.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="127.0.0.1 (default), ::1 or localhost")
    add("--port", type=int, default=8787, help="API port; 0 picks a free one (default 8787)")
    add("--edge-port", type=int, default=None, help="edge cache port (needs --origin; 0: any)")
    add("--origin", default=None, help="origin URL behind the edge cache")
    add("--public-host", default=None, help="key edge entries as this host (www.example.com)")
    add("--plan", choices=PLANS, default=None, help="plan of the zones that name none (free)")
    add("--plan-limits", choices=PLAN_LIMITS_MODES, default=None, help="items per call (legacy)")
    add("--speed", type=float, default=None, help="rate-limit refill multiplier (1)")
    add("--error-ratio", type=float, default=None, help="fraction of API calls answered 503 (0)")
    add("--drop-ratio", type=float, default=None, help="fraction of API calls dropped (0)")
    add("--latency", type=float, default=None, help="seconds added to API answers (0)")
    add("--seed", type=int, default=None, help="seed of the fault dice")
    add("--unknown-zone-status", type=int, choices=(403, 404), default=None, help="(403)")
    add("--rate-limit-code", type=int, choices=(1134, 971), default=None, help="(1134)")
    add("--global-limit", type=int, default=None, help="requests per token per 5 min; 0: off")
    add("--config", default=None, help="JSON file: zones, tokens, global_keys, faults, options")
    add("--ready-file", default=None, help="write the URLs and ports here as JSON when ready")
    add("-v", "--verbose", action="store_true", help="log every request")
    return parser


def _options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if args.config:
        with open(args.config, encoding="utf-8") as handle:
            config = json.load(handle)
        if not isinstance(config, dict):
            raise ValueError(f"{args.config}: the configuration must be a JSON object.")
    zones = config.pop("zones", None)
    if zones is None:
        zones = [z.to_dict() for z in default_zones()]
        if args.plan:
            for zone in zones:
                zone["plan"] = args.plan
    elif args.plan:
        zones = [{"plan": args.plan, **zone} for zone in zones]
    options: dict[str, Any] = {"zones": zones}
    for name, value in config.pop("faults", {}).items():
        options["fault_routes" if name == "routes" else name] = value
    options.update(config)
    given = {
        "plan_limits_mode": args.plan_limits,
        "speed": args.speed,
        "unknown_zone_status": args.unknown_zone_status,
        "rate_limit_code": args.rate_limit_code,
        "error_ratio": args.error_ratio,
        "drop_ratio": args.drop_ratio,
        "latency": args.latency,
        "seed": args.seed,
        "origin": args.origin,
        "public_host": args.public_host,
    }
    options.update({name: value for name, value in given.items() if value is not None})
    if args.global_limit is not None:
        options["global_limit"] = args.global_limit or None
    options.update(host=args.host, port=args.port, edge_port=args.edge_port or 0)
    return options


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake until SIGINT or SIGTERM. Returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.edge_port is not None and not args.origin:
        parser.error("--edge-port needs --origin")
    try:
        fake = FakeCloudflare(**_options_from_args(args))
        fake.start()
    except (OSError, ValueError, TypeError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")

    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    ready = {
        "pid": os.getpid(),
        "host": fake._bind_host,
        "port": fake.port,
        "base_url": fake.base_url,
        "api_url": fake.api_url,
        "control_url": fake.control_url,
        "edge_port": fake.edge_port,
        "edge_url": fake.edge_url,
    }
    line = f"Fake Cloudflare API at {fake.api_url} (control: {fake.control_url}/)"
    if fake.edge_url:
        line += f", edge cache at {fake.edge_url} in front of {args.origin}"
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    if args.ready_file:
        temporary = f"{args.ready_file}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(ready, handle)
        os.replace(temporary, args.ready_file)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        fake.stop()
        if args.ready_file:
            with contextlib.suppress(OSError):
                os.remove(args.ready_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
