"""The shared purge rate limiter, on a fake clock and the local-memory cache."""

from __future__ import annotations

import heapq
import random
import threading
import uuid
from collections.abc import Iterator

import pytest
from django.core.cache import caches
from django.test import override_settings

from django_cfpurge import ratelimit
from django_cfpurge.exceptions import CfPurgeError
from django_cfpurge.ratelimit import (
    KINDS,
    OPERATION_KINDS,
    PLAN_LIMITS,
    RateLimiter,
    RateLimitWait,
    limits_for_plan,
    request_cost,
)

ACCOUNT = "eb78d65290b24279ba6f44721b3ea3c4"
OTHER_ACCOUNT = "0123456789abcdef0123456789abcdef"
# Slot-aligned for every window, so expected waits are round numbers.
START = 3_000_000.0


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
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(alias: str, clock: FakeClock) -> RateLimiter:
    return RateLimiter(alias, clock=clock, sleep=clock.sleep, safety=0.9, slots=10)


def max_in_any_span(grants: list[tuple[float, int]], span: float) -> int:
    """The largest total cost granted in any closed span of ``span`` seconds."""
    best = total = start = 0
    for end in range(len(grants)):
        total += grants[end][1]
        while grants[end][0] - grants[start][0] > span + 1e-9:
            total -= grants[start][1]
            start += 1
        best = max(best, total)
    return best


def assert_fits_token_bucket(times: list[float], rate: float, burst: int) -> None:
    """Fail if Cloudflare's bucket (full at the start) would have refused any request."""
    tokens, last = float(burst), times[0]
    for t in times:
        tokens = min(float(burst), tokens + (t - last) * rate)
        last = t
        tokens -= 1
        assert tokens >= -1e-9, f"bucket empty at t={t - START:.3f}"


# Plans


def test_plan_limits_follow_cloudflares_table() -> None:
    table = {
        name: (p.urls_per_second, p.operations, p.operations_period, p.operations_burst)
        for name, p in PLAN_LIMITS.items()
    }
    assert table == {
        "free": (800, 5, 60.0, 25),
        "pro": (1500, 5, 1.0, 25),
        "business": (1500, 10, 1.0, 50),
        "enterprise": (3000, 50, 1.0, 500),
    }
    assert PLAN_LIMITS["free"].operations_per_second == pytest.approx(5 / 60)


@pytest.mark.parametrize("plan", [None, "", "   ", "platinum", "free"])
def test_unknown_or_empty_plan_maps_to_free(plan: str | None) -> None:
    assert limits_for_plan(plan) is PLAN_LIMITS["free"]


def test_plan_names_are_normalised() -> None:
    assert limits_for_plan(" Enterprise ") is PLAN_LIMITS["enterprise"]
    assert limits_for_plan("PRO") is PLAN_LIMITS["pro"]


def test_request_cost_counts_urls_for_files_and_calls_otherwise() -> None:
    assert request_cost("files", 30) == 30
    assert request_cost("files", 0) == 1
    for kind in OPERATION_KINDS:
        assert request_cost(kind, 100) == 1
    with pytest.raises(ValueError, match="Unknown purge kind"):
        request_cost("urls", 1)


# Construction and windows


def test_cache_alias_is_read_from_settings_when_built() -> None:
    with override_settings(CFPURGE={"RATE_LIMIT_CACHE": "ratelimits"}):
        limiter = RateLimiter()
    assert limiter.cache_alias == "ratelimits"
    assert RateLimiter().cache_alias == "default"
    assert RateLimiter("other").cache_alias == "other"
    assert "ratelimits" in repr(limiter)


@pytest.mark.parametrize("safety", [0.0, -0.5, 1.01])
def test_safety_must_be_a_fraction(safety: float) -> None:
    with pytest.raises(ValueError, match="safety"):
        RateLimiter("default", safety=safety)


@pytest.mark.parametrize("plan", sorted(PLAN_LIMITS))
def test_windows_stay_within_the_plan(limiter: RateLimiter, plan: str) -> None:
    limits = PLAN_LIMITS[plan]
    files = limiter.window("files", plan)
    assert files.seconds == pytest.approx(1.0)
    assert files.capacity <= limits.urls_per_second
    # Long run: one capacity per (slots + 1) slots.
    long_run = files.capacity / (files.seconds * (files.slots + 1) / files.slots)
    assert long_run <= limiter.safety * limits.urls_per_second

    ops = limiter.window("tags", plan)
    assert all(limiter.window(kind, plan) == ops for kind in OPERATION_KINDS)
    assert 1 <= ops.capacity <= limits.operations_burst
    # A full window never asks more than what refills over it either.
    assert ops.capacity <= limits.operations_per_second * ops.seconds + 1e-9
    long_run = ops.capacity / (ops.seconds * (ops.slots + 1) / ops.slots)
    assert long_run <= limiter.safety * limits.operations_per_second


def test_free_plan_windows(limiter: RateLimiter) -> None:
    files = limiter.window("files", "free")
    assert (files.capacity, files.seconds) == (792, 1.0)
    ops = limiter.window("everything", "free")
    assert ops.capacity == 24
    assert ops.seconds == pytest.approx(300.0)


def test_rejects_unknown_kind_and_empty_cost(limiter: RateLimiter) -> None:
    with pytest.raises(ValueError, match="Unknown purge kind"):
        limiter.reserve(ACCOUNT, "zones", 1, "free")
    with pytest.raises(ValueError, match="cost"):
        limiter.reserve(ACCOUNT, "files", 0, "free")


# reserve()


def test_under_the_limit_takes_immediately(limiter: RateLimiter) -> None:
    for _ in range(26):
        assert limiter.reserve(ACCOUNT, "files", 30, "free") == 0.0
    for kind in ("tags", "hosts", "prefixes", "everything"):
        assert limiter.reserve(ACCOUNT, kind, 1, "free") == 0.0


def test_over_the_limit_returns_the_exact_wait(limiter: RateLimiter, clock: FakeClock) -> None:
    assert limiter.reserve(ACCOUNT, "files", 400, "free") == 0.0
    clock.advance(0.5)
    assert limiter.reserve(ACCOUNT, "files", 392, "free") == 0.0  # 792: full

    # The 400 URLs of the first slot leave the window when slot 11 starts.
    wait = limiter.reserve(ACCOUNT, "files", 100, "free")
    assert wait == pytest.approx(0.6, abs=1e-3)
    clock.advance(wait - 0.01)
    assert limiter.reserve(ACCOUNT, "files", 100, "free") == pytest.approx(0.01, abs=1e-3)
    clock.advance(0.01)
    assert limiter.reserve(ACCOUNT, "files", 100, "free") == 0.0


def test_wait_counts_every_slot_that_must_leave(limiter: RateLimiter, clock: FakeClock) -> None:
    for slot in range(8):  # 99 URLs in each of the 100 ms slots 0..7
        clock.now = START + slot / 10 + 0.05
        assert limiter.reserve(ACCOUNT, "files", 99, "free") == 0.0
    # Slot 8, 792 used: 300 URLs need 396 to leave: slots 0 to 3, gone when slot 14 starts.
    clock.now = START + 0.85
    assert limiter.reserve(ACCOUNT, "files", 300, "free") == pytest.approx(0.55, abs=1e-3)
    clock.now = START + 1.35
    assert limiter.reserve(ACCOUNT, "files", 300, "free") == pytest.approx(0.05, abs=1e-3)
    clock.now = START + 1.4 + 1e-5
    assert limiter.reserve(ACCOUNT, "files", 300, "free") == 0.0


def test_a_refused_reservation_records_nothing(limiter: RateLimiter) -> None:
    assert limiter.reserve(ACCOUNT, "files", 780, "free") == 0.0
    for _ in range(5):
        assert limiter.reserve(ACCOUNT, "files", 20, "free") > 0
    assert limiter.reserve(ACCOUNT, "files", 12, "free") == 0.0
    assert limiter.reserve(ACCOUNT, "files", 1, "free") > 0


def test_budgets_are_per_bucket_and_per_family(limiter: RateLimiter) -> None:
    assert limiter.reserve(ACCOUNT, "files", 792, "free") == 0.0
    assert limiter.reserve(ACCOUNT, "files", 1, "free") > 0
    assert limiter.reserve(OTHER_ACCOUNT, "files", 792, "free") == 0.0
    # Operations have their own budget, shared by the four kinds.
    for kind in OPERATION_KINDS * 6:
        assert limiter.reserve(ACCOUNT, kind, 1, "free") == 0.0
    for kind in OPERATION_KINDS:
        assert limiter.reserve(ACCOUNT, kind, 1, "free") > 0


def test_cost_above_capacity_is_eventually_allowed(limiter: RateLimiter, clock: FakeClock) -> None:
    # Empty window: the whole capacity is charged and the request goes.
    assert limiter.reserve(ACCOUNT, "everything", 100, "free") == 0.0
    assert limiter.reserve(ACCOUNT, "everything", 1, "free") == pytest.approx(330.0, abs=1e-3)

    # Partly used window: acquire() waits for it to empty, and does not loop forever.
    assert limiter.reserve(ACCOUNT, "files", 500, "free") == 0.0
    waited = limiter.acquire(ACCOUNT, "files", 5000, "free")
    assert 1.1 <= waited < 1.5
    assert len(clock.sleeps) <= 3


# acquire()


def test_acquire_waits_then_takes(limiter: RateLimiter, clock: FakeClock) -> None:
    assert limiter.acquire(ACCOUNT, "files", 792, "free") == 0.0
    assert clock.sleeps == []
    waited = limiter.acquire(ACCOUNT, "files", 792, "free")
    assert waited == pytest.approx(sum(clock.sleeps))
    # The wait, plus at most 5% jitter.
    assert 1.1 <= waited <= 1.1 * 1.05 + 1e-3


def test_acquire_raises_rather_than_waiting_too_long(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    assert limiter.reserve(ACCOUNT, "files", 792, "free") == 0.0
    with pytest.raises(RateLimitWait) as caught:
        limiter.acquire(ACCOUNT, "files", 10, "free", max_wait=0.5)
    assert isinstance(caught.value, CfPurgeError)
    assert caught.value.seconds == pytest.approx(1.1, abs=1e-3)
    assert "1.1 s" in str(caught.value)
    assert clock.sleeps == []

    # A wait that fits is taken, and jitter never pushes it past max_wait.
    assert limiter.acquire(ACCOUNT, "files", 10, "free", max_wait=1.1 + 1e-4) <= 1.1 + 1e-4


def test_before_call_hook_charges_urls_or_calls(limiter: RateLimiter) -> None:
    hook = limiter.before_call_hook(ACCOUNT, "free", max_wait=0)
    for _ in range(24):
        hook("tags", 100)  # one call each, not 100
    with pytest.raises(RateLimitWait):
        hook("prefixes", 1)
    hook("files", 792)
    with pytest.raises(RateLimitWait):
        hook("files", 1)


# Long runs: the limiter must be safe and still useful.


@pytest.mark.parametrize("plan", ["free", "business", "enterprise"])
@pytest.mark.parametrize("costs", ["30", "1-100"])
def test_url_purges_never_exceed_the_plan_in_any_second(
    limiter: RateLimiter, clock: FakeClock, plan: str, costs: str
) -> None:
    rng = random.Random(f"{plan}-{costs}")
    per_second = PLAN_LIMITS[plan].urls_per_second
    grants: list[tuple[float, int]] = []
    while clock.now < START + 60:
        cost = 30 if costs == "30" else rng.randint(1, 100)
        limiter.acquire(ACCOUNT, "files", cost, plan)
        grants.append((clock.now, cost))
        clock.advance(rng.uniform(0, 0.002))  # the API call itself

    assert max_in_any_span(grants, 1.0) <= per_second
    duration = grants[-1][0] - START
    rate = sum(cost for _, cost in grants[:-1]) / duration
    assert 0.85 * per_second <= rate <= 0.9 * per_second


@pytest.mark.parametrize("plan", ["free", "enterprise"])
def test_default_limiter_uses_most_of_the_plan_and_never_more(
    alias: str, clock: FakeClock, plan: str
) -> None:
    """The shipped defaults (20 slots, safety 0.95): safe in every second, and about 95 %
    of the limit in the long run (10 slots could give at most 10/11 of it)."""
    limiter = RateLimiter(alias, clock=clock, sleep=clock.sleep)
    assert (limiter.slots, limiter.safety) == (20, 0.95)
    rng = random.Random(plan)
    per_second = PLAN_LIMITS[plan].urls_per_second
    grants: list[tuple[float, int]] = []
    while clock.now < START + 60:
        limiter.acquire(ACCOUNT, "files", 30, plan)
        grants.append((clock.now, 30))
        clock.advance(rng.uniform(0, 0.002))

    assert max_in_any_span(grants, 1.0) <= per_second
    duration = grants[-1][0] - START
    rate = sum(cost for _, cost in grants[:-1]) / duration
    assert 0.92 * per_second <= rate <= 0.96 * per_second


@pytest.mark.parametrize(
    ("plan", "minutes"), [("free", 10), ("pro", 1), ("business", 1), ("enterprise", 1)]
)
def test_operations_never_exceed_the_bucket(
    limiter: RateLimiter, clock: FakeClock, plan: str, minutes: int
) -> None:
    limits = PLAN_LIMITS[plan]
    rng = random.Random(plan)
    times: list[float] = []
    end = START + minutes * 60
    while True:
        kind = rng.choice(OPERATION_KINDS)
        limiter.acquire(ACCOUNT, kind, 1, plan)
        if clock.now >= end:
            break
        times.append(clock.now)
        clock.advance(rng.uniform(0, 0.01))

    assert_fits_token_bucket(times, limits.operations_per_second, limits.operations_burst)
    allowed = limits.operations_burst + limits.operations_per_second * minutes * 60
    assert len(times) <= allowed
    # Useful: a burst goes out without waiting, and the long run is close to the rate.
    burst = limiter.window("tags", plan).capacity
    assert times[burst - 1] - START <= burst * 0.01
    assert len(times) >= 0.6 * allowed


def test_free_operations_over_ten_minutes(limiter: RateLimiter, clock: FakeClock) -> None:
    times: list[float] = []
    while True:
        limiter.acquire(ACCOUNT, "tags", 1, "free")
        if clock.now >= START + 600:
            break
        times.append(clock.now)
    # 24 at once, 24 more when the first burst has left the 5.5-minute window.
    assert len(times) == 48
    assert max(times[:24]) == START
    assert min(times[24:]) == pytest.approx(START + 330, abs=0.3)
    assert_fits_token_bucket(times, 5 / 60, 25)


# penalize()


def test_penalize_blocks_every_kind_until_the_deadline(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    limiter.penalize(ACCOUNT, 30)
    for kind in KINDS:
        assert limiter.reserve(ACCOUNT, kind, 1, "enterprise") == pytest.approx(30.0)
    assert limiter.blocked_for(ACCOUNT) == pytest.approx(30.0)
    assert limiter.reserve(OTHER_ACCOUNT, "files", 1, "free") == 0.0

    clock.advance(29.5)
    assert limiter.reserve(ACCOUNT, "tags", 1, "free") == pytest.approx(0.5)
    with pytest.raises(RateLimitWait):
        limiter.acquire(ACCOUNT, "files", 1, "free", max_wait=0.1)

    clock.advance(0.5)
    assert limiter.blocked_for(ACCOUNT) == 0.0
    for kind in KINDS:
        assert limiter.reserve(ACCOUNT, kind, 1, "free") == 0.0


def test_penalize_is_seen_by_every_limiter_on_the_cache(alias: str, clock: FakeClock) -> None:
    worker_a = RateLimiter(alias, clock=clock, sleep=clock.sleep, safety=0.9, slots=10)
    worker_b = RateLimiter(alias, clock=clock, sleep=clock.sleep, safety=0.9, slots=10)
    worker_a.penalize(ACCOUNT, 12)
    assert worker_b.acquire(ACCOUNT, "files", 30, "pro") == pytest.approx(12.0, rel=0.11)
    assert clock.now >= START + 12


def test_penalize_keeps_the_longer_pause(limiter: RateLimiter, clock: FakeClock) -> None:
    limiter.penalize(ACCOUNT, 60)
    limiter.penalize(ACCOUNT, 5)
    assert limiter.blocked_for(ACCOUNT) == pytest.approx(60.0)
    limiter.penalize(ACCOUNT, 90)
    assert limiter.blocked_for(ACCOUNT) == pytest.approx(90.0)


@pytest.mark.parametrize("retry_after", [0, -1, float("nan")])
def test_penalize_ignores_meaningless_values(limiter: RateLimiter, retry_after: float) -> None:
    limiter.penalize(ACCOUNT, retry_after)
    assert limiter.reserve(ACCOUNT, "files", 1, "free") == 0.0


def test_penalize_caps_absurd_values(limiter: RateLimiter) -> None:
    limiter.penalize(ACCOUNT, 10**9)
    assert limiter.blocked_for(ACCOUNT) == pytest.approx(3600.0)


# Sharing


def test_two_workers_sharing_a_cache_stay_under_the_limit(alias: str, clock: FakeClock) -> None:
    """Two limiters on one cache, interleaved as two worker processes would be."""
    workers = [
        RateLimiter(alias, clock=clock, sleep=clock.sleep, safety=0.9, slots=10) for _ in range(2)
    ]
    rng = random.Random(2)
    grants: list[tuple[float, int]] = []
    granted_by: set[int] = set()
    # (when the worker next tries, tie-breaker, worker index, its next cost)
    queue = [(START, i, i, rng.randint(1, 100)) for i in range(len(workers))]
    while queue[0][0] < START + 30:
        when, _, index, cost = heapq.heappop(queue)
        clock.now = max(clock.now, when)
        wait = workers[index].reserve(ACCOUNT, "files", cost, "free")
        if wait == 0.0:
            grants.append((clock.now, cost))
            granted_by.add(index)
            when, cost = clock.now + rng.uniform(0, 0.005), rng.randint(1, 100)
        else:
            when = clock.now + wait + rng.uniform(0, 0.01)
        heapq.heappush(queue, (when, rng.random(), index, cost))

    assert max_in_any_span(grants, 1.0) <= 800
    assert granted_by == {0, 1}
    assert sum(cost for _, cost in grants) >= 0.85 * 800 * 29


@pytest.mark.parametrize(("kind", "max_cost"), [("files", 40), ("tags", 1)])
def test_threads_never_overspend(
    limiter: RateLimiter, alias: str, clock: FakeClock, kind: str, max_cost: int
) -> None:
    """Real threads on one frozen instant: the total granted never passes the capacity."""
    capacity = limiter.window(kind, "free").capacity
    granted: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def hammer(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(150):
            cost = rng.randint(1, max_cost)
            if limiter.reserve(ACCOUNT, kind, cost, "free") == 0.0:
                with lock:
                    granted.append(cost)

    threads = [threading.Thread(target=hammer, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert 0 < sum(granted) <= capacity
    # Refused reservations gave back what they took: exactly the rest is left.
    left = capacity - sum(granted)
    if left:
        assert limiter.reserve(ACCOUNT, kind, left, "free") == 0.0
    assert limiter.reserve(ACCOUNT, kind, 1, "free") > 0


def test_cache_keys_are_namespaced_and_hide_odd_buckets(limiter: RateLimiter, alias: str) -> None:
    odd_bucket = "not an id: token abc/def"
    limiter.reserve(ACCOUNT, "files", 1, "free")
    limiter.reserve(odd_bucket, "tags", 1, "free")
    limiter.penalize(odd_bucket, 5)
    keys = list(caches[alias]._cache)  # the local-memory cache's own storage
    assert len(keys) == 3
    assert all(":cfpurge:rl:" in key for key in keys)
    assert sum(ACCOUNT in key for key in keys) == 1
    assert not any("token" in key or " " in key for key in keys)


def test_safety_comes_from_settings_by_default() -> None:
    assert RateLimiter().safety == 0.95
    with override_settings(CFPURGE={"RATE_LIMIT_SAFETY": 0.8}):
        assert RateLimiter().safety == 0.8
        assert RateLimiter(safety=0.5).safety == 0.5
