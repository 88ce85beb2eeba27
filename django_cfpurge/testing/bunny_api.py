"""A fake bunny.net API for integration tests: real HTTP on the loopback interface.

It speaks the three operations a bunny.net backend needs, as bunny.net documents them
(where it does not, the choice is marked "guess"), and records what it purged::

    from django_cfpurge.testing.bunny_api import DEFAULT_ACCESS_KEY, FakeBunny

    with FakeBunny() as bunny:
        requests.post(f"{bunny.api_url}/purge", params={"url": "https://cdn.example.com/a.jpg"},
                      headers={"AccessKey": DEFAULT_ACCESS_KEY})
        assert bunny.purged_urls() == ["https://cdn.example.com/a.jpg"]

* ``POST /purge?url=…&async=…&exactPath=…``: one URL per call, found by its host among
  the account's pull zones (404 ``pullZone.not_found`` otherwise). A URL that contains
  ``*`` or whose path ends in ``/`` is a wildcard purge (unless ``exactPath=true`` on a
  zone that does not ignore query strings); 200 with no body.
* ``POST /pullzone/{id}/purgeCache``: no body purges the whole zone,
  ``{"CacheTag": "…"}`` the files tagged so (``CDN-Tag``); 204 with no body.
* ``GET /pullzone/{id}``: a ``PullZoneModel`` with only fields the schema declares, and
  none of its secrets.

The ``AccessKey`` header must hold an account's API key (401 otherwise). Purges take
tokens from that account's buckets, one per purge type: exact URLs (a burst of 120, then
5 per second) and prefixes (20, then 0.5 per second); over the limit the fake answers
429 with ``Retry-After``. ``speed`` multiplies the refill rates. Faults, records and the
control routes under ``/__fake__`` are those of every fake (see
:class:`~django_cfpurge.testing._base.FakeServer`); purges are told to purge listeners.

Standard library only; never imports Django. It never records or echoes an access key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._base import PurgingFakeServer
from ._faults import Buckets, FailSpec, ceil_seconds
from ._http import Headers, Reply, json_reply, normalize_url
from ._records import PurgeQueries

__all__ = [
    "DEFAULT_ACCESS_KEY",
    "DEFAULT_PULL_ZONE_ID",
    "OTHER_ACCESS_KEY",
    "PURGE_KINDS",
    "PURGE_RATE_LIMITS",
    "BunnyRateLimit",
    "FakeBunny",
    "PullZone",
]

# Fake keys: well-formed as far as bunny.net says (it does not), worthless anywhere else.
#: The API key of the default account, which owns the default pull zone.
DEFAULT_ACCESS_KEY = "fake-bunny-0000-4000-8000-defaultaccesskey0000000000000"
#: The API key of another account, which owns no pull zone.
OTHER_ACCESS_KEY = "fake-bunny-0000-4000-8000-otheraccesskey00000000000000000"
DEFAULT_PULL_ZONE_ID = 1234567
#: Purge kinds, as recorded in :meth:`FakeBunny.purges`.
PURGE_KINDS = ("url", "wildcard", "tag", "zone")
FAULT_ROUTES = ("purge_url", "purge_zone", "pull_zone")

ERROR_PULL_ZONE_NOT_FOUND = {
    "ErrorKey": "pullZone.not_found",
    "Field": "PullZone",
    "Message": "The requested Pull Zone was not found",
}
ERROR_URLS_INVALID = {
    "ErrorKey": "purge.urls_invalid",
    "Field": "Urls",
    "Message": "The purge request must contain at least one and no more than 50 URLs",
}
# Guesses, in the shape ASP.NET Web API gives them (bunny.net's 401 is of that shape).
ERROR_UNAUTHORIZED = {"Message": "Authorization has been denied for this request."}
ERROR_INVALID = {"Message": "The request is invalid."}
ERROR_SERVER = {"Message": "An error has occurred."}

_ROUTES = (
    (re.compile(r"/purge"), "POST", "purge_url"),
    (re.compile(r"/pullzone/([^/]+)/purgeCache"), "POST", "purge_zone"),
    (re.compile(r"/pullzone/([^/]+)"), "GET", "pull_zone"),
)
_EVICT_KINDS = {"url": "files", "wildcard": "prefixes", "tag": "tags", "zone": "everything"}


@dataclass(frozen=True)
class BunnyRateLimit:
    """One purge bucket of an account: ``burst`` tokens, refilled at ``per_second``."""

    burst: float
    per_second: float


#: bunny.net's default purge limits, per account and purge type.
PURGE_RATE_LIMITS = {
    "exact": BunnyRateLimit(burst=120, per_second=5),
    "prefix": BunnyRateLimit(burst=20, per_second=0.5),
}


@dataclass
class PullZone:
    """A pull zone the fake knows.

    :ivar id: its numeric id.
    :ivar name: ``example`` serves ``example.b-cdn.net`` too.
    :ivar hostnames: the custom hostnames it serves.
    :ivar account: the account that owns it (see ``access_keys`` of :class:`FakeBunny`).
    :ivar ignore_query_strings: bunny.net's ``IgnoreQueryStrings``; ``exactPath`` only
        applies when it is off.
    """

    id: int
    name: str
    hostnames: tuple[str, ...] = ()
    account: str = "default"
    enabled: bool = True
    suspended: bool = False
    ignore_query_strings: bool = True
    origin_url: str = "https://www.example.com"

    def __post_init__(self) -> None:
        if not isinstance(self.id, int) or self.id < 1:
            raise ValueError(f"A pull zone id is a positive integer, not {self.id!r}.")
        if not re.fullmatch(r"[a-z0-9-]+", self.name):
            raise ValueError(f"Pull zone name {self.name!r}: lowercase letters, digits and -.")
        self.hostnames = tuple(h.lower() for h in self.hostnames)

    @property
    def system_hostname(self) -> str:
        """``<name>.b-cdn.net``."""
        return f"{self.name}.b-cdn.net"

    def serves(self, hostname: str) -> bool:
        """True if the zone serves ``hostname`` (no port)."""
        return hostname.lower().rstrip(".") in (self.system_hostname, *self.hostnames)

    def api_object(self) -> dict[str, Any]:
        """The zone as ``GET /pullzone/{id}`` returns it (declared fields, no secrets)."""
        hostnames = [self.system_hostname, *self.hostnames]
        return {
            "Id": self.id,
            "Name": self.name,
            "OriginUrl": self.origin_url,
            "Enabled": self.enabled,
            "Suspended": self.suspended,
            "Hostnames": [
                {
                    "Id": self.id * 100 + index,
                    "Value": value,
                    "ForceSSL": False,
                    "IsSystemHostname": index == 0,
                    "IsManagedHostname": False,
                    "HasCertificate": index == 0,
                }
                for index, value in enumerate(hostnames)
            ],
            "StorageZoneId": 0,
            "IgnoreQueryStrings": self.ignore_query_strings,
            "PermaCacheStorageZoneId": 0,
            "PermaCacheType": 0,
            "Type": 0,
            "CnameDomain": self.system_hostname,
            "CacheControlMaxAgeOverride": -1,
            "EnableLogging": True,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PullZone:
        """Build a zone from JSON-like data."""
        values = dict(data)
        values["hostnames"] = tuple(values.get("hostnames") or ())
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The zone as JSON-ready data."""
        return {**asdict(self), "hostnames": list(self.hostnames)}


def default_pull_zones() -> list[PullZone]:
    """``example`` (:data:`DEFAULT_PULL_ZONE_ID`), serving ``www.example.com``,
    ``cdn.example.com`` and loopback names (for an edge cache in front of a local site)."""
    hostnames = ("www.example.com", "cdn.example.com", "localhost", "127.0.0.1", "::1")
    return [PullZone(DEFAULT_PULL_ZONE_ID, "example", hostnames)]


def _boolean(query: Mapping[str, list[str]], name: str) -> bool | None:
    """A query flag: False when absent, None when it is not ``true``/``false``."""
    values = query.get(name, ["false"])
    return {"true": True, "false": False}.get(values[-1].lower())


class BunnyQueries(PurgeQueries):
    """bunny.net's purge kinds, flattened."""

    def purged_urls(self, zone: int | None = None) -> list[str]:
        """URLs purged one by one (``url`` purges), in order."""
        return self._purged("url", zone)

    def purged_wildcards(self, zone: int | None = None) -> list[str]:
        """URLs purged as wildcards (``*``, or a path ending in ``/``), in order."""
        return self._purged("wildcard", zone)

    def purged_tags(self, zone: int | None = None) -> list[str]:
        """Cache tags purged, in order."""
        return self._purged("tag", zone)

    def purged_zones(self) -> list[int]:
        """Ids of the pull zones purged whole, in order."""
        return [p["zone"] for p in self.purges(kind="zone")]


class FakeBunny(PurgingFakeServer, BunnyQueries):
    """A fake bunny.net API server running in a background thread.

    :param pull_zones: zones (:class:`PullZone` or dicts); default :func:`default_pull_zones`.
    :param access_keys: ``{api key: account}``; default: :data:`DEFAULT_ACCESS_KEY` for the
        ``default`` account and :data:`OTHER_ACCESS_KEY` for ``other``.
    :param speed: multiplies the refill rates of the purge buckets.
    :param rate_limits: ``{"exact": BunnyRateLimit(...), "prefix": ...}`` replacing
        :data:`PURGE_RATE_LIMITS` entries.
    :param limit_zone_purges: tag and whole-zone purges take a token from the prefix
        bucket too (undocumented; off by default).
    :param retry_after: send ``Retry-After`` with a 429 (the form of bunny.net's "guidance
        on when to retry" is undocumented).
    :param unknown_zone_status: ``purgeCache``/``GET`` of an id the account does not own:
        404 (as documented) or 401 (as has been seen for a Storage Zone id).
    :param purge_zone_status: 204 (as documented) or 200 (as the live API has answered).
    :param error_ratio, drop_ratio, latency, fail_next, error_style, fault_routes, seed:
        faults, as for :class:`~django_cfpurge.testing.cloudflare_api.FakeCloudflare`;
        ``fail_next`` answers the next purge calls (either route); a 429 entry sends
        ``Retry-After`` only when it names ``retry_after``.
    :param host: ``127.0.0.1`` (default), ``::1`` or ``localhost``; nothing else.
    :param port: 0 picks a free one.
    :param clock: monotonic clock for rate limits.
    """

    server_header = "fake-bunny"
    fault_routes = FAULT_ROUTES
    scripted_routes = ("purge_url", "purge_zone")

    def __init__(
        self,
        *,
        pull_zones: Iterable[PullZone | Mapping[str, Any]] | None = None,
        access_keys: Mapping[str, str] | None = None,
        speed: float = 1.0,
        rate_limits: Mapping[str, BunnyRateLimit | Mapping[str, float]] | None = None,
        limit_zone_purges: bool = False,
        retry_after: bool = True,
        unknown_zone_status: int = 404,
        purge_zone_status: int = 204,
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
        zones = default_pull_zones() if pull_zones is None else pull_zones
        self._initial_zones = [_as_zone(z) for z in zones]
        keys = access_keys or {DEFAULT_ACCESS_KEY: "default", OTHER_ACCESS_KEY: "other"}
        self._initial_keys = dict(keys)
        self._initial_options = self._validate(
            speed=speed,
            rate_limits=rate_limits,
            limit_zone_purges=limit_zone_purges,
            retry_after=retry_after,
            unknown_zone_status=unknown_zone_status,
            purge_zone_status=purge_zone_status,
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

    # -- state ---------------------------------------------------------------------------

    @staticmethod
    def _validate(**options: Any) -> dict[str, Any]:
        known = {
            "speed",
            "rate_limits",
            "limit_zone_purges",
            "retry_after",
            "unknown_zone_status",
            "purge_zone_status",
        }
        if set(options) - known:
            raise ValueError(f"Unknown options {sorted(set(options) - known)}.")
        if "speed" in options and not float(options["speed"]) > 0:
            raise ValueError("speed must be greater than 0.")
        if options.get("unknown_zone_status", 404) not in (401, 404):
            raise ValueError("unknown_zone_status must be 401 or 404.")
        if options.get("purge_zone_status", 204) not in (200, 204):
            raise ValueError("purge_zone_status must be 200 or 204.")
        if "rate_limits" in options:
            limits = {
                kind: value if isinstance(value, BunnyRateLimit) else BunnyRateLimit(**value)
                for kind, value in dict(options["rate_limits"] or {}).items()
            }
            if set(limits) - set(PURGE_RATE_LIMITS):
                raise ValueError("rate_limits are 'exact' and 'prefix'.")
            options["rate_limits"] = {**PURGE_RATE_LIMITS, **limits}
        return options

    def _reset_state(self) -> None:
        self.zones = {z.id: _as_zone(z) for z in self._initial_zones}
        self.access_keys = dict(self._initial_keys)
        self.options: dict[str, Any] = {}
        self.configure(**self._initial_options)

    def configure(self, **options: Any) -> None:
        """Change options at run time (see the class docstring); empties the buckets.

        :raises ValueError: for an unknown option or a bad value.
        """
        values = self._validate(**options)
        with self.lock:
            self.options.update(values)
            self.buckets = Buckets(float(self.options["speed"]))

    def add_pull_zone(self, name: str, *, id: int | None = None, **fields: Any) -> PullZone:
        """Add (or replace) a pull zone; ``id`` defaults to the next free one. Returns it."""
        with self.lock:
            zone_id = id or max(self.zones, default=DEFAULT_PULL_ZONE_ID) + 1
            zone = PullZone.from_dict({"id": zone_id, "name": name, **fields})
            self.zones[zone.id] = zone
        return _as_zone(zone)

    def add_access_key(self, key: str, account: str) -> None:
        """Accept ``key`` as the API key of ``account``."""
        with self.lock:
            self.access_keys[key] = account

    def secrets(self) -> Iterable[str]:
        """The access keys."""
        return tuple(self.access_keys)

    def config(self) -> dict[str, Any]:
        """Zones, accounts (never their keys), options and faults."""
        with self.lock:
            options = dict(self.options)
            options["rate_limits"] = {k: asdict(v) for k, v in options["rate_limits"].items()}
            return {
                "pull_zones": [z.to_dict() for z in self.zones.values()],
                "accounts": sorted(set(self.access_keys.values())),
                **options,
                "faults": self.faults.to_dict(),
            }

    def apply_config(self, data: Mapping[str, Any]) -> None:
        """Apply a control ``config`` body: options, ``faults``, ``pull_zones`` to add and
        ``access_keys`` (``{key: account}``) to accept."""
        data = dict(data)
        zones = [_as_zone(z) for z in data.pop("pull_zones", None) or []]
        keys = dict(data.pop("access_keys", None) or {})
        faults = data.pop("faults", None) or {}
        self._validate(**data)
        with self.lock:
            self.configure(**data)
            self.set_faults(**faults)
            self.zones.update((z.id, z) for z in zones)
            self.access_keys.update(keys)

    def internal_error(self) -> Reply:
        """ASP.NET's 500 body."""
        return _error(ERROR_SERVER, 500)

    def not_found(self) -> Reply:
        """An empty 404."""
        return Reply(404, content_type=None)

    # -- the API ---------------------------------------------------------------------------

    def handle_api(
        self, method: str, target: str, headers: Headers, body: bytes, record: dict[str, Any]
    ) -> Reply:
        """Answer one API request."""
        split = urlsplit(target)
        record["zone"] = None
        for pattern, allowed, route in _ROUTES:
            match = pattern.fullmatch(split.path)
            if match is None:
                continue
            if method != allowed:
                message = f"The requested resource does not support http method '{method}'."
                return json_reply({"Message": message}, 405, headers=[("Allow", allowed)])
            record["route"] = route
            fault = self.pick_fault(route, record)
            if fault is not None:
                return self._fault_reply(fault)
            account = self.access_keys.get(headers.get("AccessKey", "").strip())
            record["auth"] = "access_key" if headers.get("AccessKey") else "none"
            if account is None:
                return _error(ERROR_UNAUTHORIZED, 401)
            record["credential"] = account
            query = parse_qs(split.query, keep_blank_values=True)
            if route == "purge_url":
                return self._purge_url(account, query, record)
            zone = self._own_zone(account, match.group(1))
            if isinstance(zone, Reply):
                return zone
            record["zone"] = zone.id
            if route == "pull_zone":
                return json_reply(zone.api_object())
            return self._purge_zone(account, zone, body, record)
        return self.not_found()

    def _own_zone(self, account: str, zone_id: str) -> PullZone | Reply:
        if not zone_id.isdigit():
            return self.not_found()  # the route takes numeric ids only
        zone = self.zones.get(int(zone_id))
        if zone is None or zone.account != account:
            if self.options["unknown_zone_status"] == 401:
                return _error(ERROR_UNAUTHORIZED, 401)
            return _error(ERROR_PULL_ZONE_NOT_FOUND, 404)
        return zone

    def _purge_url(
        self, account: str, query: Mapping[str, list[str]], record: dict[str, Any]
    ) -> Reply:
        urls = query.get("url", [])
        url = normalize_url(urls[0]) if len(urls) == 1 else None
        if url is None:
            return _error(ERROR_URLS_INVALID, 400)
        asynchronous, exact_path = _boolean(query, "async"), _boolean(query, "exactPath")
        if asynchronous is None or exact_path is None:
            return _error(ERROR_INVALID, 400)
        parts = urlsplit(urls[0])
        host = (parts.hostname or "").lower()
        zone = next(
            (z for z in self.zones.values() if z.account == account and z.serves(host)), None
        )
        if zone is None:
            return _error(ERROR_PULL_ZONE_NOT_FOUND, 404)
        record["zone"] = zone.id
        # The bucket follows the URL's shape; the purge honours exactPath.
        prefix_shaped = "*" in urls[0] or parts.path.endswith(("*", "/"))
        exact_only = exact_path and not zone.ignore_query_strings
        kind = (
            "wildcard" if "*" in urls[0] or (parts.path.endswith("/") and not exact_only) else "url"
        )
        limited = self._take(account, "prefix" if prefix_shaped else "exact")
        if limited is not None:
            return limited
        item = urls[0]
        evict = [item] if kind == "url" else [f"{parts.netloc}{parts.path.split('*', 1)[0]}"]
        self._record(
            zone, account, kind, [item], evict, exact_path=exact_path, **{"async": asynchronous}
        )
        return Reply(200, content_type=None)

    def _purge_zone(
        self, account: str, zone: PullZone, body: bytes, record: dict[str, Any]
    ) -> Reply:
        tag = None
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                return _error(ERROR_INVALID, 400)
            if not isinstance(data, dict) or set(data) - {"CacheTag"}:
                return _error(ERROR_INVALID, 400)
            tag = data.get("CacheTag")
            if tag is not None and not isinstance(tag, str):
                return _error(ERROR_INVALID, 400)
        record["body"] = {"CacheTag": tag} if body.strip() else None
        if self.options["limit_zone_purges"]:
            limited = self._take(account, "prefix")
            if limited is not None:
                return limited
        if tag:
            self._record(zone, account, "tag", [tag], [tag])
        else:
            self._record(zone, account, "zone", [], [])
        return Reply(self.options["purge_zone_status"], content_type=None)

    def _record(
        self,
        zone: PullZone,
        account: str,
        kind: str,
        items: list[str],
        evict: list[str],
        **extra: Any,
    ) -> None:
        evicted = self.notify_purge(_EVICT_KINDS[kind], evict, zone.serves)
        self.record_purge(
            {
                "zone": zone.id,
                "zone_name": zone.name,
                "account": account,
                "kind": kind,
                "items": items,
                "credential": account,
                "evicted": evicted,
                **extra,
            }
        )

    def _take(self, account: str, bucket: str) -> Reply | None:
        limit = self.options["rate_limits"][bucket]
        now = self.clock()
        wait, _ = self.buckets.take((account, bucket), limit.burst, limit.per_second, 1, now)
        if wait <= 0:
            return None
        headers = [("Retry-After", str(ceil_seconds(wait)))] if self.options["retry_after"] else []
        return Reply(429, content_type=None, headers=headers)

    def _fault_reply(self, spec: Mapping[str, Any]) -> Reply:
        if spec.get("drop"):
            return Reply(0, drop=True)
        status = int(spec["status"])
        if status >= 500 and spec.get("html", False):
            page = f"<html><body><h1>{status}</h1></body></html>".encode()
            return Reply(status, page, content_type="text/html; charset=utf-8")
        headers = []
        if spec.get("retry_after") is not None:
            headers.append(("Retry-After", str(int(spec["retry_after"]))))
        bodies = {400: ERROR_URLS_INVALID, 401: ERROR_UNAUTHORIZED, 404: ERROR_PULL_ZONE_NOT_FOUND}
        body = spec.get("body", bodies.get(status, None if status == 429 else ERROR_SERVER))
        if body is None:
            return Reply(status, content_type=None, headers=headers)
        return _error(body, status, headers=headers)


def _error(body: Mapping[str, str], status: int, **extra: Any) -> Reply:
    """A JSON error, recorded by its ``ErrorKey`` (or its message)."""
    return json_reply(body, status, errors=[body.get("ErrorKey", body["Message"])], **extra)


def _as_zone(value: PullZone | Mapping[str, Any]) -> PullZone:
    return PullZone.from_dict(value.to_dict() if isinstance(value, PullZone) else value)
