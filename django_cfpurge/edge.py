"""Proof at the edge: does a purge through this zone really drop the CDN's copy?

:func:`verify_at_edge` requests a public URL through the CDN until the edge answers
from its cache (``HIT``), purges the URL through the zone, and requests it again. A
``MISS`` (or ``EXPIRED``, or a younger ``Age``) proves that the zone serves that
hostname: its purges reach the copies visitors get. A ``HIT`` that keeps its age
although the CDN accepted the purge proves the opposite, and says what usually causes
it: another zone (or another account) serves the hostname, or a cache rule keys the
copy on something the purge did not name (a query string, a header, the device).

The URL must be one the zone serves (its host routes to the zone), so the check cannot
be pointed at an arbitrary address. Each check costs two to four requests to the edge,
which fetch the file from the origin once more, and one URL purge.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.utils.translation import gettext

from .backends.base import Backend
from .backends.http import user_agent
from .enums import Kind
from .exceptions import BackendError, CfPurgeError
from .models import PurgeCall, Zone
from .zones import ZoneRouter, active_zones, backend_for

logger = logging.getLogger(__name__)

#: Seconds to wait, after the purge, for the edge to drop its copy (Cloudflare purges
#: within a second; some CDNs take a few).
SETTLE_SECONDS = 5.0
#: Seconds between two requests while waiting.
POLL_SECONDS = 0.5
#: Connect and read timeouts of each request to the edge.
TIMEOUTS = (5.0, 15.0)

PROVEN, NOT_PROVEN, NOT_CACHED, FAILED, NOT_SERVED, UNSUPPORTED = (
    "proven",
    "not_proven",
    "not_cached",
    "failed",
    "not_served",
    "unsupported",
)


@dataclass(frozen=True)
class EdgeAnswer:
    """What the edge answered: HTTP status, cache status (upper case, ``""`` when the
    header is missing) and ``Age`` (seconds, None when missing)."""

    code: int
    cache: str
    age: int | None

    def __str__(self) -> str:
        cache = self.cache or gettext("no cache status")
        if self.age is None:
            return cache
        return gettext("%(cache)s, Age %(age)d s") % {"cache": cache, "age": self.age}


@dataclass
class EdgeCheck:
    """The outcome of one check.

    :ivar verdict: ``proven``, ``not_proven``, ``not_cached`` (the edge does not keep
        the URL: nothing to prove with it), ``failed`` (the edge or the purge could not
        be reached), ``not_served`` (the zone does not serve the URL's host) or
        ``unsupported`` (the CDN names no cache status).
    """

    url: str
    verdict: str
    message: str
    before: EdgeAnswer | None = None
    after: EdgeAnswer | None = None

    @property
    def proven(self) -> bool:
        """True when the purge was seen to drop the edge's copy."""
        return self.verdict == PROVEN


Fetch = Callable[[str], EdgeAnswer]


def http_fetch(header: str, session: requests.Session | None = None) -> Fetch:
    """A fetch of a public URL that reads ``header`` (the CDN's cache status)."""
    http = session or requests.Session()

    def fetch(url: str) -> EdgeAnswer:
        response = http.get(
            url,
            headers={"User-Agent": user_agent()},
            timeout=TIMEOUTS,
            allow_redirects=False,
            stream=True,
        )
        response.close()
        age = response.headers.get("Age", "")
        return EdgeAnswer(
            code=response.status_code,
            cache=response.headers.get(header, "").strip().upper(),
            age=int(age) if age.strip().isdigit() else None,
        )

    return fetch


def verify_at_edge(
    zone: Zone,
    url: str,
    *,
    fetch: Fetch | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> EdgeCheck:
    """Check at the edge that purging ``url`` through ``zone`` drops the cached copy.

    Never raises for what the edge or the CDN answers: the verdict says it.
    """
    host = (urlsplit(url).hostname or "").lower()
    if ZoneRouter(active_zones()).route(host) != zone:
        return EdgeCheck(url, NOT_SERVED, _not_served(zone, host))
    try:
        backend = backend_for(zone)
    except CfPurgeError as err:
        return EdgeCheck(url, FAILED, str(err))
    with backend:
        return check_with(backend, zone, url, fetch=fetch, sleep=sleep, clock=clock)


def check_with(
    backend: Backend,
    zone: Zone,
    url: str,
    *,
    fetch: Fetch | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> EdgeCheck:
    """:func:`verify_at_edge` with a backend already built (Test connection's); the
    caller has checked that ``zone`` serves ``url``."""
    header = type(backend).cache_status_header
    if header is None:
        return EdgeCheck(url, UNSUPPORTED, _unsupported(backend))
    return _Check(zone, url, backend, fetch or http_fetch(header), sleep, clock).run()


class _Check:
    def __init__(
        self,
        zone: Zone,
        url: str,
        backend: Backend,
        fetch: Fetch,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
    ) -> None:
        self.zone, self.url, self.backend = zone, url, backend
        self.fetch, self.sleep, self.clock = fetch, sleep, clock

    def _get(self) -> EdgeAnswer | EdgeCheck:
        try:
            return self.fetch(self.url)
        except requests.RequestException as err:
            message = gettext("The edge could not be reached at %(url)s (%(error)s).") % {
                "url": self.url,
                "error": type(err).__name__,
            }
            return EdgeCheck(self.url, FAILED, message)

    def run(self) -> EdgeCheck:
        before = self._get()
        if isinstance(before, EdgeAnswer) and before.cache != "HIT":
            before = self._get()  # the first request may have filled the cache
        if isinstance(before, EdgeCheck):
            return before
        if before.cache != "HIT":
            return EdgeCheck(self.url, NOT_CACHED, _not_cached(self.url, before), before)
        try:
            self.backend.purge(Kind.FILES, [self.url])
        except BackendError as err:
            return EdgeCheck(self.url, FAILED, str(err), before)
        return self._after(before)

    def _after(self, before: EdgeAnswer) -> EdgeCheck:
        deadline = self.clock() + SETTLE_SECONDS
        while True:
            after = self._get()
            if isinstance(after, EdgeCheck):
                after.before = before
                return after
            refetched = after.cache != "HIT" or (
                after.age is not None and before.age is not None and after.age < before.age
            )
            if refetched:
                return EdgeCheck(
                    self.url, PROVEN, _proven(self.zone, self.url, before, after), before, after
                )
            if self.clock() >= deadline:
                return EdgeCheck(
                    self.url, NOT_PROVEN, _not_proven(self.url, before, after), before, after
                )
            self.sleep(POLL_SECONDS)


def _proven(zone: Zone, url: str, before: EdgeAnswer, after: EdgeAnswer) -> str:
    return gettext(
        "The edge served %(url)s from its cache (%(before)s); after the purge it fetched it "
        "again (%(after)s): zone “%(zone)s” really serves %(host)s."
    ) % {
        "url": url,
        "before": before,
        "after": after,
        "zone": zone.name,
        "host": urlsplit(url).hostname,
    }


def _not_proven(url: str, before: EdgeAnswer, after: EdgeAnswer) -> str:
    return gettext(
        "The CDN accepted the purge of %(url)s, but the edge still answers from its cache "
        "(%(after)s; before the purge: %(before)s). %(host)s is probably served by another "
        "zone (or another account), or a cache rule keys this copy on something the purge "
        "did not name (a query string, a header, the device type)."
    ) % {"url": url, "before": before, "after": after, "host": urlsplit(url).hostname}


def _not_cached(url: str, answer: EdgeAnswer) -> str:
    return gettext(
        "The edge does not keep %(url)s (HTTP %(code)d, %(answer)s), so there is nothing to "
        "prove with it: check a file the CDN caches."
    ) % {"url": url, "code": answer.code, "answer": answer}


def _not_served(zone: Zone, host: str) -> str:
    return gettext(
        "Zone “%(zone)s” does not serve %(host)s: only URLs of its own hostnames are checked."
    ) % {"zone": zone.name, "host": host or "?"}


def _unsupported(backend: Backend) -> str:
    return gettext("%(cdn)s names no cache status on its answers: nothing to check.") % {
        "cdn": backend.verbose_name
    }


def recent_url(zone: Zone) -> str | None:
    """A URL this zone purged lately (the newest accepted URL purge), to check."""
    call: Any = (
        PurgeCall.objects.filter(zone=zone, kind=Kind.FILES, outcome=PurgeCall.Outcome.OK)
        .exclude(sample=[])
        .order_by("-started_at", "-id")
        .first()
    )
    if call is None:
        return None
    first = call.sample[0]
    return first if isinstance(first, str) and "://" in first else None
