"""A fake Cloudflare API for integration tests: real HTTP on the loopback interface.

The fake speaks the four API routes django-cfpurge uses, with Cloudflare's error codes,
per-plan item limits and per-account purge rate limits, and records what it was asked
to do::

    from django_cfpurge.testing.cloudflare_api import (
        DEFAULT_TOKEN, DEFAULT_ZONE_ID, FakeCloudflare,
    )

    with FakeCloudflare() as fake:
        settings.CFPURGE = {"API_URL": fake.api_url, "ZONE_ID": DEFAULT_ZONE_ID,
                            "API_TOKEN": DEFAULT_TOKEN}
        ...  # exercise the code under test
        assert "https://www.example.com/media/a.jpg" in fake.purged_urls()

By default the fake knows one zone, ``example.com`` (:data:`DEFAULT_ZONE_ID`, free
plan, account :data:`DEFAULT_ACCOUNT_ID`), and the credentials of
:mod:`~django_cfpurge.testing.cloudflare_accounts`. Rate limits are Cloudflare's, per
account and per plan: on the free plan, tag / host / prefix / everything purges allow a
burst of 25 and then 5 per minute, so tests that purge more should pass ``speed`` or
``rate_limits``.

API routes (under ``/client/v4``):

* ``POST /zones/{zone_id}/purge_cache``
* ``GET /user/tokens/verify`` and ``GET /accounts/{account_id}/tokens/verify``
* ``GET /zones/{zone_id}``

Control routes (under ``/__fake__``): ``health``, ``requests``, ``purges`` and
``config`` (GET), ``reset`` and ``config`` (POST, JSON only). A process that runs the
fake for others (a demo, a CLI) can add routes, and edge caches can listen to purges;
see :class:`~django_cfpurge.testing._base.FakeServer`.

Where Cloudflare's behaviour is not documented the fake makes a choice and says so in
the docstring of the option that controls it. It never records or echoes a token or
key value, and refuses to listen anywhere but on loopback.

Standard library only; never imports Django.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from . import _cloudflare_common as cf
from ._base import PurgingFakeServer
from ._faults import Buckets, FailSpec, ceil_seconds
from ._http import Headers, Reply, normalize_url, parse_json
from ._records import PurgeQueries, RemoteFake
from .cloudflare_accounts import (
    ACCOUNT_TOKEN,
    ALL_ZONES,
    DEFAULT_ACCOUNT_ID,
    DEFAULT_ACCOUNT_NAME,
    DEFAULT_TOKEN,
    DEFAULT_TOKEN_ID,
    DEFAULT_ZONE_ID,
    DEFAULT_ZONE_NAME,
    DISABLED_TOKEN,
    EMAIL,
    EXPIRED_TOKEN,
    GLOBAL_KEY,
    GLOBAL_KEY_EMAIL,
    GLOBAL_KEY_VALUE,
    IMAGES_EDIT_TOKEN,
    IMAGES_READ_TOKEN,
    NO_PURGE_TOKEN,
    PLANS,
    PURGE_RATE_LIMITS,
    UNKNOWN_TOKEN,
    FakeZone,
    GlobalKey,
    Grant,
    PurgeRateLimit,
    Token,
    as_global_key,
    as_token,
    as_zone,
    default_global_keys,
    default_tokens,
    default_zones,
    grant_to_json,
    verify_answer,
)

__all__ = [
    "ACCOUNT_TOKEN",
    "ALL_ZONES",
    "API_PREFIX",
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_ACCOUNT_NAME",
    "DEFAULT_TOKEN",
    "DEFAULT_TOKEN_ID",
    "DEFAULT_ZONE_ID",
    "DEFAULT_ZONE_NAME",
    "DISABLED_TOKEN",
    "EXPIRED_TOKEN",
    "GLOBAL_KEY",
    "GLOBAL_KEY_EMAIL",
    "IMAGES_EDIT_TOKEN",
    "IMAGES_READ_TOKEN",
    "NO_PURGE_TOKEN",
    "PLANS",
    "PURGE_KINDS",
    "PURGE_RATE_LIMITS",
    "UNKNOWN_TOKEN",
    "CloudflareQueries",
    "FakeCloudflare",
    "FakeCloudflareRemote",
    "FakeZone",
    "GlobalKey",
    "PurgeRateLimit",
    "Token",
    "default_global_keys",
    "default_tokens",
    "default_zones",
    "normalize_url",
]

API_PREFIX = cf.API_PREFIX
#: Purge kinds, as recorded in :meth:`FakeCloudflare.purges`.
PURGE_KINDS = ("files", "tags", "hosts", "prefixes", "everything")
PLAN_LIMITS_MODES = ("legacy", "current")
FAULT_ROUTES = ("purge", "verify", "zone")

_ROUTES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"/zones/([^/]+)/purge_cache"), "POST", "purge"),
    (re.compile(r"/zones/([^/]+)"), "GET", "zone"),
    (re.compile(r"/user/tokens/verify"), "GET", "verify_user"),
    (re.compile(r"/accounts/([^/]+)/tokens/verify"), "GET", "verify_account"),
)
_BODY_KEYS = ("files", "tags", "hosts", "prefixes", "purge_everything")
#: ``permissions`` of a zone read with a Global API Key (the owner sees everything).
_OWNER_PERMISSIONS = [
    "#analytics:read",
    "#cache_purge:edit",
    "#dns_records:edit",
    "#dns_records:read",
    "#zone:edit",
    "#zone:read",
    "#zone_settings:edit",
    "#zone_settings:read",
]
_PURGE_RATE_MESSAGE = "Unable to purge, rate limit reached. " + cf.RATE_LIMIT_MESSAGE
_OPTIONS = {
    "plan_limits_mode": "legacy",
    "speed": 1.0,
    "unknown_zone_status": 403,
    "invalid_body_code": 1012,
    "too_many_items_code": 1013,
    "rate_limit_code": 1134,
    "global_limit": 1200,
    "global_window": 300.0,
    "rate_limits": None,
}


def _positive_float(name: str, value: Any) -> float:
    if not float(value) > 0:
        raise ValueError(f"{name} must be greater than 0.")
    return float(value)


def _code(name: str, value: Any) -> int:
    # 971 is below the schema's minimum of 1000, but it is what Cloudflare's global rate
    # limit answers.
    allowed_low = (971,) if name == "rate_limit_code" else ()
    if not (isinstance(value, int) and (value >= 1000 or value in allowed_low)):
        raise ValueError(f"{name} must be an integer >= 1000 (or 971 for rate_limit_code).")
    return value


def _one_of(name: str, value: Any, allowed: tuple[Any, ...]) -> Any:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}.")
    return value


def _global_limit(name: str, value: Any) -> int | None:
    if value is not None and int(value) < 1:
        raise ValueError("global_limit must be a positive integer, or None to disable it.")
    return None if value is None else int(value)


def _rate_limits(name: str, value: Any) -> dict[str, PurgeRateLimit]:
    limits = {
        plan: limit if isinstance(limit, PurgeRateLimit) else PurgeRateLimit(**limit)
        for plan, limit in dict(value or {}).items()
    }
    unknown = set(limits) - set(PLANS)
    if unknown:
        raise ValueError(f"rate_limits: unknown plans {sorted(unknown)}.")
    return limits


#: How each option is checked (and converted).
_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "plan_limits_mode": lambda name, value: _one_of(name, value, PLAN_LIMITS_MODES),
    "speed": _positive_float,
    "global_window": _positive_float,
    "unknown_zone_status": lambda name, value: _one_of(name, value, (403, 404)),
    "invalid_body_code": _code,
    "too_many_items_code": _code,
    "rate_limit_code": _code,
    "global_limit": _global_limit,
    "rate_limits": _rate_limits,
}


def _validate_options(options: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in options.items():
        if name not in _OPTIONS:
            raise ValueError(f"Unknown option {name!r}.")
        result[name] = _CHECKS[name](name, value)
    return result


def _url_of(item: Any) -> str:
    return item["url"] if isinstance(item, Mapping) else str(item)


def _file_problem(item: Any) -> str | None:
    url = item.get("url") if isinstance(item, Mapping) else item
    if isinstance(item, Mapping):
        headers = item.get("headers", {})
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            return '"headers" of a file must map header names to strings'
    if not isinstance(url, str) or normalize_url(url) is None:
        return f"{json.dumps(url)} is not a valid http(s) URL"
    return None


def _string_problem(key: str, item: str) -> str | None:
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


def _item_problem(key: str, item: Any) -> str | None:
    """Why one purge item is invalid, or None."""
    if key == "files":
        return _file_problem(item)
    if not isinstance(item, str) or not item:
        return f'"{key}" must contain non-empty strings'
    return _string_problem(key, item)


class CloudflareQueries(PurgeQueries):
    """Cloudflare's purge kinds, flattened; shared by :class:`FakeCloudflare` and
    :class:`FakeCloudflareRemote`."""

    def purged_urls(self, zone: str | None = None) -> list[str]:
        """URLs purged by single-file purges, in order (``{url, headers}`` items give their url)."""
        return [_url_of(item) for item in self._purged("files", zone)]

    def purged_tags(self, zone: str | None = None) -> list[str]:
        """Cache tags purged, in order."""
        return self._purged("tags", zone)

    def purged_hosts(self, zone: str | None = None) -> list[str]:
        """Hostnames purged, in order."""
        return self._purged("hosts", zone)

    def purged_prefixes(self, zone: str | None = None) -> list[str]:
        """Prefixes purged, in order."""
        return self._purged("prefixes", zone)


class FakeCloudflare(PurgingFakeServer, CloudflareQueries):
    """A fake Cloudflare API server running in a background thread.

    :param zones: zones to know (:class:`~django_cfpurge.testing.cloudflare_accounts.FakeZone`
        or dicts); default :func:`default_zones`.
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
    :param fault_routes: routes ``error_ratio``/``drop_ratio`` dice apply to, among
        ``"purge"``, ``"verify"`` and ``"zone"`` (all by default).
    :param seed: seed of the fault dice, for reproducible runs.
    :param host: ``127.0.0.1`` (default), ``::1`` or ``localhost``; nothing else.
    :param port: 0 picks a free one.
    :param clock: monotonic clock for rate limits (tests may pass their own).

    All configuration can be changed while running (:meth:`configure`,
    :meth:`~django_cfpurge.testing._base.FakeServer.set_faults`, :meth:`add_zone`, ...)
    and :meth:`~django_cfpurge.testing._base.FakeServer.reset` returns to the state
    given here.
    """

    api_prefix = API_PREFIX
    server_header = "cloudflare"
    fault_routes = FAULT_ROUTES
    scripted_routes = ("purge",)

    def __init__(
        self,
        *,
        zones: Iterable[FakeZone | Mapping[str, Any]] | None = None,
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
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._initial_zones = [as_zone(z) for z in (default_zones() if zones is None else zones)]
        self._initial_tokens = [
            as_token(t) for t in (default_tokens() if tokens is None else tokens)
        ]
        self._initial_keys = [
            as_global_key(k)
            for k in (default_global_keys() if global_keys is None else global_keys)
        ]
        self._initial_options = _validate_options(
            {
                "plan_limits_mode": plan_limits_mode,
                "speed": speed,
                "unknown_zone_status": unknown_zone_status,
                "invalid_body_code": invalid_body_code,
                "too_many_items_code": too_many_items_code,
                "rate_limit_code": rate_limit_code,
                "global_limit": global_limit,
                "global_window": global_window,
                "rate_limits": rate_limits,
            }
        )
        super().__init__(
            faults={
                "error_ratio": error_ratio,
                "drop_ratio": drop_ratio,
                "latency": latency,
                "fail_next": list(fail_next),
                "error_style": error_style,
                "routes": tuple(fault_routes),
            },
            seed=seed,
            host=host,
            port=port,
            clock=clock,
        )

    # -- state -------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.zones: dict[str, FakeZone] = {z.id: as_zone(z) for z in self._initial_zones}
        self.tokens: dict[str, Token] = {t.value: as_token(t) for t in self._initial_tokens}
        self.keys: dict[str, GlobalKey] = {k.key: as_global_key(k) for k in self._initial_keys}
        self.options: dict[str, Any] = {}
        self.configure(**_OPTIONS)  # every option, so the buckets and limits are built
        self.configure(**self._initial_options)

    def configure(self, **options: Any) -> None:
        """Change options at run time: ``plan_limits_mode``, ``speed``, ``unknown_zone_status``,
        ``invalid_body_code``, ``too_many_items_code``, ``rate_limit_code``, ``global_limit``,
        ``global_window``, ``rate_limits`` (see the class docstring).

        Changing a rate option empties the rate-limit buckets.

        :raises ValueError: for an unknown option or a bad value.
        """
        values = _validate_options(options)
        with self.lock:
            if "rate_limits" in values:
                values["rate_limits"] = {**PURGE_RATE_LIMITS, **values["rate_limits"]}
            self.options.update(values)
            if {"speed", "rate_limits", "global_window", "global_limit"} & set(values):
                speed = self.options["speed"]
                self.buckets = Buckets(speed)
                self.request_limit = cf.RequestLimit(
                    self.options["global_limit"], self.options["global_window"], speed
                )

    def secrets(self) -> Iterable[str]:
        """Every token value and Global API Key the fake knows."""
        return (*self.tokens, *self.keys)

    def add_zone(
        self,
        name: str,
        *,
        id: str | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        plan: str = "free",
        hostnames: Iterable[str] = (),
        **extra: Any,
    ) -> FakeZone:
        """Add (or replace) a zone; ``id`` defaults to one derived from ``name``. Returns it."""
        zone = as_zone(
            {
                "name": name,
                "id": id,
                "account_id": account_id,
                "plan": plan,
                "hostnames": tuple(hostnames),
                **extra,
            }
        )
        with self.lock:
            self.zones[zone.id] = zone
        return as_zone(zone)

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
        token = as_token(
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
        with self.lock:
            self.tokens[token.value] = token
        return as_token(token)

    def add_global_key(
        self, email: str, key: str, *, zones: Grant | Iterable[str] = ALL_ZONES
    ) -> GlobalKey:
        """Add (or replace) a Global API Key. Returns it (its ``repr`` hides the key)."""
        global_key = as_global_key({"email": email, "key": key, "zones": zones})
        with self.lock:
            self.keys[global_key.key] = global_key
        return as_global_key(global_key)

    def config(self) -> dict[str, Any]:
        """The current configuration, without any token or key value."""
        with self.lock:
            options = dict(self.options)
            options["rate_limits"] = {
                plan: {
                    "urls_per_second": limit.urls_per_second,
                    "flex_per_second": limit.flex_per_second,
                    "flex_burst": limit.flex_burst,
                }
                for plan, limit in options["rate_limits"].items()
            }
            return {
                "zones": [z.to_dict() for z in self.zones.values()],
                "tokens": [t.to_public_dict() for t in self.tokens.values()],
                "global_keys": [k.to_public_dict() for k in self.keys.values()],
                **options,
                "faults": self.faults.to_dict(),
            }

    def apply_config(self, data: Mapping[str, Any]) -> None:
        """Apply a control ``config`` body: options, ``faults``, and ``zones``, ``tokens``
        and ``global_keys`` to add. Everything is validated before anything changes."""
        data = dict(data)
        zones = [as_zone(z) for z in data.pop("zones", None) or []]
        tokens = [as_token(t) for t in data.pop("tokens", None) or []]
        keys = [as_global_key(k) for k in data.pop("global_keys", None) or []]
        faults = data.pop("faults", None) or {}
        _validate_options(data)
        with self.lock:
            self.configure(**data)
            self.set_faults(**faults)
            self.zones.update((z.id, z) for z in zones)
            self.tokens.update((t.value, t) for t in tokens)
            self.keys.update((k.key, k) for k in keys)

    def internal_error(self) -> Reply:
        """Cloudflare's envelope with code 10001."""
        return cf.internal_error()

    def not_found(self) -> Reply:
        """404 7000 outside ``/client/v4``."""
        return cf.no_route()

    # -- the API -----------------------------------------------------------------------

    def handle_api(
        self, method: str, target: str, headers: Headers, body: bytes, record: dict[str, Any]
    ) -> Reply:
        """Answer one request under ``/client/v4``."""
        sub = urlsplit(target).path[len(API_PREFIX) :] or "/"
        parsed, body_error = parse_json(body)
        record.update(zone=None, body=parsed)
        if body_error:
            record["body_error"] = body_error
        reply, credential_id = self._dispatch(method, sub, headers, parsed, body_error, record)
        self.request_limit.decorate(reply, credential_id, self.clock())
        return reply

    def _route(self, method: str, sub: str) -> tuple[str, str | None] | Reply:
        for pattern, allowed, name in _ROUTES:
            match = pattern.fullmatch(sub)
            if match is None:
                continue
            if method != allowed:
                return cf.method_not_allowed(method, allowed)
            return name, match.group(1) if match.groups() else None
        return cf.no_route()

    def _dispatch(
        self,
        method: str,
        sub: str,
        headers: Headers,
        body: Any,
        body_error: str | None,
        record: dict[str, Any],
    ) -> tuple[Reply, str | None]:
        routed = self._route(method, sub)
        if isinstance(routed, Reply):
            return routed, None
        route, identifier = routed
        record["route"] = route
        if route in ("purge", "zone"):
            record["zone"] = identifier

        fault = self.pick_fault("verify" if route.startswith("verify") else route, record)
        if fault is not None:
            return self._fault_reply(fault), None
        if identifier is not None and not cf.HEX32.fullmatch(identifier):
            return cf.bad_identifier(sub), None

        credential = self._authenticate(route, headers, record)
        if isinstance(credential, Reply):
            return credential, None
        record["credential"] = credential.id
        limited = self.request_limit.take(credential.id, self.clock())
        if limited is not None:
            return limited, credential.id
        return self._answer(route, sub, identifier, credential, body, body_error), credential.id

    def _answer(
        self,
        route: str,
        sub: str,
        identifier: str | None,
        credential: Any,
        body: Any,
        body_error: str | None,
    ) -> Reply:
        """The answer to an authenticated request within the request limit."""
        if route.startswith("verify"):
            owner = "user" if route == "verify_user" else "account"
            return verify_answer(credential, owner, identifier)
        if isinstance(credential, Token) and not credential.usable():
            return cf.invalid_token()
        zone = self.zones.get(identifier or "")
        if zone is None:
            return self._unknown_zone(sub)
        if route == "zone":
            return self._zone(zone, credential)
        allowed = (
            credential.can_purge(zone)
            if isinstance(credential, Token)
            else credential.can_access(zone)
        )
        if not allowed:
            return cf.auth_error()
        return self._purge(zone, body, body_error, credential.id)

    def _authenticate(
        self, route: str, headers: Headers, record: dict[str, Any]
    ) -> Token | GlobalKey | Reply:
        email = headers.get("X-Auth-Email")
        key = headers.get("X-Auth-Key")
        value = cf.bearer_token(headers)
        if value is not None:
            record["auth"] = "token"
            if isinstance(value, Reply):
                return value
            return self.tokens.get(value) or cf.invalid_token()
        if email is None and key is None:
            return cf.missing_auth()
        record["auth"] = "global_key"
        if route.startswith("verify"):
            # Verify takes tokens only. What Cloudflare answers to a Global API Key
            # there is undocumented; the fake treats it as "no valid token".
            return cf.invalid_token()
        if not email or not key:
            return cf.missing_auth()
        for value, pattern, code, header in (
            (key, GLOBAL_KEY_VALUE, 6103, "X-Auth-Key"),
            (email, EMAIL, 6102, "X-Auth-Email"),
        ):
            if not pattern.fullmatch(value.strip()):
                chain = [cf.err(code, f"Invalid format for {header} header")]
                return cf.envelope_error(
                    400, [cf.err(6003, "Invalid request headers", error_chain=chain)]
                )
        global_key = self.keys.get(key.strip())
        if global_key is None or global_key.email.lower() != email.strip().lower():
            return cf.envelope_error(403, [cf.err(9103, "Unknown X-Auth-Key or X-Auth-Email")])
        return global_key

    def _unknown_zone(self, sub: str) -> Reply:
        if self.options["unknown_zone_status"] == 404:
            message = f"Could not route to {sub}, perhaps your object identifier is invalid?"
            return cf.envelope_error(404, [cf.err(7003, message)])
        return cf.auth_error()

    def _zone(self, zone: FakeZone, credential: Token | GlobalKey) -> Reply:
        if isinstance(credential, GlobalKey):
            if not credential.can_access(zone):
                return cf.auth_error()
            permissions = list(_OWNER_PERMISSIONS)
        else:
            if not credential.can_read(zone):
                return cf.auth_error()
            permissions = ["#zone:read"]
            if credential.can_purge(zone):
                permissions.append("#cache_purge:edit")
        return cf.ok(zone.api_object(permissions))

    # -- purge ------------------------------------------------------------------------

    def max_items(self, plan: str, key: str) -> int:
        """Items allowed per purge call for ``plan`` and body key ``key`` in the current mode."""
        if self.options["plan_limits_mode"] == "legacy":
            return 500 if plan == "enterprise" else 30
        return 500 if plan == "enterprise" and key == "files" else 100

    def _invalid_body(self, message: str) -> Reply:
        return cf.envelope_error(400, [cf.err(self.options["invalid_body_code"], message)])

    def _body_problem(self, zone: FakeZone, body: Any) -> Reply | None:
        if not isinstance(body, dict):
            return self._invalid_body("Request body must be a JSON object")
        present = [k for k in _BODY_KEYS if k in body]
        if len(present) != 1:
            return self._invalid_body(
                'Request must contain exactly one of "files", "tags", "hosts", "prefixes" '
                'or "purge_everything"'
            )
        (key,) = present
        items = body[key]
        if key == "purge_everything":
            return None if items is True else self._invalid_body('"purge_everything" must be true')
        if not isinstance(items, list):
            return self._invalid_body(f'"{key}" must be an array')
        if not items:
            return self._invalid_body(f'"{key}" must not be empty')
        limit = self.max_items(zone.plan, key)
        if len(items) > limit:
            message = (
                f"Up to {limit} {key} can be purged in one API call "
                f"on this zone's plan ({zone.plan}); got {len(items)}"
            )
            return cf.envelope_error(400, [cf.err(self.options["too_many_items_code"], message)])
        if key == "files" and len({isinstance(item, Mapping) for item in items}) > 1:
            # Each of the schema's two "files" forms is a list of one item type.
            return self._invalid_body(
                '"files" must be all URL strings or all {"url", "headers"} objects'
            )
        problems = (_item_problem(key, item) for item in items)
        problem = next((p for p in problems if p is not None), None)
        return None if problem is None else self._invalid_body(problem)

    def _purge(
        self, zone: FakeZone, body: Any, body_error: str | None, credential_id: str
    ) -> Reply:
        if body_error is not None:
            return self._invalid_body("Malformed JSON in request body")
        rejected = self._body_problem(zone, body)
        if rejected is not None:
            return rejected
        key = next(k for k in _BODY_KEYS if k in body)
        kind, items = ("everything", []) if key == "purge_everything" else (key, body[key])
        limited = self._take_purge(zone, kind, len(items))
        if limited is not None:
            return limited
        ignored: list[Any] = []
        if kind == "files":
            # Cloudflare cannot purge /cdn-cgi/ URLs (e.g. image variants): it accepts
            # them but nothing happens.
            ignored = [i for i in items if urlsplit(_url_of(i)).path.startswith("/cdn-cgi/")]
            items = [i for i in items if i not in ignored]
        evict_items = [_url_of(i) for i in items] if kind == "files" else items
        self.record_purge(
            {
                "zone": zone.id,
                "zone_name": zone.name,
                "account": zone.account_id,
                "kind": kind,
                "items": items,
                "ignored": ignored,
                "credential": credential_id,
                "evicted": self.notify_purge(kind, evict_items, zone.serves),
            }
        )
        return cf.ok({"id": zone.id})

    def _take_purge(self, zone: FakeZone, kind: str, count: int) -> Reply | None:
        limits = self.options["rate_limits"][zone.plan]
        if kind == "files":
            family, capacity, rate = "files", limits.urls_per_second, limits.urls_per_second
        else:
            family, capacity, rate = "flex", limits.flex_burst, limits.flex_per_second
        now = self.clock()
        key = (zone.account_id, family, zone.plan)
        wait, bucket = self.buckets.take(
            key, capacity, rate, count if family == "files" else 1, now
        )
        if wait <= 0:
            return None
        retry_after = ceil_seconds(wait)
        headers = [
            ("Retry-After", str(retry_after)),
            ("Ratelimit", f'"purge-{family}";r={bucket.remaining(now)};t={retry_after}'),
            ("Ratelimit-Policy", f'"purge-{family}";q={int(bucket.capacity)};w={bucket.window}'),
        ]
        return cf.envelope_error(
            429, [cf.err(self.options["rate_limit_code"], _PURGE_RATE_MESSAGE)], headers=headers
        )

    def _fault_reply(self, spec: Mapping[str, Any]) -> Reply:
        return cf.fault_reply(
            spec,
            {
                400: (self.options["invalid_body_code"], "Request failed"),
                401: (1000, "Invalid API Token"),
                403: (10000, "Authentication error"),
                404: (7003, "No route for the URI"),
                429: (self.options["rate_limit_code"], _PURGE_RATE_MESSAGE),
            },
        )


class FakeCloudflareRemote(RemoteFake, CloudflareQueries):
    """Read and steer a :class:`FakeCloudflare` running in another process.

    :param base_url: the fake's root (``http://127.0.0.1:8787``); an ``api_url`` or
        ``control_url`` works too.
    :param timeout: seconds to wait for each control call.

    Besides the queries (:meth:`purges`, :meth:`purged_urls`, :meth:`requests`,
    :meth:`wait_for_purges`...), it has ``health()``, ``wait_until_ready()``, ``reset()``,
    ``config()``, ``configure(**options)`` and ``set_faults(**faults)``.
    """

    api_prefix = API_PREFIX

    def add_zone(self, name: str, **fields: Any) -> dict[str, Any]:
        """Add a zone (fields as
        :class:`~django_cfpurge.testing.cloudflare_accounts.FakeZone`); return it as the fake
        stored it."""
        zone = FakeZone.from_dict({"name": name, **fields})
        self.add_to_config(zones=[zone.to_dict()])
        return zone.to_dict()

    def add_token(self, value: str, **fields: Any) -> dict[str, Any]:
        """Add an API token (fields as :class:`Token`); return it without its value."""
        token = Token.from_dict({"value": value, **fields})
        public = token.to_public_dict()
        self.add_to_config(tokens=[{**public, "value": value, "status": token.status}])
        return public

    def add_global_key(self, email: str, key: str, **fields: Any) -> dict[str, Any]:
        """Add a Global API Key; return it without the key."""
        global_key = GlobalKey.from_dict({"email": email, "key": key, **fields})
        zones = grant_to_json(global_key.zones)
        self.add_to_config(global_keys=[{"email": email, "key": key, "zones": zones}])
        return global_key.to_public_dict()
