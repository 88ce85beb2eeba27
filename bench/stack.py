"""Benchmark sections with real processes: Celery workers, Redis, PostgreSQL, fake Cloudflare.

d. drain throughput of 1, 2 and 4 workers against the fake's URL rate limit, and 429s;
e. commit-to-purge latency with an idle worker;
f. a worker's peak memory while it drains 100,000 pending rows;
g. a shared account: the fake grants a quarter of the plan's rate (another site or tool
   uses the rest); 1, 2 and 4 workers drain 10,000 URLs, adapting to the 429s;
i. cache tags on the Free plan (5 tag purges a minute, a burst of 25): two workers purge
   the page tags of a steady stream of new objects; tag purges per minute against the
   limit, tags per purge, 429s, and how long a tag waited.

Started by ``bench/run.py`` with the ``CFPURGE_IT_*`` variables of
``tests/integration/settings.py`` pointing at PostgreSQL (database), Redis (broker, and the
cache that holds the shared rate limiter). The fake Cloudflare API runs in this process.
Writes its results as JSON::

    python bench/stack.py --result out.json --logs DIR [--quick]
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from common import (
    HOSTNAMES,
    ORIGIN,
    REPO_ROOT,
    median,
    percentile,
    proc_status,
    setup_django,
    write_json,
    zone_settings,
)

from tests.procs import CELERY_APP, CeleryWorker, integration_env, spawn, wait_for

READY = re.compile(r"\bready\.\s*$", re.MULTILINE)
SUCCEEDED = re.compile(r"Task django_cfpurge\.drain\[[^\]]+\] succeeded in [\d.]+s: (\{.*\})")
#: Seconds after the first purge call that count as start-up, not steady state: the
#: limiter lets a full window (one second's worth of URLs) go at once.
WARMUP_SECONDS = 1.0
MODELS = {"testapp.Photo": {"fields": ["image"]}}
#: Section g: the fraction of the plan's rate the fake grants.
SHARED_ACCOUNT_SHARE = 0.25


# -- processes ----------------------------------------------------------------------------------


def start_workers(
    count: int, logs: Path, tag: str, settings_json: str | None = None
) -> list[CeleryWorker]:
    """Start ``count`` single-process (solo pool) workers and wait until they are ready."""
    extra = {"CFPURGE_IT_SETTINGS": settings_json} if settings_json else None
    workers = []
    for number in range(1, count + 1):
        name = f"{tag}{number}"
        cmd = [
            sys.executable, "-m", "celery", "-A", CELERY_APP, "worker",
            "--loglevel=INFO", "-P", "solo", "-n", f"{name}@%h",
            "--prefetch-multiplier=1",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        process = spawn(
            cmd,
            log_path=logs / f"{name}.log",
            env=integration_env(extra),
            cwd=REPO_ROOT,
            name=name,
        )
        workers.append(CeleryWorker(process, name))
    for worker in workers:
        worker.wait_for_log(READY, timeout=90)
    return workers


def stop_workers(workers: list[CeleryWorker]) -> None:
    for worker in workers:
        worker.stop(timeout=15)


def drain_reports(worker: CeleryWorker, offset: int) -> list[dict[str, Any]]:
    """The drain reports a worker logged after ``offset`` characters of its log."""
    reports = []
    for match in SUCCEEDED.finditer(worker.log()[offset:]):
        try:
            reports.append(ast.literal_eval(match.group(1)))
        except (ValueError, SyntaxError):
            continue
    return reports


# -- the outbox ---------------------------------------------------------------------------------


def create_rows(count: int, prefix: str) -> float:
    """``count`` pending rows, one distinct URL each; returns the seconds it took."""
    from django_cfpurge.models import PurgeRequest

    started = time.monotonic()
    step = 5000
    for start in range(0, count, step):
        PurgeRequest.objects.bulk_create(
            [
                PurgeRequest(
                    source=PurgeRequest.Source.API,
                    event=PurgeRequest.Event.MANUAL,
                    targets={"files": [f"{ORIGIN}/media/{prefix}/{i}.jpg"]},
                    change={"explicit": True},
                )
                for i in range(start, min(start + step, count))
            ]
        )
    return time.monotonic() - started


def pending() -> int:
    from django_cfpurge.models import PurgeRequest

    return PurgeRequest.objects.filter(status=PurgeRequest.Status.PENDING).count()


def send_drains(count: int) -> None:
    from django_cfpurge.tasks import drain_outbox

    for _ in range(count):
        drain_outbox.apply_async(retry=False)


def reset_fake(fake: Any) -> None:
    """Forget the fake's records and buckets, and the shared limiter's counters."""
    from django.core.cache import caches

    fake.reset()
    caches["default"].clear()


# -- d. throughput ------------------------------------------------------------------------------


def throughput_run(
    fake: Any,
    workers: list[CeleryWorker],
    active: int,
    rows: int,
    limit: float,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Drain ``rows`` one-URL rows with ``active`` drain tasks (one per worker); the fake
    takes ``options`` after its reset."""
    reset_fake(fake)
    if options:
        fake.configure(**options)
    prefix = f"d{active}-{uuid.uuid4().hex[:6]}"
    offsets = [len(w.log()) for w in workers]
    create_rows(rows, prefix)
    send_drains(active)
    timeout = rows / (limit * 0.5) + 60
    wait_for(lambda: pending() == 0, timeout=timeout, interval=0.2, description="the drain")
    time.sleep(0.5)  # the last rows are marked done after their call
    purges = fake.purges(kind="files")
    calls = fake.requests(route="purge")
    first, last = purges[0]["timestamp"], purges[-1]["timestamp"]
    steady_from = first + WARMUP_SECONDS
    steady = [p for p in purges if p["timestamp"] > steady_from]
    steady_urls = sum(len(p["items"]) for p in steady)
    steady_seconds = last - steady_from
    urls = sum(len(p["items"]) for p in purges)
    refused = [c for c in calls if c["status"] == 429]
    shares = [
        sum(r.get("claimed", 0) for r in drain_reports(w, offset))
        for w, offset in zip(workers, offsets, strict=True)
    ]
    steady_rate = steady_urls / steady_seconds if steady_seconds > 0 else float("nan")
    return {
        "workers": active,
        "rows": rows,
        "urls_purged": urls,
        "distinct_urls": len({u for p in purges for u in p["items"]}),
        "calls": len(calls),
        "seconds": last - first,
        "overall_rate": urls / (last - first) if last > first else float("nan"),
        "steady_rate": steady_rate,
        "steady_fraction": steady_rate / limit,
        "http_429": len(refused),
        "http_429_steady": sum(1 for c in refused if c["timestamp"] > steady_from),
        "rows_per_worker": [s for s in shares if s],
    }


# -- g. a shared account ------------------------------------------------------------------------


def shared_account(
    fake: Any, workers: list[CeleryWorker], plan: str, share: float, rows: int
) -> dict[str, Any]:
    """Section g: the fake's URL limit at ``share`` of ``plan``'s; each run from a fresh
    limiter (no learnt rate), so that every run finds the real limit by itself."""
    from django_cfpurge.testing.cloudflare_api import PURGE_RATE_LIMITS, PurgeRateLimit

    plan_limits = PURGE_RATE_LIMITS[plan]
    real = plan_limits.urls_per_second * share
    options = {
        "rate_limits": {
            plan: PurgeRateLimit(
                urls_per_second=real,
                flex_per_second=plan_limits.flex_per_second,
                flex_burst=plan_limits.flex_burst,
            )
        }
    }
    runs = []
    for active in (1, 2, 4):
        run = throughput_run(fake, workers, active, rows, real, options)
        run["calls_429_share"] = run["http_429"] / run["calls"] if run["calls"] else 0.0
        runs.append(run)
    reset_fake(fake)
    return {"plan_limit": plan_limits.urls_per_second, "real_limit": real, "runs": runs}


# -- e. latency ---------------------------------------------------------------------------------


def latency(fake: Any, samples: int) -> dict[str, Any]:
    """Commit one registered change at a time, each when the worker is idle; time to purge."""
    from django.db import transaction

    from django_cfpurge.conf import get_float
    from tests.testapp.models import Photo

    reset_fake(fake)
    prefix = uuid.uuid4().hex[:8]
    committed: dict[str, float] = {}
    rng = random.Random(1)
    window = get_float("COALESCE_SECONDS")
    for index in range(samples):
        # Longer than the window and a drain, so each commit finds the worker idle.
        time.sleep(window + rng.uniform(0.4, 0.9))
        name = f"photos/lat-{prefix}-{index}.jpg"
        url = f"{ORIGIN}/media/{name}"
        with transaction.atomic():
            # Registered first: runs right after COMMIT, before the package's dispatch.
            transaction.on_commit(lambda url=url: committed.__setitem__(url, time.time()))
            Photo.objects.create(image=name)

    def all_purged() -> bool:
        return set(committed) <= set(fake.purged_urls())

    wait_for(all_purged, timeout=60, interval=0.2, description="the latency purges")
    received: dict[str, float] = {}
    for purge in fake.purges(kind="files"):
        for item in purge["items"]:
            received.setdefault(item, purge["timestamp"])
    delays = [received[url] - at for url, at in committed.items()]
    return {
        "samples": len(delays),
        "coalesce_seconds": window,
        "p50": percentile(delays, 50),
        "p99": percentile(delays, 99),
        "min": min(delays),
        "max": max(delays),
        "median": median(delays),
        "target": window + 0.25,
    }


# -- i. tag purges against the plan's tag limit -------------------------------------------------


def tag_purges(fake: Any, logs: Path, seconds: float, per_second: float) -> dict[str, Any]:
    """Section i: ``per_second`` new objects for ``seconds``, with page tags on, drained
    by two workers on the Free plan; the fake enforces Cloudflare's tag limit."""
    import json

    from django.db import transaction

    from django_cfpurge.testing.cloudflare_api import DEFAULT_ZONE_ID, PURGE_RATE_LIMITS
    from tests.testapp.models import Photo

    reset_fake(fake)
    fake.add_zone("example.com", id=DEFAULT_ZONE_ID, plan="free", hostnames=HOSTNAMES)
    settings_json = json.dumps(
        {"CFPURGE": zone_settings(API_URL=fake.api_url, PLAN="free", MODELS=MODELS, PAGE_TAGS=True)}
    )
    workers = start_workers(2, logs, "tags", settings_json)
    prefix = uuid.uuid4().hex[:8]
    created: dict[str, float] = {}
    try:
        started = time.monotonic()
        index = 0
        while time.monotonic() - started < seconds:
            due = started + index / per_second
            time.sleep(max(0.0, due - time.monotonic()))
            with transaction.atomic():
                photo = Photo.objects.create(image=f"photos/tags-{prefix}-{index}.jpg")
            created[f"cfpurge-o-testapp.photo-{photo.pk}"] = time.time()
            index += 1

        def all_purged() -> bool:
            purged = {t.lower() for p in fake.purges(kind="tags") for t in p["items"]}
            return set(created) <= purged

        wait_for(all_purged, timeout=seconds + 300, interval=1.0, description="the tag purges")
    finally:
        stop_workers(workers)
    calls = fake.purges(kind="tags")
    stamps = sorted(c["timestamp"] for c in calls)
    first_seen: dict[str, float] = {}
    for call in calls:
        for tag in call["items"]:
            first_seen.setdefault(tag.lower(), call["timestamp"])
    waits = [first_seen[tag] - at for tag, at in created.items()]
    limits = PURGE_RATE_LIMITS["free"]
    throttled = [r for r in fake.requests(route="purge") if r["status"] == 429]
    return {
        "seconds": seconds,
        "objects": len(created),
        "calls": len(calls),
        "tags": sum(len(c["items"]) for c in calls),
        "busiest_minute": _busiest(stamps, 60.0),
        "after_first_minute_per_minute": _rate_after(stamps, 60.0),
        "limit_per_minute": limits.flex_per_second * 60,
        "burst": limits.flex_burst,
        "http_429": len(throttled),
        "wait_p50": percentile(waits, 50),
        "wait_max": max(waits),
    }


def _busiest(stamps: list[float], window: float) -> int:
    """The most calls in any ``window`` seconds."""
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _rate_after(stamps: list[float], skip: float) -> float:
    """Calls per minute after the first ``skip`` seconds (the burst spent)."""
    if not stamps:
        return 0.0
    later = [s for s in stamps if s - stamps[0] >= skip]
    if len(later) < 2:
        return float(len(later))
    return 60.0 * (len(later) - 1) / (later[-1] - later[0])


# -- f. memory ----------------------------------------------------------------------------------


def memory(fake: Any, rows: int, logs: Path) -> dict[str, Any]:
    """One fresh worker drains ``rows`` pending rows; its peak RSS (VmHWM) before and after."""
    import json

    from django_cfpurge.testing.cloudflare_api import DEFAULT_ZONE_ID

    reset_fake(fake)
    # Enterprise (3,000 URLs/s, 500 URLs per call): the worker, not the limit, sets the pace.
    fake.add_zone("example.com", id=DEFAULT_ZONE_ID, plan="enterprise", hostnames=HOSTNAMES)
    settings_json = json.dumps(
        {
            "CFPURGE": zone_settings(
                API_URL=fake.api_url, PLAN="enterprise", MAX_ITEMS_PER_REQUEST=500, MODELS=MODELS
            )
        }
    )
    workers = start_workers(1, logs, "mem", settings_json)
    try:
        worker = workers[0]
        time.sleep(1.0)
        idle = proc_status(worker.pid)
        seconds_to_create = create_rows(rows, f"f-{uuid.uuid4().hex[:6]}")
        started = time.monotonic()
        send_drains(1)
        rss_seen = 0

        def drained() -> bool:
            nonlocal rss_seen
            rss_seen = max(rss_seen, proc_status(worker.pid).get("VmRSS", 0))
            return pending() == 0

        wait_for(drained, timeout=rows / 200 + 60, interval=0.5, description="the drain")
        seconds = time.monotonic() - started
        after = proc_status(worker.pid)
    finally:
        stop_workers(workers)
    calls = fake.requests(route="purge")
    return {
        "rows": rows,
        "create_seconds": seconds_to_create,
        "drain_seconds": seconds,
        "rows_per_second": rows / seconds,
        "calls": len(calls),
        "idle_rss_mb": idle.get("VmRSS", 0) / 1024,
        "idle_hwm_mb": idle.get("VmHWM", 0) / 1024,
        "max_rss_seen_mb": rss_seen / 1024,
        "peak_mb": after.get("VmHWM", 0) / 1024,
    }


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--result", required=True)
    parser.add_argument("--logs", required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    logs = Path(args.logs)

    from django_cfpurge.testing.cloudflare_api import PURGE_RATE_LIMITS, FakeCloudflare

    # The free plan has the lowest URL limit (800 URLs/s): the one a few workers can fill.
    # Speed stays 1: the fake then enforces the same limit the package's limiter assumes.
    plan = "free"
    # Today's documented item limits (100 per call, 500 URLs on Enterprise); section h
    # measures the fallback to 30.
    fake = FakeCloudflare(plan_limits_mode="current").start()
    os.environ["CFPURGE_IT_API_URL"] = fake.api_url
    setup_django(zone_settings(MODELS=MODELS))
    limit = PURGE_RATE_LIMITS[plan].urls_per_second
    from django_cfpurge.ratelimit import RateLimiter

    results: dict[str, Any] = {
        "plan": plan,
        "limit_urls_per_second": limit,
        "limiter_safety": RateLimiter().safety,
    }
    try:
        rows = 600 if args.quick else 12_000
        workers = start_workers(4, logs, "drain")
        try:
            results["d"] = [
                throughput_run(fake, workers, active, rows, limit) for active in (1, 2, 4)
            ]
            results["g"] = shared_account(
                fake, workers, plan, SHARED_ACCOUNT_SHARE, 1000 if args.quick else 10_000
            )
            stop_workers(workers[1:])
            results["e"] = latency(fake, 2 if args.quick else 30)
        finally:
            stop_workers(workers)
        results["f"] = memory(fake, 2000 if args.quick else 100_000, logs)
        results["i"] = tag_purges(fake, logs, 20.0 if args.quick else 240.0, 2.0)
    finally:
        fake.stop()
    write_json(args.result, results)


if __name__ == "__main__":
    main()
