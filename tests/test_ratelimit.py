"""The shared, adaptive purge rate limiter, on a fake clock and the local-memory cache.

The cache's own expiry follows the same fake clock, so hours of purging run in
milliseconds and what expires, expires when it would. Nothing here measures time: the
tests count what was granted, in what order, and read the factor.
"""

from __future__ import annotations

import heapq
import math
import random
import threading
import types
import uuid
from collections.abc import Iterator

import pytest
from django.core.cache import caches
from django.core.cache.backends import base as cache_base
from django.core.cache.backends import locmem
from django.test import override_settings

from django_cfpurge import ratelimit
from django_cfpurge.backends.base import RateBudget
from django_cfpurge.backends.cloudflare import CloudflareBackend
from django_cfpurge.exceptions import CfPurgeError
from django_cfpurge.ratelimit import (
    DECREASE,
    ESTIMATE_MARGIN,
    INCREASE,
    MIN_FACTOR,
    RateLimiter,
    RateLimitWait,
)
from tests.cfapi import ACCOUNT_ID, API_TOKEN, ZONE_ID

ACCOUNT = ACCOUNT_ID
OTHER_ACCOUNT = "0123456789abcdef0123456789abcdef"
START = 3_000_000.0
SAFETY = 0.9

# Cloudflare's budgets (see test_cloudflare_backend.py): URLs per second, and the bucket
# shared by tag, host, prefix and "everything" purges.
FILES_FREE = RateBudget("files", 800, 1.0)
FILES_ENTERPRISE = RateBudget("files", 3000, 1.0)
OPS_FREE = RateBudget("ops", 25, 300.0)
OPS_PRO = RateBudget("ops", 25, 5.0)
SMALL = RateBudget("small", 25, 1.0)


class FakeClock:
    """A clock that only moves when told to, or when someone sleeps on it."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The limiter's clock, which the local-memory cache's expiry follows too."""
    clock = FakeClock()
    fake_time = types.SimpleNamespace(time=clock)
    monkeypatch.setattr(locmem, "time", fake_time)
    monkeypatch.setattr(cache_base, "time", fake_time)
    return clock


@pytest.fixture
def alias() -> Iterator[str]:
    """A cache alias of its own (a fresh local-memory cache) for each test."""
    name = f"rl-{uuid.uuid4().hex}"
    caches_setting = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        name: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": name},
    }
    with override_settings(CACHES=caches_setting):
        yield name
        caches[name].clear()


@pytest.fixture(autouse=True)
def seeded_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make acquire()'s jitter repeatable, so that every run simulates the same thing."""
    monkeypatch.setattr(ratelimit, "_jitter_random", random.Random(0))


@pytest.fixture
def limiter(alias: str, clock: FakeClock) -> RateLimiter:
    return RateLimiter(alias, clock=clock, sleep=clock.sleep, safety=SAFETY)


def burst(budget: RateBudget, safety: float = SAFETY, factor: float = 1.0) -> float:
    return budget.capacity * safety * factor


def take_all_now(limiter: RateLimiter, key: str, budget: RateBudget, cost: int = 1) -> int:
    """Units granted at this instant, ``cost`` at a time, until one is refused."""
    granted = 0
    while limiter.reserve(key, budget, cost) == 0.0:
        granted += cost
        assert granted < 100_000
    return granted


def assert_fits_token_bucket(
    grants: list[tuple[float, int]], budget: RateBudget, scale: float = 1.0
) -> None:
    """Fail if the CDN's bucket (full at the start) would have refused any grant.

    ``scale`` < 1 checks the limiter's own, smaller bucket (the budget times ``safety``),
    allowing for the microsecond rounding of each reservation.
    """
    capacity, rate = budget.capacity * scale, budget.rate * scale
    slack = 1e-6 if scale == 1.0 else 1e-3 * capacity + 1
    tokens, last = capacity, grants[0][0]
    for when, cost in grants:
        tokens = min(capacity, tokens + (when - last) * rate)
        last = when
        tokens -= cost
        assert tokens >= -slack, f"the bucket ran dry at t={when - START:.3f}"


def steady_rate(grants: list[tuple[float, int]], budget: RateBudget) -> float:
    """Units per second once the first burst is spent (after ten windows), to the end."""
    since = grants[0][0] + 10 * budget.window
    late = [(when, cost) for when, cost in grants if when > since]
    return sum(cost for _, cost in late) / (late[-1][0] - since)


# -- construction ----------------------------------------------------------------------


def test_cache_alias_is_read_from_settings_when_built(alias: str) -> None:
    with override_settings(CFPURGE={"RATE_LIMIT_CACHE": alias}):
        limiter = RateLimiter()
    assert limiter.cache_alias == alias
    with override_settings(
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "ratelimits": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        },
        CFPURGE={"RATE_LIMIT_CACHE": "ratelimits"},
    ):
        limiter = RateLimiter()
    assert limiter.cache_alias == "ratelimits"
    assert RateLimiter().cache_alias == "default"
    assert RateLimiter("other").cache_alias == "other"
    assert repr(limiter) == "RateLimiter(cache_alias='ratelimits', safety=0.95)"


@pytest.mark.parametrize("safety", [0.0, -0.5, 1.01, float("nan")])
def test_safety_must_be_a_fraction(safety: float) -> None:
    with pytest.raises(ValueError, match="safety"):
        RateLimiter("default", safety=safety)


def test_safety_comes_from_settings_by_default() -> None:
    assert RateLimiter().safety == 0.95
    with override_settings(CFPURGE={"RATE_LIMIT_SAFETY": 0.8}):
        assert RateLimiter().safety == 0.8
        assert RateLimiter(safety=0.5).safety == 0.5
    with override_settings(CFPURGE={"RATE_LIMIT_SAFETY": "fast"}):
        assert RateLimiter().safety == 0.95  # a wrong setting never raises


@pytest.mark.parametrize("cost", [0, -5])
def test_a_cost_below_one_is_a_mistake(limiter: RateLimiter, cost: int) -> None:
    with pytest.raises(ValueError, match="cost"):
        limiter.reserve(ACCOUNT, FILES_FREE, cost)


# -- reserve() -------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [FILES_FREE, FILES_ENTERPRISE, OPS_FREE, OPS_PRO])
def test_a_full_bucket_gives_one_burst_at_once(limiter: RateLimiter, budget: RateBudget) -> None:
    granted = take_all_now(limiter, ACCOUNT, budget)
    # One burst (microsecond rounding may give or take a unit per thousand).
    assert burst(budget) * 0.999 - 1 <= granted <= burst(budget) * 1.001
    assert granted < budget.capacity


def test_the_wait_is_the_time_until_the_units_are_back(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    take_all_now(limiter, ACCOUNT, OPS_FREE)
    wait = limiter.reserve(ACCOUNT, OPS_FREE, 1)
    interval = 1 / (OPS_FREE.rate * SAFETY)  # one call's share of the rate
    assert 0 < wait <= interval
    clock.advance(wait - 0.01)
    assert limiter.reserve(ACCOUNT, OPS_FREE, 1) == pytest.approx(0.01, abs=1e-5)
    clock.advance(0.01)
    assert limiter.reserve(ACCOUNT, OPS_FREE, 1) == 0.0
    # Exactly one more: the next waits a whole interval.
    assert limiter.reserve(ACCOUNT, OPS_FREE, 1) == pytest.approx(interval, abs=1e-5)


def test_a_refused_reservation_takes_nothing(limiter: RateLimiter) -> None:
    take_all_now(limiter, ACCOUNT, FILES_FREE, cost=10)
    waits = {round(limiter.reserve(ACCOUNT, FILES_FREE, 10), 9) for _ in range(50)}
    assert len(waits) == 1
    # What is left (less than 10) can still be taken.
    assert limiter.reserve(ACCOUNT, FILES_FREE, 1) == 0.0


def test_budgets_are_per_key_and_per_family(limiter: RateLimiter) -> None:
    take_all_now(limiter, ACCOUNT, FILES_FREE, cost=10)
    assert limiter.reserve(ACCOUNT, FILES_FREE, 10) > 0
    assert limiter.reserve(OTHER_ACCOUNT, FILES_FREE, 10) == 0.0
    assert limiter.reserve(ACCOUNT, OPS_FREE, 1) == 0.0
    # Budgets of one family share their counter, whatever kind asked.
    ops_again = RateBudget("ops", OPS_FREE.capacity, OPS_FREE.window)
    granted = 1 + take_all_now(limiter, ACCOUNT, ops_again)
    assert granted in (math.floor(burst(OPS_FREE)) - 1, math.floor(burst(OPS_FREE)))
    assert limiter.reserve(ACCOUNT, OPS_FREE, 1) > 0


def test_a_call_bigger_than_the_bucket_goes_when_it_is_full(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    assert limiter.reserve(ACCOUNT, SMALL, 100) == 0.0
    # ...and is paid for in full: the next unit waits until the bucket has refilled
    # the 100 units, less one burst.
    rate = SMALL.rate * SAFETY
    expected = (100 - burst(SMALL)) / rate + 1 / rate
    assert limiter.reserve(ACCOUNT, SMALL, 1) == pytest.approx(expected, rel=1e-3)


def test_a_big_call_waits_for_a_full_bucket_not_for_ever(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    assert limiter.reserve(ACCOUNT, SMALL, 1) == 0.0
    wait = limiter.reserve(ACCOUNT, SMALL, 100)
    assert wait == pytest.approx(1 / (SMALL.rate * SAFETY), rel=1e-3)
    clock.advance(wait)
    assert limiter.reserve(ACCOUNT, SMALL, 100) == 0.0


def test_big_calls_keep_to_the_rate_in_the_long_run(limiter: RateLimiter, clock: FakeClock) -> None:
    """Calls four times the bucket: each goes when the bucket is full, and in the long
    run no more units go than the rate allows."""
    grants: list[tuple[float, int]] = []
    while clock.now < START + 200:
        limiter.acquire(ACCOUNT, SMALL, 100)
        grants.append((clock.now, 100))
    allowed = burst(SMALL) + SMALL.rate * SAFETY * (grants[-1][0] - START)
    assert sum(cost for _, cost in grants) <= allowed + 100
    assert len(grants) >= 0.95 * (SMALL.rate * SAFETY * 200) / 100


def test_a_lost_counter_is_rebuilt(limiter: RateLimiter, alias: str) -> None:
    take_all_now(limiter, ACCOUNT, OPS_FREE)
    caches[alias].clear()  # evicted
    assert limiter.reserve(ACCOUNT, OPS_FREE, 1) == 0.0


# -- acquire() ---------------------------------------------------------------------------


def test_acquire_waits_then_takes(limiter: RateLimiter, clock: FakeClock) -> None:
    take_all_now(limiter, ACCOUNT, FILES_FREE, cost=100)
    assert clock.sleeps == []
    expected = limiter.reserve(ACCOUNT, FILES_FREE, 100)
    waited = limiter.acquire(ACCOUNT, FILES_FREE, 100)
    assert waited == pytest.approx(sum(clock.sleeps))
    # The wait, plus at most 5 % of jitter (never more than 0.1 s).
    assert expected <= waited <= expected + min(0.05 * expected, 0.1) + 1e-9
    assert limiter.reserve(ACCOUNT, FILES_FREE, 100) > 0  # it took what it waited for


def test_acquire_raises_rather_than_waiting_too_long(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    take_all_now(limiter, ACCOUNT, OPS_FREE)
    expected = limiter.reserve(ACCOUNT, OPS_FREE, 1)
    with pytest.raises(RateLimitWait) as caught:
        limiter.acquire(ACCOUNT, OPS_FREE, 1, max_wait=expected / 2)
    assert isinstance(caught.value, CfPurgeError)
    assert caught.value.seconds == pytest.approx(expected)
    assert f"{expected:.1f} s" in str(caught.value)
    assert clock.sleeps == []
    # A wait that fits is taken, and jitter never pushes it past max_wait.
    assert limiter.acquire(ACCOUNT, OPS_FREE, 1, max_wait=expected + 1e-4) <= expected + 1e-4


# -- never over the budget --------------------------------------------------------------------


@pytest.mark.parametrize("budget", [FILES_FREE, FILES_ENTERPRISE])
@pytest.mark.parametrize("costs", ["30", "1-100"])
def test_url_purges_never_overdraw_the_bucket(
    limiter: RateLimiter, clock: FakeClock, budget: RateBudget, costs: str
) -> None:
    rng = random.Random(f"{budget.capacity}-{costs}")
    grants: list[tuple[float, int]] = []
    while clock.now < START + 30:
        cost = 30 if costs == "30" else rng.randint(1, 100)
        limiter.acquire(ACCOUNT, budget, cost)
        grants.append((clock.now, cost))
        clock.advance(rng.uniform(0, 0.002))  # the API call itself
    assert_fits_token_bucket(grants, budget)
    assert_fits_token_bucket(grants, budget, scale=SAFETY)
    # Useful too: close to the rate allowed.
    assert steady_rate(grants, budget) >= 0.95 * SAFETY * budget.rate


@pytest.mark.parametrize(("budget", "minutes"), [(OPS_FREE, 30), (OPS_PRO, 2)])
def test_operations_never_overdraw_the_bucket_however_long(
    limiter: RateLimiter, clock: FakeClock, budget: RateBudget, minutes: int
) -> None:
    """Longer than the counter's own expiry: it must live as long as it is in use."""
    rng = random.Random(budget.window)
    grants: list[tuple[float, int]] = []
    end = START + minutes * 60
    while clock.now < end:
        limiter.acquire(ACCOUNT, budget, 1)
        grants.append((clock.now, 1))
        clock.advance(rng.uniform(0, 0.01))
    assert_fits_token_bucket(grants, budget)
    assert_fits_token_bucket(grants, budget, scale=SAFETY)
    # A burst at once (within the first second), then the rate.
    first_second = [when for when, _ in grants if when < START + 1]
    assert len(first_second) >= math.floor(burst(budget)) - 1
    allowed = budget.capacity + budget.rate * minutes * 60
    assert 0.85 * allowed * SAFETY <= len(grants) <= allowed


def test_the_default_limiter_uses_most_of_the_plan(alias: str, clock: FakeClock) -> None:
    """The shipped safety: about 95 % of the limit in the long run, never more."""
    limiter = RateLimiter(alias, clock=clock, sleep=clock.sleep)
    assert limiter.safety == 0.95
    grants: list[tuple[float, int]] = []
    while clock.now < START + 20:
        limiter.acquire(ACCOUNT, FILES_FREE, 30)
        grants.append((clock.now, 30))
    assert_fits_token_bucket(grants, FILES_FREE)
    assert_fits_token_bucket(grants, FILES_FREE, scale=0.95)
    assert steady_rate(grants, FILES_FREE) >= 0.94 * FILES_FREE.rate


def test_two_workers_sharing_a_cache_stay_within_the_bucket(alias: str, clock: FakeClock) -> None:
    """Two limiters on one cache, interleaved as two worker processes would be."""
    workers = [RateLimiter(alias, clock=clock, sleep=clock.sleep, safety=SAFETY) for _ in range(2)]
    rng = random.Random(2)
    grants: list[tuple[float, int]] = []
    granted_by: set[int] = set()
    # (when the worker next tries, tie-breaker, worker index, its next cost)
    queue = [(START, i, i, rng.randint(1, 100)) for i in range(len(workers))]
    while queue[0][0] < START + 30:
        when, _, index, cost = heapq.heappop(queue)
        clock.now = max(clock.now, when)
        wait = workers[index].reserve(ACCOUNT, FILES_FREE, cost)
        if wait == 0.0:
            grants.append((clock.now, cost))
            granted_by.add(index)
            when, cost = clock.now + rng.uniform(0, 0.005), rng.randint(1, 100)
        else:
            when = clock.now + wait + rng.uniform(0, 0.01)
        heapq.heappush(queue, (when, rng.random(), index, cost))
    assert granted_by == {0, 1}
    assert_fits_token_bucket(grants, FILES_FREE)
    assert steady_rate(grants, FILES_FREE) >= 0.85 * SAFETY * FILES_FREE.rate


@pytest.mark.parametrize(("budget", "max_cost"), [(FILES_FREE, 40), (OPS_FREE, 1)])
def test_threads_never_overspend(limiter: RateLimiter, budget: RateBudget, max_cost: int) -> None:
    """Real threads on one frozen instant: the total granted never passes one burst."""
    assert limiter.reserve(ACCOUNT, budget, 1) == 0.0  # the counter exists
    granted: list[int] = [1]
    lock = threading.Lock()
    start = threading.Barrier(8)

    def hammer(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(150):
            cost = rng.randint(1, max_cost)
            if limiter.reserve(ACCOUNT, budget, cost) == 0.0:
                with lock:
                    granted.append(cost)

    threads = [threading.Thread(target=hammer, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) <= burst(budget)
    # Refused reservations gave back what they took: what is left can still be taken.
    left = take_all_now(limiter, ACCOUNT, budget)
    assert math.floor(burst(budget)) - 1 <= sum(granted) + left <= burst(budget)


# -- throttled(): the CDN answered 429 ---------------------------------------------------------


def test_a_429_blocks_every_family_and_every_worker_until_retry_after(
    alias: str, clock: FakeClock
) -> None:
    worker_a = RateLimiter(alias, clock=clock, sleep=clock.sleep, safety=SAFETY)
    worker_b = RateLimiter(alias, clock=clock, sleep=clock.sleep, safety=SAFETY)
    assert worker_a.throttled(ACCOUNT, FILES_FREE, 30) == 30
    for worker in (worker_a, worker_b):
        assert worker.blocked_for(ACCOUNT) == pytest.approx(30.0)
        for budget in (FILES_FREE, OPS_FREE):
            assert worker.reserve(ACCOUNT, budget, 1) == pytest.approx(30.0)
    assert worker_b.reserve(OTHER_ACCOUNT, FILES_FREE, 1) == 0.0
    clock.advance(29.5)
    with pytest.raises(RateLimitWait):
        worker_b.acquire(ACCOUNT, OPS_FREE, 1, max_wait=0.1)
    assert worker_b.acquire(ACCOUNT, OPS_FREE, 1) == pytest.approx(0.5, abs=0.03)
    assert worker_a.blocked_for(ACCOUNT) == 0.0
    assert worker_a.reserve(ACCOUNT, FILES_FREE, 1) == 0.0


@pytest.mark.parametrize("retry_after", [None, 0, -1, float("nan")])
def test_a_429_without_a_usable_retry_after_pauses_one_unit(
    limiter: RateLimiter, retry_after: float | None
) -> None:
    assert limiter.throttled(ACCOUNT, OPS_FREE, retry_after) == pytest.approx(12.0)
    assert limiter.blocked_for(ACCOUNT) == pytest.approx(12.0)


@pytest.mark.parametrize("retry_after", [10**9, float("inf")])
def test_an_absurd_retry_after_is_capped(limiter: RateLimiter, retry_after: float) -> None:
    assert limiter.throttled(ACCOUNT, FILES_FREE, retry_after) == 3600.0
    assert limiter.blocked_for(ACCOUNT) == pytest.approx(3600.0)


def test_the_longer_pause_wins(limiter: RateLimiter) -> None:
    limiter.throttled(ACCOUNT, FILES_FREE, 60)
    limiter.throttled(ACCOUNT, OPS_FREE, 5)
    assert limiter.blocked_for(ACCOUNT) == pytest.approx(60.0)
    limiter.throttled(ACCOUNT, FILES_FREE, 90)
    assert limiter.blocked_for(ACCOUNT) == pytest.approx(90.0)


def test_the_first_429_halves_the_factor(limiter: RateLimiter, clock: FakeClock) -> None:
    assert limiter.factor(ACCOUNT, FILES_FREE) == 1.0
    before = take_all_now(limiter, ACCOUNT, FILES_FREE)
    limiter.throttled(ACCOUNT, FILES_FREE, 1)
    assert limiter.factor(ACCOUNT, FILES_FREE) == DECREASE == 0.5
    assert limiter.rate(ACCOUNT, FILES_FREE) == pytest.approx(0.5 * SAFETY * FILES_FREE.rate)
    # Another worker's 429 for the same overload (within a second) cuts nothing more.
    clock.advance(0.5)
    limiter.throttled(ACCOUNT, FILES_FREE, 1)
    assert limiter.factor(ACCOUNT, FILES_FREE) == 0.5
    # Only this family: the other bucket keeps its rate.
    assert limiter.factor(ACCOUNT, OPS_FREE) == 1.0
    # Paced at half: half a burst once the bucket is full again.
    clock.advance(60)
    after = take_all_now(limiter, ACCOUNT, FILES_FREE)
    assert after == pytest.approx(before / 2, abs=2)


def test_a_later_429_sets_the_rate_the_cdn_accepted(limiter: RateLimiter, clock: FakeClock) -> None:
    limiter.throttled(ACCOUNT, FILES_FREE, 1)  # factor 0.5: 360 URLs/s at SAFETY 0.9
    # For 100 s the CDN accepts 300 URLs a second, then answers 429 again.
    for _ in range(300):
        clock.advance(1 / 3)
        limiter.succeeded(ACCOUNT, FILES_FREE, 100)
    limiter.throttled(ACCOUNT, FILES_FREE, 1)
    expected = ESTIMATE_MARGIN * 300 / (SAFETY * FILES_FREE.rate)
    assert limiter.factor(ACCOUNT, FILES_FREE) == pytest.approx(expected, rel=1e-3)
    assert limiter.rate(ACCOUNT, FILES_FREE) == pytest.approx(ESTIMATE_MARGIN * 300, rel=1e-3)


def test_a_429_never_cuts_more_than_half_nor_below_the_floor(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    factors = []
    for _ in range(12):
        clock.advance(2)  # nothing accepted in between: the estimate is zero
        limiter.throttled(ACCOUNT, FILES_FREE, 1)
        factors.append(limiter.factor(ACCOUNT, FILES_FREE))
    for before, after in zip([1.0, *factors[:-1]], factors, strict=True):
        assert after >= max(before * DECREASE, MIN_FACTOR) - 1e-6
    assert factors[-1] == MIN_FACTOR
    # Even at the floor a call can go: a trickle, never a stop.
    clock.advance(3600)
    assert limiter.reserve(ACCOUNT, FILES_FREE, 100) == 0.0


def test_a_429_after_fast_acceptance_still_lowers_the_rate(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    limiter.throttled(ACCOUNT, OPS_PRO, 1)
    for _ in range(1000):
        clock.advance(0.01)
        limiter.succeeded(ACCOUNT, OPS_PRO, 1)  # 100 calls/s: more than the plan's rate
    before = limiter.factor(ACCOUNT, OPS_PRO)
    limiter.throttled(ACCOUNT, OPS_PRO, 1)
    assert limiter.factor(ACCOUNT, OPS_PRO) == pytest.approx(0.9 * before, rel=1e-3)


def test_accepted_calls_climb_back_to_the_full_rate(limiter: RateLimiter) -> None:
    limiter.throttled(ACCOUNT, FILES_FREE, 1)
    factors = []
    for _ in range(1500):
        limiter.succeeded(ACCOUNT, FILES_FREE, 30)
        factors.append(limiter.factor(ACCOUNT, FILES_FREE))
    assert factors == sorted(factors)
    assert factors[0] == pytest.approx(0.5 * (1 + INCREASE), rel=1e-5)
    assert factors[999] < 1.0
    assert factors[-1] == 1.0


def test_the_factor_is_shared_between_workers(alias: str, clock: FakeClock) -> None:
    worker_a = RateLimiter(alias, clock=clock, sleep=clock.sleep, safety=SAFETY)
    worker_b = RateLimiter(alias, clock=clock, sleep=clock.sleep, safety=SAFETY)
    full = take_all_now(worker_b, ACCOUNT, FILES_FREE)
    worker_a.throttled(ACCOUNT, FILES_FREE, 1)
    assert worker_b.factor(ACCOUNT, FILES_FREE) == 0.5
    worker_b.succeeded(ACCOUNT, FILES_FREE, 1)
    assert worker_a.factor(ACCOUNT, FILES_FREE) == pytest.approx(0.5 * (1 + INCREASE), rel=1e-5)
    clock.advance(60)
    assert take_all_now(worker_b, ACCOUNT, FILES_FREE) == pytest.approx(full / 2, abs=2)


def test_pacing_settles_on_what_the_cdn_really_grants(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    """The plan says 800 URLs/s but the account only gets 300 (someone else purges
    too): after a few 429s, calls go at close to 300/s and 429s become rare."""
    cdn_rate, tokens, last = 300.0, 300.0, clock.now
    throttled_at: list[float] = []
    accepted: list[tuple[float, int]] = []
    while clock.now < START + 600:
        limiter.acquire(ACCOUNT, FILES_FREE, 100)
        tokens, last = min(cdn_rate, tokens + (clock.now - last) * cdn_rate), clock.now
        if tokens >= 100:
            tokens -= 100
            limiter.succeeded(ACCOUNT, FILES_FREE, 100)
            accepted.append((clock.now, 100))
        else:
            limiter.throttled(ACCOUNT, FILES_FREE, 1)
            throttled_at.append(clock.now)
        clock.advance(0.01)
    late = [grant for grant in accepted if grant[0] >= START + 300]
    assert sum(cost for _, cost in late) / 300 >= 0.9 * cdn_rate
    assert len([t for t in throttled_at if t >= START + 300]) <= 6
    assert 0.8 * cdn_rate <= limiter.rate(ACCOUNT, FILES_FREE) <= 1.1 * cdn_rate


# -- the cache -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "odd_key",
    [
        "not an id: token abc/def",
        f"Bearer {API_TOKEN}",
        "zone:files:tat",
        "caf\u00e9-\u2603",
        "x" * 65,
        "",
    ],
)
def test_cache_keys_are_namespaced_and_hide_odd_keys(
    limiter: RateLimiter, alias: str, odd_key: str
) -> None:
    limiter.reserve(ACCOUNT, FILES_FREE, 1)
    limiter.reserve(odd_key, OPS_FREE, 1)
    limiter.throttled(odd_key, OPS_FREE, 5)
    limiter.succeeded(odd_key, OPS_FREE, 1)
    keys = list(caches[alias]._cache)  # the local-memory cache's own storage
    assert keys
    assert all(":cfpurge:rl:" in key for key in keys)
    assert sum(ACCOUNT in key for key in keys) == 1
    for key in keys:
        assert " " not in key
        assert API_TOKEN not in key and "Bearer" not in key and "token" not in key
        assert "\u2603" not in key and "x" * 65 not in key
        if odd_key:
            assert odd_key not in key
    # Two odd keys are two budgets.
    assert limiter.blocked_for(odd_key + "2") == 0.0
    assert limiter.blocked_for(odd_key) == pytest.approx(5.0)


def test_the_rate_limit_key_of_a_zone_is_its_account(limiter: RateLimiter, alias: str) -> None:
    creds = CloudflareBackend.clean_credentials({"zone_id": ZONE_ID, "api_token": API_TOKEN})
    backend = CloudflareBackend(creds)
    limiter.reserve(backend.rate_limit_key(), backend.budget("files"), 1)
    keys = list(caches[alias]._cache)
    assert any(ZONE_ID in key for key in keys)
    assert not any(API_TOKEN in key for key in keys)
