"""A rate limiter shared by every worker, kept in the Django cache, that adapts to the
rate the CDN really grants.

CDNs limit purges per account (Cloudflare: URLs per second for single-file purges, a
token bucket of requests for tags, hosts, prefixes and "everything"). Several Celery
workers purging for the same account must stay under that limit *together*, so the
limiter's state lives in a Django cache they all share (Redis in production).

Pacing
------
Each budget (:class:`~django_cfpurge.backends.base.RateBudget`: a capacity per window)
is enforced as a token bucket through the *generic cell rate algorithm*: one integer in
the cache, the "theoretical arrival time", moves forward by ``cost / rate`` with every
reservation, and a reservation is allowed while it stays within one burst of now (a
call bigger than one burst: when the bucket is full; the calls after it wait until it
is paid back). The counter only moves with the cache's atomic ``incr``/``decr`` (Redis,
memcached and the local-memory cache make them atomic), so two workers can never both
take the last unit: whoever increments second sees the first one's reservation and
gives its own back. Calls are therefore spread at the rate, never sent in bursts the
CDN would refuse, whatever their size.

Adapting
--------
The account's real rate may be lower than the plan's: another site, a dashboard user or
another tool shares it. When the CDN answers 429 (:meth:`RateLimiter.throttled`), every
worker pauses for its ``Retry-After`` and the shared *factor* that scales the budget is
lowered to the rate the CDN actually accepted since the previous 429 (its bucket was
empty both times, so what it accepted in between is what it refilled), never by more
than half at once; the first 429 halves it. Each accepted call
(:meth:`RateLimiter.succeeded`) raises the factor a little, up to the plan's rate, so a
limit that comes back is found again. A 429 is never a failed attempt: the rows wait
and keep their progress.

``safety`` (``CFPURGE["RATE_LIMIT_SAFETY"]``, 0.95) keeps the long-run rate a little
under the budget, for what the limiter cannot see and clocks that differ slightly.

Use a cache whose ``add``/``incr`` are atomic and shared by all workers: Redis or
memcached. The local-memory cache is atomic but private to one process, and the
database and file caches do not increment atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import random
import re
import time
from collections.abc import Callable

from django.core.cache import BaseCache, caches

from .backends.base import RateBudget
from .conf import get_float, get_str
from .exceptions import CfPurgeError

logger = logging.getLogger(__name__)

__all__ = ["RateLimitWait", "RateLimiter"]

KEY_PREFIX = "cfpurge:rl"
#: The factor never goes below this (a CDN answering 429 for ever still gets a trickle).
MIN_FACTOR = 0.02
#: The first 429 (or one whose estimate is unusable) multiplies the factor by this.
DECREASE = 0.5
#: The rate set after a 429 is this fraction of the rate the CDN accepted.
ESTIMATE_MARGIN = 0.97
#: Each accepted call multiplies the factor by ``1 + INCREASE`` (up to 1).
INCREASE = 0.0005
#: A 429 within this many seconds of the previous one adds no estimate (another worker's
#: answer to the same overload).
MIN_ESTIMATE_SECONDS = 1.0
# A Retry-After beyond this is treated as a mistake rather than obeyed.
_MAX_PENALTY_SECONDS = 3600.0
# Jitter added by acquire(): a fraction of the wait, capped, so that workers woken at
# the same moment do not all retry at the same instant.
_JITTER_FRACTION = 0.05
_JITTER_MAX_SECONDS = 0.1
# State is kept this much longer than it is needed.
_KEY_GRACE_SECONDS = 60
_FACTOR_SCALE = 1_000_000
_SAFE_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_jitter_random = random.SystemRandom()


class RateLimitWait(CfPurgeError):
    """Taking the budget would mean waiting longer than allowed.

    :ivar seconds: how long to wait before trying again.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"Purge rate limit: try again in {seconds:.1f} s.")
        self.seconds = seconds


class RateLimiter:
    """Share a CDN's purge rate limits between all processes using one cache.

    :param cache_alias: the Django cache that holds the state; by default
        ``CFPURGE["RATE_LIMIT_CACHE"]``, read when the limiter is built.
    :param clock: returns the current time in seconds (``time.time``); every process
        sharing the cache must agree on it, which NTP-synchronised clocks do.
    :param sleep: used by :meth:`acquire` to wait.
    :param safety: the fraction of the budget to use in the long run, in ``(0, 1]``;
        default ``CFPURGE["RATE_LIMIT_SAFETY"]``.
    :raises ValueError: ``safety`` is out of range.
    """

    def __init__(
        self,
        cache_alias: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        safety: float | None = None,
    ) -> None:
        if safety is None:
            safety = get_float("RATE_LIMIT_SAFETY", minimum=0.01)
        if not 0.0 < safety <= 1.0:
            raise ValueError(f"safety must be in (0, 1], not {safety!r}.")
        self.cache_alias = cache_alias if cache_alias is not None else get_str("RATE_LIMIT_CACHE")
        self.safety = safety
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"RateLimiter(cache_alias={self.cache_alias!r}, safety={self.safety!r})"

    @property
    def cache(self) -> BaseCache:
        """The cache holding the state (looked up on each use: thread-safe)."""
        return caches[self.cache_alias]

    # -- the adaptive factor ----------------------------------------------------
    def factor(self, key: str, budget: RateBudget) -> float:
        """The fraction of ``budget`` the CDN currently grants ``key`` (1.0: all of it)."""
        value = self.cache.get(_key(key, budget.family, "factor"))
        if value is None:
            return 1.0
        return max(MIN_FACTOR, min(1.0, int(value) / _FACTOR_SCALE))

    def _set_factor(self, key: str, budget: RateBudget, factor: float) -> None:
        factor = max(MIN_FACTOR, min(1.0, factor))
        timeout = 24 * 3600
        self.cache.set(_key(key, budget.family, "factor"), round(factor * _FACTOR_SCALE), timeout)

    def rate(self, key: str, budget: RateBudget) -> float:
        """Units per second the workers use together now."""
        return budget.rate * self.safety * self.factor(key, budget)

    # -- reserving ----------------------------------------------------------------
    def reserve(self, key: str, budget: RateBudget, cost: int) -> float:
        """Take ``cost`` units of ``key``'s ``budget`` now, if they are there.

        :param key: what shares the limit (a CDN account id…); shown in cache keys, so
            never a secret (unusual values are hashed).
        :param cost: units (URLs, or calls). A cost above one burst goes through when
            the budget is full, and is charged in full: the calls after it wait until
            it is paid back, so the long-run rate holds whatever the calls' sizes.
        :returns: ``0.0`` when taken; otherwise the seconds to wait before trying again
            (nothing taken).
        :raises ValueError: ``cost`` below 1.
        """
        if cost < 1:
            raise ValueError(f"cost must be at least 1, not {cost!r}.")
        cache = self.cache
        now = self._clock()
        blocked = self._blocked_until(key)
        if blocked > now:
            return blocked - now
        rate = self.rate(key, budget)
        burst = max(1.0, budget.capacity * self.safety * self.factor(key, budget))
        interval_us = 1_000_000 / rate
        tolerance_us = burst * interval_us
        increment = max(1, round(cost * interval_us))
        # Allowed while the reservation ends within one burst of now; a call bigger than
        # a burst, while the bucket is full (the counter was at or before now).
        limit_us = max(tolerance_us, increment)
        now_us = math.floor(now * 1_000_000)
        tat_key = _key(key, budget.family, "tat")
        timeout = math.ceil(limit_us / 1_000_000) + _KEY_GRACE_SECONDS
        tat = cache.get(tat_key)
        if tat is None or int(tat) < now_us:
            # The budget is full (idle since then): restart the clock at now. Two
            # workers doing this at once may lose one reservation: one call early.
            cache.set(tat_key, now_us, timeout)
        reserved = _incr(cache, tat_key, increment, now_us, timeout)
        if reserved - now_us <= limit_us:
            # The counter must outlive what it reserves: expiring while in the future
            # would hand out a whole burst again. Its expiry was set when it was created.
            # (A cache without touch() keeps that first expiry.)
            with contextlib.suppress(NotImplementedError):
                cache.touch(tat_key, math.ceil((reserved - now_us) / 1_000_000) + timeout)
            return 0.0
        with contextlib.suppress(ValueError):
            cache.decr(tat_key, increment)
        return (reserved - now_us - limit_us) / 1_000_000

    def acquire(
        self, key: str, budget: RateBudget, cost: int, *, max_wait: float | None = None
    ) -> float:
        """Wait until ``cost`` can be taken from ``key``'s ``budget``, then take it.

        :param max_wait: the most seconds to wait in total; ``None``: no limit.
        :returns: the seconds spent waiting.
        :raises RateLimitWait: taking it needs more than ``max_wait``; nothing taken.
        """
        waited = 0.0
        while True:
            wait = self.reserve(key, budget, cost)
            if wait <= 0.0:
                return waited
            if max_wait is not None and waited + wait > max_wait:
                raise RateLimitWait(wait)
            pause = wait + _jitter_random.uniform(
                0.0, min(wait * _JITTER_FRACTION, _JITTER_MAX_SECONDS)
            )
            if max_wait is not None:
                pause = min(pause, max_wait - waited)
            logger.debug("Rate limit for %s (%s): waiting %.3f s", key, budget.family, pause)
            self._sleep(pause)
            waited += pause

    # -- what the CDN answered --------------------------------------------------------
    def succeeded(self, key: str, budget: RateBudget, cost: int) -> None:
        """A call of ``cost`` units was accepted: count it, and raise the factor a little."""
        cache = self.cache
        acc_key = _key(key, budget.family, "accepted")
        if not cache.add(acc_key, cost, 24 * 3600):
            with contextlib.suppress(ValueError):
                cache.incr(acc_key, cost)
        factor = self.factor(key, budget)
        if factor < 1.0:
            self._set_factor(key, budget, factor * (1 + INCREASE))

    def throttled(self, key: str, budget: RateBudget, retry_after: float | None) -> float:
        """The CDN answered 429: pause ``key`` for every worker and lower its rate.

        :param retry_after: the CDN's ``Retry-After`` (seconds), if it gave one.
        :returns: the pause, in seconds.
        """
        cache = self.cache
        now = self._clock()
        factor = self.factor(key, budget)
        since_key = _key(key, budget.family, "since")
        acc_key = _key(key, budget.family, "accepted")
        since = cache.get(since_key)
        accepted = cache.get(acc_key) or 0
        new_factor = factor * DECREASE
        if since is not None and now - float(since) >= MIN_ESTIMATE_SECONDS:
            granted = int(accepted) / (now - float(since))
            estimate = ESTIMATE_MARGIN * granted / (budget.rate * self.safety)
            new_factor = max(new_factor, min(estimate, factor * 0.9))
        if since is None or now - float(since) >= MIN_ESTIMATE_SECONDS:
            cache.set(since_key, now, 24 * 3600)
            cache.set(acc_key, 0, 24 * 3600)
            self._set_factor(key, budget, new_factor)
            logger.info(
                "django-cfpurge: the CDN throttled %s (%s); rate now %.1f %% of the budget",
                key,
                budget.family,
                100 * max(MIN_FACTOR, new_factor),
            )
        pause = retry_after if retry_after and retry_after > 0 else budget.window / budget.capacity
        pause = min(pause, _MAX_PENALTY_SECONDS)
        self._block(key, now + pause, math.ceil(pause) + 1)
        return pause

    def _block(self, key: str, until: float, timeout: int) -> None:
        cache = self.cache
        block_key = _key(key, "all", "block")
        # Not atomic: two workers blocking at once may keep the shorter of two pauses the
        # CDN asked for, which is still one it asked for.
        if not cache.add(block_key, until, timeout):
            current = cache.get(block_key)
            if current is None or float(current) < until:
                cache.set(block_key, until, timeout)

    def _blocked_until(self, key: str) -> float:
        value = self.cache.get(_key(key, "all", "block"))
        return float(value) if value is not None else 0.0

    def blocked_for(self, key: str) -> float:
        """Seconds left of a :meth:`throttled` pause on ``key`` (0.0 if none)."""
        return max(self._blocked_until(key) - self._clock(), 0.0)


def _key(key: str, family: str, what: str) -> str:
    """Cache key for a rate-limit key's state: the key itself when it is key-safe, else
    a hash of it."""
    if not _SAFE_KEY.fullmatch(key):
        key = "h" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{KEY_PREFIX}:{key}:{family}:{what}"


def _incr(cache: BaseCache, key: str, delta: int, start: int, timeout: int) -> int:
    """Atomically add ``delta`` to the counter at ``key`` (created at ``start`` if it
    expired meanwhile); return its new value."""
    for _ in range(5):
        try:
            return int(cache.incr(key, delta))
        except ValueError:
            cache.add(key, start, timeout)
    raise CfPurgeError(f"The rate limiter's cache keeps losing the counter {key!r}.")
