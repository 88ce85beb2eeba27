"""Fault injection with real processes: nothing committed is lost, nothing rolled back is sent.

5,000 committed changes (and some rolled-back ones) are drained by two Celery workers while
the fake Cloudflare answers 10 % of purges with 503, drops 5 % of connections and
rate-limits with 429 + Retry-After (its bucket is smaller than the plan the workers
believe in); the Redis server (broker and shared cache) is stopped for 20 seconds while a
web-like process keeps committing changes; and one of the two workers is killed with
SIGKILL in the middle of a drain.

The fake's record must then hold every URL of every committed change and none of the
rolled-back ones. A URL may be purged twice only when the first purge's outcome was lost:
the fake applied it but the worker that sent it was killed before it could record it.
The figures go to ``tests/artifacts/integration-figures.json`` and pytest's terminal summary.
"""

from __future__ import annotations

import math
import re
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from django_cfpurge.testing.cloudflare_api import (
    DEFAULT_TOKEN,
    DEFAULT_TOKEN_ID,
    FakeCloudflare,
    PurgeRateLimit,
)
from tests.procs import (
    CELERY_APP,
    CeleryWorker,
    PostgresServer,
    Process,
    RedisServer,
    integration_env,
    wait_for,
)
from tests.test_integration import (
    BATCH,
    Record,
    Stack,
    drained_by,
    file_url,
    migrated_database,
    photo_page,
    photo_urls,
    report_figures,
)

pytestmark = pytest.mark.slow

#: The second worker's API token (its purges are told apart in the fake's record).
SECOND_TOKEN = "cfut_" + "faultsSecondWorkerPurgeToken" + "0" * 20
CLAIM_BATCH_SIZE = 60
OUTAGE_SECONDS = 20.0
#: URLs the fake lets through per second: below the free plan's 800 the workers pace
#: themselves for, so the fake answers 429 with Retry-After now and then.
FAKE_URLS_PER_SECOND = 250


@pytest.fixture
def fault_stack(
    postgres_server: PostgresServer, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Stack]:
    """A stack whose fake fails, drops and rate-limits; the beat sweeps every 2 s."""
    redis_server.flushall()
    database = migrated_database(postgres_server, tmp_path)
    fake = FakeCloudflare(
        seed=2024,
        error_ratio=0.10,
        drop_ratio=0.05,
        error_style="mixed",
        rate_limits={
            "free": PurgeRateLimit(
                urls_per_second=FAKE_URLS_PER_SECOND, flex_per_second=5 / 60, flex_burst=25
            )
        },
    )
    with fake:
        second = fake.add_token(SECOND_TOKEN)
        stack = Stack(
            database,
            redis_server,
            fake,
            tmp_path,
            cfpurge={"CLAIM_BATCH_SIZE": CLAIM_BATCH_SIZE, "CLAIM_LEASE_SECONDS": 10},
            settings={
                "CELERY_BEAT_SCHEDULE": {
                    "cfpurge-sweep": {"task": "django_cfpurge.sweep", "schedule": 2.0}
                }
            },
            tokens={DEFAULT_TOKEN_ID: DEFAULT_TOKEN, second.id: SECOND_TOKEN},
        )
        try:
            yield stack
        finally:
            # A failing test must leave Redis running for the tests after it.
            redis_server.start()


def _mid_drain(fake: FakeCloudflare, credential: str, min_urls: int) -> bool:
    """Whether ``credential`` sent a purge in the last moment, after ``min_urls`` purged."""
    requests = fake.requests(route="purge")
    if not requests or sum(len(p["items"]) for p in fake.purges()) < min_urls:
        return False
    last = requests[-1]
    return last["credential"] == credential and time.time() - last["timestamp"] < 0.2


_SWEEP_DONE = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+: INFO/MainProcess\] "
    r"Task django_cfpurge\.sweep\[[^\]]+\] succeeded .*'dispatched': True",
    re.MULTILINE,
)


def sweeps_dispatched(worker: CeleryWorker, *, after: float) -> int:
    """Sweeps the worker ran after ``after`` (epoch seconds) that dispatched a drain."""
    threshold = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(after - 1))
    return sum(1 for m in _SWEEP_DONE.finditer(worker.log()) if m.group(1) >= threshold)


def classify_duplicates(record: Record, killed: str) -> tuple[dict[str, int], dict[str, Any]]:
    """Sort repeated purges of a URL by cause.

    A repeat is *forced* when every earlier purge of the URL came from the killed worker:
    the fake applied it, but the worker died before recording the outcome, so the row went
    back to the outbox and another worker sent it again. (A killed worker sends nothing
    after its death, so its purges need no time check.) Any other repeat is *unexplained*;
    those are returned with who purged the URL when.
    """
    sent: dict[str, list[tuple[int, str, float]]] = defaultdict(list)
    for purge in record.purges:
        for item in purge["items"]:
            url = item if isinstance(item, str) else item["url"]
            sent[url].append((purge["id"], purge["credential"], purge["timestamp"]))
    forced: dict[str, int] = {}
    unexplained: dict[str, Any] = {}
    for url, purges in sent.items():
        if len(purges) < 2:
            continue
        history = sorted(purges)
        if all(credential == killed for _id, credential, _ts in history[:-1]):
            forced[url] = len(history) - 1
        else:
            unexplained[url] = [
                (pid, credential[:6], round(ts, 3)) for pid, credential, ts in history
            ]
    return forced, unexplained


def test_nothing_committed_is_lost_and_nothing_rolled_back_is_sent(
    request: pytest.FixtureRequest,
    fault_stack: Stack,
    celery_worker_factory: Callable[..., CeleryWorker],
    process_factory: Callable[..., Process],
) -> None:
    stack = fault_stack
    fake, redis = stack.fake, stack.redis
    began = time.monotonic()

    beat = process_factory(
        [sys.executable, "-m", "celery", "-A", CELERY_APP, "beat", "--loglevel=INFO",
         "-s", str(stack.tmp / "beat-schedule")],
        env=integration_env(stack.env()),
        name="beat",
    )  # fmt: skip
    killed_worker = celery_worker_factory(stack.env(), name="faults1")
    survivor = celery_worker_factory(stack.env(API_TOKEN=SECOND_TOKEN), name="faults2")
    killed_credential = DEFAULT_TOKEN_ID

    # -- 4,000 creations, drained while they are being written; one worker killed mid-drain.
    bulk = stack.start_scenario(
        "bulk", "--count", "4000", "--transactions", "8", "--prefix", "fault"
    )

    def leased() -> int:
        return stack.query(
            "SELECT count(*) FROM django_cfpurge_purgerequest "
            "WHERE status = 'pending' AND claimed_until > now()"
        )[0][0]

    # Killed while it sends and rows are held: their outcome is lost with the worker.
    wait_for(
        lambda: _mid_drain(fake, killed_credential, min_urls=1500) and leased() > 0,
        timeout=180,
        interval=0.02,
        description="the first worker to be purging with rows claimed",
    )
    killed_worker.kill(signal.SIGKILL)
    killed_at = time.time()
    leased_at_kill = leased()
    assert killed_worker.wait(timeout=30) == -signal.SIGKILL
    created = bulk.result()
    rolled_back = [stack.scenario("rollback-bulk", "--count", "100", "--prefix", "rb1")]

    # -- Redis (broker and cache) down for 20 s while the site keeps committing changes.
    redis.stop()
    outage_began = time.monotonic()
    mixed = stack.start_scenario(
        "mixed", "--count", "1000", "--transactions", "2", "--prefix", "outage"
    )
    rolled_back.append(stack.scenario("rollback-bulk", "--count", "50", "--prefix", "rb2"))
    changed = mixed.result()
    assert "could not send the drain task" in changed["stderr"]
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_began)))
    outage = time.monotonic() - outage_began
    # Recorded in the change table by the request path, or already moved to the queue.
    changes_in_outbox = stack.query(
        "SELECT (SELECT count(*) FROM django_cfpurge_purgerequest "
        "WHERE event IN ('replaced', 'renamed', 'deleted', 'changed')) + "
        "(SELECT count(*) FROM django_cfpurge_purgechange "
        "WHERE payload::jsonb ->> 'event' IN ('replaced', 'renamed', 'deleted', 'changed'))"
    )[0][0]
    redis.start()
    outage_ended = time.time()

    # -- Recovery: the beat's sweep dispatches what is due; the survivor drains it.
    committed = len(created["photos"]) + len(changed["changes"])
    try:
        final = stack.wait_drained(timeout=300, expect_rows=committed)
    except TimeoutError:
        final = stack.outbox()
    elapsed = time.monotonic() - began
    waiting = stack.query(
        "SELECT error_kind, count(*), max(attempts), "
        "extract(epoch FROM max(next_attempt_at) - now())::int "
        "FROM django_cfpurge_purgerequest WHERE status <> 'done' GROUP BY error_kind"
    )
    max_attempts = stack.query("SELECT max(attempts) FROM django_cfpurge_purgerequest")[0][0]

    expected: set[str] = set()
    for pk, name in created["photos"]:
        expected |= photo_urls(pk, [name])
    for change in changed["changes"]:
        expected |= photo_urls(change["pk"], change["names"])
    forbidden = {
        url for answer in rolled_back for pk, name in answer["photos"]
        for url in (file_url(name), photo_page(pk))
    }  # fmt: skip

    record = Record.read(fake)
    counts = record.counts
    statuses = record.statuses()
    faults = record.faults()
    forced, unexplained = classify_duplicates(record, killed_credential)
    last_of_killed = max(
        (p["timestamp"] for p in record.purges if p["credential"] == killed_credential),
        default=killed_at,
    )
    figures = {
        "committed_changes": committed,
        "rolled_back_changes": sum(len(a["photos"]) for a in rolled_back),
        "urls_expected": len(expected),
        "urls_received": len(record.urls),
        "distinct_urls_received": len(counts),
        "missing_urls": len(expected - set(counts)),
        "rolled_back_urls_received": len(forbidden & set(counts)),
        "duplicates": record.duplicates,
        "duplicates_forced_by_kill": sum(forced.values()),
        "duplicates_unexplained": len(unexplained),
        "api_calls": len(record.requests),
        "api_calls_applied": len(record.purges),
        "api_calls_ideal": math.ceil(len(expected) / BATCH),
        "answers": dict(statuses),
        "http_429": statuses.get("429", 0),
        "http_503_injected": faults.get("error", 0),
        "connections_dropped": faults.get("drop", 0),
        "rows_leased_at_kill": leased_at_kill,
        "killed_worker_last_purge_after_kill_seconds": round(last_of_killed - killed_at, 3),
        "unexplained_examples": dict(list(unexplained.items())[:6]),
        "outage_seconds": round(outage, 1),
        "outage_commit_seconds": changed["commit_seconds"],
        "outage_changes_in_outbox": changes_in_outbox,
        "sweeps_that_dispatched_after_outage": sweeps_dispatched(survivor, after=outage_ended),
        "survivor": drained_by(survivor),
        "killed_worker_drains_received": len(
            re.findall(r"Task django_cfpurge\.drain\[[^\]]+\] received", killed_worker.log())
        ),
        "outbox": final,
        "not_done_by_error_kind": [list(row) for row in waiting],
        "max_attempts_used": max_attempts,
        "elapsed_seconds": round(elapsed, 1),
        "beat_running": beat.running,
    }
    report_figures(request, "integration-figures.json", figures)

    assert record.validate(stack.tokens) == len(record.requests)
    assert changes_in_outbox == len(changed["changes"]) == 1000
    # Their drains could not be sent: the beat's sweep found them once Redis was back.
    assert figures["sweeps_that_dispatched_after_outage"] > 0
    assert final == {"done": committed}
    assert set(counts) >= expected, sorted(expected - set(counts))[:10]
    assert not forbidden & set(counts), sorted(forbidden & set(counts))[:10]
    assert set(counts) == expected
    assert not unexplained, (len(unexplained), list(unexplained.items())[:6])
    # A killed worker loses at most the outcome of the one batch it was sending.
    assert sum(forced.values()) <= CLAIM_BATCH_SIZE * 2
    assert faults.get("error", 0) > 0 and faults.get("drop", 0) > 0
    assert statuses.get("429", 0) > 0
