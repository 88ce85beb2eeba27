"""A caching reverse proxy (the "edge") in front of a site, evicting what a fake API purges.

It answers like a CDN's edge, so that the demo, or a test, can see a stale file served
until django-cfpurge purges it:

* ``GET``/``HEAD`` answers 200 are cached, keyed by scheme + host + path + query (the
  request's Host header, or ``public_host``); ``CF-Cache-Status`` (and bunny.net's
  ``CDN-Cache``) is ``HIT`` (with
  ``Age``), ``MISS``, ``EXPIRED`` (``max-age``/``s-maxage`` passed), ``BYPASS``
  (``no-store``, ``private``, ``no-cache`` or ``Set-Cookie``) or ``DYNAMIC``;
* ``Cache-Tag`` (Cloudflare) and ``CDN-Tag`` (bunny.net) response headers are stored
  with the entry and not forwarded: ``Cache-Tag`` split on commas, ``CDN-Tag`` kept
  whole as well (bunny.net matches a purged tag against the whole value, ``*`` as a
  wildcard: ``*~a~*`` purges ``~a~b~``);
* the request's Host header is forwarded to the origin unchanged, with
  ``X-Forwarded-Proto``, ``X-Forwarded-For`` and ``CF-Connecting-IP``;
* :meth:`EdgeCache.evict` is a purge listener: any fake API of
  :mod:`django_cfpurge.testing` calls it with ``(kind, items, serves)`` for each purge.
  Files go by exact URL, prefixes by host + path ignoring the query, hosts by name, tags
  case-insensitively, everything at once; only entries whose host the purged zone serves.
"""

from __future__ import annotations

import copy
import fnmatch
import http.client
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django_cfpurge.testing._base import FakeServer
from django_cfpurge.testing._cloudflare_common import html_error_page
from django_cfpurge.testing._http import (
    Headers,
    LoopbackHandler,
    LoopbackServer,
    Reply,
    join_hostport,
    loopback_host,
    normalize_url,
    split_hostport,
)

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}
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
_TAG_HEADERS = ("cache-tag", "cdn-tag")
_STATUSES = ("hit", "miss", "expired", "bypass", "dynamic")


@dataclass
class _Entry:
    key: str
    host: str
    hostname: str
    path: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    tags: frozenset[str]
    stored_at: float
    expires_at: float
    hits: int = 0
    #: The ``CDN-Tag`` values as sent, lower-cased (for wildcard purges).
    tag_values: tuple[str, ...] = ()


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
        elif name.lower() == "cdn-tag":
            tags.add(value.strip().lower())
    return frozenset(tags)


def _tag_values(headers: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    return tuple(v.strip().lower() for n, v in headers if n.lower() == "cdn-tag")


def _tag_matches(tags: set[str], entry: _Entry) -> bool:
    if entry.tags & tags:
        return True
    patterns = [t for t in tags if "*" in t]
    return any(fnmatch.fnmatchcase(v, p) for p in patterns for v in entry.tag_values)


def _host_matches(value: str, entry: _Entry) -> bool:
    host, port = split_hostport(value)
    if port is None:
        return host == entry.hostname
    return join_hostport(host, port) == entry.host


def _prefix_matches(prefix: str, entry: _Entry) -> bool:
    host_part, slash, path_part = prefix.partition("/")
    if not _host_matches(host_part, entry):
        return False
    return entry.path.startswith(slash + path_part) if slash else True


def _matcher(kind: str, items: Sequence[Any]) -> Callable[[_Entry], bool]:
    if kind == "files":
        urls = {normalize_url(str(item)) for item in items}
        return lambda entry: entry.key in urls
    if kind == "tags":
        tags = {str(tag).lower() for tag in items}
        return lambda entry: _tag_matches(tags, entry)
    if kind == "hosts":
        return lambda entry: any(_host_matches(str(h), entry) for h in items)
    if kind == "prefixes":
        return lambda entry: any(_prefix_matches(str(p), entry) for p in items)
    if kind == "everything":
        return lambda entry: True
    raise ValueError(f"Unknown purge kind {kind!r}.")


class _EdgeHandler(LoopbackHandler):
    def answer(self, body: bytes) -> Reply:
        edge: EdgeCache = self.server.owner
        return edge.handle(self.command, self.path, self.headers, body, self.client_address[0])


class EdgeCache:
    """The edge cache, serving on loopback in a daemon thread.

    :param origin: the site's URL (``http://127.0.0.1:8000``).
    :param host: ``127.0.0.1`` (default), ``::1`` or ``localhost``.
    :param port: 0 picks a free one.
    :param public_host: key entries as this public origin (``www.example.com`` or
        ``https://www.example.com``) instead of ``http://`` + the request's Host, so
        that the URLs django-cfpurge purges match them.
    :param default_ttl: seconds an entry lives without ``max-age``/``s-maxage``.
    :param max_entries: entries kept (least recently used evicted first).
    :param clock: monotonic clock for ages and expiry.
    """

    server_header = "cloudflare"

    def __init__(
        self,
        origin: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_host: str | None = None,
        default_ttl: float = 4 * 3600.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"origin must be an http(s) URL, not {origin!r}.")
        self.origin = (parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme])
        self.public: tuple[str, str] | None = None
        if public_host:
            public = urlsplit(public_host if "://" in public_host else f"https://{public_host}")
            if public.scheme not in _DEFAULT_PORTS or not public.hostname:
                raise ValueError(f"public_host is no host or http(s) origin: {public_host!r}.")
            netloc = join_hostport(public.hostname.lower(), public.port, public.scheme)
            self.public = (public.scheme, netloc)
        self._bind_host = loopback_host(host)
        self._port = int(port)
        self.default_ttl = float(default_ttl)
        self.max_entries = int(max_entries)
        self.clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._stats = dict.fromkeys(_STATUSES, 0)
        self._server: LoopbackServer | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> EdgeCache:
        """Bind and serve in a daemon thread. Returns ``self``."""
        if self._server is None:
            self._server = LoopbackServer(self._bind_host, self._port, _EdgeHandler, self)
            self._server.serve_in_thread(f"fake-edge-{self._server.server_port}")
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; the entries stay."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> EdgeCache:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port it listens on (once started)."""
        if self._server is None:
            raise RuntimeError("The edge cache is not running: call start() first.")
        return self._server.server_port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{join_hostport(self._bind_host, self.port)}"

    def attach(self, fake: FakeServer) -> None:
        """Evict what ``fake`` purges, and serve ``GET /__fake__/edge`` (entries and stats)
        and ``POST /__fake__/edge/clear`` among its control routes."""
        fake.add_purge_listener(self.evict)
        fake.add_control_route("GET", "/edge", lambda data: self.snapshot())
        fake.add_control_route("POST", "/edge/clear", lambda data: self.clear() or {"ok": True})
        fake.health_info["edge_url"] = self.url

    # -- the cache -------------------------------------------------------------------------

    def evict(
        self, kind: str, items: Sequence[Any], serves: Callable[[str], bool] | None = None
    ) -> int:
        """Remove the entries a purge of ``kind`` (``files``, ``prefixes``, ``tags``,
        ``hosts`` or ``everything``) covers, among those whose hostname ``serves``
        accepts (all without it). Returns how many were removed."""
        match = _matcher(kind, items)
        with self._lock:
            doomed = [
                key
                for key, entry in self._entries.items()
                if (serves is None or serves(entry.hostname)) and match(entry)
            ]
            for key in doomed:
                del self._entries[key]
        return len(doomed)

    def entries(self) -> list[dict[str, Any]]:
        """The entries, oldest first: ``key``, ``status``, ``tags``, ``age``, ``hits``, ``size``."""
        return self.snapshot()["entries"]

    def stats(self) -> dict[str, int]:
        """Answers so far by ``CF-Cache-Status`` (lowercase keys)."""
        return self.snapshot()["stats"]

    def snapshot(self) -> dict[str, Any]:
        """``{"stats": ..., "entries": ...}``, as ``GET /__fake__/edge`` answers."""
        with self._lock:
            now = self.clock()
            return {
                "stats": dict(self._stats),
                "entries": [
                    {
                        "key": e.key,
                        "status": e.status,
                        "tags": sorted(e.tags),
                        "age": int(max(0.0, now - e.stored_at)),
                        "hits": e.hits,
                        "size": len(e.body),
                    }
                    for e in self._entries.values()
                ],
            }

    def clear(self) -> None:
        """Empty the cache (no purge is recorded anywhere)."""
        with self._lock:
            self._entries.clear()

    def _lookup(self, key: str) -> tuple[str, _Entry | None]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return "MISS", None
            if self.clock() >= entry.expires_at:
                del self._entries[key]
                return "EXPIRED", None
            entry.hits += 1
            self._entries.move_to_end(key)
            self._stats["hit"] += 1
            return "HIT", copy.copy(entry)

    def _store(self, entry: _Entry) -> None:
        with self._lock:
            self._entries[entry.key] = entry
            self._entries.move_to_end(entry.key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def _count(self, status: str) -> None:
        with self._lock:
            self._stats[status.lower()] += 1

    # -- requests --------------------------------------------------------------------------

    def internal_error(self) -> Reply:
        """What the edge answers when it fails itself."""
        return Reply(500, html_error_page(500), content_type="text/html; charset=UTF-8")

    def _key(self, host_header: str, target: str) -> tuple[str, str, str, str]:
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            host_header = host_header or parts.netloc
        if self.public is not None:
            scheme, netloc = self.public
        else:
            scheme = "http"
            host, port = split_hostport(host_header or self._bind_host)
            netloc = join_hostport(host, port, scheme)
        path, _, query = target.partition("?")
        path = path or "/"
        return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else ""), scheme, netloc, path

    def handle(
        self, method: str, target: str, headers: Headers, body: bytes, client_ip: str
    ) -> Reply:
        """Answer one request from the cache, or from the origin (and maybe store it)."""
        key, scheme, netloc, path = self._key(headers.get("Host", ""), target)
        ray = ("CF-RAY", f"{secrets.token_hex(8)}-LCL")
        cacheable = method in ("GET", "HEAD")
        lookup = "MISS"
        if cacheable:
            lookup, entry = self._lookup(key)
            if entry is not None:
                age = int(max(0.0, self.clock() - entry.stored_at))
                extra = [("CF-Cache-Status", "HIT"), ("CDN-Cache", "HIT"), ("Age", str(age)), ray]
                return Reply(entry.status, entry.body, None, [*entry.headers, *extra])
        status, origin_headers, payload = self._fetch_origin(
            "GET" if method == "HEAD" else method, target, headers, body, client_ip, scheme, ray
        )
        kept = [
            (k, v)
            for k, v in origin_headers
            if k.lower() not in _HOP_BY_HOP and k.lower() not in (*_TAG_HEADERS, "server", "date")
        ]
        cache_status = "DYNAMIC"
        if cacheable and status == 200:
            ttl = self._ttl(origin_headers)
            if ttl is None:
                cache_status = "BYPASS"
            else:
                cache_status = lookup
                now = self.clock()
                self._store(
                    _Entry(
                        key=key,
                        host=netloc,
                        hostname=split_hostport(netloc)[0],
                        path=path,
                        status=status,
                        headers=kept,
                        body=payload,
                        tags=_cache_tags(origin_headers),
                        tag_values=_tag_values(origin_headers),
                        stored_at=now,
                        expires_at=now + ttl,
                    )
                )
        self._count(cache_status)
        statuses = [("CF-Cache-Status", cache_status), ("CDN-Cache", cache_status)]
        return Reply(status, payload, None, [*kept, *statuses, ray])

    def _ttl(self, origin_headers: Sequence[tuple[str, str]]) -> float | None:
        """Seconds to keep an answer, or None if it must not be cached."""
        directives = _cache_control(origin_headers)
        if {"no-store", "private", "no-cache"} & set(directives) or any(
            k.lower() == "set-cookie" for k, _ in origin_headers
        ):
            return None
        ttl_text = directives.get("s-maxage", directives.get("max-age"))
        try:
            ttl = float(ttl_text) if ttl_text is not None else self.default_ttl
        except ValueError:
            ttl = self.default_ttl
        return ttl if ttl > 0 else None

    def _fetch_origin(
        self,
        method: str,
        target: str,
        headers: Headers,
        body: bytes,
        client_ip: str,
        scheme: str,
        ray: tuple[str, str],
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        origin_scheme, origin_host, origin_port = self.origin
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
            ray,
        ]
        if body:
            forwarded.append(("Content-Length", str(len(body))))
        if not any(k.lower() == "host" for k, _ in forwarded):
            forwarded.append(("Host", join_hostport(origin_host, origin_port)))
        connection_class = (
            http.client.HTTPSConnection if origin_scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(origin_host, origin_port, timeout=30)
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in forwarded:
                connection.putheader(name, value)
            connection.endheaders(body or None)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        except ConnectionRefusedError:
            return 521, [("Content-Type", "text/html")], html_error_page(521)
        except TimeoutError:
            return 524, [("Content-Type", "text/html")], html_error_page(524)
        except (OSError, http.client.HTTPException):
            logger.warning("Fake edge: the origin failed to answer %s %s", method, target)
            return 502, [("Content-Type", "text/html")], html_error_page(502)
        finally:
            connection.close()
