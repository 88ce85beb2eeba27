"""A rate limiter shared by every worker, kept in the Django cache.

Cloudflare limits cache purges **per account** (see :data:`PLAN_LIMITS`): a
number of purged URLs per second for single-file purges, and a token bucket of
requests for purges by tag, host, prefix and "everything". Several Celery
workers purging for the same account must stay under that limit *together*, so
the limiter's state lives in a Django cache that they all share (Redis or
memcached in production).

How it counts
-------------
Each budget is a sliding window made of ``slots`` short slots. A request is
allowed when the costs recorded in the current slot and the ``slots`` slots
before it, plus its own cost, stay within the window's capacity. Slot counters
are created with ``cache.add`` and grown with ``cache.incr``, which are atomic
on Redis, memcached and the local-memory cache, so two workers can never both
spend the last unit: whoever increments second sees the first one's cost and
gives its own back with ``cache.decr``. No lock and no read-modify-write is
needed, and a reservation costs two or three cache round trips.

Why slots rather than a token bucket or a single counter: a token bucket needs
a compare-and-set that Django's cache API does not offer. A fixed-window
counter allows twice the limit across a window edge, and weighting the
previous window's counter by how much of it is still in view assumes its
requests were evenly spread, which a burst at its end is not. Counting the
current slot *and* ``slots`` whole slots before it covers every span of one
window length, whatever the order of the requests, so the guarantees below
hold exactly rather than on average; the capacity is raised by one slot's
worth to make up for the extra slot counted.

Guarantees, for requests that pass through one cache:

- single-file purges: at most the plan's URLs-per-second in *any* span of one
  second, and at most ``safety`` times that rate in the long run;
- operations (tags, hosts, prefixes, everything): never more than the plan's
  bucket would allow, and at most ``safety`` times its refill rate in the long
  run. The window is the time the bucket takes to refill from empty, so a
  burst of nearly the bucket's size goes out at once (and the next one when
  that burst has left the window: five and a half minutes on the Free plan).

The one exception is a single request costing more than a whole window: it is
charged as a full window and goes out when the window is empty, since it could
never go out otherwise.

The ``safety`` factor leaves room for what the limiter cannot see: purges made
from the dashboard or by other tools on the same account, clocks that differ
slightly between machines (a worker whose clock is a slot behind may miss a
reservation made in the slot ahead), and Cloudflare measuring over spans that
are not aligned with ours. When Cloudflare answers 429 all the same,
:meth:`RateLimiter.penalize` pauses the whole account for every worker.

Use a cache whose ``add``/``incr`` are atomic and shared by all workers: Redis
or memcached. The local-memory cache is atomic but private to one process, and
the database and file caches do not increment atomically.
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
from dataclasses import dataclass

from django.core.cache import BaseCache, caches

from .conf import get_float, get_setting
from .exceptions import CfPurgeError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PLAN",
    "KINDS",
    "OPERATION_KINDS",
    "PLAN_LIMITS",
    "PlanLimits",
    "RateLimitWait",
    "RateLimiter",
    "Window",
    "limits_for_plan",
    "request_cost",
]

#: Purge kinds that share the per-request "operations" budget.
OPERATION_KINDS: tuple[str, ...] = ("tags", "hosts", "prefixes", "everything")
#: Every purge kind the limiter knows ("files" are single-file URL purges).
KINDS: tuple[str, ...] = ("files", *OPERATION_KINDS)

#: Plan used when the plan is unknown: the one with the lowest limits.
DEFAULT_PLAN = "free"

KEY_PREFIX = "cfpurge:rl"

# Slots per window. The long-run rate is one capacity per slots + 1 slots, so more
# slots waste less of the limit (10: at most 91 %; 20: 95 %) but read more keys per
# reservation (one get_many of slots + 2 keys).
_SLOTS = 20
# Single-file purge limits are per second ("a moving average", says Cloudflare).
_FILES_WINDOW_SECONDS = 1.0
# Added to every computed wait so that a retry lands inside the next slot
# even after float rounding of a large epoch timestamp.
_EPSILON = 1e-5
# Counters are only ever read within one window; they are kept this much
# longer so that a worker whose clock lags a little still finds them.
_KEY_GRACE_SECONDS = 10
# A Retry-After beyond this is treated as a mistake rather than obeyed.
_MAX_PENALTY_SECONDS = 3600.0
# Jitter added by acquire(): a fraction of the wait, capped, so that workers
# woken by the same slot boundary do not all retry at the same instant.
_JITTER_FRACTION = 0.05
_JITTER_MAX_SECONDS = 0.1

_SAFE_BUCKET = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_jitter_random = random.SystemRandom()


@dataclass(frozen=True)
class PlanLimits:
    """Cloudflare's purge rate limits for one plan, per account.

    :ivar plan: the plan's ``legacy_id`` (``"free"``, ``"pro"``...).
    :ivar urls_per_second: single-file purge: URLs purged per second.
    :ivar operations: tag/host/prefix/everything purge: requests per
        :attr:`operations_period`.
    :ivar operations_period: the period of :attr:`operations`, in seconds.
    :ivar operations_burst: the size of the operations token bucket.
    """

    plan: str
    urls_per_second: int
    operations: int
    operations_period: float
    operations_burst: int

    @property
    def operations_per_second(self) -> float:
        """The bucket's refill rate, in requests per second."""
        return self.operations / self.operations_period


#: Purge rate limits by Cloudflare plan ``legacy_id`` (Cloudflare's "Purge
#: limits" table, 2025 onwards). Enterprise accounts can ask Cloudflare for
#: more; these are the defaults.
PLAN_LIMITS: dict[str, PlanLimits] = {
    "free": PlanLimits("free", 800, 5, 60.0, 25),
    "pro": PlanLimits("pro", 1500, 5, 1.0, 25),
    "business": PlanLimits("business", 1500, 10, 1.0, 50),
    "enterprise": PlanLimits("enterprise", 3000, 50, 1.0, 500),
}


def limits_for_plan(plan: str | None) -> PlanLimits:
    """Return the limits of a Cloudflare plan, given its ``legacy_id``.

    :param plan: ``"free"``, ``"pro"``, ``"business"`` or ``"enterprise"``
        (case and surrounding spaces ignored).
    :returns: the plan's limits; those of :data:`DEFAULT_PLAN`, the most
        conservative, when ``plan`` is empty or unknown.
    """
    key = (plan or "").strip().lower()
    limits = PLAN_LIMITS.get(key)
    if limits is None:
        if key:
            logger.debug(
                "Unknown Cloudflare plan %r: using the %s plan's limits", plan, DEFAULT_PLAN
            )
        limits = PLAN_LIMITS[DEFAULT_PLAN]
    return limits


def request_cost(kind: str, n_items: int) -> int:
    """Return what one purge API call costs against its budget.

    Single-file purges are limited in URLs, so they cost their number of
    URLs. The other kinds are limited in requests, so each call costs one,
    however many tags, hosts or prefixes it carries.

    :raises ValueError: ``kind`` is not one of :data:`KINDS`.
    """
    _check_kind(kind)
    if kind == "files":
        return max(int(n_items), 1)
    return 1


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"Unknown purge kind {kind!r}; expected one of {', '.join(KINDS)}.")


class RateLimitWait(CfPurgeError):
    """Taking the budget would mean waiting longer than allowed.

    :ivar seconds: how long to wait before trying again.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"Cloudflare purge rate limit: try again in {seconds:.1f} s.")
        self.seconds = seconds


@dataclass(frozen=True)
class Window:
    """The sliding window that enforces one budget.

    A reservation is allowed when the costs recorded in the current slot and
    the :attr:`slots` slots before it, plus its own, are at most
    :attr:`capacity`.

    :ivar family: ``"files"`` or ``"ops"`` (the budget's name in cache keys).
    :ivar slot_us: the length of one slot, in microseconds.
    :ivar slots: slots per window; any span of :attr:`seconds` is covered.
    :ivar capacity: the most that may be spent in one window.
    """

    family: str
    slot_us: int
    slots: int
    capacity: int

    @property
    def seconds(self) -> float:
        """The length of the spans the capacity applies to, in seconds."""
        return self.slot_us * self.slots / 1_000_000

    @property
    def timeout(self) -> int:
        """Cache timeout of a slot counter, in seconds."""
        return math.ceil(self.slot_us * (self.slots + 2) / 1_000_000) + _KEY_GRACE_SECONDS


class RateLimiter:
    """Share Cloudflare's purge rate limits between all processes using one cache.

    :param cache_alias: the Django cache that holds the counters; by default
        ``CFPURGE["RATE_LIMIT_CACHE"]``, read when the limiter is built.
    :param clock: returns the current time in seconds (``time.time``). Every
        process sharing the cache must agree on it, which NTP-synchronised
        wall clocks do closely enough.
    :param sleep: used by :meth:`acquire` to wait.
    :param safety: the fraction of Cloudflare's long-run rate to use, in
        ``(0, 1]``; default ``CFPURGE["RATE_LIMIT_SAFETY"]`` (0.95). See the module
        documentation for why it is below 1.
    :param slots: slots per window (see the module documentation); all processes
        sharing a cache must use the same number.
    :raises ValueError: ``safety`` is out of range.
    """

    def __init__(
        self,
        cache_alias: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        safety: float | None = None,
        slots: int = _SLOTS,
    ) -> None:
        if safety is None:
            safety = get_float("RATE_LIMIT_SAFETY")
        if not 0.0 < safety <= 1.0:
            raise ValueError(f"safety must be in (0, 1], not {safety!r}.")
        self.cache_alias: str = (
            cache_alias if cache_alias is not None else get_setting("RATE_LIMIT_CACHE")
        )
        self.safety = safety
        if slots < 1:
            raise ValueError(f"slots must be at least 1, not {slots!r}.")
        self.slots = slots
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"RateLimiter(cache_alias={self.cache_alias!r}, safety={self.safety!r})"

    @property
    def cache(self) -> BaseCache:
        """The cache holding the counters (looked up on each use: thread-safe)."""
        return caches[self.cache_alias]

    def window(self, kind: str, plan: str | None) -> Window:
        """Return the window that enforces ``kind``'s budget on ``plan``.

        The capacity is chosen so that a full window never exceeds
        Cloudflare's limit over the window's length, while the long-run rate,
        one capacity per ``slots + 1`` slots, is ``safety`` times the limit.

        :raises ValueError: ``kind`` is not one of :data:`KINDS`.
        """
        _check_kind(kind)
        limits = limits_for_plan(plan)
        slots = self.slots
        stretch = self.safety * (slots + 1) / slots
        if kind == "files":
            seconds = _FILES_WINDOW_SECONDS
            allowed = limits.urls_per_second * seconds
            capacity = min(allowed, allowed * stretch)
            family = "files"
        else:
            # The time the bucket takes to refill from empty: a full window
            # then never asks for more than one bucket, and any longer span
            # for no more than the bucket plus what refilled meanwhile.
            seconds = limits.operations_burst / limits.operations_per_second
            capacity = min(limits.operations_burst, limits.operations_burst * stretch)
            family = "ops"
        slot_us = max(round(seconds * 1_000_000 / slots), 1)
        return Window(family, slot_us, slots, max(math.floor(capacity + 1e-9), 1))

    def reserve(self, bucket: str, kind: str, cost: int, plan: str | None) -> float:
        """Take ``cost`` from ``bucket``'s budget now, if it is there.

        :param bucket: the Cloudflare account id (limits are per account), or
            the zone id when the account is unknown. Shown in cache keys, so
            never pass a secret; unusual values are hashed.
        :param kind: ``"files"``, or ``"tags"``, ``"hosts"``, ``"prefixes"``,
            ``"everything"``, which share one budget.
        :param cost: URLs for ``"files"``, API requests for the other kinds
            (see :func:`request_cost`). A cost above the window's capacity is
            charged as the capacity, so that it can still go through once the
            window is empty.
        :param plan: the zone's plan ``legacy_id``; unknown means ``"free"``.
            All workers must pass the same plan for a bucket.
        :returns: ``0.0`` when the cost was taken and recorded; otherwise the
            seconds to wait before trying again, and nothing is recorded.
        :raises ValueError: unknown ``kind``, or ``cost`` below 1.
        """
        window = self.window(kind, plan)
        if cost < 1:
            raise ValueError(f"cost must be at least 1, not {cost!r}.")
        cost = min(int(cost), window.capacity)
        cache = self.cache
        now = self._clock()
        now_us = math.floor(now * 1_000_000)
        current = now_us // window.slot_us
        prefix = _bucket_prefix(bucket)
        block_key = f"{prefix}:block"
        slot_keys = [
            f"{prefix}:{window.family}:{window.slot_us}:{slot}"
            for slot in range(current - window.slots, current + 1)
        ]

        found = cache.get_many([block_key, *slot_keys])
        blocked_until = found.get(block_key)
        if blocked_until is not None and float(blocked_until) > now:
            return float(blocked_until) - now
        counts = [int(found.get(key, 0)) for key in slot_keys]
        if sum(counts) + cost > window.capacity:
            # Someone else's reservations already fill the window: say how
            # long without touching the counters, which would only make
            # concurrent reservations fail for nothing.
            return self._wait(window, counts, cost, current, now)

        # The atomic increment is the real test: it sees every reservation
        # that incremented before it, whichever worker made it.
        spent = _add_or_incr(cache, slot_keys[-1], cost, window.timeout)
        counts[-1] = spent
        if sum(counts) <= window.capacity:
            return 0.0
        # A counter that expired meanwhile has nothing left to give back.
        with contextlib.suppress(ValueError):
            cache.decr(slot_keys[-1], cost)
        counts[-1] = spent - cost
        return self._wait(window, counts, cost, current, now)

    def acquire(
        self,
        bucket: str,
        kind: str,
        cost: int,
        plan: str | None,
        *,
        max_wait: float | None = None,
    ) -> float:
        """Wait until ``cost`` can be taken from ``bucket``'s budget, then take it.

        Arguments are those of :meth:`reserve`.

        :param max_wait: the most seconds to wait in total; ``None``: no limit.
        :returns: the seconds spent waiting.
        :raises RateLimitWait: taking the budget needs more than ``max_wait``;
            nothing was taken. Its ``seconds`` say when to try again.
        """
        waited = 0.0
        while True:
            wait = self.reserve(bucket, kind, cost, plan)
            if wait <= 0.0:
                return waited
            if max_wait is not None and waited + wait > max_wait:
                logger.debug(
                    "Rate limit for %s (%s): %.3f s wait exceeds max_wait", bucket, kind, wait
                )
                raise RateLimitWait(wait)
            pause = wait + _jitter_random.uniform(
                0.0, min(wait * _JITTER_FRACTION, _JITTER_MAX_SECONDS)
            )
            if max_wait is not None:
                pause = min(pause, max_wait - waited)
            logger.debug("Rate limit for %s (%s): waiting %.3f s", bucket, kind, pause)
            self._sleep(pause)
            waited += pause

    def penalize(self, bucket: str, retry_after: float) -> None:
        """Pause every kind of purge for ``bucket``, in every process.

        Call it after Cloudflare answered 429: :meth:`reserve` then returns
        the remaining pause until ``retry_after`` seconds from now. A pause
        already running that ends later is kept. Values above an hour are
        treated as an hour.

        :param bucket: as for :meth:`reserve`.
        :param retry_after: seconds, usually Cloudflare's ``Retry-After``.
        """
        if not retry_after or retry_after <= 0 or math.isnan(retry_after):
            return
        if retry_after > _MAX_PENALTY_SECONDS:
            logger.warning(
                "Retry-After of %.0f s for %s capped at %.0f s",
                retry_after,
                bucket,
                _MAX_PENALTY_SECONDS,
            )
            retry_after = _MAX_PENALTY_SECONDS
        cache = self.cache
        deadline = self._clock() + retry_after
        key = f"{_bucket_prefix(bucket)}:block"
        timeout = math.ceil(retry_after) + 1
        # Not atomic: two workers penalizing at once may keep the shorter of
        # two Cloudflare-given pauses, which is still one Cloudflare asked for.
        if not cache.add(key, deadline, timeout):
            current = cache.get(key)
            if current is None or float(current) < deadline:
                cache.set(key, deadline, timeout)
        logger.info(
            "Cloudflare rate limit hit for %s: purges paused for %.1f s", bucket, retry_after
        )

    def blocked_for(self, bucket: str) -> float:
        """Seconds left of a :meth:`penalize` pause on ``bucket`` (0.0 if none)."""
        deadline = self.cache.get(f"{_bucket_prefix(bucket)}:block")
        if deadline is None:
            return 0.0
        return max(float(deadline) - self._clock(), 0.0)

    def before_call_hook(
        self, bucket: str, plan: str | None, *, max_wait: float | None = None
    ) -> Callable[[str, int], None]:
        """Return a ``before_call(kind, n_items)`` callback for the API client.

        Each call waits for :func:`request_cost` of the API call in
        ``bucket``'s budget, as :meth:`acquire` does.
        """

        def before_call(kind: str, n_items: int) -> None:
            self.acquire(bucket, kind, request_cost(kind, n_items), plan, max_wait=max_wait)

        return before_call

    @staticmethod
    def _wait(window: Window, counts: list[int], cost: int, current: int, now: float) -> float:
        """Seconds until enough old slots leave the window for ``cost`` to fit.

        ``counts`` are the slots ``current - slots`` to ``current``; reaching
        slot ``current + j`` drops the first ``j`` of them. Since ``cost`` is
        at most the capacity, dropping them all always makes room.
        """
        remaining = sum(counts)
        for dropped in range(1, len(counts) + 1):
            remaining -= counts[dropped - 1]
            if remaining + cost <= window.capacity:
                break
        boundary = (current + dropped) * window.slot_us / 1_000_000
        return max(boundary - now, 0.0) + _EPSILON


def _bucket_prefix(bucket: str) -> str:
    """Cache key prefix for a bucket: the id itself when it is key-safe, else a hash."""
    if _SAFE_BUCKET.fullmatch(bucket):
        return f"{KEY_PREFIX}:{bucket}"
    digest = hashlib.sha256(bucket.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{KEY_PREFIX}:h{digest}"


def _add_or_incr(cache: BaseCache, key: str, cost: int, timeout: int) -> int:
    """Atomically add ``cost`` to the counter at ``key``; return its new value."""
    for _ in range(5):
        if cache.add(key, cost, timeout):
            return cost
        try:
            return int(cache.incr(key, cost))
        except ValueError:
            continue  # expired between add() and incr(): create it again
    raise CfPurgeError(f"The rate limiter's cache keeps losing the counter {key!r}.")
